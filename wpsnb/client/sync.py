"""``Client``: the synchronous Web PubSub client, safe to use from any thread and while a cell is busy.

Every ``Client`` runs on one background event loop per process (:mod:`wpsnb.client.loop`), so it
sends and receives while the calling thread computes, works the same in a script and in a Jupyter
kernel (no ``asyncio.run`` conflicts, no ``nest_asyncio``), and any method may be called from any
thread. Blocking methods take ``timeout=`` (seconds).

``Client`` mirrors :class:`~wpsnb.client.connection.AsyncClient`: each method is made from the
AsyncClient method of the same name and carries its signature and documentation, so the two cannot
drift apart. What differs is only how a call waits: a coroutine becomes a blocking call, and a
request with ``wait=False`` returns a ``concurrent.futures.Future`` instead of an ``asyncio`` one.

Callbacks run on that background thread (see :mod:`wpsnb.client.callbacks` for the policy); inside a
callback only calls that do not wait are allowed (``ack=False``, or ``wait=False``), because waiting
there would deadlock.

Requests do not touch the event loop one by one: each is built and checked in the caller's thread
and handed over in batches (one loop wake-up per batch, see :mod:`wpsnb.client.handoff`).

Example::

    >>> service = wpsnb.LocalService()                                          # doctest: +SKIP
    >>> with Client(service, user_id="ann",                                     # doctest: +SKIP
    ...             roles=["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]) as client:
    ...     client.join_group("lab")
    ...     client.send_to_group("lab", {"step": 1, "loss": 0.25})
    ...     sent = [client.send_to_group("lab", n, wait=False) for n in range(3)]   # none waits for the others
    ...     print([future.result(timeout=5) for future in sent])
    ...     for message in client.messages(timeout=1):
    ...         print(message.group, message.data)
    [3, 4, 5]
    lab {'step': 1, 'loss': 0.25}
    lab 0
    lab 1
    lab 2
"""

from __future__ import annotations

import atexit
import concurrent.futures
import weakref
from collections.abc import Callable, Iterator
from inspect import Parameter, signature
from typing import Any, TypeVar

from ..errors import AckTimeout, WrongThread
from .connection import AsyncClient
from .group_stream import GroupStreamWriter
from .handoff import ThreadSafe
from .journal import Journal
from .loop import in_loop_thread, run, shared_loop
from .requests import ack_timeout_message

F = TypeVar("F", bound=Callable[..., Any])

_live: weakref.WeakSet[Client] = weakref.WeakSet()


def mirrors(async_method: Callable[..., Any], returns: str | None = None) -> Callable[[F], F]:
    """Give the decorated method ``async_method``'s name, documentation and signature (its parameters;
    the return annotation is ``returns`` if given).

    >>> class Sync:
    ...     @mirrors(AsyncClient.flush)
    ...     def flush(self, *args, **kwargs): ...
    >>> str(signature(Sync.flush))
    "(self, timeout: 'float' = 10.0) -> 'None'"
    """

    def decorate(method: F) -> F:
        copied = signature(async_method)
        if returns is not None:
            copied = copied.replace(return_annotation=returns)
        method.__signature__ = copied  # type: ignore[attr-defined]
        method.__doc__ = async_method.__doc__
        method.__name__ = async_method.__name__
        method.__qualname__ = f"Client.{async_method.__name__}"
        return method

    return decorate


def _bind(async_method: Callable[..., Any], client: Client, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The arguments of a call, defaults applied, checked against ``async_method``'s signature."""
    bound = signature(async_method).bind(client, *args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


def _request(name: str) -> Callable[..., Any]:
    """``Client.<name>``: the AsyncClient request ``name`` as a blocking call (``wait=False``: a Future)."""
    async_method = getattr(AsyncClient, name)
    timeout_default = signature(async_method).parameters["timeout"].default
    send = getattr(ThreadSafe, name)

    @mirrors(async_method, returns="int | None | concurrent.futures.Future[int | None]")
    def request(self: Client, *args: Any, wait: bool = True, timeout: float = timeout_default, **kwargs: Any) -> Any:
        if wait and not kwargs.get("ack", True):  # fire-and-forget: the ackId at once, no future made
            return send(self.async_client.threadsafe, *args, future=False, **kwargs)
        if wait and in_loop_thread():
            raise WrongThread(
                "waiting for an ack inside a callback would deadlock the wpsnb event loop; pass ack=False "
                "or wait=False in callbacks"
            )
        future = send(self.async_client.threadsafe, *args, **kwargs)
        if not wait:
            return future
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            if future.done():
                raise
            raise AckTimeout(ack_timeout_message(future.message, timeout, self.state)) from None

    return request


def _delegate(name: str) -> Callable[..., Any]:
    """``Client.<name>``: the AsyncClient method ``name`` (not a coroutine), called as it is."""
    async_method = getattr(AsyncClient, name)

    @mirrors(async_method)
    def method(self: Client, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.async_client, name)(*args, **kwargs)

    return method


def _property(name: str) -> property:
    """``Client.<name>``: the AsyncClient attribute ``name``, read-only."""
    documented = getattr(AsyncClient, name, None)
    return property(lambda self: getattr(self.async_client, name), doc=getattr(documented, "__doc__", None))


class Client:
    """A Web PubSub client with blocking methods; see :class:`~wpsnb.client.connection.AsyncClient` for
    the arguments, states and delivery rules, which are the same."""

    @mirrors(AsyncClient.__init__)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.async_client = AsyncClient(*args, **kwargs)
        _live.add(self)

    # ---- state ---------------------------------------------------------------------------------

    state = _property("state")
    connection_id = _property("connection_id")
    user_id = _property("user_id")
    protocol = _property("protocol")
    groups = _property("groups")
    url = _property("url")
    stats = _property("stats")
    error = _property("error")

    @property
    def frames(self) -> Journal:
        """The frame journal: every frame sent and received (see :mod:`wpsnb.client.journal`)."""
        return self.async_client.frames

    def __repr__(self) -> str:
        return repr(self.async_client).replace("AsyncClient", "Client", 1)

    # ---- connect / close -----------------------------------------------------------------------

    @mirrors(AsyncClient.connect, returns="Client")
    def connect(self, *args: Any, **kwargs: Any) -> Client:
        timeout = _bind(AsyncClient.connect, self, args, kwargs)["timeout"]
        run(self.async_client.connect(timeout), timeout + 5, what="connect()")
        return self

    @mirrors(AsyncClient.close)
    def close(self, *args: Any, **kwargs: Any) -> None:
        # From a callback (on the loop thread) it only starts closing: waiting there would deadlock.
        timeout = _bind(AsyncClient.close, self, args, kwargs)["timeout"]
        if in_loop_thread():
            shared_loop().create_task(self.async_client.close(timeout))
            return
        run(self.async_client.close(timeout), timeout + 5, what="close()")

    @mirrors(AsyncClient.drop_connection)
    def drop_connection(self) -> bool:
        return run(self.async_client.drop_connection(), 5, what="drop_connection()")

    @mirrors(AsyncClient.invoke, returns="Any")
    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        if in_loop_thread():
            raise WrongThread("waiting for an invoke answer inside a callback would deadlock the wpsnb event loop")
        timeout = _bind(AsyncClient.invoke, self, args, kwargs)["timeout"]
        return run(self.async_client.invoke(*args, **kwargs), timeout + 5, what="invoke()")

    @mirrors(AsyncClient.open_group_stream, returns="GroupStreamWriter")
    def open_group_stream(self, *args: Any, **kwargs: Any) -> GroupStreamWriter:
        if in_loop_thread():
            raise WrongThread("opening a group stream waits for the service; not inside a callback")
        timeout = _bind(AsyncClient.open_group_stream, self, args, kwargs)["timeout"]
        writer = run(self.async_client.open_group_stream(*args, **kwargs), timeout + 5, what="open_group_stream()")
        return GroupStreamWriter(writer)

    @mirrors(AsyncClient.flush)
    def flush(self, *args: Any, **kwargs: Any) -> None:
        timeout = _bind(AsyncClient.flush, self, args, kwargs)["timeout"]
        run(self.async_client.flush(timeout), timeout + 5, what="flush()")

    def __enter__(self) -> Client:
        if self.state == "idle":
            self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- requests ------------------------------------------------------------------------------

    join_group = _request("join_group")
    leave_group = _request("leave_group")
    send_to_group = _request("send_to_group")
    send_event = _request("send_event")

    # ---- receiving -----------------------------------------------------------------------------

    @mirrors(AsyncClient.messages, returns="Iterator[DataMessage]")
    def messages(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        timeout = _bind(AsyncClient.messages, self, args, kwargs)["timeout"]
        next_message = self.async_client.threadsafe.next_message
        while True:
            message = next_message(timeout)
            if message is None:
                return
            yield message

    on_message = _delegate("on_message")
    on_group_message = _delegate("on_group_message")
    on_server_message = _delegate("on_server_message")
    on_group_stream = _delegate("on_group_stream")
    on_connected = _delegate("on_connected")
    on_disconnected = _delegate("on_disconnected")
    on_state = _delegate("on_state")


def mirrored_parameters(method: Callable[..., Any]) -> list[Parameter]:
    """A method's parameters without ``self`` (what the signature test compares).

    >>> [p.name for p in mirrored_parameters(Client.flush)]
    ['timeout']
    """
    return list(signature(method).parameters.values())[1:]


@atexit.register
def _close_live_clients() -> None:
    # Say goodbye properly, so the service does not keep reliable sessions waiting for a recovery.
    for client in list(_live):
        if client.state not in ("idle", "closed"):
            try:
                client.close(timeout=1.0)
            except Exception:
                pass


__all__ = ["Client", "mirrored_parameters", "mirrors"]
