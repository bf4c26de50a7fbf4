"""Sequence bookkeeping of the reliable subprotocol, for both ends of a connection.

The service side (:class:`ReliableOutbox`) numbers every data message sent to a connection from 1,
keeps it until the client's cumulative ``sequenceAck`` covers it, and refuses to hold more than
1000 messages or 16 MB. The client side (:class:`SequenceTracker`) drops duplicates after a
recovery and tells when a (batched) ``sequenceAck`` is due.

>>> from wpsnb.protocol.envelope import Envelope
>>> outbox = ReliableOutbox()
>>> outbox.stamp(Envelope.build("server", "text", "hi"))
b'{"type":"message","from":"server","dataType":"text","data":"hi","sequenceId":1}'
>>> outbox.acknowledge(1); len(outbox)
0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .limits import MAX_UNACKED_BYTES, MAX_UNACKED_MESSAGES

if TYPE_CHECKING:
    from .envelope import Envelope


class OutboxOverflow(Exception):
    """The client has not acknowledged enough: the session cannot be kept (close 1008)."""


class ReliableOutbox:
    """Unacknowledged messages of one reliable connection, in sequence order."""

    # Stamping happens once per recipient of every message, so the bookkeeping is flat: the outbox
    # keeps the (shared) envelopes, not per-recipient copies of their frames; the pending sequenceIds
    # are always next_id - len(_envelopes) .. next_id - 1; _ends holds the running byte total after
    # each pending frame, so a cumulative ack drops a prefix of both lists in one step.
    __slots__ = ("next_id", "_envelopes", "_ends", "_total", "_acked_bytes", "max_messages", "max_bytes")

    def __init__(self, max_messages: int = MAX_UNACKED_MESSAGES, max_bytes: int = MAX_UNACKED_BYTES):
        self.next_id = 1
        self._envelopes: list[Envelope] = []
        self._ends: list[int] = []
        self._total = 0  # bytes of every frame ever stamped
        self._acked_bytes = 0  # bytes of every frame acknowledged so far
        self.max_messages = max_messages
        self.max_bytes = max_bytes

    def stamp(self, envelope: Envelope) -> bytes:
        """Give ``envelope`` the next sequenceId, keep it until acknowledged, return its frame.

        Raises :class:`OutboxOverflow` when the client is more than 1000 messages or 16 MB behind.
        """
        return envelope.prefix + self.stamp_tail(envelope)

    def stamp_tail(self, envelope: Envelope) -> bytes:
        """:meth:`stamp`, returning only the frame's tail: the frame is ``envelope.prefix + tail``.

        The service's fan-out sends the two pieces, so recipients share the message's bytes and
        only the few bytes of the tail are built per recipient.

        >>> from wpsnb.protocol.envelope import Envelope
        >>> ReliableOutbox().stamp_tail(Envelope.build("server", "text", "hi"))
        b',"sequenceId":1}'
        """
        sequence_id = self.next_id
        self.next_id = sequence_id + 1
        tail = envelope.tail(sequence_id)
        envelopes = self._envelopes
        envelopes.append(envelope)
        total = self._total = self._total + len(envelope.prefix) + len(tail)
        self._ends.append(total)
        if len(envelopes) > self.max_messages or total - self._acked_bytes > self.max_bytes:
            raise OutboxOverflow(
                f"the client left {len(envelopes)} messages ({self.size} bytes) unacknowledged; "
                f"the reliable protocol keeps at most {self.max_messages} messages or {self.max_bytes} bytes. "
                "Send sequenceAck more often (the official clients do it every second)."
            )
        return tail

    def acknowledge(self, sequence_id: int) -> None:
        """Drop every message up to and including ``sequence_id`` (acks are cumulative)."""
        envelopes = self._envelopes
        count = min(len(envelopes), sequence_id - (self.next_id - len(envelopes)) + 1)
        if count > 0:
            self._acked_bytes = self._ends[count - 1]
            del envelopes[:count]
            del self._ends[:count]

    def unacknowledged(self, now: float | None = None) -> list[bytes]:
        """Frames to replay after a recovery, oldest first, with their original sequenceIds.

        A message whose TTL ran out by ``now`` (monotonic seconds; ``Envelope.expires_at``) is left out: it
        is not replayed stale. Its sequenceId is then skipped, which the clients take as any other jump.
        """
        first = self.next_id - len(self._envelopes)
        return [
            envelope.frame(first + n)
            for n, envelope in enumerate(self._envelopes)
            if now is None or envelope.expires_at is None or envelope.expires_at > now
        ]

    def __len__(self) -> int:
        return len(self._envelopes)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._total - self._acked_bytes


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
