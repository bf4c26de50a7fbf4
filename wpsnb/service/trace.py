"""The service-wide trace: a bounded ring of everything the local service sees, formatted only when read.

Recording must cost next to nothing while nobody watches, because it sits on the send path. So an
event is one flat tuple appended to a ``deque(maxlen=capacity)``: the connection's identity (hub,
connectionId, userId, subprotocol: strings the session holds anyway), the frame text aiohttp already
decoded, the bytes of a message that every recipient shares, and the first recipients of a fan-out.
A fan-out to 1,000 recipients adds one tuple, not 1,000 objects. Most events hold only strings,
bytes and numbers, so the garbage collector stops tracking them at its first pass (a full ring is
10,000 objects it would otherwise walk again and again), and a ring does not keep the sessions of
connections that ended alive. Turning an event into a JSON-able record
(:meth:`TraceRecorder.record`) happens when a watcher reads it, and a watcher reads at its own pace:
it keeps a cursor, and whatever the ring overwrote before it got there is counted as dropped for that
watcher (see :mod:`.trace_endpoint`). Delivery never waits for a watcher.

An event's id is its position in the stream of events (0, 1, 2…), so ``ring[i - first]`` finds it.
Links between events are ids too: an ack and a delivery carry the id of the frame (or REST call)
whose handling caused them.

Example::

    service = Service(access_key, trace=TraceRecorder(capacity=10_000))
    ...                                   # clients connect, send, REST calls arrive
    first, records = service.trace.read(0, limit=100)
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterable
from contextvars import ContextVar
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..protocol.envelope import Envelope

if TYPE_CHECKING:
    from .hub import Hub, Session

DEFAULT_CAPACITY = 10_000  # events kept; older ones are overwritten
RECIPIENTS_SHOWN = 32  # connection ids listed per delivery record (the count is always exact)
PREVIEW = 4_096  # characters of a frame or body kept in a record
_now = time.time


class RestMark:
    """Stands for a REST call in progress, so the deliveries it causes can name it once it is recorded."""

    __slots__ = ("id",)

    def __init__(self) -> None:
        self.id: int | None = None


# The REST call being handled by the current task (REST handlers await, so a plain attribute could
# be overwritten by another request in between).
REST_CALL: ContextVar[RestMark | None] = ContextVar("wpsnb_trace_rest_call", default=None)


class TraceRecorder:
    """A bounded ring of trace events; see the module docs.

    ``cause`` is the id of the client frame (or handshake) being handled right now on the service's
    loop: the acks and deliveries it produces synchronously record it.

    >>> recorder = TraceRecorder(capacity=2)
    >>> for n in range(3):
    ...     _ = recorder.rest("GET", f"/api/hubs/h/{n}", "h", 200, 0.001, "", None)
    >>> recorder.first, recorder.next_id
    (1, 3)
    >>> [r["path"] for r in recorder.read(0, limit=10)[1]]
    ['/api/hubs/h/1', '/api/hubs/h/2']
    """

    __slots__ = ("ring", "capacity", "next_id", "cause")

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        if capacity < 1:
            raise ValueError(f"the trace needs room for at least one event, got capacity={capacity}")
        self.capacity = capacity
        self.ring: deque[tuple[Any, ...]] = deque(maxlen=capacity)
        self.next_id = 0
        self.cause: int | None = None

    @property
    def first(self) -> int:
        """The id of the oldest event still in the ring."""
        return self.next_id - len(self.ring)

    def _add(self, kind: str, *fields: Any) -> int:
        # An event is (wall time, kind, fields...); its id is its position, so it is not stored.
        ident = self.next_id
        self.next_id = ident + 1
        self.ring.append((_now(), kind, *fields))
        return ident

    # -- hooks (called on the service's loop; each stores references only) --

    def connected(self, session: Session, groups: Iterable[str]) -> None:
        """A handshake succeeded: the session exists and gets its ``connected`` message next."""
        self.cause = self._add("connect", *_identity(session), session.permissions.roles, tuple(groups), session.peer)

    def refused(self, hub: str, path: str, status: int, reason: str, peer: str) -> None:
        """A handshake was refused before the upgrade (bad token, hub, subprotocol…)."""
        self._add("refused", hub, path, status, reason, peer)

    # The three hooks of the hot path are written out in full: no *args packing, no helper calls.

    def frame_in(self, session: Session, data: str | bytes) -> None:
        """A frame arrived from a client; what its handling sends links back to it."""
        ident = self.cause = self.next_id
        self.next_id = ident + 1
        self.ring.append(
            (_now(), "in", session.hub.name, session.connection_id, session.user_id, session.protocol, data)
        )

    def frame_out(self, session: Session, payload: bytes) -> None:
        """A control frame (ack, pong, connected, disconnected) went to one connection."""
        mark = REST_CALL.get()
        self.next_id += 1
        cause = self.cause if mark is None else mark
        self.ring.append(
            (_now(), "out", session.hub.name, session.connection_id, session.user_id, session.protocol, payload, cause)
        )

    def delivered(self, hub: Hub, to: str, name: str | None, envelope: Envelope, recipients: list[Session]) -> None:
        """One message went to ``recipients`` (shared bytes): to ``"group"``, ``"user"`` or ``"connection"``
        ``name``, or to ``"all"``. Past :data:`RECIPIENTS_SHOWN` only the first ones are kept (and the
        count): a ring of 1,000-entry lists would hold megabytes and slow every allocation. The message
        is kept as its shared bytes, not its envelope."""
        count = len(recipients)
        kept = recipients if count <= RECIPIENTS_SHOWN else recipients[:RECIPIENTS_SHOWN]
        mark = REST_CALL.get()
        self.next_id += 1
        self.ring.append(
            (_now(), "deliver", hub.name, to, name, envelope.prefix, kept, count, self.cause if mark is None else mark)
        )

    def replayed(self, session: Session, count: int) -> None:
        """A recovered session was sent its unacknowledged messages again."""
        self._add("replay", *_identity(session), count)

    def recovery(self, hub: Hub, connection_id: str, session: Session | None, refused: str | None) -> None:
        """A reliable client tried to recover ``connection_id``; ``refused`` says why not (``None``: it did)."""
        user, protocol = (session.user_id, session.protocol) if session is not None else (None, None)
        self._add("recovery", hub.name, connection_id, user, protocol, session is not None, refused)

    def dropped(self, session: Session, why: str) -> None:
        """A reliable session lost its socket and waits for recovery."""
        self._add("detach", *_identity(session), why)

    def socket_closed(self, session: Session, code: int | None, why: str, by: str) -> None:
        """A session's WebSocket ended: ``by`` is ``client``, ``service`` or ``network``."""
        self._add("close", *_identity(session), code, why, by)

    def ended(self, session: Session, reason: str, code: int | None) -> None:
        """A session ended for good (closed, expired, or its client said goodbye); a REST close names its call."""
        self._add("end", *_identity(session), reason, code, REST_CALL.get())

    def rest(
        self, method: str, path: str, hub: str, status: int, latency: float, body: str, mark: RestMark | None
    ) -> int:
        """A REST call was answered; ``body`` is a summary of what it sent."""
        ident = self._add("rest", method, path, hub, status, latency, body)
        if mark is not None:
            mark.id = ident
        return ident

    def upstream(
        self, hub: str, event: str, url: str, status: int | None, latency: float, detail: str, conn: str | None
    ) -> None:
        """The service called an upstream event handler (``status`` ``None``: no answer; ``detail`` says why)."""
        self._add("upstream", hub, event, url, status, latency, detail, conn)

    # -- reading (formats on demand) --

    def read(self, after: int, *, limit: int, hub: str | None = None) -> tuple[int, list[dict[str, Any]]]:
        """``(next cursor, records)``: up to ``limit`` records with ids ≥ ``after``, oldest first.

        Ids before :attr:`first` are gone; the caller counts ``first - after`` as dropped. Call on the
        service's loop (the ring changes under a reader on another thread).
        """
        start, events = self.events(after, limit)
        records = []
        for ident, event in enumerate(events, start):
            record = self.record(event, ident)
            if hub is None or record.get("hub") == hub:
                records.append(record)
        return start + len(events), records

    def events(self, after: int, limit: int) -> tuple[int, list[tuple[Any, ...]]]:
        """``(id of the first, events)``: up to ``limit`` raw events with ids ≥ ``after``, not formatted yet."""
        start = max(after, self.first)
        count = min(self.next_id - start, limit)
        if count <= 0:
            return start, []
        # Watchers read near the newest end: walk from there (indexing a deque walks from one end).
        from_end = self.next_id - start
        newest_first = list(islice(reversed(self.ring), from_end))
        return start, newest_first[: from_end - count - 1 : -1] if from_end > count else newest_first[::-1]

    def record(self, event: tuple[Any, ...], ident: int) -> dict[str, Any]:
        """The JSON-able record of event number ``ident`` (see ``docs/trace.md`` for the fields)."""
        wall_time, kind = event[0], event[1]
        out: dict[str, Any] = {"id": ident, "t": round(wall_time, 6), "kind": _KINDS.get(kind, kind)}
        _FORMATTERS[kind](out, *event[2:])
        return out


def _identity(session: Session) -> tuple[str, str, str | None, str | None]:
    """Who an event is about, as the fields of its tuple: hub, connectionId, userId, subprotocol."""
    return session.hub.name, session.connection_id, session.user_id, session.protocol


# ---- formatting, one function per event kind ----------------------------------------------------


def _who(out: dict[str, Any], hub: str, conn: str, user: str | None, protocol: str | None) -> None:
    out["hub"] = hub
    out["conn"] = conn
    out["user"] = user
    out["protocol"] = protocol


def _cause_id(cause: int | RestMark | None) -> int | None:
    return cause.id if isinstance(cause, RestMark) else cause


def _frame_fields(out: dict[str, Any], data: str | bytes) -> None:
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            out["size"] = len(data)
            out["binary"] = True
            out["frame"] = data[:PREVIEW].hex()
            return
    else:
        text = data
    out["size"] = len(text.encode("utf-8")) if isinstance(data, str) else len(data)
    out["frame"] = text[:PREVIEW]
    if len(text) > PREVIEW:
        out["truncated"] = True
    try:
        message = json.loads(text)
    except ValueError:
        return
    if isinstance(message, dict):
        for field, key in (("type", "type"), ("group", "group"), ("ackId", "ackId"), ("event", "event")):
            value = message.get(field)
            if value is not None and not isinstance(value, dict | list):
                out[key] = value
        if message.get("type") == "system" and isinstance(message.get("event"), str):
            out["type"] = f"system.{out.pop('event')}"
        if message.get("type") == "sequenceAck":
            out["sequenceId"] = message.get("sequenceId")


def _connect(
    out: dict[str, Any],
    hub: str,
    conn: str,
    user: str | None,
    protocol: str | None,
    roles: tuple[str, ...],
    groups: tuple[str, ...],
    peer: str,
) -> None:
    _who(out, hub, conn, user, protocol)
    out["roles"] = list(roles)
    out["groups"] = list(groups)
    out["peer"] = peer


def _refused(out: dict[str, Any], hub: str, path: str, status: int, reason: str, peer: str) -> None:
    out.update(hub=hub, path=path, status=status, reason=reason, peer=peer)


def _in(out: dict[str, Any], hub: str, conn: str, user: str | None, protocol: str | None, data: str | bytes) -> None:
    _who(out, hub, conn, user, protocol)
    out["dir"] = "in"
    if protocol is None:  # a simple WebSocket client: its frames are not the JSON protocol's
        out["type"] = "raw"
        out["size"] = len(data)
        out["frame"] = data[:PREVIEW] if isinstance(data, str) else data[:PREVIEW].hex()
        out["binary"] = isinstance(data, bytes)
        return
    _frame_fields(out, data)


def _out(
    out: dict[str, Any],
    hub: str,
    conn: str,
    user: str | None,
    protocol: str | None,
    payload: bytes,
    cause: int | RestMark | None,
) -> None:
    _who(out, hub, conn, user, protocol)
    out["dir"] = "out"
    _frame_fields(out, payload)
    out["cause"] = _cause_id(cause)


def _deliver(
    out: dict[str, Any],
    hub: str,
    to: str,
    name: str | None,
    prefix: bytes,
    recipients: list[Session],
    count: int,
    cause: Any,
) -> None:
    out["hub"] = hub
    out["dir"] = "out"
    # The frame is the service's own encoding: no need to parse it back (a watcher formats thousands a second).
    # Plain recipients got the shared bytes and the closing brace (reliable ones their own sequenceId instead).
    text = (prefix + Envelope.PLAIN_TAIL).decode("utf-8")
    out["size"] = len(prefix) + len(Envelope.PLAIN_TAIL)
    out["frame"] = text[:PREVIEW]
    if len(text) > PREVIEW:
        out["truncated"] = True
    out["type"] = "message"
    out["to"] = to
    if name is not None:
        out[{"group": "group", "user": "toUser", "connection": "toConnection"}[to]] = name
    out["recipients"] = count
    shown = recipients
    out["conns"] = [s.connection_id for s in shown]
    out["users"] = sorted({s.user_id for s in shown if s.user_id is not None})
    reliable = sum(1 for s in shown if s.reliable)
    if reliable:
        out["reliableRecipients"] = reliable  # each got its own sequenceId appended (not kept here)
    out["cause"] = _cause_id(cause)


def _replay(out: dict[str, Any], hub: str, conn: str, user: str | None, protocol: str | None, count: int) -> None:
    _who(out, hub, conn, user, protocol)
    out["dir"] = "out"
    out["count"] = count


def _recovery(
    out: dict[str, Any],
    hub: str,
    connection_id: str,
    user: str | None,
    protocol: str | None,
    found: bool,
    refused: str | None,
) -> None:
    if found:  # a session with that id was waiting
        _who(out, hub, connection_id, user, protocol)
    else:
        out.update(hub=hub, conn=connection_id)
    out["ok"] = refused is None
    if refused is not None:
        out["reason"] = refused


def _detach(out: dict[str, Any], hub: str, conn: str, user: str | None, protocol: str | None, why: str) -> None:
    _who(out, hub, conn, user, protocol)
    out["reason"] = why


def _close(
    out: dict[str, Any],
    hub: str,
    conn: str,
    user: str | None,
    protocol: str | None,
    code: int | None,
    why: str,
    by: str,
) -> None:
    _who(out, hub, conn, user, protocol)
    out.update(code=code, reason=why, by=by)


def _end(
    out: dict[str, Any],
    hub: str,
    conn: str,
    user: str | None,
    protocol: str | None,
    reason: str,
    code: int | None,
    cause: Any,
) -> None:
    _who(out, hub, conn, user, protocol)
    out.update(reason=reason, code=code, cause=_cause_id(cause))


def _rest(out: dict[str, Any], method: str, path: str, hub: str, status: int, latency: float, body: str) -> None:
    out.update(hub=hub, method=method, path=path, status=status, ms=round(latency * 1000, 3), body=body)


def _upstream(
    out: dict[str, Any], hub: str, event: str, url: str, status: int | None, latency: float, detail: str, conn: Any
) -> None:
    out.update(hub=hub, conn=conn, event=event, url=url, status=status, ms=round(latency * 1000, 3), detail=detail)


# Frames in both directions share the kind "frame" (``dir`` tells them apart); a fan-out is a "delivery".
_KINDS = {"in": "frame", "out": "frame", "deliver": "delivery"}
_FORMATTERS: dict[str, Any] = {
    "connect": _connect, "refused": _refused, "in": _in, "out": _out, "deliver": _deliver,
    "replay": _replay, "recovery": _recovery, "detach": _detach, "close": _close, "end": _end,
    "rest": _rest, "upstream": _upstream,
}  # fmt: skip
