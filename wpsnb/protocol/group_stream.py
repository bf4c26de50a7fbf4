"""Group streams of one connection, as a pure state machine (client-spec §3.6).

A publisher starts a stream with ``sendToGroup`` + ``stream``, sends fragments numbered 1, 2, 3, ...
(``streamSequenceId``), keepalives, and ``streamEnd``. For each stream the service keeps only the next
id it expects: a fragment with that id is published, a lower one is a duplicate (a replay after a
reliable recovery) and is not published again, a higher one is a gap and is refused (``streamNack``).
An idle stream (no accepted fragment or keepalive for ``idleTimeoutMs``) is closed with ``IdleTimeout``.

No clock and no I/O here: the caller passes ``now`` (seconds, monotonic) and carries out the verdicts.

>>> table = StreamTable()
>>> stream = table.start("s1", "lab", idle_timeout_ms=None, no_echo=False, now=0.0)
>>> [table.data("s1", n, now=1.0)[0] for n in (1, 2, 2, 5)]
[<Verdict.ACCEPT: 'accept'>, <Verdict.ACCEPT: 'accept'>, <Verdict.DUPLICATE: 'duplicate'>, <Verdict.GAP: 'gap'>]
>>> stream.expected
3
>>> table.end("s1") is stream, table.end("s1") is None, table.recently_closed("s1")
(True, True, True)
"""

from __future__ import annotations

from collections import OrderedDict
from enum import Enum

DEFAULT_IDLE_TIMEOUT_MS = 300_000  # the spec's default
MAX_STREAMS_PER_CONNECTION = 100  # active streams one connection may hold (bounds the service's memory)
MAX_STREAM_ID_LENGTH = 1024
_RECENTLY_CLOSED = 256  # closed ids remembered, so a replayed streamEnd after a recovery is not an error


class Verdict(Enum):
    """What to do with one ``streamData`` fragment."""

    ACCEPT = "accept"  # publish it; the stream now expects the next id
    DUPLICATE = "duplicate"  # already published: drop it, re-acknowledge
    GAP = "gap"  # an earlier fragment is missing: refuse it (streamNack InvalidSequenceId)
    KEEPALIVE = "keepalive"  # no payload: only resets the idle timer
    NOT_FOUND = "not_found"  # no such active stream on this connection (streamClosed StreamNotFound)


class StreamRejected(ValueError):
    """A stream start the service refuses; ``name`` is the ``streamClosed`` error name."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name
        self.message = message


class GroupStream:
    """One active outbound stream: where it goes and the next fragment id it expects."""

    __slots__ = ("stream_id", "group", "no_echo", "idle_timeout", "expected", "last_activity")

    def __init__(self, stream_id: str, group: str, *, idle_timeout_ms: int, no_echo: bool, now: float):
        self.stream_id = stream_id
        self.group = group
        self.no_echo = no_echo
        self.idle_timeout = idle_timeout_ms / 1000.0
        self.expected = 1
        self.last_activity = now

    def receive(self, sequence_id: int | None, now: float) -> Verdict:
        """Judge a fragment (``None``: a keepalive); an accepted one advances ``expected``."""
        if sequence_id is None:
            self.last_activity = now
            return Verdict.KEEPALIVE
        if sequence_id == self.expected:
            self.expected += 1
            self.last_activity = now
            return Verdict.ACCEPT
        if sequence_id < self.expected:
            return Verdict.DUPLICATE
        return Verdict.GAP

    def idle_deadline(self) -> float:
        """When the stream expires unless something is accepted before."""
        return self.last_activity + self.idle_timeout


class StreamTable:
    """The active streams of one connection, plus the ids closed lately."""

    __slots__ = ("active", "_closed")

    def __init__(self) -> None:
        self.active: dict[str, GroupStream] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()

    def start(
        self, stream_id: str, group: str, *, idle_timeout_ms: int | None, no_echo: bool, now: float
    ) -> GroupStream:
        """Open a stream; raises :class:`StreamRejected` (``BadRequest``) for a duplicate id or a bad timeout."""
        if not stream_id or len(stream_id) > MAX_STREAM_ID_LENGTH:
            raise StreamRejected("BadRequest", f"streamId must be 1 to {MAX_STREAM_ID_LENGTH} characters; use a UUID")
        if stream_id in self.active:
            raise StreamRejected(
                "BadRequest", f"stream {stream_id!r} is already open on this connection; end it or use a new streamId"
            )
        if idle_timeout_ms is not None and idle_timeout_ms <= 0:
            raise StreamRejected(
                "BadRequest", f"idleTimeoutMs must be greater than 0, got {idle_timeout_ms}; omit it for 300000"
            )
        if len(self.active) >= MAX_STREAMS_PER_CONNECTION:
            raise StreamRejected(
                "BadRequest",
                f"this connection already has {MAX_STREAMS_PER_CONNECTION} open streams; "
                "end one before starting another",
            )
        stream = GroupStream(
            stream_id,
            group,
            idle_timeout_ms=DEFAULT_IDLE_TIMEOUT_MS if idle_timeout_ms is None else idle_timeout_ms,
            no_echo=no_echo,
            now=now,
        )
        self.active[stream_id] = stream
        self._closed.pop(stream_id, None)
        return stream

    def data(self, stream_id: str, sequence_id: int | None, now: float) -> tuple[Verdict, GroupStream | None]:
        """Judge a fragment or keepalive for ``stream_id``."""
        stream = self.active.get(stream_id)
        if stream is None:
            return Verdict.NOT_FOUND, None
        return stream.receive(sequence_id, now), stream

    def end(self, stream_id: str) -> GroupStream | None:
        """Close ``stream_id``; the stream, or ``None`` if it was not open."""
        stream = self.active.pop(stream_id, None)
        if stream is not None:
            self._closed[stream_id] = None
            if len(self._closed) > _RECENTLY_CLOSED:
                self._closed.popitem(last=False)
        return stream

    def recently_closed(self, stream_id: str) -> bool:
        """Whether ``stream_id`` was closed lately (a replayed ``streamEnd`` then gets a plain ``streamClosed``)."""
        return stream_id in self._closed

    def expired(self, now: float) -> list[GroupStream]:
        """The streams idle past their timeout at ``now``."""
        return [stream for stream in self.active.values() if stream.idle_deadline() <= now]

    def next_deadline(self) -> float | None:
        """The earliest idle deadline among the active streams."""
        return min((stream.idle_deadline() for stream in self.active.values()), default=None)
