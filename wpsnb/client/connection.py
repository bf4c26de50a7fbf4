"""``AsyncClient``: a Web PubSub client connection on ``websockets``, over the sans-I/O protocol core.

It speaks ``json.reliable.webpubsub.azure.v1`` (default) or ``json.webpubsub.azure.v1``, waits for
acks, journals every frame, and keeps the connection alive across drops. This module is the public
API; the protocol's decisions are made by :class:`~wpsnb.protocol.client_session.ClientSession`, and
the sockets and timers are in :mod:`wpsnb.client.link` (see ``docs/client.md``).

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
* Callbacks: :mod:`wpsnb.client.receiving` (who gets what), :mod:`wpsnb.client.callbacks` (how they run);
  ``messages()``: see :mod:`wpsnb.client.inbox`.

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
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..errors import (
    AckTimeout,
    ConnectionRejected,
    NotConnected,
    ServiceUnreachable,
    WebPubSubError,
)
from ..protocol.client_session import ClientSession, ClientState
from ..protocol.messages import (
    JSON_PROTOCOLS,
    RELIABLE_PROTOCOL,
    Connected,
    DataMessage,
    Disconnected,
    is_reliable,
)
from ..protocol.pending_requests import PendingRequest
from ..source import Source, redact_url
from .callbacks import Dispatcher
from .group_stream import AsyncGroupStreamWriter, StreamWriters
from .handoff import Handoff, ThreadSafe
from .inbox import Inbox
from .invocations import Invocations
from .journal import Journal
from .link import Link, LinkHandlers
from .receiving import Receiver, Subscriptions
from .requests import RequestMaker, ack_timeout_message, settle
from .status_advice import key_mismatch

log = logging.getLogger("wpsnb.client")

STATES = tuple(state.value for state in ClientState)
RECOVERY_TIMEOUT = 30.0  # the service keeps a dropped reliable session at least this long


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
        self._inbox = Inbox(message_buffer)
        self._invocations = Invocations()  # invoke() calls waiting
        self._requests = RequestMaker(self.reliable)
        self._session = ClientSession(
            reliable=self.reliable,
            auto_reconnect=auto_reconnect,
            max_pending=max_pending,
            rejoin=lambda group: self._requests.join_group(group, True),
        )
        self._announced = self._session.state
        self._stream_writers = StreamWriters(self._session, self._submit)
        self._subscriptions = Subscriptions(self._dispatcher.submit)
        self._receiver = Receiver(
            self._inbox, self._subscriptions, self._invocations, self._stream_writers, self._wake_writer
        )
        self._link: Link | None = None
        # Requests from other threads (the sync Client): one loop wake-up per batch, not per request.
        self._handoff = Handoff(self._accept, self._wake_writer)
        self.threadsafe = ThreadSafe(self._requests, self._submit_threadsafe, self._inbox)
        """This client for code in other threads: requests returning ``concurrent.futures.Future``, blocking reads."""

    # ---- what the user sees ----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``idle``, ``connecting``, ``connected``, ``recovering``, ``reconnecting`` or ``closed``."""
        return self._session.state.value

    @property
    def connection_id(self) -> str | None:
        """The service's id for the current connection (changes only with a brand-new connection)."""
        return self._session.connection_id

    @property
    def user_id(self) -> str | None:
        """The user the token names, as the service reported it."""
        return self._session.user_id

    @property
    def groups(self) -> tuple[str, ...]:
        """Groups joined with ``join_group`` (and not left); re-joined after a brand-new connection."""
        return tuple(self._session.joined)

    @property
    def url(self) -> str | None:
        """The client access URL in use, tokens hidden."""
        url = self._link.url if self._link is not None else None
        return redact_url(url) if url else None

    @property
    def stats(self) -> dict[str, int]:
        """Counters: sent, received, acked, failed, duplicates_dropped, recoveries, reconnections, drops,
        pending (queued + unacknowledged requests), messages_dropped, callbacks_dropped."""
        return {
            **self._session.stats,
            "pending": len(self._session.requests) + len(self._handoff),
            "messages_dropped": self._inbox.dropped,
            "callbacks_dropped": self._dispatcher.dropped,
        }

    def __repr__(self) -> str:
        kind = "reliable" if self.reliable else "plain"
        return (
            f"<{type(self).__name__} {self.state} hub={self.hub!r} connection_id={self.connection_id!r} "
            f"user_id={self.user_id!r} {kind}>"
        )

    # ---- connect / close -------------------------------------------------------------------------

    async def connect(self, timeout: float = 10.0) -> AsyncClient:
        """Open the connection; return once the service's ``connected`` message arrived.

        Raises :class:`~wpsnb.errors.ConnectionRejected` (with what the service said, e.g. why the token
        was refused), :class:`~wpsnb.errors.ServiceUnreachable`, or an error from :func:`wpsnb.negotiate`.
        """
        session = self._session
        if session.state is ClientState.CONNECTED:
            return self
        if session.state is ClientState.CLOSED:
            raise NotConnected("this client was closed; create a new client to connect again")
        if session.state is not ClientState.IDLE:
            raise NotConnected(f"connect() is already in progress (state {self.state!r})")
        self._handoff.bind(asyncio.get_running_loop())
        link = Link(
            session,
            self.frames,
            self.protocol,
            LinkHandlers(
                negotiate=self._negotiate,
                events=self._receiver.events,
                state_changed=self._announce,
                connected=self._on_connected,
                disconnected=lambda why: self._subscriptions.emit("disconnected", Disconnected(why)),
                finish=self._finish,
            ),
            recovery_timeout=self.recovery_timeout,
            max_retry_delay=self.max_retry_delay,
        )
        session.start()
        self._announce()
        try:
            await link.open_first(timeout)
        except asyncio.TimeoutError:
            self._start_failed()
            raise ServiceUnreachable(
                f"no connection within {timeout:g} s; is the service running and reachable?"
            ) from None
        except ConnectionRejected as exc:
            session.start_failed()
            self._announce()
            if exc.status == 401 and self._source.mints_tokens:  # a token wpsnb just minted: the key is wrong
                raise key_mismatch(exc, self._source.describe()) from None
            raise
        except BaseException:
            self._start_failed()
            raise
        self._link = link
        self._dispatcher.start()
        link.start()
        return self

    def _start_failed(self) -> None:
        if self._session.state is ClientState.CONNECTING:  # not if close() was called meanwhile
            self._session.start_failed()
            self._announce()

    async def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (waiting at most ``timeout`` s), acknowledge, and close for good."""
        link = self._link
        if self._session.state is ClientState.CLOSED:
            return
        if link is None:  # never connected
            self._session.close()
            self._announce()
            self._inbox.close()
            self.frames.close()
            return
        try:
            await self.flush(timeout)
        except WebPubSubError:
            pass
        link.closing = True
        await link.send_sequence_ack(force=True)
        if await link.close():
            self._subscriptions.emit("disconnected", Disconnected("closed by the client"))
        await self._finish(NotConnected("the client was closed before the service acknowledged this request"))

    async def drop_connection(self) -> bool:
        """Cut the TCP connection without a close frame, as a network failure would; returns whether there was one.

        For teaching and testing recovery: on the reliable protocol the client then recovers the same
        session (same connection id, nothing lost); on the plain one it opens a new connection.

        >>> await client.drop_connection()          # doctest: +SKIP
        True
        """
        return self._link is not None and self._link.drop()

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every request made so far is written (and, if it has an ackId, acknowledged)."""
        self._handoff.drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = self._session.requests
        while len(pending) or self._handoff:
            if self._session.state in (ClientState.IDLE, ClientState.CLOSED):
                raise NotConnected(f"cannot flush: the client is {self.state}")
            if loop.time() >= deadline:
                raise AckTimeout(
                    f"{len(pending)} requests still unsent or unacknowledged after {timeout:g} s "
                    f"(state {self.state!r}); wait longer or check the connection"
                )
            self._handoff.drain()
            await asyncio.sleep(0.005)

    async def __aenter__(self) -> AsyncClient:
        if self._session.state is ClientState.IDLE:
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
        metadata: dict[str, str] | None = None,
        ttl_seconds: int | None = None,
    ) -> int | asyncio.Future[int | None] | None:
        """Publish ``data`` to ``group``. ``data_type``: ``"json"``, ``"text"``, ``"binary"``; by default
        ``str`` → text, bytes-like → binary, anything else → json. ``no_echo`` skips this connection.
        ``metadata`` (str → str, ASCII) reaches receivers as the message's ``metadata``; ``ttl_seconds``
        (0-300) is how long the message may wait for a receiver that is recovering.

        ``wait=False`` queues the request and returns an ``asyncio.Future`` of its ackId at once (failing
        with the service's refusal), so many sends can be in flight while the caller goes on::

            >>> futures = [await client.send_to_group("lab", n, wait=False) for n in range(100)]  # doctest: +SKIP
            >>> await asyncio.gather(*futures)                                                   # doctest: +SKIP
        """
        request = self._requests.send_to_group(group, data, data_type, no_echo, ack, metadata, ttl_seconds)
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
        metadata: dict[str, str] | None = None,
    ) -> int | asyncio.Future[int | None] | None:
        """Send the user event ``event`` to the service's upstream handler."""
        request = self._requests.send_event(event, data, data_type, ack, metadata)
        return await self._request(request, ack, wait, timeout)

    async def invoke(self, event: str, data: Any = None, data_type: str | None = None, *, timeout: float = 30.0) -> Any:
        """Call the hub's user-event handler for ``event`` and return its reply (``None`` if it sent none).

        Raises :class:`~wpsnb.errors.RequestFailed` with the service's error name (``InternalServerError``,
        ``Timeout``, ``BadRequest``) and :class:`~wpsnb.errors.AckTimeout` after ``timeout`` s, when the
        invocation is cancelled. Example::

            >>> await client.invoke("ask", {"question": 1})   # doctest: +SKIP
            {'answer': 2}
        """
        self._check_can_send()
        request = self._requests.invoke(event, data, data_type)
        return await self._invocations.call(request, event, timeout, self._submit, self._cancel_invocation)

    def _cancel_invocation(self, invocation_id: str) -> None:
        if self._session.state is not ClientState.CLOSED:
            self._submit(self._requests.cancel_invocation(invocation_id))

    async def open_group_stream(
        self,
        group: str,
        *,
        data_type: str | None = None,
        idle_timeout_ms: int | None = None,
        no_echo: bool = False,
        stream_id: str | None = None,
        timeout: float = 10.0,
    ) -> AsyncGroupStreamWriter:
        """Start a group stream to ``group``; returns its writer once the service acknowledged the start.

        The writer's ``write(data)`` sends fragments (``data_type`` is the default for them), ``end()`` and
        ``abort(reason)`` finish it; fragments are kept until acknowledged and resent after a reliable
        recovery. ``idle_timeout_ms``: the service closes a stream silent this long (default 300000).
        Subscribers get each fragment as a group message with ``.stream`` (see :meth:`on_group_stream`)::

            >>> async with await client.open_group_stream("lab", data_type="text") as stream:  # doctest: +SKIP
            ...     await stream.write("epoch 1")
        """
        self._check_can_send()
        return await self._stream_writers.open(
            group,
            data_type=data_type,
            idle_timeout_ms=idle_timeout_ms,
            no_echo=no_echo,
            stream_id=stream_id,
            timeout=timeout,
        )

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
            raise AckTimeout(ack_timeout_message(request.message, timeout, self.state)) from None
        finally:
            if not waiter.done():  # nobody will read a later failure: keep asyncio from complaining
                waiter.add_done_callback(_consume)

    def _check_can_send(self) -> None:
        state = self._session.state
        if state is ClientState.IDLE:
            raise NotConnected("the client is not connected; call connect() first")
        if state is ClientState.CLOSED:
            raise NotConnected(
                "the client is closed" + (f" ({self.error})" if self.error else "") + "; create a new client"
            )

    def _submit_threadsafe(self, request: PendingRequest) -> None:
        """Queue ``request`` from any thread; raises if the client cannot send."""
        self._check_can_send()
        self._session.requests.check_room(len(self._handoff))
        if self._handoff.on_loop_thread():
            self._submit(request)
            return
        self._handoff.put(request)

    def _submit(self, request: PendingRequest) -> None:
        self._session.requests.check_room(len(self._handoff))
        if len(self._handoff):
            self._handoff.drain()  # what other threads sent first goes first
        self._accept(request)
        self._wake_writer()

    def _accept(self, request: PendingRequest) -> None:
        if not self._session.accept(request):
            settle(request.waiter, error=NotConnected("the client closed before this request was sent"))

    def _wake_writer(self) -> None:
        if self._link is not None:
            self._link.wake.set()

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
        return self._subscriptions.on("message", callback)

    def on_group_message(self, callback: Callable[[DataMessage], Any], group: str | None = None) -> Callable[[], None]:
        """Like :meth:`on_message` for group messages only (of ``group``, if given)."""
        return self._subscriptions.on("group", callback, group)

    def on_server_message(self, callback: Callable[[DataMessage], Any]) -> Callable[[], None]:
        """Like :meth:`on_message` for messages from the server (REST sends, event replies)."""
        return self._subscriptions.on("server", callback)

    def on_group_stream(self, callback: Callable[[DataMessage], Any], group: str | None = None) -> Callable[[], None]:
        """Call ``callback(message)`` for every group-stream fragment received (of ``group``, if given):
        ``message.stream`` has ``stream_id``, ``sequence_id``, ``end_of_stream`` and ``error`` (an
        aborted or timed-out stream's last fragment)."""
        return self._subscriptions.on("stream", callback, group)

    def on_connected(self, callback: Callable[[Connected], Any]) -> Callable[[], None]:
        """Call ``callback(connected)`` for each new connection (not for a recovery, which keeps it)."""
        return self._subscriptions.on("connected", callback)

    def on_disconnected(self, callback: Callable[[Disconnected], Any]) -> Callable[[], None]:
        """Call ``callback(disconnected)`` when a connection ends for good; ``.message`` says why."""
        return self._subscriptions.on("disconnected", callback)

    def on_state(self, callback: Callable[[str], Any]) -> Callable[[], None]:
        """Call ``callback(state)`` on every change of :attr:`state`."""
        return self._subscriptions.on("state", callback)

    def _announce(self) -> None:
        """Tell ``on_state`` callbacks (and the log) if the session's state moved since last time."""
        state = self._session.state
        if state is not self._announced:
            log.info("client %s: %s -> %s", self.connection_id or "-", self._announced, state)
            self._announced = state
            if self._subscriptions.wants("state"):
                self._subscriptions.emit("state", state.value)

    # ---- the connection's life -------------------------------------------------------------------

    def _on_connected(self, connected: Connected) -> None:
        self._stream_writers.renewed()  # a brand-new connection: streams of the old session are over
        self._subscriptions.emit("connected", connected)

    async def _negotiate(self) -> str:
        if self._source.kind == "client_url":
            return self._source.client_url(**self._negotiate_args)
        return await asyncio.to_thread(lambda: self._source.client_url(**self._negotiate_args))

    async def _finish(self, error: WebPubSubError) -> None:
        """Stop for good: fail what waits, end iterators, stop the helper tasks."""
        if not isinstance(error, NotConnected):
            self.error = error
        dropped = self._session.close()
        self._announce()
        if self._link is not None:
            await self._link.stop()
        for request in (*dropped, *self._handoff.take_all()):
            settle(request.waiter, error=error)
        self._invocations.fail_all(error)
        self._stream_writers.finish()
        self._inbox.close()
        self.frames.close()
        await self._dispatcher.stop()


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


__all__ = ["STATES", "AsyncClient"]
