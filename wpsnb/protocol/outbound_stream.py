"""A publisher's group streams, as pure bookkeeping (the client's side of client-spec §3.6).

An :class:`OutboundStream` numbers its fragments 1, 2, 3, ... and keeps every one until a
``streamAck`` says the service has it (``expectedSequenceId`` above its number). When the socket is
replaced by a reliable recovery, acks may have been lost with it and fragments may never have
arrived: :meth:`OutboundStreams.recovered` queues every unacknowledged fragment again, in order (the
service drops the ones it already published and acknowledges again), then the ``streamEnd`` if it
was asked for. A ``streamNack`` rewinds to the fragment the service wants. This is what the official
JS client 1.1.0's outbound stream session does (``pause`` / ``resume`` / ``ack``).

A brand-new connection (plain protocol, or recovery refused) does not carry the service's stream
state: every open stream is over (:meth:`OutboundStreams.renewed`).

No I/O and no clock: the client writes the :class:`~.pending_requests.PendingRequest` objects these
methods return and feeds back what the service answered.

>>> streams = OutboundStreams()
>>> stream = streams.open("s1", "lab")
>>> stream.start.frame
'{"type":"sendToGroup","group":"lab","noEcho":false,"stream":{"streamId":"s1"}}'
>>> streams.acknowledged(StreamAck("s1", 1))
True
>>> [streams.fragment("s1", f"line {n}", "text").message.sequence_id for n in (1, 2, 3)]
[1, 2, 3]
>>> streams.acknowledged(StreamAck("s1", 3)), stream.unacknowledged
(False, 1)
>>> queue = PendingRequests()
>>> streams.recovered(queue)
1
>>> queue.take().frame
'{"type":"streamData","streamId":"s1","streamSequenceId":3,"dataType":"text","data":"line 3"}'
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from .messages import StreamAck, StreamClosed, StreamData, StreamEnd, StreamError, StreamNack, StreamStart
from .pending_requests import PendingRequest, PendingRequests
from .stream_codec import encode_stream_request

STREAM_FRAMES = (StreamStart, StreamData, StreamEnd)


class OutboundStream:
    """One stream this client publishes: its start, the fragments not yet acknowledged, its end.

    ``started``: the service acknowledged the start. ``closed``: the service said ``streamClosed``
    (or the session ended); ``error`` is why, when it did not end normally.
    """

    __slots__ = ("stream_id", "group", "start", "end", "started", "closed", "error", "expected", "_unacked", "_next")

    def __init__(self, stream_id: str, group: str, *, idle_timeout_ms: int | None = None, no_echo: bool = False):
        self.stream_id = stream_id
        self.group = group
        message = StreamStart(group, stream_id, idle_timeout_ms, no_echo)
        self.start = PendingRequest(message, encode_stream_request(message))
        self.end: PendingRequest | None = None
        self.started = False
        self.closed = False
        self.error: StreamError | None = None
        self.expected = 1  # the lowest fragment the service has not acknowledged
        self._unacked: deque[PendingRequest] = deque()
        self._next = 1

    @property
    def unacknowledged(self) -> int:
        """How many fragments wait for the service's ``streamAck``."""
        return len(self._unacked)

    @property
    def ending(self) -> bool:
        """Whether ``end`` or ``abort`` was asked for (no more fragments may follow)."""
        return self.end is not None

    def fragment(self, data: Any, data_type: str) -> PendingRequest:
        """The next fragment, numbered and kept until acknowledged."""
        message = StreamData(self.stream_id, self._next, data, data_type)
        self._next += 1
        request = PendingRequest(message, encode_stream_request(message))
        self._unacked.append(request)
        return request

    def finish(self, error_message: str | None = None, user_error_code: str | None = None) -> PendingRequest:
        """The ``streamEnd`` (an abort when ``error_message`` or ``user_error_code`` is given)."""
        message = StreamEnd(self.stream_id, error_message, user_error_code)
        self.end = PendingRequest(message, encode_stream_request(message))
        return self.end

    def acknowledge(self, expected: int) -> None:
        """The service has every fragment below ``expected``."""
        if expected == 1:
            self.started = True
        unacked = self._unacked
        while unacked and unacked[0].message.sequence_id < expected:
            unacked.popleft()
        self.expected = max(self.expected, expected)

    def resend_from(self, expected: int) -> list[PendingRequest]:
        """The fragments from ``expected`` on (then the end, if asked for), to write again in order."""
        self.acknowledge(expected)
        again = [request for request in self._unacked if request.message.sequence_id >= expected]
        return again + ([self.end] if self.end is not None else [])

    def close(self, error: StreamError | None) -> None:
        """The stream is over; nothing of it is resent."""
        self.closed = True
        self.error = error
        self._unacked.clear()


class OutboundStreams:
    """The open streams of one client session, by ``streamId``."""

    __slots__ = ("open_streams",)

    def __init__(self) -> None:
        self.open_streams: dict[str, OutboundStream] = {}

    def __iter__(self) -> Iterator[OutboundStream]:
        return iter(list(self.open_streams.values()))

    def open(
        self, stream_id: str, group: str, *, idle_timeout_ms: int | None = None, no_echo: bool = False
    ) -> OutboundStream:
        """A new stream; write its ``start`` request first."""
        if stream_id in self.open_streams:
            raise ValueError(f"stream {stream_id!r} is already open on this client; use a new stream id")
        stream = OutboundStream(stream_id, group, idle_timeout_ms=idle_timeout_ms, no_echo=no_echo)
        self.open_streams[stream_id] = stream
        return stream

    def fragment(self, stream_id: str, data: Any, data_type: str) -> PendingRequest:
        """The next fragment of ``stream_id`` (which must be open and not ending)."""
        return self.open_streams[stream_id].fragment(data, data_type)

    def acknowledged(self, ack: StreamAck) -> bool:
        """Apply a ``streamAck``; returns whether it started the stream (``expectedSequenceId`` 1, first time)."""
        stream = self.open_streams.get(ack.stream_id)
        if stream is None:
            return False
        first = not stream.started and ack.expected == 1
        stream.acknowledge(ack.expected)
        return first

    def refused(self, nack: StreamNack) -> list[PendingRequest]:
        """A ``streamNack``: the fragments to write again, from the one the service wants."""
        stream = self.open_streams.get(nack.stream_id)
        return [] if stream is None else stream.resend_from(nack.expected)

    def closed(self, closed: StreamClosed) -> OutboundStream | None:
        """A ``streamClosed``: the stream it ends (no longer open), or ``None`` if unknown."""
        stream = self.open_streams.pop(closed.stream_id, None)
        if stream is not None:
            stream.close(closed.error)
        return stream

    def recovered(self, requests: PendingRequests) -> int:
        """After a reliable recovery: queue every unacknowledged fragment (and asked-for end) again,
        ahead of other requests, dropping the copies still queued; returns how many fragments.

        A stream not started yet has no fragments (the writer waits for the start's ack); its start,
        queued or lost, is left alone, and whoever waits for that ack times out if it was lost.
        """
        resumed = [stream for stream in self.open_streams.values() if stream.started]
        ours = {stream.stream_id for stream in resumed}
        requests.queued = deque(
            request
            for request in requests.queued
            if not (isinstance(request.message, STREAM_FRAMES) and request.message.stream_id in ours)
        )
        again = [request for stream in resumed for request in stream.resend_from(stream.expected)]
        requests.put_front(again)
        return sum(1 for request in again if isinstance(request.message, StreamData))

    def renewed(self, requests: PendingRequests, error: StreamError) -> list[OutboundStream]:
        """After a brand-new connection (or the end of the session): every open stream is over with
        ``error``; their queued frames are dropped. Returns the streams ended."""
        ended = list(self.open_streams.values())
        ours = set(self.open_streams)
        requests.queued = deque(
            request
            for request in requests.queued
            if not (isinstance(request.message, STREAM_FRAMES) and request.message.stream_id in ours)
        )
        self.open_streams.clear()
        for stream in ended:
            stream.close(error)
        return ended


__all__ = ["STREAM_FRAMES", "OutboundStream", "OutboundStreams"]
