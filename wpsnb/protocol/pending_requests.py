"""A client's requests on their way to the service: queued until written, then kept until acknowledged.

A request with an ``ackId`` stays in :attr:`PendingRequests.unacked` after it is written; when a
connection is replaced (recovered or brand new) :meth:`PendingRequests.resend_unacked` puts those back
at the front of the queue, in their original order, so nothing is lost. After a *recovery* the service
still holds the connection's ackId cache, so a request it had already carried out is answered
``Duplicate`` (counted as success) instead of being delivered twice.

Not to be confused with the service's :class:`~wpsnb.protocol.reliable.ReliableOutbox`, the sequenced
messages *to* a client that it has not acknowledged yet.

A request's ``waiter`` is whatever the client waits on (an ``asyncio`` or ``concurrent.futures``
future); this module only carries it.

Example::

    >>> from wpsnb.protocol.messages import JoinGroup
    >>> pending = PendingRequests(limit=10)
    >>> pending.put(PendingRequest(JoinGroup("lab", ack_id=1), '{"type":"joinGroup","group":"lab","ackId":1}'))
    >>> pending.take().message.group, len(pending.unacked)
    ('lab', 1)
    >>> pending.resend_unacked(), len(pending.queued), len(pending.unacked)
    (1, 1, 0)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import BufferFull
from .messages import ClientMessage


@dataclass(slots=True, eq=False)
class PendingRequest:
    """One client message, its encoded frame and (if someone waits for the ack) its waiter.

    >>> from wpsnb.protocol.messages import LeaveGroup
    >>> PendingRequest(LeaveGroup("lab", ack_id=7), "...").ack_id
    7
    """

    message: ClientMessage
    frame: str
    waiter: Any = None

    @property
    def ack_id(self) -> int | None:
        """The request's ackId (``None``: fire-and-forget on the plain protocol)."""
        return getattr(self.message, "ack_id", None)


class PendingRequests:
    """The ordered queue of unsent requests plus the written ones that wait for an ack."""

    __slots__ = ("limit", "queued", "unacked")

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self.queued: deque[PendingRequest] = deque()
        self.unacked: dict[int, PendingRequest] = {}

    def __len__(self) -> int:
        return len(self.queued) + len(self.unacked)

    def check_room(self, waiting_elsewhere: int = 0) -> None:
        """Raise :class:`~wpsnb.errors.BufferFull` if one more request would pass ``limit``.

        >>> PendingRequests(limit=1).check_room(waiting_elsewhere=1)
        Traceback (most recent call last):
        ...
        wpsnb.errors.BufferFull: 1 requests are already waiting to be sent or acknowledged (the limit is 1); ...
        """
        pending = len(self.queued) + len(self.unacked) + waiting_elsewhere
        if pending >= self.limit:
            raise BufferFull(
                f"{pending} requests are already waiting to be sent or acknowledged (the limit is "
                f"{self.limit}); the connection is down or slower than you publish. Wait with "
                "client.flush(), publish less often, or raise max_pending="
            )

    def put(self, request: PendingRequest) -> None:
        """Queue ``request`` behind everything else."""
        self.queued.append(request)

    def put_front(self, requests: Iterable[PendingRequest]) -> None:
        """Queue ``requests`` (in their order) ahead of everything else."""
        self.queued.extendleft(reversed(list(requests)))

    def take(self) -> PendingRequest:
        """The next request to write; from now on it waits in ``unacked`` if it has an ackId."""
        request = self.queued.popleft()
        ack_id = request.ack_id
        if ack_id is not None:
            self.unacked[ack_id] = request
        return request

    def acknowledge(self, ack_id: int) -> PendingRequest | None:
        """The request an ack answers (no longer pending), or ``None`` if unknown."""
        return self.unacked.pop(ack_id, None)

    def resend_unacked(self) -> int:
        """Queue every written-but-unacknowledged request again, in write order, ahead of the rest."""
        requests = list(self.unacked.values())
        self.unacked.clear()
        self.put_front(requests)
        return len(requests)

    def drop_all(self) -> list[PendingRequest]:
        """Give up on everything; returns the requests dropped (unacknowledged first), whose waiters wait."""
        dropped = [*self.unacked.values(), *self.queued]
        self.unacked.clear()
        self.queued.clear()
        return dropped


__all__ = ["PendingRequest", "PendingRequests"]
