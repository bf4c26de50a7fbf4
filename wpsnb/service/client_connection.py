"""A client's WebSocket after the upgrade: frames in, messages dispatched, the closing handshake, keepalive.

:mod:`.websocket` answers the upgrade with aiohttp, then takes the TCP connection over
(:func:`.aiohttp_internals.take_over`): from then on this asyncio protocol is all that is left of
it. No request object, handler coroutine or reader task waits for each connection, so an idle one
costs the service its transport, this object, its :class:`~.writer.FrameWriter`, its
:class:`~wpsnb.protocol.client_frames.ClientFrameReader` and its session (docs/limits.md), and a
message is dispatched from ``data_received`` without a task switch.

What it does with what the reader returns:
- a text message goes to :func:`.dispatch.dispatch`; a user event waiting for its event handler
  pauses reading (the service takes one user event per connection at a time, as Azure does);
- a ping is answered with a pong, a pong counts as activity like any frame;
- a close from the client is answered with the same code, then the service closes TCP (RFC 6455 §7);
- the first violation closes with the reader's code (1002, 1007, 1009) and ends the session for good.

Closing from this side (:meth:`ClientConnection.close`) hands every queued frame to the transport,
sends the close frame and waits :data:`CLOSE_TIMEOUT` seconds for the client's before dropping TCP.

Keepalive (:class:`Keepalive`): one timer for the whole service, not one per connection. Every
quarter of ``keepalive_interval`` it counts another quiet tick on every connection; anything received
resets the count. After a whole interval of silence the connection is pinged; half an interval later,
still silent, it is dropped without a close frame (nobody would read it). A vanished peer is found
within 1.75 intervals (35 s at the default 20 s).

Example (what :mod:`.websocket` does once the 101 is written)::

    connection = ClientConnection(transport, service)
    take_over(request, connection)
    ...                                  # register the session, queue `connected`
    connection.start(session, raw_mode, tail)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from struct import Struct
from typing import TYPE_CHECKING, Any

from ..protocol.client_frames import BINARY, CLOSE, FAILED, NO_STATUS, PING, PONG, TEXT, ClientFrameReader, Event
from ..protocol.cloud_events import UpstreamError
from ..protocol.envelope import Envelope
from ..protocol.frame_fields import InvalidMessage
from ..protocol.json_codec import parse_client_message
from ..protocol.limits import FINAL_CLIENT_CLOSES, MAX_CLOSE_REASON_BYTES, MAX_FRAME_BYTES, CloseCode
from ..protocol.service_session import SessionState
from .dispatch import dispatch
from .outbound_budget import OVER_BUDGET
from .writer import FrameWriter, frame_header

if TYPE_CHECKING:
    from .hub import Service, Session

log = logging.getLogger("wpsnb.service")

try:
    from websockets.speedups import apply_mask as _c_unmask
except ImportError:  # pragma: no cover - websockets built without its C extension
    _c_unmask = None

CLOSE_TIMEOUT = 10.0  # seconds to wait for the client's close frame after ours (aiohttp's default too)
ABNORMAL = 1006  # the close code the trace shows for a connection that ended without a close frame
PING_AFTER = 4  # quiet keepalive ticks (a quarter interval each) before the ping: a whole interval
DROP_AFTER = PING_AFTER + 2  # ...and half an interval more without an answer
_CODE = Struct("!H")


def close_reason(reason: str) -> bytes:
    """A close frame's reason: at most MAX_CLOSE_REASON_BYTES (123) of UTF-8, never cut inside a character.

    >>> close_reason("é" * 100)[-2:].decode()
    'é'
    """
    return reason.encode("utf-8")[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore").encode("utf-8")


def close_frame(code: int | None, reason: bytes = b"") -> bytes:
    """A server close frame with ``code`` (``None``: no code, an empty close).

    >>> close_frame(1000, b"bye")
    b'\\x88\\x05\\x03\\xe8bye'
    """
    payload = b"" if code is None else _CODE.pack(code) + reason
    return frame_header(CLOSE, len(payload)) + payload


class _FrameReader(ClientFrameReader):
    """The reader with python-websockets' C unmasking, when it is built (it is a dependency of the client)."""

    __slots__ = ()
    if _c_unmask is not None:
        unmask = staticmethod(_c_unmask)


class ClientConnection(asyncio.Protocol):
    """The live WebSocket of one session (what :class:`~.hub.Socket` describes), as an asyncio protocol."""

    __slots__ = (
        "session",
        "writer",
        "closing",
        "quiet",
        "_service",
        "_transport",
        "_reader",
        "_raw_mode",
        "_early",
        "_waiting",
        "_close_timer",
        "_close_code",
        "_ended",
    )

    def __init__(self, transport: asyncio.Transport, service: Service):
        self.session: Session | None = None  # set by start(); bytes that come before wait in _early
        self._service = service
        self._transport = transport
        self.writer = FrameWriter(
            transport, limit=service.send_buffer_limit, on_overflow=self._overflowed, budget=service.outbound
        )
        self.closing = False  # a close frame went out (or the connection was dropped): nothing more is read
        self.quiet = 0  # keepalive ticks since the client last sent anything
        self._reader: ClientFrameReader = _FrameReader(MAX_FRAME_BYTES)
        self._raw_mode: tuple[str, bool] | None = None  # a simple client's webpubsub_mode=sendToGroup
        self._early: list[bytes] | None = None
        self._waiting: asyncio.Task[None] | None = None  # a user event's handler, while reading is paused
        self._close_timer: asyncio.TimerHandle | None = None
        self._close_code: int | None = None  # the code of the close frame sent or received
        self._ended = False
        service.connections.add(self)
        keepalive = service.keepalive
        if keepalive is None and service.keepalive_interval:
            keepalive = service.keepalive = Keepalive(service.keepalive_interval, service.connections)
        if keepalive is not None:
            keepalive.watch()

    # -- the session starts: what arrived so far is read --

    def start(self, session: Session, raw_mode: tuple[str, bool] | None, tail: bytes) -> None:
        """Attach the session and read ``tail`` (bytes that came with the upgrade request) and anything since."""
        self.session = session
        self._raw_mode = raw_mode
        if tail:
            self._early = [tail, *(self._early or ())]
        self._read_early()

    def data_received(self, data: bytes) -> None:  # type: ignore[override]
        self.quiet = 0
        if self.session is None or self._waiting is not None:
            if self._early is None:
                self._early = []
            self._early.append(data)
            return
        events = self._reader.feed(data)
        if events:
            self._handle(events, 0)

    def _read_early(self) -> None:
        """Read what arrived while nothing could be read, until a user event waits again."""
        early = self._early
        while early and self._waiting is None and not self._transport.is_closing():
            events = self._reader.feed(early.pop(0))
            if events:
                self._handle(events, 0)
        if not early:
            self._early = None

    def _handle(self, events: list[Event], index: int) -> None:
        """Carry out ``events[index:]``; stop at a user event that waits for its handler."""
        session = self.session
        assert session is not None
        trace = session.hub.service.trace
        count = len(events)
        while index < count:
            kind, payload = events[index]
            index += 1
            if kind in (TEXT, BINARY):
                if self.closing:
                    continue  # RFC 6455 §5.5.1: after our close frame, data is not processed
                if trace is not None:
                    trace.frame_in(session, payload)
                pending = self._message(session, kind, payload)
                if pending is not None:
                    self._wait(pending, events, index)
                    return
            elif kind == PING:
                if not self.closing:
                    self._transport.write(frame_header(PONG, len(payload)) + payload)
            elif kind == CLOSE:
                self._client_closed(*payload)
                return
            elif kind == FAILED:
                code, reason = payload
                self._fail(code, reason, f"protocol error: {reason}")
                if self._reader.lost:  # no close frame will come to wait for
                    self._transport.close()
                    return

    def _message(self, session: Session, kind: int, payload: Any) -> Awaitable[None] | None:
        if session.raw:
            return self._raw_frame(session, payload, kind == BINARY)
        if kind == BINARY:
            reason = (
                f"binary frame on {session.protocol}: the JSON subprotocols take text frames only "
                "(one JSON object per frame)"
            )
            self._fail(CloseCode.UNSUPPORTED_DATA, reason, reason)
            return None
        try:
            return dispatch(session, parse_client_message(payload))
        except InvalidMessage as exc:
            self._fail(exc.close_code, str(exc), f"invalid frame: {exc}")
            return None

    def _wait(self, pending: Awaitable[None], events: list[Event], index: int) -> None:
        """Read nothing more until ``pending`` (an event handler's answer) is done, then go on."""
        self._transport.pause_reading()
        self._waiting = asyncio.get_running_loop().create_task(self._resume_after(pending, events, index))

    async def _resume_after(self, pending: Awaitable[None], events: list[Event], index: int) -> None:
        failure = None
        try:
            await pending
        except InvalidMessage as exc:
            failure = (exc.close_code, str(exc), f"invalid frame: {exc}")
        except Exception as exc:  # a bug of ours: say so, and do not leave the connection paused for ever
            log.exception("a user event of %s failed", self.session.describe() if self.session else "a connection")
            failure = (CloseCode.INTERNAL_ERROR, "The service failed to handle the event.", f"internal error: {exc}")
        self._waiting = None
        if self._transport.is_closing():
            return  # the connection is gone: nothing more to read
        if failure is not None:
            self._fail(*failure)  # then only the client's answer to our close frame counts, read below
        self._handle(events, index)
        self._read_early()
        if self._waiting is None:
            self._transport.resume_reading()

    # -- simple clients (no subprotocol) --

    def _raw_frame(self, session: Session, data: str | bytes, binary: bool) -> Awaitable[None] | None:
        """A frame from a simple client: publish it (sendToGroup mode) or hand it over as the user event 'message'."""
        if self._raw_mode is not None:
            group, no_echo = self._raw_mode
            if not session.permissions.can_send_to(group):
                self.close(CloseCode.POLICY_VIOLATION, session.permissions.forbidden_reason("send", group)[:120])
                return None
            data_type = "binary" if binary else "text"
            envelope = Envelope.build("group", data_type, data, group=group, from_user_id=session.user_id)
            session.hub.send_to_group(group, envelope, skip=session if no_echo else None)
            return None
        upstream = session.hub.service.upstream
        if upstream is not None and upstream.handles(session.hub.name, "message"):
            return self._raw_user_event(session, data, binary)
        # Default mode: the frame is the user event 'message'; with no upstream handler it fails (Emu: 1011).
        log.info("closing %s with 1011: user event 'message' has no event handler", session.describe())
        self.close(
            CloseCode.INTERNAL_ERROR,
            "No event handler for user event 'message'; connect with ?webpubsub_mode=sendToGroup&group=<g> to publish.",
        )
        return None

    async def _raw_user_event(self, session: Session, data: str | bytes, binary: bool) -> None:
        upstream = session.hub.service.upstream
        assert upstream is not None
        try:
            reply = await upstream.user_event(session, "message", "binary" if binary else "text", data)
        except UpstreamError as exc:
            log.info("closing %s with 1011: user event 'message' failed: %s", session.describe(), exc)
            self.close(CloseCode.INTERNAL_ERROR, "The event handler failed to handle the message.")
            return
        if reply is not None:
            session.deliver(Envelope.build("server", reply.data_type, reply.data))

    # -- closing --

    def close(self, code: int, reason: str) -> None:
        """Flush queued frames, then start the closing handshake (does not wait)."""
        if self.closing:
            return
        self.closing = True
        self._close_code = code
        self.writer.stop()
        transport = self._transport
        if not transport.is_closing():
            transport.write(close_frame(code, close_reason(reason)))
            self._close_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)

    def abort(self) -> None:
        """Drop the TCP connection at once, without a close frame."""
        self.closing = True
        self.writer.discard()
        self._transport.abort()

    def _overflowed(self, reason: str) -> None:
        # The client is not reading, so a close frame would never be read either: drop the TCP
        # connection (a reliable client recovers and gets its unacknowledged messages again).
        level = logging.INFO if reason == OVER_BUDGET else logging.WARNING
        log.log(level, "dropping the connection from %s: %s", self._transport.get_extra_info("peername"), reason)
        self.abort()

    def _fail(self, code: int, reason: str, why: str) -> None:
        """A frame broke the rules: close with ``code`` and end the session for good."""
        session = self.session
        if session is not None:
            log.info("closing %s with %d: %s", session.describe(), code, reason)
        self.close(code, reason)
        self._end(why, final=True, by="service")

    def _client_closed(self, code: int, reason: str) -> None:
        """The client's close frame: the answer to ours, or its own goodbye (answered with the same code)."""
        transport = self._transport
        if not self.closing:
            self.closing = True
            self._close_code = code
            self.writer.discard()
            transport.write(close_frame(None if code == NO_STATUS else code))
            why = f"client closed with {code}" + (f" ({reason})" if reason else "")
            self._end(why, final=code in FINAL_CLIENT_CLOSES, by="client")
        transport.close()  # RFC 6455 §7.1.1: the server closes the TCP connection first

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closing = True
        self.writer.discard()
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._service.connections.discard(self)
        if self._close_code is None:
            self._close_code = ABNORMAL
        if self._ended:
            return
        if self._close_code != ABNORMAL:  # a close frame went out from this side first
            self._end("the service closed the connection", final=False, by="service")
        else:
            self._end("connection lost", final=False, by="network")

    def _end(self, why: str, *, final: bool, by: str) -> None:
        """The session's socket is over: record it, then end the session or leave it waiting for recovery."""
        if self._ended:
            return
        self._ended = True
        session = self.session
        if session is None:
            return
        hub = session.hub
        if hub.service.trace is not None:
            hub.service.trace.socket_closed(session, self._close_code, why, by)
        if session.socket is self and session.state is SessionState.CONNECTED:
            if final:
                hub.end_session(session, why, code=None)
            else:
                hub.detach(session, why)

    # -- keepalive --

    def ping(self) -> None:
        """Ask a quiet client to show it is still there (any frame it sends answers)."""
        if not self.closing and not self._transport.is_closing():
            self._transport.write(frame_header(PING, 0))


class Keepalive:
    """The service's one keepalive timer: pings connections silent for ``interval``, drops the dead."""

    __slots__ = ("interval", "_connections", "_timer")

    def __init__(self, interval: float, connections: set[ClientConnection]):
        self.interval = interval
        self._connections = connections
        self._timer: asyncio.TimerHandle | None = None

    def watch(self) -> None:
        """Make sure the timer runs (it stops by itself when no connection is left)."""
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval / PING_AFTER, self._tick)

    def stop(self) -> None:
        """Cancel the timer (the service is shutting down)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = None
        for connection in list(self._connections):
            if connection.closing:
                continue
            quiet = connection.quiet = connection.quiet + 1
            if quiet == PING_AFTER:
                connection.ping()
            elif quiet >= DROP_AFTER:
                session = connection.session
                log.info(
                    "dropping %s: silent for %.0f s and no answer to a ping",
                    session.describe() if session is not None else "a connection",
                    self.interval * DROP_AFTER / PING_AFTER,
                )
                connection.abort()
        if self._connections:
            self.watch()
