"""Hubs, sessions, groups and users: the service's state, with no sockets in it.

A :class:`Session` is one logical client connection. On the reliable protocol it outlives its
socket: after an unexpected drop it is *detached* for ``recovery_window`` seconds, keeps
collecting sequenced messages, and a recovering socket *attaches* to it again. Sockets are seen
only through the small :class:`Socket` interface (the WebSocket endpoint provides it), so the REST
API and the WebSocket endpoint share one set of operations here.

Example (a reliable session with no socket attached keeps what it is sent in its outbox)::

    >>> hub = Service("k" * 43).hub("stream")
    >>> session = Session(hub, user_id="ann", protocol="json.reliable.webpubsub.azure.v1")
    >>> hub.add(session); hub.join(session, "lab")
    >>> hub.send_to_group("lab", Envelope.build("group", "text", "hi", group="lab"))  # recipients
    1
    >>> session.outbox.unacknowledged()[0]
    b'{"type":"message","from":"group","group":"lab","dataType":"text","data":"hi","sequenceId":1}'
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Protocol

from ..protocol.envelope import Envelope
from ..protocol.json_codec import encode_service_message
from ..protocol.limits import CloseCode
from ..protocol.messages import Disconnected, is_reliable
from ..protocol.names import hub_key
from ..protocol.permissions import Permissions
from ..protocol.reliable import OutboxOverflow, ReliableOutbox
from ..protocol.service_session import SessionState, check_move
from .group_streams import end_all_streams
from .invocations import cancel_all_invocations
from .outbound_budget import DEFAULT_OUTBOUND_BUDGET, OutboundBudget
from .writer import DEFAULT_LIMIT, FrameWriter

if TYPE_CHECKING:
    from ..protocol.filter import Filter
    from ..protocol.group_stream import StreamTable
    from .client_connection import ClientConnection, Keepalive
    from .trace import TraceRecorder
    from .upstream import Upstream

log = logging.getLogger("wpsnb.service")

KEEPALIVE_INTERVAL = 20.0  # seconds of silence before the service pings a connection (docs/limits.md)
RECOVERY_WINDOW = 30.0  # seconds a dropped reliable session waits for its client (the spec's minimum)
ACK_MEMORY = 65_536  # successful ackIds remembered per session for Duplicate detection
CLOSED_BY_REST = "Closed by REST API."
NO_GROUPS: frozenset[str] = frozenset()  # the groups of every session that has joined none (shared)


class Socket(Protocol):
    """What a session needs from the live WebSocket it is attached to."""

    writer: FrameWriter

    def close(self, code: int, reason: str) -> None:
        """Flush what is queued, then close with ``code`` (does not wait)."""

    def abort(self) -> None:
        """Drop the TCP connection at once (used for a subscriber that stopped reading)."""


class Session:
    """One client connection: identity, permissions, groups and, if reliable, its outbox."""

    __slots__ = (
        "connection_id",
        "user_id",
        "hub",
        "protocol",
        "reliable",
        "raw",
        "permissions",
        "groups",
        "outbox",
        "socket",
        "state",
        "detached_at",
        "peer",
        "connected_at",
        "_acks_ok",
        "_acks_order",
        "streams",
        "stream_acks",
        "stream_timer",
        "invocations",
    )

    def __new__(cls, hub: Hub, *, user_id: str | None, protocol: str | None, **_: Any) -> Session:
        # One class per subprotocol, each with its own deliver(): the fan-out loop does no
        # per-recipient branching on the protocol, and no connection carries a bound method for it.
        if cls is Session:
            cls = _ReliableSession if is_reliable(protocol) else _RawSession if protocol is None else _PlainSession
        return object.__new__(cls)

    def __init__(
        self,
        hub: Hub,
        *,
        user_id: str | None,
        protocol: str | None,
        roles: Iterable[str] = (),
        peer: str = "",
        connection_id: str | None = None,
    ):
        self.connection_id = connection_id or new_connection_id()
        self.user_id = user_id
        self.hub = hub
        self.protocol = protocol
        self.raw = protocol is None
        self.reliable = is_reliable(protocol)
        self.permissions = Permissions(roles)
        self.groups: AbstractSet[str] = NO_GROUPS  # a set of its own from the first join (Hub.join)
        self.outbox = ReliableOutbox() if self.reliable else None
        self.socket: Socket | None = None
        self.state = SessionState.CONNECTING
        self.detached_at = 0.0
        self.peer = peer
        self.connected_at = time.time()
        # Created on the first acknowledged request: most connections (subscribers) never send one.
        self._acks_ok: set[int] | None = None
        self._acks_order: deque[int] | None = None
        # Group streams this connection publishes (group_streams.py); created by its first stream.
        self.streams: StreamTable | None = None
        self.stream_acks: set[str] | None = None
        self.stream_timer: asyncio.TimerHandle | None = None
        self.invocations: dict[str, asyncio.Task[None]] | None = None  # invoke calls waiting (invocations.py)

    # -- delivery (the hot path) --

    def deliver(self, envelope: Envelope) -> None:
        """Send one message to this connection (the subclass of its subprotocol says how)."""
        raise NotImplementedError

    def send_frame(self, text: str) -> None:
        """Send a control frame (ack, pong, system) if a socket is attached; never sequenced."""
        socket = self.socket
        if socket is not None:
            payload = text.encode("utf-8")
            socket.writer.send_text(payload)
            trace = self.hub.service.trace
            if trace is not None:
                trace.frame_out(self, payload)

    # -- ackId bookkeeping --

    def ack_succeeded_before(self, ack_id: int) -> bool:
        """Whether ``ack_id`` already succeeded on this connection (→ ``Duplicate``)."""
        acks = self._acks_ok
        return acks is not None and ack_id in acks

    def remember_success(self, ack_id: int) -> None:
        """Record a successful ackId; the oldest are forgotten past ``ACK_MEMORY`` to bound memory."""
        acks, order = self._acks_ok, self._acks_order
        if acks is None or order is None:
            acks, order = self._acks_ok, self._acks_order = set(), deque()
        elif ack_id in acks:
            return
        acks.add(ack_id)
        order.append(ack_id)
        if len(order) > ACK_MEMORY:
            acks.discard(order.popleft())

    def describe(self) -> str:
        """One readable line for logs."""
        who = f"user={self.user_id}" if self.user_id is not None else "anonymous"
        return f"hub={self.hub.name} connection={self.connection_id} {who} protocol={self.protocol or 'raw'}"


class _PlainSession(Session):
    __slots__ = ()

    def deliver(self, envelope: Envelope) -> None:
        socket = self.socket
        if socket is not None:
            socket.writer.send_text_pieces(envelope.prefix, Envelope.PLAIN_TAIL)


class _RawSession(Session):
    __slots__ = ()

    def deliver(self, envelope: Envelope) -> None:
        socket = self.socket
        if socket is not None:
            if envelope.raw_is_binary:
                socket.writer.send_binary(envelope.raw)
            else:
                socket.writer.send_text(envelope.raw)


class _ReliableSession(Session):
    __slots__ = ()

    def deliver(self, envelope: Envelope) -> None:
        try:
            tail = self.outbox.stamp_tail(envelope)  # type: ignore[union-attr]
        except OutboxOverflow as exc:
            self.hub.end_session(self, str(exc), code=CloseCode.POLICY_VIOLATION)
            return
        socket = self.socket
        if socket is not None:
            # The message's bytes are shared by every recipient; only the sequenceId tail is theirs.
            socket.writer.send_text_pieces(envelope.prefix, tail)


def new_connection_id() -> str:
    """A random, URL-safe connection id (the service's are opaque strings too).

    >>> len(new_connection_id())
    22
    """
    return secrets.token_urlsafe(16).replace("-", "a").replace("_", "b")


class Hub:
    """Connections, groups and users of one hub. Group and user sets keep insertion order."""

    def __init__(self, service: Service, name: str):
        self.service = service
        self.name = name
        self.sessions: dict[str, Session] = {}
        self.groups: dict[str, dict[Session, None]] = {}
        self.users: dict[str, dict[Session, None]] = {}

    # -- lifecycle --

    def add(self, session: Session) -> None:
        """Register a new, connected session."""
        self.sessions[session.connection_id] = session
        if session.user_id is not None:
            self.users.setdefault(session.user_id, {})[session] = None
        session.state = check_move(session.state, SessionState.CONNECTED)

    def detach(self, session: Session, why: str) -> None:
        """The socket dropped unexpectedly: keep a reliable session for recovery, end any other."""
        if session.state is not SessionState.CONNECTED:
            return
        session.socket = None
        if not session.reliable:
            self.end_session(session, why)
            return
        session.state = check_move(session.state, SessionState.DETACHED)
        session.detached_at = time.monotonic()
        if self.service.trace is not None:
            self.service.trace.dropped(session, why)
        log.info("dropped %s (%s); kept %.0f s for recovery", session.describe(), why, self.service.recovery_window)
        self.service.schedule_expiry(session)

    def attach(self, session: Session, socket: Socket) -> None:
        """A recovering socket takes over a detached session: replay everything unacknowledged."""
        session.state = check_move(session.state, SessionState.CONNECTED)
        session.socket = socket
        if session.outbox is not None:
            for frame in session.outbox.unacknowledged(time.monotonic()):  # past their TTL: dropped
                socket.writer.send_text(frame)
            if self.service.trace is not None:
                self.service.trace.replayed(session, len(session.outbox))
        log.info(
            "recovered %s; replayed %d unacknowledged messages",
            session.describe(),
            len(session.outbox) if session.outbox is not None else 0,
        )

    def end_session(self, session: Session, reason: str, *, code: int | None = CloseCode.NORMAL_CLOSURE) -> None:
        """Remove a session for good; if its socket is open, tell the client and close it."""
        if session.state is SessionState.CLOSED:
            return
        session.state = check_move(session.state, SessionState.CLOSED)
        self.sessions.pop(session.connection_id, None)
        for group in list(session.groups):
            self._remove_member(group, session)
        if session.user_id is not None:
            members = self.users.get(session.user_id)
            if members is not None:
                members.pop(session, None)
                if not members:
                    del self.users[session.user_id]
        if session.streams is not None:
            end_all_streams(session, reason or "client closed")
        if session.invocations:
            cancel_all_invocations(session)
        if self.service.upstream is not None:
            self.service.upstream.closed(session, reason)
        socket, session.socket = session.socket, None
        trace = self.service.trace
        if trace is not None:
            trace.ended(session, reason, code)
        if socket is not None and code is not None:
            if not session.raw:
                goodbye = encode_service_message(Disconnected(reason)).encode("utf-8")
                socket.writer.send_text(goodbye)
                if trace is not None:
                    trace.frame_out(session, goodbye)
            socket.close(code, reason)
        log.info("closed %s: %s", session.describe(), reason or "client closed")

    def expire_if_still_detached(self, session: Session, detached_at: float | None = None) -> None:
        """Called when the recovery window ends; ``detached_at`` names the drop it was scheduled for, so
        the window of an earlier drop (recovered since) does not cut a later one short."""
        if session.state is SessionState.DETACHED and (detached_at is None or session.detached_at == detached_at):
            self.end_session(session, "recovery window expired", code=None)

    # -- groups --

    def join(self, session: Session, group: str) -> None:
        """Add ``session`` to ``group`` (idempotent)."""
        groups = session.groups
        if group not in groups:
            if not isinstance(groups, set):
                groups = session.groups = set()
            groups.add(group)
            self.groups.setdefault(group, {})[session] = None
            if self.service.upstream is not None:
                self.service.upstream.group_changed(session, group, True)

    def leave(self, session: Session, group: str) -> None:
        """Remove ``session`` from ``group`` (idempotent)."""
        if group in session.groups:
            self._remove_member(group, session)
            if self.service.upstream is not None:
                self.service.upstream.group_changed(session, group, False)

    def _remove_member(self, group: str, session: Session) -> None:
        groups = session.groups
        if isinstance(groups, set):
            groups.discard(group)
        members = self.groups.get(group)
        if members is not None:
            members.pop(session, None)
            if not members:
                del self.groups[group]

    def leave_all(self, session: Session) -> None:
        """Remove ``session`` from every group."""
        for group in list(session.groups):
            self.leave(session, group)

    # -- looking up (REST) --

    def group_sessions(self, group: str) -> list[Session]:
        """The members of ``group``, oldest first (empty if nobody is in it)."""
        return list(self.groups.get(group, ()))

    def user_sessions(self, user_id: str) -> list[Session]:
        """The connections of ``user_id``, oldest first."""
        return list(self.users.get(user_id, ()))

    def sessions_matching(self, filter: Filter | None) -> list[Session]:
        """Every session of the hub that passes ``filter`` (all of them for ``None``)."""
        sessions = list(self.sessions.values())
        if filter is None:
            return sessions
        return [s for s in sessions if filter.matches(s)]

    def group_page(self, group: str, after: str | None, limit: int) -> list[Session]:
        """Up to ``limit`` members of ``group`` whose connection id sorts after ``after``.

        Paging in connection-id order (not join order) means a member that leaves between two pages
        cannot make the next page skip or repeat anyone else.
        """
        members = sorted(self.groups.get(group, ()), key=lambda s: s.connection_id)
        if after is not None:
            members = [s for s in members if s.connection_id > after]
        return members[:limit]

    # -- sending --

    def send_to_group(
        self,
        group: str,
        envelope: Envelope,
        *,
        skip: Session | None = None,
        excluded: Iterable[str] = (),
        filter: Filter | None = None,
    ) -> int:
        """Deliver to every member of ``group``; returns the number of recipients.

        ``skip`` is the sender with ``noEcho``; ``excluded`` are connection ids (REST).
        """
        members = self.groups.get(group)
        if not members:
            return self._traced("group", group, envelope, [])  # the trace shows a message nobody got, too
        if skip is None and not excluded and filter is None:
            # The common case, kept free of per-recipient checks.
            recipients = list(members)
            for session in recipients:
                session.deliver(envelope)
        else:
            recipients = self._deliver_to(list(members), envelope, skip, excluded, filter)
        trace = self.service.trace  # _traced, written out: this is the fan-out's path
        if trace is not None:
            trace.delivered(self, "group", group, envelope, recipients)
        return len(recipients)

    def send_to_all(self, envelope: Envelope, *, excluded: Iterable[str] = (), filter: Filter | None = None) -> int:
        """Deliver to every connected (or detached reliable) session of the hub."""
        recipients = self._deliver_to(list(self.sessions.values()), envelope, None, excluded, filter)
        return self._traced("all", None, envelope, recipients)

    def send_to_user(self, user_id: str, envelope: Envelope, *, filter: Filter | None = None) -> int:
        """Deliver to every connection of ``user_id``."""
        recipients = self._deliver_to(list(self.users.get(user_id, ())), envelope, None, (), filter)
        return self._traced("user", user_id, envelope, recipients)

    def send_to_connection(self, connection_id: str, envelope: Envelope) -> int:
        """Deliver to one connection; unknown ids are ignored (the real service answers 202 too)."""
        session = self.sessions.get(connection_id)
        if session is None:
            return 0
        session.deliver(envelope)
        return self._traced("connection", connection_id, envelope, [session])

    def _traced(self, to: str, name: str | None, envelope: Envelope, recipients: list[Session]) -> int:
        trace = self.service.trace
        if trace is not None:
            trace.delivered(self, to, name, envelope, recipients)
        return len(recipients)

    @staticmethod
    def _deliver_to(
        sessions: list[Session],
        envelope: Envelope,
        skip: Session | None,
        excluded: Iterable[str],
        filter: Filter | None,
    ) -> list[Session]:
        excluded_ids = set(excluded)
        delivered = []
        closed = SessionState.CLOSED
        for session in sessions:
            if session is skip or session.connection_id in excluded_ids:
                continue
            if filter is not None and not filter.matches(session):
                continue
            if session.state is closed:
                continue
            session.deliver(envelope)
            delivered.append(session)
        return delivered

    # -- closing --

    def close_sessions(self, sessions: Iterable[Session], reason: str, excluded: Iterable[str] = ()) -> int:
        """Close the given sessions (REST close operations)."""
        excluded_ids = set(excluded)
        targets = [s for s in sessions if s.connection_id not in excluded_ids]
        for session in targets:
            self.end_session(session, reason or CLOSED_BY_REST)
        return len(targets)


class Service:
    """Every hub of one local service, plus its settings.

    ``send_buffer_limit`` bounds each connection's unsent bytes (see :class:`~.writer.FrameWriter`);
    ``trace`` records what the service sees (see :mod:`.trace`), ``None`` turns tracing off;
    ``keepalive_interval``: seconds a connection may stay silent before it is pinged (it is closed if the
    pong does not come within half that), ``None`` for no pings; ``outbound_budget``: unsent bytes over all
    connections before the largest holders are closed (see :mod:`.outbound_budget`), ``None`` for no bound.
    """

    def __init__(
        self,
        access_key: str,
        *,
        recovery_window: float = RECOVERY_WINDOW,
        schedule: Callable[[float, Callable[[], None]], Any] | None = None,
        send_buffer_limit: int = DEFAULT_LIMIT,
        trace: TraceRecorder | None = None,
        keepalive_interval: float | None = KEEPALIVE_INTERVAL,
        outbound_budget: int | None = DEFAULT_OUTBOUND_BUDGET,
    ):
        self.access_key = access_key
        self.trace = trace  # None: tracing off
        self.recovery_window = recovery_window
        self.send_buffer_limit = send_buffer_limit
        self.keepalive_interval = keepalive_interval
        self.keepalive: Keepalive | None = None  # the one keepalive timer, created by the first connection
        self.connections: set[ClientConnection] = set()  # every open client WebSocket (sessions or not)
        self.outbound = OutboundBudget(outbound_budget)
        self.hubs: dict[str, Hub] = {}
        self._schedule = schedule
        self.upstream: Upstream | None = None  # event handlers (wpsnb.service.upstream), if configured

    def hub(self, name: str) -> Hub:
        """The hub called ``name`` (case-insensitive), created on first use."""
        key = hub_key(name)
        hub = self.hubs.get(key)
        if hub is None:
            hub = self.hubs[key] = Hub(self, key)
        return hub

    def find_hub(self, name: str) -> Hub | None:
        """The hub if it exists, without creating it."""
        return self.hubs.get(hub_key(name))

    def schedule_expiry(self, session: Session) -> None:
        """Arrange for a detached session to end when the recovery window closes."""
        schedule = self._schedule or asyncio.get_running_loop().call_later
        detached_at = session.detached_at
        schedule(self.recovery_window, lambda: session.hub.expire_if_still_detached(session, detached_at))
