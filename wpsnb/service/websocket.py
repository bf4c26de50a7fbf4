"""The client endpoint: ``/client/hubs/{hub}`` and ``/client?hub=``.

The handler answers the upgrade: it checks the access token (or the reconnection token of a reliable
session being recovered), picks the subprotocol, lets aiohttp write the 101, then takes the TCP
connection over from aiohttp and registers a :class:`~.hub.Session` whose socket is a
:class:`~.client_connection.ClientConnection`. The handler then returns: what is left of the
connection reads and dispatches frames on its own (see :mod:`.client_connection`).

Example (what an official client does)::

    GET /client/hubs/stream?access_token=eyJ... HTTP/1.1
    Upgrade: websocket
    Sec-WebSocket-Protocol: json.reliable.webpubsub.azure.v1
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import NamedTuple

from aiohttp import web

from ..protocol.cloud_events import UpstreamError
from ..protocol.json_codec import encode_service_message
from ..protocol.limits import CloseCode
from ..protocol.messages import JSON_PROTOCOLS, Connected
from ..protocol.names import group_name_problem, hub_name_problem
from ..protocol.service_session import SessionState
from ..protocol.tokens import (
    TokenError,
    client_audiences,
    mint_reconnection_token,
    validate_client_token,
    validate_reconnection_token,
)
from .aiohttp_internals import detached, pending_upgrade_bytes, take_over
from .client_connection import ClientConnection
from .hub import Hub, Service, Session

log = logging.getLogger("wpsnb.service")

RECOVERY_FAILED = "The connection could not be recovered."
TAKEN_OVER = "Another connection recovered this session."
WEBSOCKET_VERSION = "13"  # RFC 6455 §4.4: the only version we speak; aiohttp also accepts 7 and 8
SERVICE_KEY: web.AppKey[Service] = web.AppKey("wpsnb.service", Service)
_PREDEFINED = {
    p.lower(): p for p in (*JSON_PROTOCOLS, "protobuf.webpubsub.azure.v1", "protobuf.reliable.webpubsub.azure.v1")
}


def choose_subprotocol(offered_header: str | None) -> str | None:
    """The predefined subprotocol to echo (exact offered spelling), or ``None`` for a simple client.

    >>> choose_subprotocol("custom, json.reliable.webpubsub.azure.v1")
    'json.reliable.webpubsub.azure.v1'
    >>> choose_subprotocol("custom") is None
    True
    """
    if not offered_header:
        return None
    for offered in (p.strip() for p in offered_header.split(",")):
        if offered.lower() in _PREDEFINED:
            return offered
    return None


class Opened(NamedTuple):
    """A WebSocket that got through the handshake: its connection (taken over from aiohttp) and session."""

    connection: ClientConnection
    session: Session
    raw_mode: tuple[str, bool] | None  # a simple client's webpubsub_mode=sendToGroup (group, noEcho)
    tail: bytes  # frames that came with the upgrade request


async def client_endpoint(request: web.Request) -> web.StreamResponse:
    """Answer one client's upgrade: open (or recover) its session on a connection taken over from
    aiohttp, which then reads frames on its own; or the response that refused it.

    The handshake's locals (the token, its claims, the upstream's answer, the request itself) are
    freed when this returns: an idle connection keeps none of them.
    """
    opened = await _open(request)
    if not isinstance(opened, Opened):
        return opened
    connection, session, raw_mode, tail = opened
    connection.start(session, raw_mode, tail)
    return detached()


async def _open(request: web.Request) -> Opened | web.StreamResponse:
    """The handshake: a new session, a recovered one, or the response that refused it."""
    service = request.app[SERVICE_KEY]
    refused = _handshake_problem(request)
    if refused is not None:
        return refused
    hub_name = request.match_info.get("hub") or request.query.get("hub", "")
    problem = hub_name_problem(hub_name)
    if problem:
        return _reject(request, 400, f"{problem}. Connect to /client/hubs/<hub> or /client?hub=<hub>.")
    protocol = choose_subprotocol(request.headers.get("Sec-WebSocket-Protocol"))
    if protocol is not None and protocol.lower().startswith("protobuf"):
        return _reject(
            request,
            400,
            f"subprotocol {protocol!r} is not supported by the local service; "
            "use json.webpubsub.azure.v1 or json.reliable.webpubsub.azure.v1",
        )
    hub = service.hub(hub_name)
    if "awps_connection_id" in request.query:
        return await _recover(request, hub, request.headers.get("Sec-WebSocket-Protocol"))

    token = request.query.get("access_token") or _bearer(request)
    try:
        claims = validate_client_token(
            token, service.access_key, hub=hub_name, audiences=client_audiences(request.scheme, request.host, hub_name)
        )
    except TokenError as exc:
        return _reject(request, 401, str(exc))
    for group in claims.groups:
        if group_name_problem(group):
            return _reject(
                request, 400, f"the token's webpubsub.group claim has an invalid group: {group_name_problem(group)}"
            )
    raw_mode = _raw_mode(request) if protocol is None else None
    if isinstance(raw_mode, web.Response):
        return raw_mode
    admission = None
    if service.upstream is not None:  # the connect event may change identity, roles, groups, subprotocol
        try:
            admission = await service.upstream.admit(hub.name, request, claims, protocol)
        except UpstreamError as exc:
            return _reject(request, exc.status, str(exc))
    user_id, roles, groups, echo = claims.user_id, claims.roles, claims.groups, protocol
    if admission is not None:
        user_id, roles, groups, protocol, echo = (
            admission.user_id,
            admission.roles,
            admission.groups,
            admission.protocol,
            admission.echo,
        )

    ws, tail = await _upgrade(request, echo)
    connection = _take_over(request, service)
    if connection is None:
        return ws
    session = Session(
        hub,
        user_id=user_id,
        protocol=protocol,
        roles=roles,
        peer=request.remote or "",
        connection_id=admission.connection_id if admission is not None else None,
    )
    session.socket = connection
    hub.add(session)
    if service.trace is not None:
        service.trace.connected(session, groups)
    if protocol is not None:
        token_for_recovery = (
            mint_reconnection_token(service.access_key, session.connection_id) if session.reliable else None
        )
        session.send_frame(
            encode_service_message(Connected(session.connection_id, session.user_id, token_for_recovery))
        )
    if admission is not None and service.upstream is not None:
        service.upstream.opened(session, admission)  # before the joins: their presence events follow connected
    for group in groups:
        hub.join(session, group)
    log.info("connected %s groups=%s from %s", session.describe(), sorted(session.groups) or "[]", session.peer)
    return Opened(connection, session, raw_mode, tail)


async def _recover(request: web.Request, hub: Hub, offered: str | None) -> Opened | web.StreamResponse:
    """A reliable client comes back: attach it to its session, or refuse with 1008 after the upgrade.

    The session continues on its own reliable subprotocol, which the client must offer again: its
    frames carry sequenceIds, which a plain-protocol socket must never see.
    """
    connection_id = request.query.get("awps_connection_id", "")
    token = request.query.get("awps_reconnection_token", "")
    session = hub.sessions.get(connection_id)
    protocol = choose_subprotocol(offered)
    why = None
    if session is None:
        why = "no session with that connection id is waiting (it expired or was closed)"
    elif not session.reliable:
        why = "the session does not use a reliable subprotocol"
    elif (chosen := _offered_spelling(offered, session.protocol)) is None:
        why = f"the recovering socket does not offer the session's subprotocol {session.protocol}"
    else:
        protocol = chosen
        try:
            validate_reconnection_token(token, hub.service.access_key, connection_id)
        except TokenError as exc:
            why = f"bad reconnection token: {exc}"
    ws, tail = await _upgrade(request, protocol)
    if session is not None and session.state is SessionState.CLOSED:  # expired during the upgrade
        why = "the session expired while the upgrade was in progress"
    if hub.service.trace is not None:
        hub.service.trace.recovery(hub, connection_id, session, why)
    if why is not None or session is None:
        log.info("recovery refused hub=%s connection=%s: %s", hub.name, connection_id, why)
        await ws.close(code=CloseCode.POLICY_VIOLATION, message=RECOVERY_FAILED.encode())
        return ws
    connection = _take_over(request, hub.service)
    if connection is None:
        return ws
    previous = session.socket
    if previous is not None:  # the old socket has not noticed its drop yet
        previous.close(CloseCode.POLICY_VIOLATION, TAKEN_OVER)  # 1008: official clients do not try to recover again
    # The spec lets a recovery announce the connection again (client-spec 1.2.4), and the JS client 1.1.0
    # resumes its outbound group streams only when it hears `connected`; both SDKs only take the new token.
    token_for_recovery = mint_reconnection_token(hub.service.access_key, session.connection_id)
    connection.writer.send_text(
        encode_service_message(Connected(session.connection_id, session.user_id, token_for_recovery)).encode("utf-8")
    )
    hub.attach(session, connection)
    return Opened(connection, session, None, tail)


async def _upgrade(request: web.Request, protocol: str | None) -> tuple[web.WebSocketResponse, bytes]:
    """Let aiohttp check the handshake and answer 101; also the bytes that came with the request."""
    ws = web.WebSocketResponse(protocols=(protocol,) if protocol else (), compress=False, autoping=False)
    tail = pending_upgrade_bytes(request)
    await ws.prepare(request)
    return ws, tail


def _take_over(request: web.Request, service: Service) -> ClientConnection | None:
    """Move the upgraded TCP connection from aiohttp to a :class:`ClientConnection` (``None``: it is gone)."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return None
    connection = ClientConnection(transport, service)  # type: ignore[arg-type]
    take_over(request, connection)
    return connection


def _offered_spelling(offered: str | None, protocol: str | None) -> str | None:
    """``protocol`` as the client spelled it in its offer, or ``None`` if it is not offered."""
    for candidate in (p.strip() for p in (offered or "").split(",")):
        if protocol is not None and candidate.lower() == protocol.lower():
            return candidate
    return None


def _handshake_problem(request: web.Request) -> web.Response | None:
    """Refuse upgrades RFC 6455 does not allow: HTTP/1.0 (§4.1) and other WebSocket versions (§4.4)."""
    if request.version < (1, 1):
        return _reject(request, 400, "WebSocket upgrades need HTTP/1.1 (RFC 6455 §4.1); this request is HTTP/1.0")
    version = request.headers.get("Sec-WebSocket-Version", "")
    if request.headers.get("Upgrade", "").lower() == "websocket" and version != WEBSOCKET_VERSION:
        response = _reject(request, 426, f"Sec-WebSocket-Version {version!r} is not supported; use 13 (RFC 6455)")
        response.headers["Sec-WebSocket-Version"] = WEBSOCKET_VERSION
        return response
    return None


def _raw_mode(request: web.Request) -> tuple[str, bool] | web.Response | None:
    mode = request.query.get("webpubsub_mode", "")
    if mode in ("", "sendEvent"):
        return None
    if mode != "sendToGroup":
        return _reject(request, 400, f"webpubsub_mode {mode!r} is invalid; use 'sendEvent' or 'sendToGroup'")
    group = request.query.get("group", "")
    problem = group_name_problem(group)
    if problem:
        return _reject(request, 400, f"webpubsub_mode=sendToGroup needs a valid 'group' query parameter: {problem}")
    no_echo = request.query.get("noEcho", "false").lower()
    if no_echo not in ("true", "false"):
        return _reject(request, 400, f"noEcho must be 'true' or 'false', got {no_echo!r}")
    return group, no_echo == "true"


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def _reject(request: web.Request, status: int, reason: str) -> web.Response:
    log.info("rejected %s %s from %s: %d %s", request.method, request.path, request.remote, status, reason)
    trace = request.app[SERVICE_KEY].trace
    if trace is not None:  # the path without its query: that holds the access token
        hub = request.match_info.get("hub") or request.query.get("hub", "")
        trace.refused(hub, request.path, status, reason, request.remote or "")
    try:
        label = HTTPStatus(status).phrase
    except ValueError:
        label = "Error"
    return web.Response(status=status, text=f"{status} {label}: {reason}\n")
