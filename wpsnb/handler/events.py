"""Typed CloudEvents requests an event handler receives, and the answers it gives. Pure, no I/O.

A request is read from HTTP headers and a body (any framework's); an answer is a
:class:`HandlerResponse` (status, headers, body) that any framework can send.

Example::

    >>> headers = {"ce-type": "azure.webpubsub.user.chat", "ce-hub": "chat", "ce-connectionId": "c1",
    ...            "ce-eventName": "chat", "Content-Type": "text/plain"}
    >>> request = parse_request(headers, b"hello")
    >>> type(request).__name__, request.data, request.context.connection_id
    ('UserEventRequest', 'hello', 'c1')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..protocol.cloud_events import CONTENT_TYPES, GROUP_PREFIX, SYS_PREFIX, USER_PREFIX, decode_state, encode_state


class EventHandlerError(Exception):
    """Raise it from a callback to refuse: ``status`` goes back to the service (401 refuses a connect).

    >>> EventHandlerError(401, "unknown user").status
    401
    """

    def __init__(self, status: int, detail: str = ""):
        super().__init__(detail or f"refused with {status}")
        self.status = status
        self.detail = detail


@dataclass
class ConnectionContext:
    """What every event says about its connection; ``states`` is the connection state (a dict you may change
    in a blocking event's callback: the change goes back to the service in ``ce-connectionState``)."""

    hub: str
    connection_id: str
    event_name: str
    user_id: str | None = None
    subprotocol: str | None = None
    signature: str | None = None
    origin: str | None = None
    event_id: str | None = None
    time: str | None = None
    states: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConnectRequest:
    """``connect``: a client is doing its WebSocket handshake. Every map value is a list of strings."""

    context: ConnectionContext
    claims: dict[str, list[str]]
    query: dict[str, list[str]]
    headers: dict[str, list[str]]
    subprotocols: list[str]
    client_certificates: list[dict[str, str]]


@dataclass
class ConnectedRequest:
    """``connected``: the connection is up (a notification; the answer is ignored)."""

    context: ConnectionContext


@dataclass
class DisconnectedRequest:
    """``disconnected``: the connection is gone for good (a notification)."""

    context: ConnectionContext
    reason: str


@dataclass
class GroupJoinedRequest:
    """Group presence ``joined``: the connection joined ``group`` (a notification)."""

    context: ConnectionContext
    group: str


@dataclass
class GroupLeftRequest:
    """Group presence ``left``: the connection left ``group`` (a notification)."""

    context: ConnectionContext
    group: str


@dataclass
class UserEventRequest:
    """A user event: ``data`` is a ``str`` (``text``), a JSON value (``json``) or ``bytes`` (``binary``)."""

    context: ConnectionContext
    data: Any
    data_type: str


EventRequest = (
    ConnectRequest | ConnectedRequest | DisconnectedRequest | GroupJoinedRequest | GroupLeftRequest | UserEventRequest
)


@dataclass(frozen=True)
class HandlerResponse:
    """An HTTP answer for the service, framework-neutral."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class ConnectResponse:
    """A ``connect`` callback's answer; ``None`` fields leave the token's values.

    >>> ConnectResponse(user_id="alice", groups=["lab"]).to_json()
    {'userId': 'alice', 'groups': ['lab']}
    """

    user_id: str | None = None
    roles: list[str] | None = None
    groups: list[str] | None = None
    subprotocol: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The response body's fields (only those that are set)."""
        body: dict[str, Any] = {}
        for name, value in (
            ("userId", self.user_id),
            ("roles", self.roles),
            ("groups", self.groups),
            ("subprotocol", self.subprotocol),
        ):
            if value is not None:
                body[name] = list(value) if isinstance(value, (list, tuple)) else value
        return body


@dataclass
class UserEventResponse:
    """A user event callback's reply to the client; ``data_type`` json / text / binary.

    >>> UserEventResponse({"ok": True}).body()
    ('application/json; charset=utf-8', b'{"ok":true}')
    """

    data: Any
    data_type: str = "json"

    def body(self) -> tuple[str, bytes]:
        """Content-Type and body for this reply."""
        if self.data_type == "json":
            return "application/json; charset=utf-8", json.dumps(self.data, separators=(",", ":")).encode("utf-8")
        if self.data_type == "text":
            return "text/plain; charset=utf-8", str(self.data).encode("utf-8")
        if self.data_type == "binary":
            return CONTENT_TYPES["binary"], bytes(self.data)
        raise ValueError(f"data_type is 'json', 'text' or 'binary', got {self.data_type!r}")


class BadRequest(ValueError):
    """The HTTP request is a Web PubSub event but cannot be read (answered 400)."""


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (frameworks differ in how they store them).

    >>> header({"CE-Hub": "chat"}, "ce-hub")
    'chat'
    """
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def is_event(headers: Mapping[str, str]) -> bool:
    """Whether the request is a Web PubSub CloudEvent (``ce-type`` ``azure.webpubsub.*``).

    >>> is_event({"ce-type": "azure.webpubsub.sys.connected"}), is_event({})
    (True, False)
    """
    return (header(headers, "ce-type") or "").startswith("azure.webpubsub.")


def context_of(headers: Mapping[str, str]) -> ConnectionContext:
    """The :class:`ConnectionContext` from a request's ``ce-*`` headers."""
    return ConnectionContext(
        hub=header(headers, "ce-hub") or "",
        connection_id=header(headers, "ce-connectionId") or "",
        event_name=header(headers, "ce-eventName") or "",
        user_id=header(headers, "ce-userId") or None,
        subprotocol=header(headers, "ce-subprotocol") or None,
        signature=header(headers, "ce-signature"),
        origin=header(headers, "WebHook-Request-Origin"),
        event_id=header(headers, "ce-id"),
        time=header(headers, "ce-time"),
        states=decode_state(header(headers, "ce-connectionState")),
    )


def parse_request(headers: Mapping[str, str], body: bytes) -> EventRequest | None:
    """The typed request for a Web PubSub CloudEvent; ``None`` for a type this library does not know
    (MQTT's); :class:`BadRequest` if its body is unreadable."""
    kind = header(headers, "ce-type") or ""
    context = context_of(headers)
    if kind.startswith(USER_PREFIX):
        return _user_event(context, header(headers, "Content-Type"), body)
    if kind in (GROUP_PREFIX + "joined", GROUP_PREFIX + "left"):
        payload = _json_object(body, kind[len(GROUP_PREFIX) :])
        group = str(payload.get("group") or "")
        return GroupJoinedRequest(context, group) if kind.endswith("joined") else GroupLeftRequest(context, group)
    if not kind.startswith(SYS_PREFIX):
        return None
    name = kind[len(SYS_PREFIX) :]
    if name not in ("connect", "connected", "disconnected"):
        return None
    payload = _json_object(body, name)
    if name == "connected":
        return ConnectedRequest(context)
    if name == "disconnected":
        return DisconnectedRequest(context, str(payload.get("reason") or ""))
    return ConnectRequest(
        context,
        claims=payload.get("claims") or {},
        query=payload.get("query") or {},
        headers=payload.get("headers") or {},
        subprotocols=list(payload.get("subprotocols") or []),
        client_certificates=list(payload.get("clientCertificates") or []),
    )


def _json_object(body: bytes, name: str) -> dict[str, Any]:
    try:
        payload = json.loads(body) if body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(f"the {name} event's body is not JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest(f"the {name} event's body is not a JSON object")
    return payload


def _user_event(context: ConnectionContext, content_type: str | None, body: bytes) -> UserEventRequest:
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/json":
        try:
            return UserEventRequest(context, json.loads(body), "json")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("the user event's application/json body is not JSON") from None
    if media == "text/plain":
        try:
            return UserEventRequest(context, body.decode("utf-8"), "text")
        except UnicodeDecodeError:
            raise BadRequest("the user event's text/plain body is not UTF-8") from None
    if media in ("application/octet-stream", "application/x-protobuf"):
        return UserEventRequest(context, bytes(body), "binary")
    raise BadRequest(
        f"the user event's Content-Type {content_type!r} is not application/json, text/plain or "
        "application/octet-stream"
    )


def state_header(before: str, states: Mapping[str, Any]) -> dict[str, str]:
    """``{"ce-connectionState": ...}`` if the callback changed ``states`` (``before`` is their encoding
    when the request arrived), else ``{}``.

    >>> state_header(encode_state({}), {"n": 1})
    {'ce-connectionState': 'eyJuIjoxfQ=='}
    >>> state_header(encode_state({"n": 1}), {"n": 1})
    {}
    """
    now = encode_state(states)
    return {"ce-connectionState": now} if now != before else {}
