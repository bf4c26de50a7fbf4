"""Requests on their way to the service: queued until written, then kept until their ack arrives.

A request with an ``ackId`` stays in :attr:`Outbox.unacked` after it is written; when a connection
is replaced (recovered or brand new) :meth:`Outbox.resend_unacked` puts those back at the front of
the queue, in their original order, so nothing is lost. After a *recovery* the service still holds
the connection's ackId cache, so a request it had already carried out is answered ``Duplicate``
(counted as success) instead of being delivered twice.

Waiters are ``asyncio.Future`` (AsyncClient) or ``concurrent.futures.Future`` (the thread-backed
Client); both are settled on the event-loop thread.

Example::

    >>> from wpsnb.protocol.messages import JoinGroup
    >>> outbox = Outbox(limit=10)
    >>> outbox.put(Request(JoinGroup("lab", ack_id=1), '{"type":"joinGroup","group":"lab","ackId":1}'))
    >>> outbox.take().message.group, len(outbox.unacked)
    ('lab', 1)
    >>> outbox.resend_unacked(), len(outbox.queued), len(outbox.unacked)
    (1, 1, 0)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import BufferFull
from ..protocol.messages import ClientMessage


@dataclass(slots=True, eq=False)
class Request:
    """One client message, its encoded frame and (if someone waits for the ack) its waiter."""

    message: ClientMessage
    frame: str
    waiter: Any = None

    @property
    def ack_id(self) -> int | None:
        return getattr(self.message, "ack_id", None)


class Outbox:
    """The ordered queue of unsent requests plus the written ones that wait for an ack."""

    __slots__ = ("limit", "queued", "unacked")

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self.queued: deque[Request] = deque()
        self.unacked: dict[int, Request] = {}

    def __len__(self) -> int:
        return len(self.queued) + len(self.unacked)

    def check_room(self, waiting_elsewhere: int = 0) -> None:
        """Raise :class:`BufferFull` if one more request would pass ``limit``."""
        pending = len(self.queued) + len(self.unacked) + waiting_elsewhere
        if pending >= self.limit:
            raise BufferFull(
                f"{pending} requests are already waiting to be sent or acknowledged (the limit is "
                f"{self.limit}); the connection is down or slower than you publish. Wait with "
                "client.flush(), publish less often, or raise max_pending="
            )

    def put(self, request: Request) -> None:
        """Queue ``request`` behind everything else."""
        self.queued.append(request)

    def put_front(self, requests: Iterable[Request]) -> None:
        """Queue ``requests`` (in their order) ahead of everything else."""
        self.queued.extendleft(reversed(list(requests)))

    def take(self) -> Request:
        """The next request to write; from now on it waits in ``unacked`` if it has an ackId."""
        request = self.queued.popleft()
        ack_id = request.ack_id
        if ack_id is not None:
            self.unacked[ack_id] = request
        return request

    def acknowledge(self, ack_id: int) -> Request | None:
        """The request an ack answers (no longer pending), or ``None`` if unknown."""
        return self.unacked.pop(ack_id, None)

    def resend_unacked(self) -> int:
        """Queue every written-but-unacknowledged request again, in write order, ahead of the rest."""
        requests = list(self.unacked.values())
        self.unacked.clear()
        self.put_front(requests)
        return len(requests)

    def fail_all(self, error: BaseException) -> None:
        """Give up on everything: waiters get ``error``."""
        for request in (*self.unacked.values(), *self.queued):
            settle(request.waiter, error=error)
        self.unacked.clear()
        self.queued.clear()


def settle(waiter: Any, result: Any = None, *, error: BaseException | None = None) -> None:
    """Resolve an ``asyncio`` or ``concurrent.futures`` future unless it is already done."""
    if waiter is None or waiter.done():
        return
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(result)


__all__ = ["Outbox", "Request", "settle"]
