"""How other threads hand requests to a client's event loop: one loop wake-up per batch, not per request.

A thread that sends (the synchronous :class:`~wpsnb.client.sync.Client`, a publisher thread) builds and
checks its request in its own thread (:mod:`wpsnb.client.requests`), then appends it to a deque; the
first append after a drain schedules one drain on the loop, so a burst of thousands of sends costs a
few ``call_soon_threadsafe`` calls. Order is kept: the loop drains the deque before accepting a request
made on the loop itself.

:class:`ThreadSafe` is an :class:`~wpsnb.client.connection.AsyncClient` as other threads see it
(``async_client.threadsafe``): the same requests, returning ``concurrent.futures.Future``\\ s, and a
blocking read of the received messages.

Example::

    >>> client = AsyncClient(service)                           # doctest: +SKIP
    >>> future = client.threadsafe.send_to_group("lab", "hi")   # doctest: +SKIP
    >>> future.result(timeout=5)                                 # doctest: +SKIP
    1
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ..protocol.messages import ClientMessage, DataMessage
from ..protocol.pending_requests import PendingRequest
from .inbox import Inbox
from .requests import RequestMaker


class Handoff:
    """Requests from other threads on their way to the loop, drained in batches into ``accept``; after a
    drain that accepted something, ``drained()`` is called.

    >>> accepted = []
    >>> handoff = Handoff(accepted.append, lambda: None)
    >>> handoff.put("r1"); handoff.put("r2")      # no loop bound yet: they wait
    >>> len(handoff), handoff.drain(), accepted
    (2, 2, ['r1', 'r2'])
    """

    __slots__ = ("_accept", "_drained", "_queue", "_scheduled", "_loop", "_loop_thread")

    def __init__(self, accept: Callable[[Any], None], drained: Callable[[], None]):
        self._accept = accept
        self._drained = drained  # called after a drain that accepted something (wakes the writer)
        self._queue: deque[Any] = deque()
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Drain on ``loop`` from now on (call on the loop's thread)."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def on_loop_thread(self) -> bool:
        """Whether the caller runs on the bound loop's thread."""
        return threading.get_ident() == self._loop_thread

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, request: Any) -> None:
        """Queue ``request`` from any thread; schedules a drain unless one is already scheduled."""
        self._queue.append(request)
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon_threadsafe(self.drain)

    def drain(self) -> int:
        """Accept everything queued, in order (loop thread); returns how many."""
        self._scheduled = False  # reset first: a request appended from now on schedules a new drain
        queue, accept = self._queue, self._accept
        count = 0
        while queue:
            accept(queue.popleft())
            count += 1
        if count:
            self._drained()
        return count

    def take_all(self) -> list[Any]:
        """Everything queued, removed (the client is closing and fails them)."""
        taken = list(self._queue)
        self._queue.clear()
        return taken


class RequestFuture(concurrent.futures.Future):  # type: ignore[type-arg]
    """The future of a request's ackId; ``message`` is the request it answers.

    >>> from wpsnb.protocol.messages import JoinGroup
    >>> RequestFuture(JoinGroup("lab", 1)).message.group
    'lab'
    """

    def __init__(self, message: ClientMessage):
        super().__init__()
        self.message = message


class ThreadSafe:
    """An AsyncClient's requests and messages for code running in other threads.

    Each request method builds and checks the request in the calling thread and queues it; it
    returns a ``concurrent.futures.Future`` that resolves to the ackId once the service acknowledged
    the request (``Duplicate`` counts as success), or fails with the service's refusal
    (:class:`~wpsnb.errors.Forbidden`, ...) or :class:`~wpsnb.errors.NotConnected` if the client closes
    first. With ``ack=False`` nothing is awaited: the future is already resolved with the ackId
    (``None`` on the plain protocol), and a later failure is only logged and counted.
    ``future=False`` returns the ackId itself instead of a future (fire-and-forget callers that would
    only read it at once: making a future costs more than queueing the request).
    """

    __slots__ = ("_requests", "_submit", "_inbox")

    def __init__(self, requests: RequestMaker, submit: Callable[[PendingRequest], None], inbox: Inbox):
        self._requests = requests
        self._submit = submit
        self._inbox = inbox

    def join_group(self, group: str, *, ack: bool = True, future: bool = True) -> RequestFuture | int | None:
        """Join ``group``."""
        return self._send(self._requests.join_group(group, ack), ack, future)

    def leave_group(self, group: str, *, ack: bool = True, future: bool = True) -> RequestFuture | int | None:
        """Leave ``group``."""
        return self._send(self._requests.leave_group(group, ack), ack, future)

    def send_to_group(
        self,
        group: str,
        data: Any,
        data_type: str | None = None,
        *,
        no_echo: bool = False,
        ack: bool = True,
        metadata: dict[str, str] | None = None,
        ttl_seconds: int | None = None,
        future: bool = True,
    ) -> RequestFuture | int | None:
        """Publish ``data`` to ``group`` (the parameters as for ``AsyncClient.send_to_group``)."""
        request = self._requests.send_to_group(group, data, data_type, no_echo, ack, metadata, ttl_seconds)
        return self._send(request, ack, future)

    def send_event(
        self,
        event: str,
        data: Any,
        data_type: str | None = None,
        *,
        ack: bool = True,
        metadata: dict[str, str] | None = None,
        future: bool = True,
    ) -> RequestFuture | int | None:
        """Send the user event ``event`` to the service's upstream handler."""
        return self._send(self._requests.send_event(event, data, data_type, ack, metadata), ack, future)

    def next_message(self, timeout: float | None = None) -> DataMessage | None:
        """The next received message, waiting at most ``timeout`` s; ``None`` if none came or the client closed."""
        message: DataMessage | None = self._inbox.get(timeout)
        return message

    def _send(self, request: PendingRequest, ack: bool, future: bool) -> RequestFuture | int | None:
        if not future:
            self._submit(request)
            return request.ack_id
        answer = RequestFuture(request.message)
        if ack:
            request.waiter = answer
            self._submit(request)
        else:
            self._submit(request)
            answer.set_result(request.ack_id)
        return answer


__all__ = ["Handoff", "RequestFuture", "ThreadSafe"]
