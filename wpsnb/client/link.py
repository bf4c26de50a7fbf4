"""The sockets and timers of one client: reading, writing, ticking, and recovering or renewing a dropped link.

:class:`Link` runs a :class:`~wpsnb.protocol.client_session.ClientSession` over ``websockets``. It
makes no protocol decision of its own: frames that arrive go to ``session.receive`` (the events go
to the client's handler), what to write comes from ``session.frames_to_send`` and
``session.sequence_ack``, and when a socket ends ``session.connection_lost`` says whether to recover
the same session, open a brand-new connection, or stop. Three tasks, on the client's event loop:

* the supervisor reads the socket and, when it ends, recovers or renews until the client closes;
* the writer writes queued requests whenever it is woken and a connection is up, a batch per write;
* the ticker sends the periodic ``sequenceAck`` (reliable protocol) and flushes the frame journal.

Example::

    >>> link = Link(session, frames, protocol, negotiate, handlers, ...)   # doctest: +SKIP
    >>> await link.open_first(timeout=10); link.start()                    # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..errors import (
    ConnectionRejected,
    InvalidSource,
    NegotiateFailed,
    NotConnected,
    RecoveryFailed,
    ServiceUnreachable,
    WebPubSubError,
)
from ..protocol.client_session import SEQUENCE_ACK_INTERVAL, ClientSession, ClientState, Drop
from ..protocol.limits import CloseCode
from ..protocol.messages import Connected
from ..source import with_query
from .journal import Journal
from .opening import backoff, open_websocket

log = logging.getLogger("wpsnb.client")

WRITE_SLICE = 256  # frames written before letting the reader run


@dataclass(frozen=True, slots=True)
class LinkHandlers:
    """What the client does with what the link learns (all called on the event loop)."""

    negotiate: Callable[[], Awaitable[str]]  # a fresh client access URL
    events: Callable[[list[Any]], None]  # what session.receive() returned
    state_changed: Callable[[], None]  # session.state may have moved
    connected: Callable[[Connected], None]  # a brand-new connection
    disconnected: Callable[[str], None]  # a connection ended for good (why, in words)
    finish: Callable[[WebPubSubError], Awaitable[None]]  # stop the client for good


class Link:
    """The WebSocket of a client session, and the tasks that move frames through it."""

    def __init__(
        self,
        session: ClientSession,
        frames: Journal,
        protocol: str,
        handlers: LinkHandlers,
        *,
        recovery_timeout: float,
        max_retry_delay: float,
    ):
        self.session = session
        self.frames = frames
        self.protocol = protocol
        self.handlers = handlers
        self.recovery_timeout = recovery_timeout
        self.max_retry_delay = max_retry_delay
        self.ws: ClientConnection | None = None
        self.url: str | None = None
        self.closing = False
        self.wake = asyncio.Event()  # set: the writer has something to do
        self._loop = asyncio.get_running_loop()
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ---- starting and stopping -------------------------------------------------------------------

    async def open_first(self, timeout: float) -> None:
        """Negotiate and open the first connection (raises what :func:`open_websocket` raises)."""
        url = await asyncio.wait_for(self.handlers.negotiate(), timeout)
        ws, connected = await open_websocket(url, self.protocol, self.frames, expect_connected=True, timeout=timeout)
        assert connected is not None
        if self.session.state is not ClientState.CONNECTING:  # close() was called meanwhile
            await ws.close(CloseCode.NORMAL_CLOSURE, "closed by the client")
            raise NotConnected("the client was closed while connecting")
        self._adopt_new(ws, url, connected)

    def start(self) -> None:
        """Start reading, writing and ticking."""
        loop = self._loop
        self._supervisor = loop.create_task(self._supervise(), name="wpsnb-client")
        self._tasks = [
            loop.create_task(self._write_loop(), name="wpsnb-client-writer"),
            loop.create_task(self._tick_loop(), name="wpsnb-client-ticker"),
        ]

    async def close(self) -> bool:
        """Stop reading and close the socket with 1000; returns whether there was one open."""
        self.closing = True
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not asyncio.current_task():
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        ws, self.ws = self.ws, None
        if ws is None:
            return False
        await ws.close(CloseCode.NORMAL_CLOSURE, "closed by the client")
        self.frames.record(
            "sent",
            "closed by the client",
            kind="close",
            code=CloseCode.NORMAL_CLOSURE,
            connection_id=self.session.connection_id,
        )
        return True

    async def stop(self) -> None:
        """Cancel the writer and the ticker and close what is still open (the client is finishing)."""
        self.closing = True
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        await asyncio.gather(*(t for t in self._tasks if t is not current), return_exceptions=True)
        ws, self.ws = self.ws, None
        if ws is not None:
            await ws.close(CloseCode.NORMAL_CLOSURE, "closed by the client")

    def drop(self) -> bool:
        """Cut the TCP connection without a close frame; returns whether there was one."""
        ws = self.ws
        if ws is None or ws.transport is None:
            return False
        ws.transport.abort()
        return True

    # ---- the connection's life -------------------------------------------------------------------

    def _adopt_new(self, ws: ClientConnection, url: str, connected: Connected) -> None:
        """A brand-new connection: new connectionId, sequence numbering from 1."""
        self.ws = ws
        self.url = url
        self.session.opened(connected)
        self.handlers.state_changed()
        self.handlers.connected(connected)

    async def _supervise(self) -> None:
        """Read the socket; when it ends, recover or reconnect until the client closes."""
        session, handlers = self.session, self.handlers
        try:
            while True:
                ws = self.ws
                assert ws is not None
                code, reason = await self._read(ws)
                if self.closing:
                    return
                if self.ws is ws:
                    self.ws = None
                decision = session.connection_lost(code, reason)
                log.info("connection %s dropped: %s", session.connection_id, session.drop_reason)
                if decision is Drop.RECOVER:
                    handlers.state_changed()
                    if await self._recover():
                        continue
                    session.recovery_failed()
                handlers.disconnected(session.drop_reason)
                handlers.state_changed()
                if decision is Drop.CLOSE:
                    raise RecoveryFailed(
                        f"the connection ended ({session.drop_reason}) and auto_reconnect is off; "
                        "create a new client to continue"
                    )
                await self._renew()
        except WebPubSubError as fatal:
            if not self.closing:
                log.error("client %s gives up: %s", session.connection_id, fatal)
                await handlers.finish(fatal)
        except Exception as bug:
            log.exception("client %s stopped by an internal error", session.connection_id)
            if not self.closing:
                await handlers.finish(RecoveryFailed(f"internal error in the client: {bug!r}"))

    async def _read(self, ws: ClientConnection) -> tuple[int | None, str]:
        """Handle frames until ``ws`` ends; return the close code (``None``: no close frame) and reason."""
        session, frames, events = self.session, self.frames, self.handlers.events
        try:
            while True:
                received = session.receive(await ws.recv())
                first = received[0]
                frames.record("received", first.raw, first.message, first.error, connection_id=session.connection_id)
                if len(received) > 1:
                    events(received)
                if session.ack_now:
                    await self.send_sequence_ack()
        except ConnectionClosed as exc:
            if exc.rcvd is None:
                return None, "the connection dropped without a close frame"
            frames.record(
                "received", exc.rcvd.reason, kind="close", code=exc.rcvd.code, connection_id=session.connection_id
            )
            return exc.rcvd.code, f"closed by the service with {exc.rcvd.code} {exc.rcvd.reason}".strip()

    async def _write_loop(self) -> None:
        """Write queued requests, in order, whenever a connection is up."""
        session, wake, frames = self.session, self.wake, self.frames
        while True:
            await wake.wait()
            wake.clear()
            written = 0
            while True:
                ws = self.ws
                if ws is None:
                    break
                batch = session.frames_to_send()
                if not batch:
                    break  # nothing queued, not connected, or the window is full (an ack wakes us)
                try:
                    # One send_context for the batch: the frames leave in one write (websockets_fast_path).
                    async with ws.send_context():
                        for request in batch:
                            ws.protocol.send_text(request.frame.encode("utf-8"))
                except ConnectionClosed:
                    session.write_failed(batch)
                    break
                connection_id = session.connection_id
                for request in batch:
                    frames.record("sent", request.frame, request.message, connection_id=connection_id)
                written += len(batch)
                if written >= WRITE_SLICE:
                    written = 0
                    await asyncio.sleep(0)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(SEQUENCE_ACK_INTERVAL)
            await self.send_sequence_ack()
            self.frames.flush()

    async def send_sequence_ack(self, *, force: bool = False) -> None:
        """Write the ``sequenceAck`` the session says is due (``force``: whatever arrived and is not acked)."""
        ws = self.ws
        if ws is None:
            return
        ack = self.session.sequence_ack(self._loop.time(), force=force)
        if ack is None:
            return
        try:
            await ws.send(ack.frame)
        except ConnectionClosed:
            self.session.sequence_ack_lost()  # acknowledged again after the recovery
            return
        self.frames.record("sent", ack.frame, ack.message, connection_id=self.session.connection_id)

    async def _recover(self) -> bool:
        """Resume the session on a new socket (same URL + awps_connection_id + token). ``False``: refused."""
        session = self.session
        assert self.url is not None and session.connection_id is not None
        url = with_query(
            self.url,
            awps_connection_id=session.connection_id,
            awps_reconnection_token=session.reconnection_token or "",
        )
        loop = self._loop
        deadline = loop.time() + self.recovery_timeout
        for delay in backoff(self.max_retry_delay):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(delay, remaining))
            try:
                ws, _ = await open_websocket(
                    url, self.protocol, self.frames, expect_connected=False, timeout=min(10.0, max(remaining, 0.5))
                )
            except ConnectionRejected as exc:
                if exc.status is not None and exc.status >= 500:
                    continue
                log.info("recovery of %s refused: %s", session.connection_id, exc)
                return False
            except (ServiceUnreachable, InvalidSource) as exc:
                log.debug("recovery attempt failed: %s", exc)
                continue
            # Accepted. If the service cannot recover the session it closes this socket with 1008 at
            # once; the reader sees that and a brand-new connection follows.
            self.ws = ws
            resent = session.recovered()
            await self.send_sequence_ack(force=True)  # before the resent requests: release the replay
            log.info("resuming %s; resending %d unacknowledged requests", session.connection_id, resent)
            self.handlers.state_changed()
            self.wake.set()
            return True
        return False  # pragma: no cover (the back-off never ends)

    async def _renew(self) -> None:
        """Open a brand-new connection; the session re-joins groups and resends unacknowledged requests."""
        for delay in backoff(self.max_retry_delay):
            await asyncio.sleep(delay)
            try:
                url = await self.handlers.negotiate()
                ws, connected = await open_websocket(url, self.protocol, self.frames, expect_connected=True)
            except (ConnectionRejected, NegotiateFailed) as exc:
                if exc.status is not None and exc.status < 500:
                    raise  # a token the service refuses will not get better by retrying
                log.info("reconnecting: %s", exc)
                continue
            except ServiceUnreachable as exc:
                log.info("reconnecting: %s", exc)
                continue
            assert connected is not None
            self._adopt_new(ws, url, connected)
            self.wake.set()
            return


__all__ = ["Link", "LinkHandlers"]
