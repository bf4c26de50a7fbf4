"""A Web PubSub client session without I/O: its states, what it sends, what it makes of what arrives.

Theory of operation
-------------------

A client session is the client's half of one logical connection to a hub. It owns everything about
that connection that does not need a socket: the state (:class:`ClientState`), the connection's
identity (connectionId, userId, reconnection token), the requests on their way
(:class:`~wpsnb.protocol.pending_requests.PendingRequests`) and the groups joined, the sequence
bookkeeping of the reliable subprotocol and the counters. The client around it
(:class:`~wpsnb.client.connection.AsyncClient`) owns the sockets and the clocks: it feeds the session
what happened and does what the session says.

* Frames that arrive go to :meth:`ClientSession.receive`, which returns *events*: a
  :class:`Received` for the journal, then the :class:`~wpsnb.protocol.messages.DataMessage` to deliver,
  or an :class:`Acked` / :class:`Refused` request, or :class:`WindowOpen` when the in-flight window has
  room again.
* What to write comes from :meth:`ClientSession.frames_to_send` (requests in order, at most
  ``IN_FLIGHT`` waiting for their ack) and :meth:`ClientSession.sequence_ack` (the cumulative
  ``sequenceAck``: when ``SEQUENCE_ACK_EVERY`` messages are unacknowledged, or ``SEQUENCE_ACK_INTERVAL``
  seconds after the last one; the time is passed in, the session never reads a clock).
* When a socket ends, :meth:`ClientSession.connection_lost` decides: :attr:`Drop.RECOVER` (reliable,
  with a reconnection token, not closed with 1008: resume the same session on a new socket),
  :attr:`Drop.RENEW` (open a brand-new connection, re-join groups, resend unacknowledged requests) or
  :attr:`Drop.CLOSE` (``auto_reconnect`` is off).

Every state change goes through :data:`TRANSITIONS`, one table of ``(state, trigger) -> state``; a
trigger with no row in the current state is a bug and raises ``RuntimeError``.

Example::

    >>> from wpsnb.protocol.messages import Connected, JoinGroup
    >>> session = ClientSession(reliable=True)
    >>> session.start(), session.opened(Connected("c1", "ann", "token"))
    (<ClientState.CONNECTING: 'connecting'>, <ClientState.CONNECTED: 'connected'>)
    >>> session.accept(PendingRequest(JoinGroup("lab", 1), '{"type":"joinGroup","group":"lab","ackId":1}'))
    True
    >>> [r.frame for r in session.frames_to_send()]
    ['{"type":"joinGroup","group":"lab","ackId":1}']
    >>> [type(e).__name__ for e in session.receive('{"type":"ack","ackId":1,"success":true}')]
    ['Received', 'Acked']
    >>> session.connection_lost(None, "the connection dropped"), session.state
    (<Drop.RECOVER: 'recover'>, <ClientState.RECOVERING: 'recovering'>)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .client_codec import encode_client_message, parse_service_message
from .frame_fields import InvalidMessage
from .limits import CloseCode
from .messages import (
    Ack,
    Connected,
    DataMessage,
    Disconnected,
    InvokeResponse,
    JoinGroup,
    LeaveGroup,
    SequenceAck,
    StreamAck,
    StreamClosed,
    StreamError,
    StreamNack,
)
from .outbound_stream import OutboundStream, OutboundStreams
from .pending_requests import PendingRequest, PendingRequests
from .reliable import SequenceTracker

SEQUENCE_ACK_INTERVAL = 0.5  # seconds between sequenceAcks while messages arrive
SEQUENCE_ACK_EVERY = 100  # the service keeps at most 1000 unacknowledged messages, then drops the session
# Written requests waiting for their ack, at most. The service answers in order and sends a request's
# echo before its ack, so this also bounds the echoes in flight back to us (well under the 1000 above).
IN_FLIGHT = 400
WRITE_BATCH = 64  # requests handed out per frames_to_send() call: one socket write


class ClientState(str, Enum):
    """Where a client is (compares equal to its lower-case name, which ``client.state`` shows)."""

    IDLE = "idle"  # created; connect() not called yet, or the first attempt failed
    CONNECTING = "connecting"  # connect() is opening the first connection
    CONNECTED = "connected"  # a socket is open and requests flow
    RECOVERING = "recovering"  # reliable: resuming the same session on a new socket
    RECONNECTING = "reconnecting"  # the session is gone: opening a brand-new connection
    CLOSED = "closed"  # for good: close() was called, or reconnecting met an error retrying cannot fix

    def __str__(self) -> str:
        return self.value


class Trigger(Enum):
    """What happened to a session: the input of a transition."""

    START = "start"  # connect() was called
    START_FAILED = "start failed"  # the first connection could not be opened
    OPENED = "opened"  # a brand-new connection said 'connected'
    LOST_RECOVERABLE = "lost, recoverable"  # the socket ended; the session can be resumed
    LOST = "lost"  # the socket ended; the session cannot be resumed
    LOST_FOR_GOOD = "lost for good"  # the socket ended and auto_reconnect is off
    RECOVERED = "recovered"  # the service accepted the recovery
    RECOVERY_FAILED = "recovery failed"  # refused, or the recovery window passed
    CLOSE = "close"  # close() was called, or an error retrying cannot fix


S, T = ClientState, Trigger
#: Every transition of a client session: ``(state, trigger) -> new state``. Nothing else moves it.
TRANSITIONS: dict[tuple[ClientState, Trigger], ClientState] = {
    (S.IDLE, T.START): S.CONNECTING,
    (S.IDLE, T.CLOSE): S.CLOSED,
    (S.CONNECTING, T.OPENED): S.CONNECTED,
    (S.CONNECTING, T.START_FAILED): S.IDLE,
    (S.CONNECTING, T.CLOSE): S.CLOSED,
    (S.CONNECTED, T.LOST_RECOVERABLE): S.RECOVERING,
    (S.CONNECTED, T.LOST): S.RECONNECTING,
    (S.CONNECTED, T.LOST_FOR_GOOD): S.CLOSED,
    (S.CONNECTED, T.CLOSE): S.CLOSED,
    (S.RECOVERING, T.RECOVERED): S.CONNECTED,
    (S.RECOVERING, T.RECOVERY_FAILED): S.RECONNECTING,
    (S.RECOVERING, T.CLOSE): S.CLOSED,
    (S.RECONNECTING, T.OPENED): S.CONNECTED,
    (S.RECONNECTING, T.CLOSE): S.CLOSED,
    (S.CLOSED, T.CLOSE): S.CLOSED,
}
del S, T


class Drop(str, Enum):
    """What :meth:`ClientSession.connection_lost` decided."""

    RECOVER = "recover"  # resume the same session (same connectionId, nothing lost)
    RENEW = "renew"  # a brand-new connection
    CLOSE = "close"  # stop: auto_reconnect is off


# ---- events: what receive() makes of a frame -------------------------------------------------------


@dataclass(slots=True)
class Received:
    """Every frame that arrived, parsed (``message``) or not (``error`` says why): for the journal."""

    raw: str | bytes
    message: Any
    error: str | None


@dataclass(slots=True)
class Acked:
    """The service carried out ``request`` (a ``Duplicate`` answer counts: it had already done so)."""

    request: PendingRequest


@dataclass(slots=True)
class Refused:
    """The service refused ``request``; ``ack`` says why."""

    request: PendingRequest
    ack: Ack


@dataclass(slots=True)
class Unreadable:
    """A text frame the client cannot parse; ignored (``Received.error`` has the detail)."""

    error: str


class WindowOpen:
    """The in-flight window was full and has room again: the writer may go on."""

    __slots__ = ()


WINDOW_OPEN = WindowOpen()
_STREAMS_CANCELLED = StreamError(
    "Cancelled", "the connection was replaced by a new one (the session could not be recovered); open a new stream"
)
_BINARY_FRAME = "binary frame on a JSON subprotocol (the service sends text frames only); ignored"


class ClientSession:
    """One client's session state machine; see the module documentation.

    ``rejoin(group)`` builds the joinGroup request that re-joins ``group`` after a brand-new connection.
    """

    def __init__(
        self,
        *,
        reliable: bool,
        auto_reconnect: bool = True,
        max_pending: int = 100_000,
        in_flight: int = IN_FLIGHT,
        rejoin: Callable[[str], PendingRequest] | None = None,
    ):
        self.reliable = reliable
        self.auto_reconnect = auto_reconnect
        self.in_flight = in_flight
        self.state = ClientState.IDLE
        self.requests = PendingRequests(max_pending)
        self.joined: dict[str, None] = {}  # groups joined with join_group and not left, in order
        self.tracker = SequenceTracker()
        self.streams = OutboundStreams()  # group streams this client publishes
        self.streams_ended: list[OutboundStream] = []  # ended by the last brand-new connection, to report
        self.connection_id: str | None = None
        self.user_id: str | None = None
        self.reconnection_token: str | None = None
        self.disconnect_reason: str | None = None  # the service's 'disconnected' message, until a new connection
        self.drop_reason = ""  # why the last connection ended, in words
        self.ack_now = False  # a sequenceAck is due without waiting for the interval
        self.window_full = False
        self.stats = dict.fromkeys(
            ("sent", "received", "acked", "failed", "duplicates_dropped", "recoveries", "reconnections", "drops"), 0
        )
        self._rejoin = rejoin
        self._last_sequence_ack_at = float("-inf")
        self._acked_before: int | None = None  # last_acked before the sequenceAck in flight

    # ---- the life of the session -------------------------------------------------------------------

    def move(self, trigger: Trigger) -> ClientState:
        """Apply ``trigger`` through :data:`TRANSITIONS`; raises ``RuntimeError`` if it has no row here.

        >>> ClientSession(reliable=False).move(Trigger.OPENED)
        Traceback (most recent call last):
        ...
        RuntimeError: a client session cannot take 'opened' while idle
        """
        new = TRANSITIONS.get((self.state, trigger))
        if new is None:
            raise RuntimeError(f"a client session cannot take {trigger.value!r} while {self.state}")
        self.state = new
        return new

    def start(self) -> ClientState:
        """``connect()`` was called."""
        return self.move(Trigger.START)

    def start_failed(self) -> ClientState:
        """The first connection could not be opened: back to idle (connect() may be called again)."""
        return self.move(Trigger.START_FAILED)

    def opened(self, connected: Connected) -> ClientState:
        """A brand-new connection said ``connected``: new identity, sequence numbering from 1.

        After a drop (``reconnecting``) the groups joined are joined again and every unacknowledged
        request is resent, ahead of what is still queued.
        """
        renewed = self.state is ClientState.RECONNECTING
        self.move(Trigger.OPENED)
        if renewed:
            self.stats["reconnections"] += 1
            self.requests.resend_unacked()
            self.streams_ended = self.streams.renewed(self.requests, _STREAMS_CANCELLED)
            if self._rejoin is not None:
                self.requests.put_front([self._rejoin(group) for group in self.joined])
        self.connection_id = connected.connection_id
        self.user_id = connected.user_id
        self.reconnection_token = connected.reconnection_token
        self.tracker.reset()
        self.disconnect_reason = None
        self.ack_now = False
        return self.state

    def connection_lost(self, code: int | None, reason: str) -> Drop:
        """The socket ended (``code`` ``None``: without a close frame): recover, renew or close.

        :attr:`drop_reason` says why in words, with the service's ``disconnected`` message if it sent one.
        """
        self.stats["drops"] += 1
        said = self.disconnect_reason
        self.drop_reason = f"{said}; {reason}" if said and said not in reason else reason
        if not self.auto_reconnect:
            self.move(Trigger.LOST_FOR_GOOD)
            return Drop.CLOSE
        if self.reliable and code != CloseCode.POLICY_VIOLATION and self.reconnection_token:
            self.move(Trigger.LOST_RECOVERABLE)
            return Drop.RECOVER
        self.move(Trigger.LOST)
        self.reconnection_token = None
        return Drop.RENEW

    def recovered(self) -> int:
        """The service accepted the recovery: requests not acknowledged are resent; returns how many.

        An ack written just before the drop may never have arrived, so the next :meth:`sequence_ack`
        acknowledges everything received so far, releasing the backlog the service replays.
        """
        self.move(Trigger.RECOVERED)
        self.stats["recoveries"] += 1
        self.tracker.last_acked = 0
        self.ack_now = True
        resent = self.requests.resend_unacked()
        self.streams.recovered(self.requests)  # after the requests: stream fragments go first
        return resent

    def recovery_failed(self) -> ClientState:
        """Recovery was refused or timed out: a brand-new connection follows."""
        self.drop_reason = f"{self.drop_reason}; the session could not be recovered"
        self.reconnection_token = None
        return self.move(Trigger.RECOVERY_FAILED)

    def close(self) -> list[PendingRequest]:
        """Stop for good; returns every request still pending (their waiters are to be failed)."""
        self.move(Trigger.CLOSE)
        return self.requests.drop_all()

    # ---- requests ----------------------------------------------------------------------------------

    def accept(self, request: PendingRequest) -> bool:
        """Queue ``request`` behind the others; ``False`` if the session is closed (nothing queued).

        Joins and leaves update :attr:`joined` at once, so a brand-new connection re-joins what the
        caller asked for even if the ack has not come yet.
        """
        if self.state is ClientState.CLOSED:
            return False
        message = request.message
        if type(message) is JoinGroup:
            self.joined[message.group] = None
        elif type(message) is LeaveGroup:
            self.joined.pop(message.group, None)
        self.requests.put(request)
        return True

    def frames_to_send(self, limit: int = WRITE_BATCH) -> list[PendingRequest]:
        """The next requests to write (at most ``limit``), in order; empty unless connected.

        A request with an ackId now waits for its ack; at most ``in_flight`` do at a time (when the
        window is full, an ack gives :class:`WindowOpen`).
        """
        requests = self.requests
        queued = requests.queued
        if not queued or self.state is not ClientState.CONNECTED:
            return []
        room = self.in_flight - len(requests.unacked)
        if room <= 0:
            self.window_full = True
            return []
        take = requests.take
        batch = [take() for _ in range(min(room, limit, len(queued)))]
        self.stats["sent"] += len(batch)
        return batch

    def write_failed(self, batch: Iterable[PendingRequest]) -> None:
        """The socket closed under a write of ``batch``: requests with an ackId wait for the next
        connection (they are resent); the others go back to the front of the queue."""
        batch = list(batch)
        self.stats["sent"] -= len(batch)
        self.requests.put_front(request for request in batch if request.ack_id is None)

    # ---- receiving ---------------------------------------------------------------------------------

    def receive(self, raw: str | bytes) -> list[Any]:
        """What one frame from the service means: a :class:`Received`, then what to act on."""
        if isinstance(raw, bytes):
            return [Received(raw, None, _BINARY_FRAME)]
        try:
            message = parse_service_message(raw)
        except InvalidMessage as exc:
            return [Received(raw, None, str(exc)), Unreadable(str(exc))]
        events: list[Any] = [Received(raw, message, None)]
        kind = type(message)
        if kind is DataMessage:
            sequence_id = message.sequence_id
            if sequence_id is not None and self.reliable:
                tracker = self.tracker
                if not tracker.receive(sequence_id):
                    self.stats["duplicates_dropped"] += 1
                    return events
                if sequence_id - tracker.last_acked >= SEQUENCE_ACK_EVERY:
                    self.ack_now = True
            self.stats["received"] += 1
            events.append(message)
        elif kind is Ack:
            self._on_ack(message, events)
        elif kind is Connected:  # a recovery MAY announce the connection again
            self.reconnection_token = message.reconnection_token or self.reconnection_token
        elif kind is Disconnected:
            self.disconnect_reason = message.message or None
        elif kind is InvokeResponse:
            events.append(message)  # the client resolves the invocation waiting for it
        elif kind is StreamAck or kind is StreamNack or kind is StreamClosed:
            self._on_stream_reply(message, events)
        return events

    def _on_stream_reply(self, reply: StreamAck | StreamNack | StreamClosed, events: list[Any]) -> None:
        streams = self.streams
        if type(reply) is StreamAck:
            streams.acknowledged(reply)
        elif type(reply) is StreamNack:
            self.requests.put_front(streams.refused(reply))  # resend from the fragment the service wants
        else:
            streams.closed(reply)
        events.append(reply)  # the writer waiting on the stream is told

    def _on_ack(self, ack: Ack, events: list[Any]) -> None:
        request = self.requests.acknowledge(ack.ack_id)
        if request is None:
            return
        if self.window_full:
            self.window_full = False
            events.append(WINDOW_OPEN)
        error = ack.error
        if ack.success or (error is not None and error.name == "Duplicate"):
            self.stats["acked"] += 1
            events.append(Acked(request))
            return
        self.stats["failed"] += 1
        message = request.message
        if type(message) is JoinGroup and message.group in self.joined:
            self.joined.pop(message.group)  # a refused join is not re-joined after a new connection
        events.append(Refused(request, ack))

    # ---- sequence acks -------------------------------------------------------------------------------

    def sequence_ack(self, now: float, *, force: bool = False) -> PendingRequest | None:
        """The ``sequenceAck`` to write now, if one is due (reliable protocol only), as a request to write.

        Due when something arrived since the last one and either ``SEQUENCE_ACK_EVERY`` messages
        wait (or ``force``: closing, or just recovered) or ``SEQUENCE_ACK_INTERVAL`` s passed since the
        last one. If the write fails, call :meth:`sequence_ack_lost`.

        >>> session = ClientSession(reliable=True)
        >>> session.tracker.receive(1)
        True
        >>> session.sequence_ack(10.0).frame, session.sequence_ack(10.1)
        ('{"type":"sequenceAck","sequenceId":1}', None)
        """
        if not self.reliable:
            return None
        due = force or self.ack_now or now - self._last_sequence_ack_at >= SEQUENCE_ACK_INTERVAL
        if not due:
            return None
        self.ack_now = False
        previous = self.tracker.last_acked
        sequence_id = self.tracker.ack_due()
        if sequence_id is None:
            return None
        self._acked_before = previous
        self._last_sequence_ack_at = now
        message = SequenceAck(sequence_id)
        return PendingRequest(message, encode_client_message(message))

    def sequence_ack_lost(self) -> None:
        """The last sequenceAck was not written: acknowledge those messages again later (after a recovery)."""
        if self._acked_before is not None:
            self.tracker.last_acked = min(self.tracker.last_acked, self._acked_before)
            self._acked_before = None


__all__ = [
    "IN_FLIGHT",
    "SEQUENCE_ACK_EVERY",
    "SEQUENCE_ACK_INTERVAL",
    "TRANSITIONS",
    "WINDOW_OPEN",
    "WRITE_BATCH",
    "Acked",
    "ClientSession",
    "ClientState",
    "Drop",
    "Received",
    "Refused",
    "Trigger",
    "Unreadable",
    "WindowOpen",
]
