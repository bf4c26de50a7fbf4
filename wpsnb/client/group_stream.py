"""Publishing a group stream: ``open_group_stream`` returns a writer (``write``, ``end``, ``abort``).

The bookkeeping (numbering, keeping fragments until ``streamAck``, resending after a reliable recovery
or a ``streamNack``) is :mod:`wpsnb.protocol.outbound_stream`; this module is the part that waits:
for the start's ack, for room when too many fragments are unacknowledged, for ``streamClosed``.
:class:`GroupStreamWriter` is the same writer for threads (what ``Client.open_group_stream`` returns).

A writer is also a context manager: leaving the block ends the stream, or aborts it with the
exception's text when the block raised, so subscribers see whether the run failed::

    >>> async with await client.open_group_stream("lab", data_type="text") as stream:   # doctest: +SKIP
    ...     for epoch in range(3):
    ...         await stream.write(f"epoch {epoch}")
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from ..errors import AckTimeout, NotConnected, RequestFailed
from ..protocol.client_session import ClientSession
from ..protocol.messages import (
    DATA_TYPES,
    StreamAck,
    StreamClosed,
    StreamError,
    StreamNack,
    payload_error,
    payload_type,
)
from ..protocol.names import group_name_problem
from ..protocol.outbound_stream import OutboundStream
from ..protocol.pending_requests import PendingRequest
from .loop import run

MAX_UNACKNOWLEDGED = 1000  # fragments written and not yet acknowledged before write() waits


def stream_failed(stream_id: str, error: StreamError) -> RequestFailed:
    """The error a writer raises once the service closed its stream with ``error``.

    >>> stream_failed("s1", StreamError("IdleTimeout", "no fragment for 300000 ms")).name
    'IdleTimeout'
    """
    advice = {
        "IdleTimeout": "write (or keep alive) more often, or open it with a larger idle_timeout_ms",
        "Forbidden": "the connection needs the webpubsub.sendToGroup role for this group",
        "StreamNotFound": "the service no longer has this stream; open a new one",
        "BadRequest": "open it again with a new stream id",
    }.get(error.name, "open a new stream")
    return RequestFailed(
        f"group stream {stream_id!r} was closed by the service: {error.name}: {error.message}; {advice}",
        name=error.name,
        service_message=error.message,
    )


class AsyncGroupStreamWriter:
    """One group stream this client publishes (from :meth:`AsyncClient.open_group_stream`)."""

    def __init__(
        self,
        stream: OutboundStream,
        submit: Callable[[PendingRequest], None],
        *,
        data_type: str | None = None,
    ):
        self._stream = stream
        self._submit = submit
        self.data_type = data_type
        loop = asyncio.get_running_loop()
        self._started: asyncio.Future[None] = loop.create_future()
        self._closed: asyncio.Future[StreamError | None] = loop.create_future()
        self._room = asyncio.Event()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "ending" if self._stream.ending else "open"
        return f"<GroupStreamWriter {state} group={self.group!r} stream_id={self.stream_id!r}>"

    @property
    def stream_id(self) -> str:
        """The stream's id (what subscribers see as ``message.stream.stream_id``)."""
        return self._stream.stream_id

    @property
    def group(self) -> str:
        """The group the stream goes to."""
        return self._stream.group

    @property
    def closed(self) -> bool:
        """Whether the service closed the stream (after ``end``/``abort``, or with an error)."""
        return self._closed.done()

    @property
    def error(self) -> StreamError | None:
        """Why the service closed the stream, when it did not end normally."""
        return self._stream.error

    @property
    def unacknowledged(self) -> int:
        """Fragments written that the service has not acknowledged yet."""
        return self._stream.unacknowledged

    async def started(self, timeout: float) -> None:
        """Wait for the service to acknowledge the stream's start (raises its refusal)."""
        try:
            await asyncio.wait_for(asyncio.shield(self._started), timeout)
        except asyncio.TimeoutError:
            raise AckTimeout(
                f"the service did not acknowledge group stream {self.stream_id!r} within {timeout:g} s; "
                "check the connection and open the stream again"
            ) from None

    async def write(self, data: Any, data_type: str | None = None, *, timeout: float = 10.0) -> int:
        """Send one fragment; returns its ``streamSequenceId`` (1, 2, 3, ...).

        Returns once the fragment is queued; it is kept until the service acknowledges it and resent
        after a reliable recovery. Waits (at most ``timeout`` s) while 1,000 fragments are unacknowledged.
        """
        self._check_open()
        stream = self._stream
        if stream.unacknowledged >= MAX_UNACKNOWLEDGED:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while stream.unacknowledged >= MAX_UNACKNOWLEDGED and not self.closed:
                self._room.clear()
                try:
                    await asyncio.wait_for(self._room.wait(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    raise AckTimeout(
                        f"{stream.unacknowledged} fragments of group stream {self.stream_id!r} are still "
                        f"unacknowledged after {timeout:g} s; the connection is down or slower than you write"
                    ) from None
        return self.write_nowait(data, data_type)

    def write_nowait(self, data: Any, data_type: str | None = None) -> int:
        """Like :meth:`write` without waiting for room (call it on the client's event loop)."""
        self._check_open()
        kind = payload_type(data, data_type or self.data_type, name="data_type")
        if kind == "json" and data is None:
            raise ValueError("data is None: a JSON fragment needs a value; send one, or data_type='text'")
        request = self._stream.fragment(data, kind)
        self._submit(request)
        return request.message.sequence_id

    async def end(self, *, timeout: float = 10.0) -> None:
        """End the stream; returns once the service closed it (subscribers got ``endOfStream``)."""
        self._check_open()
        self._submit(self._stream.finish())
        await self._wait_closed(timeout)

    async def abort(self, reason: str = "", *, user_error_code: str | None = None, timeout: float = 10.0) -> None:
        """End the stream with an error: subscribers' last fragment carries ``UserError`` with ``reason``."""
        self._check_open()
        self._submit(self._stream.finish(reason, user_error_code))
        await self._wait_closed(timeout)

    async def __aenter__(self) -> AsyncGroupStreamWriter:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if self._stream.ending or self.closed:
            return
        if error is None:
            await self.end()
        else:
            await self.abort(f"{kind.__name__}: {error}" if kind else str(error), user_error_code="Exception")

    # ---- what the service said (called by the client, on its loop) --------------------------------

    def replied(self, reply: StreamAck | StreamNack | StreamClosed) -> None:
        """Apply the service's answer, already recorded in the stream's bookkeeping."""
        if type(reply) is StreamClosed:
            self.finished(reply.error)
            return
        if self._stream.started and not self._started.done():
            self._started.set_result(None)
        self._room.set()

    def finished(self, error: StreamError | None) -> None:
        """The stream is over (``error`` ``None``: ended normally)."""
        if not self._started.done():
            if error is None:
                self._started.set_result(None)
            else:
                self._started.set_exception(stream_failed(self.stream_id, error))
                self._started.exception()  # read here: nobody may wait for it any more
        if not self._closed.done():
            self._closed.set_result(error)
        self._room.set()

    # ---- helpers ------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            error = self._stream.error
            if error is not None:
                raise stream_failed(self.stream_id, error)
            raise NotConnected(f"group stream {self.stream_id!r} is over; open a new one")
        if self._stream.ending:
            raise NotConnected(f"group stream {self.stream_id!r} was ended; open a new one to write more")

    async def _wait_closed(self, timeout: float) -> None:
        try:
            error = await asyncio.wait_for(asyncio.shield(self._closed), timeout)
        except asyncio.TimeoutError:
            raise AckTimeout(
                f"the service did not close group stream {self.stream_id!r} within {timeout:g} s "
                "(its end is resent after a recovery); check the connection"
            ) from None
        if error is not None and not (error.name == "UserError"):
            raise stream_failed(self.stream_id, error)


class StreamWriters:
    """A client's open writers, by stream id: opens them and routes the service's answers to them."""

    def __init__(self, session: ClientSession, submit: Callable[[PendingRequest], None]):
        self._session = session
        self._submit = submit
        self._writers: dict[str, AsyncGroupStreamWriter] = {}

    async def open(
        self,
        group: str,
        *,
        data_type: str | None,
        idle_timeout_ms: int | None,
        no_echo: bool,
        stream_id: str | None,
        timeout: float,
    ) -> AsyncGroupStreamWriter:
        """Start a stream and wait for the service's ack (see ``AsyncClient.open_group_stream``)."""
        problem = group_name_problem(group)
        if problem:
            raise ValueError(problem)
        if idle_timeout_ms is not None and not (isinstance(idle_timeout_ms, int) and idle_timeout_ms > 0):
            raise ValueError(f"idle_timeout_ms must be a positive number of milliseconds, got {idle_timeout_ms!r}")
        if data_type is not None and data_type not in DATA_TYPES:
            raise payload_error(data_type, None, name="data_type")
        stream_id = stream_id or str(uuid.uuid4())
        stream = self._session.streams.open(stream_id, group, idle_timeout_ms=idle_timeout_ms, no_echo=no_echo)
        writer = AsyncGroupStreamWriter(stream, self._submit, data_type=data_type)
        self._writers[stream_id] = writer
        try:
            self._submit(stream.start)
            await writer.started(timeout)
        except BaseException:
            self._writers.pop(stream_id, None)
            self._session.streams.open_streams.pop(stream_id, None)
            raise
        return writer

    def replied(self, reply: StreamAck | StreamNack | StreamClosed) -> None:
        """The service answered about a stream (the session's bookkeeping already applied it)."""
        writer = self._writers.get(reply.stream_id)
        if writer is not None:
            if type(reply) is StreamClosed:
                del self._writers[reply.stream_id]
            writer.replied(reply)

    def renewed(self) -> None:
        """A brand-new connection replaced the session: its streams are over (the service cancelled them)."""
        ended, self._session.streams_ended = self._session.streams_ended, []
        for stream in ended:
            writer = self._writers.pop(stream.stream_id, None)
            if writer is not None:
                writer.finished(stream.error)

    def finish(self) -> None:
        """The client closed: every stream still open is over."""
        closed = StreamError("Cancelled", "the client was closed before the stream ended")
        for writer in self._writers.values():
            writer.finished(closed)
        self._writers.clear()


class GroupStreamWriter:
    """:class:`AsyncGroupStreamWriter` for threads: each method blocks (at most its ``timeout``)."""

    def __init__(self, writer: AsyncGroupStreamWriter):
        self.async_writer = writer

    def __repr__(self) -> str:
        return repr(self.async_writer)

    stream_id = property(lambda self: self.async_writer.stream_id, doc="The stream's id.")
    group = property(lambda self: self.async_writer.group, doc="The group the stream goes to.")
    closed = property(lambda self: self.async_writer.closed, doc="Whether the service closed the stream.")
    error = property(lambda self: self.async_writer.error, doc="Why the stream was closed, if not normally.")
    unacknowledged = property(lambda self: self.async_writer.unacknowledged, doc="Fragments not yet acknowledged.")

    def write(self, data: Any, data_type: str | None = None, *, timeout: float = 10.0) -> int:
        """Send one fragment; returns its ``streamSequenceId`` (see ``AsyncGroupStreamWriter.write``)."""
        return run(self.async_writer.write(data, data_type, timeout=timeout), timeout + 5, what="write()")

    def end(self, *, timeout: float = 10.0) -> None:
        """End the stream; returns once the service closed it."""
        run(self.async_writer.end(timeout=timeout), timeout + 5, what="end()")

    def abort(self, reason: str = "", *, user_error_code: str | None = None, timeout: float = 10.0) -> None:
        """End the stream with an error (subscribers see ``UserError`` with ``reason``)."""
        coroutine = self.async_writer.abort(reason, user_error_code=user_error_code, timeout=timeout)
        run(coroutine, timeout + 5, what="abort()")

    def __enter__(self) -> GroupStreamWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        run(self.async_writer.__aexit__(kind, error, tb), 15, what="leaving the stream's block")


__all__ = ["MAX_UNACKNOWLEDGED", "AsyncGroupStreamWriter", "GroupStreamWriter", "StreamWriters", "stream_failed"]
