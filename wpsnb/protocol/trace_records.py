"""Trace records in the protocol's words: what each field of a traced frame means and where it came
from, one readable line per record, and the filters a trace viewer offers.

A trace record is the dict the local service's trace streams (``docs/trace.md``): ``kind`` (``connect``,
``frame``, ``delivery``, ``rest``, ``close``…), who (``hub``, ``conn``, ``user``), and for frames ``dir``
(``in``: client → service, ``out``: service → client) and ``frame``, the frame's text. Pure: no I/O.

Example::

    >>> record = {"kind": "frame", "dir": "in", "frame": '{"type":"joinGroup","group":"lab","ackId":1}'}
    >>> [(row["field"], row["value"]) for row in explain(record)]
    [('type', 'joinGroup'), ('group', 'lab'), ('ackId', 1)]
"""

from __future__ import annotations

import json
import time
from typing import Any

Record = dict[str, Any]

# (message type or "*", field) -> meaning. "in" is what a client sends, "out" what the service sends.
_IN: dict[tuple[str, str], str] = {
    ("*", "type"): "What the client asks for: joinGroup, leaveGroup, sendToGroup, event, sequenceAck or ping.",
    ("*", "group"): "The group the client names. The service checks it against the connection's roles "
    "(webpubsub.joinLeaveGroup[.<group>] / webpubsub.sendToGroup[.<group>]), which come from the "
    "role claim of the access token the server minted.",
    ("*", "ackId"): "Chosen by the client, unique on this connection: asks the service to answer with an "
    "ack frame carrying the same ackId (success, or an error such as Forbidden or Duplicate). Without "
    "an ackId the request is fire-and-forget and a failure is never reported.",
    ("sendToGroup", "noEcho"): "true: the service does not deliver the message back to this connection, "
    "even though it is a member of the group.",
    ("*", "dataType"): "How data is encoded: json (any JSON value), text (a string), binary or protobuf "
    "(base64 of the bytes). Recipients get the same dataType.",
    ("sendToGroup", "data"): "The payload. The service passes it on unchanged to every member of the group.",
    ("event", "data"): "The payload of the user event, for the hub's upstream event handler.",
    ("event", "event"): "The name of a user event. The service forwards it to the upstream event handler "
    "configured for the hub (Azure: the hub's event handler settings).",
    ("sequenceAck", "sequenceId"): "Reliable subprotocol: the highest sequenceId this client received "
    "without a gap. Cumulative: the service forgets every message up to it and will not replay them "
    "after a reconnect.",
    ("ping", "type"): "A keep-alive from the client; the service answers pong.",
}

_OUT: dict[tuple[str, str], str] = {
    ("*", "type"): "What the service sends: message (data from a group or the server), ack (the answer "
    "to a request with an ackId), system (connected / disconnected) or pong.",
    ("message", "from"): "group: a client (or a REST call) sent it to a group; server: the application "
    "server sent it through the REST API (to everyone, a user or a connection).",
    ("message", "group"): "The group the message was sent to; the recipient is a member of it.",
    ("message", "fromUserId"): "The userId of the connection that sent it, taken by the service from the "
    "sub claim of the sender's access token. A client cannot set it; it is absent for anonymous senders "
    "and for REST sends.",
    ("message", "dataType"): "How data is encoded, as the sender chose: json, text, binary or protobuf (base64).",
    ("message", "data"): "The payload exactly as the sender gave it.",
    ("message", "sequenceId"): "Reliable subprotocol: numbered by the service per connection (1, 2, 3…) "
    "so the client can acknowledge with sequenceAck and, after a drop, get back exactly what it missed.",
    ("ack", "ackId"): "The ackId of the request this answers, as the client chose it.",
    ("ack", "success"): "Whether the request was carried out.",
    ("ack", "error"): "Why not: Forbidden (the connection's roles do not allow it), Duplicate (a request "
    "with this ackId already succeeded on this connection; it was not repeated), InternalServerError "
    "(e.g. no upstream event handler), with a message saying more.",
    ("system", "event"): "connected: the handshake succeeded; disconnected: the service is closing the "
    "connection (the message says why).",
    ("system", "connectionId"): "Assigned by the service at the handshake. The server's REST calls "
    "(send to / close / add to group) address this connection with it.",
    ("system", "userId"): "The sub claim of the access token the application server minted for this "
    "client; null for an anonymous connection.",
    ("system", "reconnectionToken"): "Reliable subprotocol only: together with connectionId it lets the "
    "client recover this session after a drop (awps_connection_id / awps_reconnection_token query).",
    ("system", "message"): "Why the service closed the connection.",
    ("pong", "type"): "The answer to the client's ping.",
}

_RECORD: dict[str, str] = {
    "hub": "The hub of the connection (from the client URL /client/hubs/<hub>, or the REST path).",
    "conn": "The connectionId the service assigned at the handshake.",
    "user": "The connection's userId (the sub claim of its access token).",
    "protocol": "The subprotocol the client chose in Sec-WebSocket-Protocol (json.webpubsub.azure.v1, "
    "json.reliable.webpubsub.azure.v1) or none (a simple WebSocket client).",
    "cause": "The id of the trace record whose handling produced this one (the request an ack answers, "
    "the sendToGroup or REST call a delivery carries out).",
    "recipients": "How many connections received this message (all of them share its bytes).",
    "to": "How the recipients were chosen: a group, a user, one connection, or the whole hub.",
}

KINDS = ("connect", "refused", "frame", "delivery", "replay", "recovery", "detach", "close", "end", "rest", "upstream")
FILTERS = ("hub", "conn", "user", "group", "kind", "dir", "text")


def frame_message(record: Record) -> dict[str, Any] | None:
    """The record's frame decoded as a JSON object, or ``None`` (binary, malformed, not a frame).

    >>> frame_message({"frame": '{"type":"pong"}'})
    {'type': 'pong'}
    """
    text = record.get("frame")
    if not isinstance(text, str) or record.get("binary"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def explain(record: Record) -> list[dict[str, Any]]:
    """Each field of the record's frame with its meaning: ``[{"field", "value", "meaning"}]``.

    >>> rows = explain({"kind": "delivery", "dir": "out",
    ...                 "frame": '{"type":"message","from":"group","group":"g","fromUserId":"ann","data":1}'})
    >>> [row["field"] for row in rows]
    ['type', 'from', 'group', 'fromUserId', 'data']
    >>> "sub claim" in rows[3]["meaning"]
    True
    """
    message = frame_message(record)
    if message is None:
        return []
    table = _IN if record.get("dir") == "in" else _OUT
    kind = str(message.get("type", ""))
    rows = []
    for field, value in message.items():
        meaning = table.get((kind, field)) or table.get(("*", field)) or ""
        rows.append({"field": field, "value": value, "meaning": meaning})
    return rows


def explain_record(record: Record) -> list[dict[str, Any]]:
    """The record's own fields (hub, conn, user, cause…) with their meaning, for the fields it has.

    >>> [row["field"] for row in explain_record({"hub": "h", "conn": "c", "t": 1})]
    ['hub', 'conn']
    """
    return [{"field": f, "value": record[f], "meaning": m} for f, m in _RECORD.items() if record.get(f) is not None]


def matches(record: Record, filters: dict[str, str]) -> bool:
    """Whether a record passes every non-empty filter (``hub``, ``conn``, ``user``, ``group``, ``kind``,
    ``dir``, ``text``). ``conn`` and ``user`` also match a delivery's recipients; ``text`` searches
    the frame, the body, the path and the reason, case-insensitively.

    >>> matches({"kind": "delivery", "conns": ["c1", "c2"], "group": "g"}, {"conn": "c2", "group": "g"})
    True
    >>> matches({"kind": "rest", "body": "hello"}, {"text": "HELL", "kind": "frame"})
    False
    """
    for name, wanted in filters.items():
        if not wanted:
            continue
        if name == "text":
            haystack = " ".join(str(record.get(f, "")) for f in ("frame", "body", "path", "reason", "type"))
            if wanted.lower() not in haystack.lower():
                return False
        elif name == "conn":
            if record.get("conn") != wanted and wanted not in record.get("conns", ()):
                return False
        elif name == "user":
            if record.get("user") != wanted and wanted not in record.get("users", ()):
                return False
        elif name == "hub":
            if str(record.get("hub", "")).lower() != wanted.lower():
                return False
        elif str(record.get(name, "")) != wanted:
            return False
    return True


def trace_line(record: Record, *, preview: int = 80) -> str:
    """One terminal line for a record: time, who, what, where, and a preview of the payload or body.

    >>> line = trace_line({"t": 0, "kind": "frame", "dir": "in", "hub": "stream", "conn": "c1", "user": "ann",
    ...                    "type": "sendToGroup", "group": "lab", "ackId": 3, "frame": '{"data":"hi"}'})
    >>> line[line.index(" ") + 1:]
    'stream c1 ann → sendToGroup group=lab ackId=3 {"data":"hi"}'
    """
    clock = time.strftime("%H:%M:%S", time.gmtime(record.get("t", 0))) + f".{int(record.get('t', 0) * 1000) % 1000:03d}"
    kind = record.get("kind")
    who = " ".join(str(p) for p in (record.get("hub") or "-", record.get("conn") or "-", record.get("user") or "-"))
    if kind == "frame":
        arrow = "→" if record.get("dir") == "in" else "←"
        detail = [arrow, str(record.get("type", "?"))]
        detail += [f"{f}={record[f]}" for f in ("group", "ackId", "sequenceId", "event") if record.get(f) is not None]
        detail.append(_preview(record.get("frame", ""), preview))
    elif kind == "delivery":
        who = str(record.get("hub") or "-")
        target = record.get("group") or record.get("toUser") or record.get("toConnection") or "hub"
        detail = [f"⇉ message to {record.get('to')} {target}: {record.get('recipients', 0)} recipient(s)"]
        if record.get("cause") is not None:
            detail.append(f"(from #{record['cause']})")
        detail.append(_preview(record.get("frame", ""), preview))
    elif kind == "rest":
        who = str(record.get("hub") or "-")
        detail = [f"REST {record.get('method')} {record.get('path')} → {record.get('status')} {record.get('ms')} ms"]
        detail.append(_preview(record.get("body", ""), preview))
    elif kind == "connect":
        detail = [f"connected ({record.get('protocol') or 'no subprotocol'}) from {record.get('peer')}"]
    elif kind == "close":
        detail = [f"socket closed by {record.get('by')} code={record.get('code')}: {record.get('reason')}"]
    elif kind == "end":
        detail = [f"session ended: {record.get('reason')}"]
    elif kind == "recovery":
        detail = ["recovered" if record.get("ok") else f"recovery refused: {record.get('reason')}"]
    elif kind == "detach":
        detail = [f"dropped, waiting for recovery: {record.get('reason')}"]
    elif kind == "replay":
        detail = [f"replayed {record.get('count')} unacknowledged message(s)"]
    elif kind == "refused":
        detail = [f"handshake refused {record.get('status')} {record.get('path')}: {record.get('reason')}"]
    elif kind == "upstream":
        detail = [f"upstream {record.get('event')} {record.get('url')} → {record.get('status')} {record.get('ms')} ms"]
    else:
        detail = [json.dumps({k: v for k, v in record.items() if k not in ("t", "kind")})]
    return f"{clock} {who} " + " ".join(p for p in detail if p)


def _preview(text: Any, limit: int) -> str:
    text = str(text).replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"
