"""``Client``: the synchronous Web PubSub client, safe to use from any thread and while a cell is busy.

Every ``Client`` runs on one background event loop per process (:mod:`wpsnb.client.loop`), so it
sends and receives while the calling thread computes, works the same in a script and in a Jupyter
kernel (no ``asyncio.run`` conflicts, no ``nest_asyncio``), and any method may be called from any
thread. Blocking methods take ``timeout=`` (seconds).

Callbacks run on that background thread (see :mod:`wpsnb.client.callbacks` for the policy); inside a
callback only fire-and-forget calls (``ack=False``) are allowed, because waiting there would deadlock.

``send_to_group(..., ack=False)`` does not touch the event loop per message: the request is encoded
in the caller's thread and handed over in batches (one loop wake-up per batch).

Example::

    >>> service = wpsnb.LocalService()                                          # doctest: +SKIP
    >>> with Client(service, user_id="ann",                                     # doctest: +SKIP
    ...             roles=["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]) as client:
    ...     client.join_group("lab")
    ...     client.send_to_group("lab", {"step": 1, "loss": 0.25})
    ...     for message in client.messages(timeout=1):
    ...         print(message.group, message.data)
    lab {'step': 1, 'loss': 0.25}
"""

from __future__ import annotations

import atexit
import concurrent.futures
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import AckTimeout, WrongThread
from ..protocol.messages import RELIABLE_PROTOCOL, Connected, DataMessage, Disconnected
from .connection import AsyncClient, _ack_timeout_message
from .journal import Journal
from .loop import in_loop_thread, run, shared_loop
from .outbox import Request

_live: weakref.WeakSet[Client] = weakref.WeakSet()


class Client:
    """A Web PubSub client with blocking methods; see :class:`~wpsnb.client.connection.AsyncClient` for
    the arguments, states and delivery rules, which are the same."""

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
        **options: Any,
    ):
        self.async_client = AsyncClient(
            source, hub, user_id, roles, groups, protocol, journal_size, record_to, **options
        )
        _live.add(self)

    # ---- state ---------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``idle``, ``connecting``, ``connected``, ``recovering``, ``reconnecting`` or ``closed``."""
        return self.async_client.state

    @property
    def connection_id(self) -> str | None:
        """The service's id for the current connection (changes only with a brand-new connection)."""
        return self.async_client.connection_id

    @property
    def user_id(self) -> str | None:
        """The user the token names, as the service reported it."""
        return self.async_client.user_id

    @property
    def protocol(self) -> str:
        """The subprotocol: ``json.reliable.webpubsub.azure.v1`` or ``json.webpubsub.azure.v1``."""
        return self.async_client.protocol

    @property
    def groups(self) -> tuple[str, ...]:
        """Groups joined with :meth:`join_group` and not left."""
        return self.async_client.groups

    @property
    def frames(self) -> Journal:
        """The frame journal: every frame sent and received (see :mod:`wpsnb.client.journal`)."""
        return self.async_client.frames

    @property
    def stats(self) -> dict[str, int]:
        """Counters (sent, received, acked, failed, recoveries, reconnections, pending, ...)."""
        return self.async_client.stats

    @property
    def error(self) -> Exception | None:
        """Why the client closed itself, if it did."""
        return self.async_client.error

    def __repr__(self) -> str:
        return repr(self.async_client).replace("AsyncClient", "Client", 1)

    # ---- connect / close -----------------------------------------------------------------------

    def connect(self, timeout: float = 10.0) -> Client:
        """Connect; return once the service said ``connected``. Raises ``ConnectionRejected`` etc."""
        run(self.async_client.connect(timeout), timeout + 5, what="connect()")
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (at most ``timeout`` s), then close for good. From a callback it only starts
        closing."""
        if in_loop_thread():
            shared_loop().create_task(self.async_client.close(timeout))
            return
        run(self.async_client.close(timeout), timeout + 5, what="close()")

    def drop_connection(self) -> bool:
        """Cut the TCP connection without a close frame (as a network failure would) to watch recovery.

        >>> client.drop_connection(); client.state      # doctest: +SKIP
        'recovering'
        """
        return run(self.async_client.drop_connection(), 5, what="drop_connection()")

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every request so far is written and acknowledged; raises ``AckTimeout`` after ``timeout``."""
        run(self.async_client.flush(timeout), timeout + 5, what="flush()")

    def __enter__(self) -> Client:
        if self.state == "idle":
            self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- requests ------------------------------------------------------------------------------

    def join_group(self, group: str, *, ack: bool = True, timeout: float = 10.0) -> int | None:
        """Join ``group``; with ``ack`` wait for the service (``Forbidden`` names the missing role)."""
        return self._request(self.async_client.build_join(group, ack), ack, timeout)

    def leave_group(self, group: str, *, ack: bool = True, timeout: float = 10.0) -> int | None:
        """Leave ``group``."""
        return self._request(self.async_client.build_leave(group, ack), ack, timeout)

    def send_to_group(
        self,
        group: str,
        data: Any,
        data_type: str | None = None,
        *,
        no_echo: bool = False,
        ack: bool = True,
        timeout: float = 10.0,
    ) -> int | None:
        """Publish ``data`` to ``group``; ``data_type`` json/text/binary (default: from the type of ``data``).

        With ``ack=False`` this returns at once (the request is queued); the ackId is returned either way.
        """
        request = self.async_client.build_send_to_group(group, data, data_type, no_echo, ack)
        return self._request(request, ack, timeout)

    def send_event(
        self, event: str, data: Any, data_type: str | None = None, *, ack: bool = True, timeout: float = 10.0
    ) -> int | None:
        """Send the user event ``event`` to the service's upstream handler."""
        return self._request(self.async_client.build_event(event, data, data_type, ack), ack, timeout)

    def _request(self, request: Request, ack: bool, timeout: float) -> int | None:
        if not ack:
            self.async_client.submit_threadsafe(request)
            return request.ack_id
        if in_loop_thread():
            raise WrongThread(
                "waiting for an ack inside a callback would deadlock the wpsnb event loop; pass ack=False in callbacks"
            )
        waiter: concurrent.futures.Future[int] = concurrent.futures.Future()
        request.waiter = waiter
        self.async_client.submit_threadsafe(request)
        try:
            return waiter.result(timeout)
        except concurrent.futures.TimeoutError:
            if waiter.done():
                raise
            raise AckTimeout(_ack_timeout_message(request, timeout, self.state)) from None

    # ---- receiving -----------------------------------------------------------------------------

    def messages(self, timeout: float | None = None) -> Iterator[DataMessage]:
        """Received messages, oldest first; stops after ``timeout`` s without one, or when the client closes.

        ``None`` waits forever. Messages wait in a bounded buffer until read (see :mod:`wpsnb.client.inbox`).
        """
        inbox = self.async_client._inbox
        while True:
            message = inbox.get(timeout)
            if message is None:
                return
            yield message

    def on_message(self, callback: Callable[[DataMessage], Any]) -> Callable[[], None]:
        """Call ``callback(message)`` (on the client thread) for every message; returns an unsubscribe function."""
        return self.async_client.on_message(callback)

    def on_group_message(self, callback: Callable[[DataMessage], Any], group: str | None = None) -> Callable[[], None]:
        """Like :meth:`on_message`, for messages from groups (only ``group``, if given)."""
        return self.async_client.on_group_message(callback, group)

    def on_server_message(self, callback: Callable[[DataMessage], Any]) -> Callable[[], None]:
        """Like :meth:`on_message`, for messages from the server."""
        return self.async_client.on_server_message(callback)

    def on_connected(self, callback: Callable[[Connected], Any]) -> Callable[[], None]:
        """Call ``callback(connected)`` for each new connection."""
        return self.async_client.on_connected(callback)

    def on_disconnected(self, callback: Callable[[Disconnected], Any]) -> Callable[[], None]:
        """Call ``callback(disconnected)`` when a connection ends for good."""
        return self.async_client.on_disconnected(callback)

    def on_state(self, callback: Callable[[str], Any]) -> Callable[[], None]:
        """Call ``callback(state)`` on every state change."""
        return self.async_client.on_state(callback)


@atexit.register
def _close_live_clients() -> None:
    # Say goodbye properly, so the service does not keep reliable sessions waiting for a recovery.
    for client in list(_live):
        if client.state not in ("idle", "closed"):
            try:
                client.close(timeout=1.0)
            except Exception:
                pass


__all__ = ["Client"]
