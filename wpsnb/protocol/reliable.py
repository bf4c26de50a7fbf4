"""Sequence bookkeeping of the reliable subprotocol, for both ends of a connection.

The service side (:class:`ReliableOutbox`) numbers every data message sent to a connection from 1,
keeps it until the client's cumulative ``sequenceAck`` covers it, and refuses to hold more than
1000 messages or 16 MB. The client side (:class:`SequenceTracker`) drops duplicates after a
recovery and tells when a (batched) ``sequenceAck`` is due.

>>> from wpsnb.protocol.json_codec import Envelope
>>> outbox = ReliableOutbox()
>>> outbox.stamp(Envelope.build("server", "text", "hi"))
b'{"type":"message","from":"server","dataType":"text","data":"hi","sequenceId":1}'
>>> outbox.acknowledge(1); len(outbox)
0
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .json_codec import Envelope

MAX_UNACKED_MESSAGES = 1000
MAX_UNACKED_BYTES = 16 * 1024 * 1024


class OutboxOverflow(Exception):
    """The client has not acknowledged enough: the session cannot be kept (close 1008)."""


class ReliableOutbox:
    """Unacknowledged messages of one reliable connection, in sequence order."""

    __slots__ = ("next_id", "_pending", "_bytes", "max_messages", "max_bytes")

    def __init__(self, max_messages: int = MAX_UNACKED_MESSAGES, max_bytes: int = MAX_UNACKED_BYTES):
        self.next_id = 1
        self._pending: deque[tuple[int, bytes]] = deque()
        self._bytes = 0
        self.max_messages = max_messages
        self.max_bytes = max_bytes

    def stamp(self, envelope: Envelope) -> bytes:
        """Give ``envelope`` the next sequenceId, keep it until acknowledged, return its frame.

        Raises :class:`OutboxOverflow` when the client is more than 1000 messages or 16 MB behind.
        """
        sequence_id = self.next_id
        self.next_id = sequence_id + 1
        frame = envelope.frame(sequence_id)
        self._pending.append((sequence_id, frame))
        self._bytes += len(frame)
        if len(self._pending) > self.max_messages or self._bytes > self.max_bytes:
            raise OutboxOverflow(
                f"the client left {len(self._pending)} messages ({self._bytes} bytes) unacknowledged; "
                f"the reliable protocol keeps at most {self.max_messages} messages or {self.max_bytes} bytes. "
                "Send sequenceAck more often (the official clients do it every second)."
            )
        return frame

    def acknowledge(self, sequence_id: int) -> None:
        """Drop every message up to and including ``sequence_id`` (acks are cumulative)."""
        pending = self._pending
        while pending and pending[0][0] <= sequence_id:
            self._bytes -= len(pending.popleft()[1])

    def unacknowledged(self) -> list[bytes]:
        """Frames to replay after a recovery, oldest first, with their original sequenceIds."""
        return [frame for _, frame in self._pending]

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._bytes


class SequenceTracker:
    """The client's view: which sequenceIds arrived, and when to acknowledge.

    >>> t = SequenceTracker()
    >>> t.receive(1), t.receive(2), t.receive(2)
    (True, True, False)
    >>> t.ack_due()
    2
    >>> t.ack_due() is None
    True
    """

    __slots__ = ("last_received", "last_acked")

    def __init__(self) -> None:
        self.last_received = 0
        self.last_acked = 0

    def receive(self, sequence_id: int) -> bool:
        """Record an arriving sequenceId; ``False`` means a duplicate to drop."""
        if sequence_id <= self.last_received:
            return False
        self.last_received = sequence_id
        return True

    def ack_due(self) -> int | None:
        """The sequenceId to acknowledge now, or ``None`` if nothing new arrived since the last ack."""
        if self.last_received > self.last_acked:
            self.last_acked = self.last_received
            return self.last_received
        return None

    def reset(self) -> None:
        """A brand-new connection numbers from 1 again."""
        self.last_received = 0
        self.last_acked = 0
