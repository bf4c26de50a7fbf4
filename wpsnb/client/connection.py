"""``AsyncClient``: a Web PubSub client connection on ``websockets``, over the sans-I/O protocol core.

It speaks ``json.reliable.webpubsub.azure.v1`` (default) or ``json.webpubsub.azure.v1``, waits for
acks, journals every frame, and keeps the connection alive across drops.

States (``client.state``):

* ``"idle"`` — created, ``connect()`` not called yet (or the first attempt failed; call it again).
* ``"connecting"`` — ``connect()`` is opening the first connection.
* ``"connected"`` — a WebSocket is open and requests flow.
* ``"recovering"`` — reliable protocol: the connection dropped and the client is resuming the *same*
  session (same connectionId, groups, unacked messages replayed). Nothing is lost or duplicated.
* ``"reconnecting"`` — the session is gone (plain protocol, or recovery refused/timed out): the client
  opens a brand-new connection (negotiating a fresh token when it was built from a source),
  re-joins the groups joined with ``join_group`` and resends unacknowledged requests. Messages
  published to the client while it had no session are lost.
* ``"closed"`` — ``close()`` was called, or reconnecting met an error retrying cannot fix (``client.error``).

Delivery rules:

* Requests (join/leave/send) sent while not connected are queued (``max_pending``, default 100,000,
  then :class:`~wpsnb.errors.BufferFull`) and flushed in order once connected.
* On the reliable protocol every request carries an ackId, even with ``ack=False`` (the caller just
  does not wait), so requests caught in a drop are resent after recovery and the service answers
  ``Duplicate`` for those it had already carried out: exactly once, in order. After a brand-new
  connection they are resent too (at least once). On the plain protocol ``ack=False`` requests carry no
  ackId: one in flight when the connection drops may be lost.
* Received messages are de-duplicated by sequenceId and acknowledged with ``sequenceAck`` every 0.5 s,
  at once when 100 are unacknowledged, and on close. At most 400 written requests wait for their ack
  at a time (flow control: the service drops a reliable session that falls 1000 messages behind).
* Callbacks: see :mod:`wpsnb.client.callbacks`; ``messages()``: see :mod:`wpsnb.client.inbox`.

Reconnection policy: the first attempt is immediate, then 0.1 s doubling up to ``max_retry_delay``
(5 s), with jitter. Recovery is tried for ``recovery_timeout`` (30 s, what the service guarantees)
after a drop; an HTTP 4xx or a 1008 close means the session is gone. A brand-new connection is
retried until it works or ``close()`` is called, except when the service refuses the token (HTTP
4xx): then the client closes with that error. A silent dead link is noticed by WebSocket pings
(every 20 s, 20 s to answer).

Example::

    >>> async with AsyncClient(service, user_id="ann",                    # doctest: +SKIP
    ...                        roles=["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]) as client:
    ...     await client.join_group("lab")
    ...     await client.send_to_group("lab", {"loss": 0.1})
    ...     async for message in client.messages(timeout=1):
    ...         print(message.data)
    {'loss': 0.1}
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterator
from inspect import signature
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI, WebSocketException
from websockets.typing import Subprotocol

from ..errors import (
    AckTimeout,
    ConnectionRejected,
    InvalidSource,
    NegotiateFailed,
    NotConnected,
    RecoveryFailed,
    ServiceUnreachable,
    WebPubSubError,
)
from ..protocol.json_codec import encode_client_message
from ..protocol.limits import MAX_RECEIVE_BYTES, CloseCode
from ..protocol.messages import (
    JSON_PROTOCOLS,
    RELIABLE_PROTOCOL,
    Ack,
    Connected,
    DataMessage,
    Disconnected,
    JoinGroup,
    LeaveGroup,
    SequenceAck,
    is_reliable,
)
from ..protocol.names import is_loopback_host
from ..protocol.pending_requests import PendingRequest, PendingRequests
from ..protocol.reliable import SequenceTracker
from ..source import Source, redact_url, with_query
from .callbacks import Dispatcher
from .handoff import Handoff, ThreadSafe
from .inbox import Inbox
from .journal import Journal, decode_frame
from .requests import RequestMaker, ack_timeout_message, request_failed, settle

log = logging.getLogger("wpsnb.client")

STATES = ("idle", "connecting", "connected", "recovering", "reconnecting", "closed")
SEQUENCE_ACK_INTERVAL = 0.5
SEQUENCE_ACK_EVERY = 100  # the service keeps at most 1000 unacknowledged messages, then drops the session
# Written requests waiting for their ack, at most. The service answers in order and sends a request's
# echo before its ack, so this also bounds the echoes in flight back to us (well under the 1000 above).
IN_FLIGHT = 400
RECOVERY_TIMEOUT = 30.0  # the service keeps a dropped reliable session at least this long
WRITE_BATCH = 64  # frames per socket write
WRITE_SLICE = 256  # frames written before letting the reader run
# websockets >= 15 reads proxy settings from the environment; loopback connections never want a proxy.
_NO_PROXY: dict[str, Any] = {"proxy": None} if "proxy" in signature(ws_connect).parameters else {}
_STATUS_ADVICE = {
    400: "Check the hub name and the query of the URL.",
    401: "The access token is expired, for another hub or endpoint, or signed with another key. Build the "
    "client from a connection string or a LocalService (wpsnb mints a fresh token for every connection), "
    "or negotiate a new URL.",
    403: "The service does not let this client connect.",
    404: "Check the URL: the client endpoint is /client/hubs/<hub>.",
}


class AsyncClient:
    """A Web PubSub client for asyncio code; :class:`~wpsnb.client.sync.Client` wraps it for threads.

    ``source``: a connection string, a LocalService, a ``/negotiate`` URL or a client access URL (see
    :func:`wpsnb.negotiate`); ``hub``, ``user_id``, ``roles``, ``groups`` go into the token minted for
    each connection. Keyword options: ``auto_reconnect`` (default True), ``max_retry_delay`` (back-off
    bound, 5 s), ``recovery_timeout`` (30 s), ``max_pending`` (queued + unacknowledged requests,
    100,000), ``message_buffer`` (``messages()`` buffer, 100,000), ``callback_buffer`` (10,000),
    ``minutes_to_expire`` (60).
    """

    def __init__(
        self,
        source: Any = None,
        hub: str = "stream",
        user_id: str | None = None,
        roles: list[str] | tuple[str, ...] | None = None,
        groups: list[str] | tuple[str, ...] | None = None,
        protocol: str = RELIABLE_PROTOCOL,
        journal_size: int = 10_000,
        record_to: Any = None,
        *,
        minutes_to_expire: int = 60,
        auto_reconnect: bool = True,
        max_retry_delay: float = 5.0,
        recovery_timeout: float = RECOVERY_TIMEOUT,
        max_pending: int = 100_000,
        message_buffer: int = 100_000,
        callback_buffer: int = 10_000,
    ):
        chosen = {p.lower(): p for p in JSON_PROTOCOLS}.get(str(protocol).lower())
        if chosen is None:
            raise ValueError(f"protocol {protocol!r} is not supported; use one of {', '.join(JSON_PROTOCOLS)}")
        self._source = Source.of(source)  # fail now, not at connect(), on an unusable source
        self._negotiate_args = {
            "hub": hub,
            "user_id": user_id,
            "roles": list(roles or ()),
            "groups": list(groups or ()),
            "minutes_to_expire": minutes_to_expire,
        }
        self.hub = hub
        self.protocol = chosen
        self.reliable = is_reliable(chosen)
        self.auto_reconnect = auto_reconnect
        self.max_retry_delay = max_retry_delay
        self.recovery_timeout = recovery_timeout
        self.error: WebPubSubError | None = None
        self._dispatcher = Dispatcher(callback_buffer)
        self.frames = Journal(journal_size, record_to, notify=self._dispatcher.submit)
        self._outbox = PendingRequests(max_pending)
        self._inbox = Inbox(message_buffer)
        self._tracker = SequenceTracker()
        self._requests = RequestMaker(self.reliable)
        self._joined: dict[str, None] = {}
        self._callbacks: dict[str, tuple[Any, ...]] = {
            k: () for k in ("message", "group", "server", "connected", "disconnected", "state")
        }
        self._state = "idle"
        self._closing = False
        self._ws: ClientConnection | None = None
        self._url: str | None = None
        self.connection_id: str | None = None
        self.user_id: str | None = None
        self._reconnection_token: str | None = None
        self._disconnect_reason: str | None = None
        self._ack_now = False
        self._window_full = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._supervisor: asyncio.Task[None] | None = None
        # Requests from other threads (the sync Client): one loop wake-up per batch, not per request.
        self._handoff = Handoff(self._accept, self._wake_writer)
        self.threadsafe = ThreadSafe(self._requests, self._submit_threadsafe, self._inbox)
        """This client for code in other threads: requests returning ``concurrent.futures.Future``, blocking reads."""
        self._stats = dict.fromkeys(
            ("sent", "received", "acked", "failed", "duplicates_dropped", "recoveries", "reconnections", "drops"), 0
        )
        self._warned_failures: set[str] = set()

    # ---- what the user sees ----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``idle``, ``connecting``, ``connected``, ``recovering``, ``reconnecting`` or ``closed``."""
        return self._state

    @property
    def groups(self) -> tuple[str, ...]:
        """Groups joined with ``join_group`` (and not left); re-joined after a brand-new connection."""
        return tuple(self._joined)

    @property
    def url(self) -> str | None:
        """The client access URL in use, tokens hidden."""
        return redact_url(self._url) if self._url else None

    @property
    def stats(self) -> dict[str, int]:
        """Counters: sent, received, acked, failed, duplicates_dropped, recoveries, reconnections, drops,
        pending (queued + unacknowledged requests), messages_dropped, callbacks_dropped."""
        return {
            **self._stats,
            "pending": len(self._outbox) + len(self._handoff),
            "messages_dropped": self._inbox.dropped,
            "callbacks_dropped": self._dispatcher.dropped,
        }

    def __repr__(self) -> str:
        kind = "reliable" if self.reliable else "plain"
        return (
            f"<{type(self).__name__} {self._state} hub={self.hub!r} connection_id={self.connection_id!r} "
            f"user_id={self.user_id!r} {kind}>"
        )

    # ---- connect / close -------------------------------------------------------------------------

    async def connect(self, timeout: float = 10.0) -> AsyncClient:
        """Open the connection; return once the service's ``connected`` message arrived.

        Raises :class:`~wpsnb.errors.ConnectionRejected` (with what the service said, e.g. why the token
        was refused), :class:`~wpsnb.errors.ServiceUnreachable`, or an error from :func:`wpsnb.negotiate`.
        """
        if self._state == "connected":
            return self
        if self._state == "closed":
            raise NotConnected("this client was closed; create a new client to connect again")
        if self._state != "idle":
            raise NotConnected(f"connect() is already in progress (state {self._state!r})")
        self._loop = asyncio.get_running_loop()
        self._handoff.bind(self._loop)
        self._wake = asyncio.Event()
        self._set_state("connecting")
        try:
            url = await asyncio.wait_for(self._negotiate(), timeout)
            ws, connected = await self._open(url, expect_connected=True, timeout=timeout)
        except asyncio.TimeoutError:
            self._set_state("idle")
            raise ServiceUnreachable(
                f"no connection within {timeout:g} s; is the service running and reachable?"
            ) from None
        except BaseException:
            self._set_state("idle")
            raise
        self._dispatcher.start()
        self._adopt_new(ws, url, connected)
        self._supervisor = self._loop.create_task(self._supervise(), name="wpsnb-client")
        self._tasks = [
            self._loop.create_task(self._write_loop(), name="wpsnb-client-writer"),
            self._loop.create_task(self._tick_loop(), name="wpsnb-client-ticker"),
        ]
        return self

    async def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (waiting at most ``timeout`` s), acknowledge, and close for good."""
        if self._state == "closed":
            return
        if self._state == "idle" or self._loop is None:
            self._set_state("closed")
            self._inbox.close()
            self.frames.close()
            return
        try:
            await self.flush(timeout)
        except WebPubSubError:
            pass
        self._closing = True
        await self._send_sequence_ack()
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not asyncio.current_task():
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close(CloseCode.NORMAL_CLOSURE, "closed by the client")
            self.frames.record(
                "sent",
                "closed by the client",
                kind="close",
                code=CloseCode.NORMAL_CLOSURE,
                connection_id=self.connection_id,
            )
            self._emit("disconnected", Disconnected("closed by the client"))
        await self._finish(NotConnected("the client was closed before the service acknowledged this request"))

    async def drop_connection(self) -> bool:
        """Cut the TCP connection without a close frame, as a network failure would; returns whether there was one.

        For teaching and testing recovery: on the reliable protocol the client then recovers the same
        session (same connection id, nothing lost); on the plain one it opens a new connection.

        >>> await client.drop_connection()          # doctest: +SKIP
        True
        """
        ws = self._ws
        if ws is None or ws.transport is None:
            return False
        ws.transport.abort()
        return True

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every request made so far is written (and, if it has an ackId, acknowledged)."""
        self._handoff.drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self._outbox) or self._handoff:
            if self._state in ("idle", "closed"):
                raise NotConnected(f"cannot flush: the client is {self._state}")
            if loop.time() >= deadline:
                raise AckTimeout(
                    f"{len(self._outbox)} requests still unsent or unacknowledged after {timeout:g} s "
                    f"(state {self._state!r}); wait longer or check the connection"
                )
            self._handoff.drain()
            await asyncio.sleep(0.005)

    async def __aenter__(self) -> AsyncClient:
        if self._state == "idle":
            await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- requests --------------------------------------------------------------------------------

    async def join_group(
        self, group: str, *, ack: bool = True, wait: bool = True, timeout: float = 10.0
    ) -> int | asyncio.Future[int | None] | None:
        """Join ``group``; with ``ack`` wait for the service (raises :class:`~wpsnb.errors.Forbidden` etc.).

        Returns the request's ackId (``None`` for fire-and-forget on the plain protocol). With
        ``wait=False`` it returns once the request is queued, with a future of what it would return.
        """
        return await self._request(self._requests.join_group(group, ack), ack, wait, timeout)

    async def leave_group(
        self, group: str, *, ack: bool = True, wait: bool = True, timeout: float = 10.0
    ) -> int | asyncio.Future[int | None] | None:
        """Leave ``group``."""
        return await self._request(self._requests.leave_group(group, ack), ack, wait, timeout)

    async def send_to_group(
        self,
        group: str,
        data: Any,
        data_type: str | None = None,
        *,
        no_echo: bool = False,
        ack: bool = True,
        wait: bool = True,
        timeout: float = 10.0,
    ) -> int | asyncio.Future[int | None] | None:
        """Publish ``data`` to ``group``. ``data_type``: ``"json"``, ``"text"``, ``"binary"``; by default
        ``str`` → text, bytes-like → binary, anything else → json. ``no_echo`` skips this connection.

        ``wait=False`` queues the request and returns an ``asyncio.Future`` of its ackId at once (failing
        with the service's refusal), so many sends can be in flight while the caller goes on::

            >>> futures = [await client.send_to_group("lab", n, wait=False) for n in range(100)]  # doctest: +SKIP
            >>> await asyncio.gather(*futures)                                                   # doctest: +SKIP
        """
        request = self._requests.send_to_group(group, data, data_type, no_echo, ack)
        return await self._request(request, ack, wait, timeout)

    async def send_event(
        self,
        event: str,
        data: Any,
        data_type: str | None = None,
        *,
        ack: bool = True,
        wait: bool = True,
        timeout: float = 10.0,
    ) -> int | asyncio.Future[int | None] | None:
        """Send the user event ``event`` to the service's upstream handler."""
        return await self._request(self._requests.send_event(event, data, data_type, ack), ack, wait, timeout)

    async def _request(
        self, request: PendingRequest, ack: bool, wait: bool, timeout: float
    ) -> int | asyncio.Future[int | None] | None:
        self._check_can_send()
        if not ack:
            self._submit(request)
            if not wait:
                done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
                done.set_result(request.ack_id)
                return done
            return request.ack_id
        waiter: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        request.waiter = waiter
        self._submit(request)
        if not wait:
            return waiter
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except asyncio.TimeoutError:
            raise AckTimeout(ack_timeout_message(request.message, timeout, self._state)) from None
        finally:
            if not waiter.done():  # nobody will read a later failure: keep asyncio from complaining
                waiter.add_done_callback(_consume)

    # Kept for wpsnb.notebook.publisher until it uses Client.send_to_group(wait=False); not public API.

    def build_send_to_group(
        self, group: str, data: Any, data_type: str | None, no_echo: bool, ack: bool
    ) -> PendingRequest:  # pragma: no cover (goes with the publisher's move)
        """A sendToGroup request (deprecated: use ``threadsafe.send_to_group``)."""
        return self._requests.send_to_group(group, data, data_type, no_echo, ack)

    def submit_threadsafe(self, request: PendingRequest) -> None:  # pragma: no cover
        """Queue ``request`` from any thread (deprecated: use ``threadsafe``)."""
        self._submit_threadsafe(request)

    def _check_can_send(self) -> None:
        if self._state == "idle":
            raise NotConnected("the client is not connected; call connect() first")
        if self._state == "closed":
            raise NotConnected(
                "the client is closed" + (f" ({self.error})" if self.error else "") + "; create a new client"
            )

    def _submit_threadsafe(self, request: PendingRequest) -> None:
        """Queue ``request`` from any thread; raises if the client cannot send."""
        self._check_can_send()
        self._outbox.check_room(len(self._handoff))
        if self._handoff.on_loop_thread():
            self._submit(request)
            return
        self._handoff.put(request)

    def _submit(self, request: PendingRequest) -> None:
        self._outbox.check_room(len(self._handoff))
        if len(self._handoff):
            self._handoff.drain()
        self._accept(request)
        self._wake_writer()

    def _wake_writer(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _accept(self, request: PendingRequest) -> None:
        if self._state == "closed":
            settle(request.waiter, error=NotConnected("the client closed before this request was sent"))
            return
        message = request.message
        if type(message) is JoinGroup:
            self._joined[message.group] = None
        elif type(message) is LeaveGroup:
            self._joined.pop(message.group, None)
        self._outbox.put(request)

    # ---- receiving -------------------------------------------------------------------------------

    async def messages(self, timeout: float | None = None) -> AsyncIterator[DataMessage]:
        """Received messages, oldest first; stops after ``timeout`` s without one, or when the client closes.

        >>> async for message in client.messages(timeout=5):      # doctest: +SKIP
        ...     print(message.group, message.data)
        """
        while True:
            message = await self._inbox.get_async(timeout)
            if message is None:
                return
            yield message

    def on_message(self, callback: Callable[[DataMessage], Any]) -> Callable[[], None]:
        """Call ``callback(message)`` for every received message; returns a function that unsubscribes."""
        return self._subscribe("message", callback)

    def on_group_message(self, callback: Callable[[DataMessage], Any], group: str | None = None) -> Callable[[], None]:
        """Like :meth:`on_message` for group messages only (of ``group``, if given)."""
        return self._subscribe("group", (callback, group))

    def on_server_message(self, callback: Callable[[DataMessage], Any]) -> Callable[[], None]:
        """Like :meth:`on_message` for messages from the server (REST sends, event replies)."""
        return self._subscribe("server", callback)

    def on_connected(self, callback: Callable[[Connected], Any]) -> Callable[[], None]:
        """Call ``callback(connected)`` for each new connection (not for a recovery, which keeps it)."""
        return self._subscribe("connected", callback)

    def on_disconnected(self, callback: Callable[[Disconnected], Any]) -> Callable[[], None]:
        """Call ``callback(disconnected)`` when a connection ends for good; ``.message`` says why."""
        return self._subscribe("disconnected", callback)

    def on_state(self, callback: Callable[[str], Any]) -> Callable[[], None]:
        """Call ``callback(state)`` on every change of :attr:`state`."""
        return self._subscribe("state", callback)

    def _subscribe(self, kind: str, entry: Any) -> Callable[[], None]:
        self._callbacks[kind] = (*self._callbacks[kind], entry)

        def unsubscribe() -> None:
            self._callbacks[kind] = tuple(e for e in self._callbacks[kind] if e is not entry)

        return unsubscribe

    def _emit(self, kind: str, argument: Any) -> None:
        for callback in self._callbacks[kind]:
            self._dispatcher.submit(callback, argument)

    def _set_state(self, state: str) -> None:
        if state != self._state:
            log.info("client %s: %s -> %s", self.connection_id or "-", self._state, state)
            self._state = state
            if self._callbacks["state"]:
                self._emit("state", state)

    # ---- the connection's life -------------------------------------------------------------------

    async def _negotiate(self) -> str:
        if self._source.kind == "client_url":
            return self._source.client_url(**self._negotiate_args)
        return await asyncio.to_thread(lambda: self._source.client_url(**self._negotiate_args))

    async def _open(
        self, url: str, *, expect_connected: bool, timeout: float = 10.0
    ) -> tuple[ClientConnection, Connected | None]:
        """Open a WebSocket; for a new connection also wait for the ``connected`` system message."""
        host = urlsplit(url).hostname or ""
        try:
            ws = await ws_connect(
                url,
                create_connection=_BatchingConnection,
                subprotocols=[Subprotocol(self.protocol)],
                compression=None,
                max_size=MAX_RECEIVE_BYTES,
                max_queue=256,
                open_timeout=timeout,
                ping_interval=20,
                ping_timeout=20,
                close_timeout=2,
                **(_NO_PROXY if is_loopback_host(host) else {}),
            )
        except InvalidStatus as exc:
            raise _rejected(exc, url) from None
        except InvalidURI as exc:
            raise InvalidSource(f"not a usable WebSocket URL: {redact_url(url)} ({exc.msg})") from None
        except InvalidHandshake as exc:
            if isinstance(exc.__cause__, (EOFError, OSError)):  # the TCP connection ended mid-handshake
                raise ServiceUnreachable(
                    f"the connection to {redact_url(url)} ended during the handshake", url=redact_url(url)
                ) from None
            raise ConnectionRejected(
                f"the WebSocket handshake with {redact_url(url)} failed: {exc}. Is this a Web PubSub client endpoint?"
            ) from None
        except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
            what = f"no answer within {timeout:g} s" if isinstance(exc, asyncio.TimeoutError) else str(exc)
            raise ServiceUnreachable(
                f"cannot reach {redact_url(url)} ({what}); is the service running? Start "
                "one with wpsnb.LocalService() or `wpsnb serve`",
                url=redact_url(url),
            ) from None
        if ws.subprotocol is None or ws.subprotocol.lower() != self.protocol.lower():
            await ws.close()
            raise ConnectionRejected(
                f"{redact_url(url)} did not accept the subprotocol {self.protocol}; is this a "
                "Web PubSub client endpoint?"
            )
        if not expect_connected:
            return ws, None
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout)
        except ConnectionClosed as exc:
            code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, "no close frame")
            raise ConnectionRejected(
                f"the service closed the new connection ({code} {reason}) before saying 'connected'", close_code=code
            ) from None
        except asyncio.TimeoutError:
            await ws.close()
            raise ServiceUnreachable(
                f"{redact_url(url)} accepted the WebSocket but sent no 'connected' message within {timeout:g} s"
            ) from None
        message, error = decode_frame("received", raw)
        connection_id = message.connection_id if isinstance(message, Connected) else None
        self.frames.record("received", raw, message, error, connection_id=connection_id)
        if not isinstance(message, Connected):
            await ws.close()
            raise ConnectionRejected(f"expected the 'connected' system message first, got {str(raw)[:200]!r}")
        return ws, message

    def _adopt_new(self, ws: ClientConnection, url: str, connected: Connected) -> None:
        """A brand-new connection: new connectionId, sequence numbering from 1."""
        self._ws = ws
        self._url = url
        self.connection_id = connected.connection_id
        self.user_id = connected.user_id
        self._reconnection_token = connected.reconnection_token
        self._tracker.reset()
        self._disconnect_reason = None
        self._set_state("connected")
        self._emit("connected", connected)

    async def _supervise(self) -> None:
        """Read the socket; when it ends, recover or reconnect until the client closes."""
        try:
            while True:
                ws = self._ws
                assert ws is not None
                code, reason = await self._read(ws)
                if self._closing:
                    return
                if self._ws is ws:
                    self._ws = None
                self._stats["drops"] += 1
                said = self._disconnect_reason  # the service's 'disconnected' message, kept until a new connection
                why = f"{said}; {reason}" if said and said not in reason else reason
                log.info("connection %s dropped: %s", self.connection_id, why)
                if (
                    self.reliable
                    and code != CloseCode.POLICY_VIOLATION
                    and self._reconnection_token
                    and self.auto_reconnect
                ):
                    if await self._recover():
                        continue
                    why = f"{why}; the session could not be recovered"
                self._emit("disconnected", Disconnected(why))
                if not self.auto_reconnect:
                    raise RecoveryFailed(
                        f"the connection ended ({why}) and auto_reconnect is off; create a new client to continue"
                    )
                await self._renew()
        except WebPubSubError as fatal:
            if not self._closing:
                log.error("client %s gives up: %s", self.connection_id, fatal)
                await self._finish(fatal)
        except Exception as bug:
            log.exception("client %s stopped by an internal error", self.connection_id)
            if not self._closing:
                await self._finish(RecoveryFailed(f"internal error in the client: {bug!r}"))

    async def _read(self, ws: ClientConnection) -> tuple[int | None, str]:
        """Handle frames until ``ws`` ends; return the close code (``None``: no close frame) and reason."""
        try:
            while True:
                self._on_frame(await ws.recv())
                if self._ack_now:
                    await self._send_sequence_ack()
        except ConnectionClosed as exc:
            if exc.rcvd is None:
                return None, "the connection dropped without a close frame"
            self.frames.record(
                "received", exc.rcvd.reason, kind="close", code=exc.rcvd.code, connection_id=self.connection_id
            )
            return exc.rcvd.code, f"closed by the service with {exc.rcvd.code} {exc.rcvd.reason}".strip()

    def _on_frame(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            self.frames.record(
                "received",
                raw,
                None,
                "binary frame on a JSON subprotocol (the service sends text frames only); ignored",
                connection_id=self.connection_id,
            )
            return
        message, error = decode_frame("received", raw)
        self.frames.record("received", raw, message, error, connection_id=self.connection_id)
        kind = type(message)
        if kind is DataMessage:
            sequence_id = message.sequence_id
            if sequence_id is not None and self.reliable:
                tracker = self._tracker
                if not tracker.receive(sequence_id):
                    self._stats["duplicates_dropped"] += 1
                    return
                if sequence_id - tracker.last_acked >= SEQUENCE_ACK_EVERY:
                    self._ack_now = True
            self._deliver(message)
        elif kind is Ack:
            self._on_ack(message)
        elif kind is Connected:  # a recovery MAY announce the connection again
            self._reconnection_token = message.reconnection_token or self._reconnection_token
        elif kind is Disconnected:
            self._disconnect_reason = message.message or None
        elif message is None:
            log.warning("ignored a frame the client cannot parse: %s", error)

    def _deliver(self, message: DataMessage) -> None:
        self._stats["received"] += 1
        self._inbox.put(message)
        callbacks = self._callbacks
        for callback in callbacks["message"]:
            self._dispatcher.submit(callback, message)
        if message.source == "group":
            for callback, group in callbacks["group"]:
                if group is None or group == message.group:
                    self._dispatcher.submit(callback, message)
        else:
            for callback in callbacks["server"]:
                self._dispatcher.submit(callback, message)

    def _on_ack(self, ack: Ack) -> None:
        request = self._outbox.acknowledge(ack.ack_id)
        if request is None:
            return
        if self._window_full:
            self._window_full = False
            assert self._wake is not None
            self._wake.set()
        error = ack.error
        if ack.success or (error is not None and error.name == "Duplicate"):
            self._stats["acked"] += 1
            settle(request.waiter, ack.ack_id)
            return
        self._stats["failed"] += 1
        failure = request_failed(ack, request.message)
        message = request.message
        if type(message) is JoinGroup and message.group in self._joined:
            self._joined.pop(message.group)
        if request.waiter is None:
            key = f"{failure.name}:{type(message).__name__}"
            if key not in self._warned_failures:
                self._warned_failures.add(key)
                log.warning(
                    "a fire-and-forget request failed (further %s failures are only counted in client.stats): %s",
                    failure.name,
                    failure,
                )
        settle(request.waiter, error=failure)

    async def _write_loop(self) -> None:
        """Write queued requests, in order, whenever a connection is up."""
        assert self._wake is not None
        outbox, wake, frames = self._outbox, self._wake, self.frames
        unacked = outbox.unacked
        while True:
            await wake.wait()
            wake.clear()
            written = 0
            while outbox.queued:
                if len(unacked) >= IN_FLIGHT:
                    self._window_full = True  # the next ack wakes us
                    break
                ws = self._ws
                if ws is None or self._state != "connected":
                    break
                room = IN_FLIGHT - len(unacked)
                batch = [outbox.take() for _ in range(min(room, WRITE_BATCH, len(outbox.queued)))]
                try:
                    # One send_context for the batch: the frames leave in one write (see _BatchingConnection).
                    async with ws.send_context():
                        for request in batch:
                            ws.protocol.send_text(request.frame.encode("utf-8"))
                except ConnectionClosed:
                    # Tracked requests wait in unacked for the next connection; put the others back.
                    outbox.put_front(request for request in batch if request.ack_id is None)
                    break
                self._stats["sent"] += len(batch)
                connection_id = self.connection_id
                for request in batch:
                    frames.record("sent", request.frame, request.message, connection_id=connection_id)
                written += len(batch)
                if written >= WRITE_SLICE:
                    written = 0
                    await asyncio.sleep(0)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(SEQUENCE_ACK_INTERVAL)
            if self.reliable:
                await self._send_sequence_ack()
            self.frames.flush()

    async def _send_sequence_ack(self) -> None:
        self._ack_now = False
        ws = self._ws
        if ws is None or not self.reliable:
            return
        previous = self._tracker.last_acked
        sequence_id = self._tracker.ack_due()
        if sequence_id is None:
            return
        message = SequenceAck(sequence_id)
        frame = encode_client_message(message)
        try:
            await ws.send(frame)
        except ConnectionClosed:
            self._tracker.last_acked = min(self._tracker.last_acked, previous)  # ack again after recovery
            return
        self.frames.record("sent", frame, message, connection_id=self.connection_id)

    async def _recover(self) -> bool:
        """Resume the session on a new socket (same URL + awps_connection_id + token). ``False``: refused."""
        assert self._loop is not None and self._url is not None and self.connection_id is not None
        self._set_state("recovering")
        url = with_query(
            self._url, awps_connection_id=self.connection_id, awps_reconnection_token=self._reconnection_token or ""
        )
        deadline = self._loop.time() + self.recovery_timeout
        for delay in _backoff(self.max_retry_delay):
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(delay, remaining))
            try:
                ws, _ = await self._open(url, expect_connected=False, timeout=min(10.0, max(remaining, 0.5)))
            except ConnectionRejected as exc:
                if exc.status is not None and exc.status >= 500:
                    continue
                log.info("recovery of %s refused: %s", self.connection_id, exc)
                return False
            except (ServiceUnreachable, InvalidSource) as exc:
                log.debug("recovery attempt failed: %s", exc)
                continue
            # Accepted. If the service cannot recover the session it closes this socket with 1008 at
            # once; the reader sees that and a brand-new connection follows.
            self._ws = ws
            self._stats["recoveries"] += 1
            # An ack written just before the drop may never have arrived: acknowledge everything received
            # so far at once, so the replayed backlog the service holds for us is released.
            self._tracker.last_acked = 0
            await self._send_sequence_ack()
            resent = self._outbox.resend_unacked()
            log.info("resuming %s; resending %d unacknowledged requests", self.connection_id, resent)
            self._set_state("connected")
            assert self._wake is not None
            self._wake.set()
            return True
        return False  # pragma: no cover (the back-off never ends)

    async def _renew(self) -> None:
        """Open a brand-new connection, re-join groups, resend unacknowledged requests."""
        self._set_state("reconnecting")
        self._reconnection_token = None
        for delay in _backoff(self.max_retry_delay):
            await asyncio.sleep(delay)
            try:
                url = await self._negotiate()
                ws, connected = await self._open(url, expect_connected=True)
            except ConnectionRejected as exc:
                if exc.status is not None and exc.status < 500:
                    raise  # a token the service refuses will not get better by retrying
                log.info("reconnecting: %s", exc)
                continue
            except NegotiateFailed as exc:
                if exc.status is not None and exc.status < 500:
                    raise
                log.info("reconnecting: %s", exc)
                continue
            except ServiceUnreachable as exc:
                log.info("reconnecting: %s", exc)
                continue
            assert connected is not None
            self._stats["reconnections"] += 1
            self._outbox.resend_unacked()
            rejoin = [self._requests.join_group(group, True) for group in self._joined]
            self._outbox.put_front(rejoin)
            self._adopt_new(ws, url, connected)
            assert self._wake is not None
            self._wake.set()
            return

    async def _finish(self, error: WebPubSubError) -> None:
        """Stop for good: fail what waits, end iterators, stop the helper tasks."""
        if not isinstance(error, NotConnected):
            self.error = error
        self._closing = True
        self._set_state("closed")
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        await asyncio.gather(*(t for t in self._tasks if t is not current), return_exceptions=True)
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close(CloseCode.NORMAL_CLOSURE, "closed by the client")
        for request in (*self._outbox.drop_all(), *self._handoff.take_all()):
            settle(request.waiter, error=error)
        self._inbox.close()
        self.frames.close()
        await self._dispatcher.stop()


# ---- helpers ---------------------------------------------------------------------------------------


class _BatchingConnection(ClientConnection):
    """Writes every frame queued in one ``send_context()`` with a single ``transport.write``.

    websockets writes each frame separately (a system call each); the client queues many small frames
    at once, so joining them is most of the cost of sending.
    """

    def send_data(self) -> None:
        pending: list[bytes] = []
        for data in self.protocol.data_to_send():
            if data:
                pending.append(data)
                continue
            if pending:  # an empty chunk means "half-close": write what came before it first
                self.transport.write(b"".join(pending))
                pending = []
            if self.transport.can_write_eof():
                try:
                    self.transport.write_eof()
                except Exception:
                    pass
            else:
                self.transport.close()
        if pending:
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))


def _rejected(exc: InvalidStatus, url: str) -> ConnectionRejected:
    status = exc.response.status_code
    body = (exc.response.body or b"").decode("utf-8", "replace").strip()
    said = body if body.startswith(str(status)) else f"HTTP {status} {exc.response.reason_phrase}: {body}".strip()
    advice = _STATUS_ADVICE.get(status, "The service failed; see its log." if status >= 500 else "")
    return ConnectionRejected(
        f"the service refused the connection to {redact_url(url)}: {said}. {advice}".strip(), status=status, body=body
    )


def _backoff(max_delay: float) -> Iterator[float]:
    """0, then 0.1 s doubling up to ``max_delay``, with jitter."""
    yield 0.0
    delay = 0.1
    while True:
        yield delay * random.uniform(0.75, 1.0)
        delay = min(delay * 2, max_delay)


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


__all__ = ["STATES", "AsyncClient"]
