"""The client endpoint: ``/client/hubs/{hub}`` and ``/client?hub=``.

One handler per WebSocket: it checks the access token (or the reconnection token of a reliable
session being recovered), picks the subprotocol, registers a :class:`~.hub.Session`, then reads
frames and hands each parsed message to :func:`.dispatch.dispatch`. Everything it sends goes
through the connection's :class:`~.writer.FrameWriter`.

Example (what an official client does)::

    GET /client/hubs/stream?access_token=eyJ... HTTP/1.1
    Upgrade: websocket
    Sec-WebSocket-Protocol: json.reliable.webpubsub.azure.v1
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import NamedTuple

from aiohttp import WebSocketError, WSMsgType, web

from ..protocol.cloud_events import UpstreamError
from ..protocol.envelope import Envelope
from ..protocol.frame_fields import InvalidMessage
from ..protocol.json_codec import encode_service_message, parse_client_message
from ..protocol.limits import FINAL_CLIENT_CLOSES, MAX_CLOSE_REASON_BYTES, MAX_FRAME_BYTES, CloseCode
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
from .aiohttp_internals import guard_client_frames, pending_upgrade_bytes
from .dispatch import dispatch
from .hub import Hub, Service, Session
from .outbound_budget import OVER_BUDGET, OutboundBudget
from .writer import DEFAULT_LIMIT, FrameWriter

log = logging.getLogger("wpsnb.service")

RECOVERY_FAILED = "The connection could not be recovered."
TAKEN_OVER = "Another connection recovered this session."
WEBSOCKET_VERSION = "13"  # RFC 6455 §4.4: the only version we speak; aiohttp also accepts 7 and 8
SERVICE_KEY: web.AppKey[Service] = web.AppKey("wpsnb.service", Service)
# aiohttp refuses a message of exactly max_msg_size bytes; the limit is "more than 1 MiB".
_READ_LIMIT = MAX_FRAME_BYTES + 1
_PREDEFINED = {
    p.lower(): p for p in (*JSON_PROTOCOLS, "protobuf.webpubsub.azure.v1", "protobuf.reliable.webpubsub.azure.v1")
}


class ClientSocket:
    """The live WebSocket of a session, as :class:`~.hub.Socket` describes it."""

    __slots__ = ("ws", "writer", "closing", "_transport", "_tasks")

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        limit: int = DEFAULT_LIMIT,
        budget: OutboundBudget | None = None,
    ):
        self.ws = ws
        self._transport = transport
        self.writer = FrameWriter(transport, limit=limit, on_overflow=self._overflowed, budget=budget)
        self.closing = False
        self._tasks: set[asyncio.Task[None]] | None = None  # the closing handshake, once this side starts it

    def close(self, code: int, reason: str) -> None:
        """Flush queued frames, then start the closing handshake."""
        if self.closing:
            return
        self.closing = True
        self.writer.stop()
        task = asyncio.get_running_loop().create_task(self.ws.close(code=code, message=close_reason(reason)))
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self) -> None:
        """Wait for a close this side started, so the handler does not end before the close frame."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _overflowed(self, reason: str) -> None:
        # The client is not reading, so a close frame would never be read either: drop the TCP
        # connection (a reliable client recovers and gets its unacknowledged messages again).
        level = logging.INFO if reason == OVER_BUDGET else logging.WARNING
        log.log(level, "dropping the connection from %s: %s", self._transport.get_extra_info("peername"), reason)
        self.abort()

    def abort(self) -> None:
        """Drop the TCP connection at once, without a close frame."""
        self.closing = True
        self.writer.discard()
        self._transport.abort()


def close_reason(reason: str) -> bytes:
    """A close frame's reason: at most MAX_CLOSE_REASON_BYTES (123) of UTF-8, never cut inside a character.

    >>> close_reason("é" * 100)[-2:].decode()
    'é'
    """
    return reason.encode("utf-8")[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore").encode("utf-8")


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
    """A WebSocket that got through the handshake, and its session."""

    ws: web.WebSocketResponse
    socket: ClientSocket
    session: Session
    raw_mode: tuple[str, bool] | None  # a simple client's webpubsub_mode=sendToGroup (group, noEcho)


async def client_endpoint(request: web.Request) -> web.StreamResponse:
    """Handle one client WebSocket from handshake to close: open (or recover) its session, then read
    frames until the socket ends, then end or detach the session.

    The handshake runs in a coroutine of its own, so what only it needs (the token, its claims, the
    upstream's answer) is freed before the connection settles down to wait for frames; this loop is
    the one frame an idle connection keeps.
    """
    opened = await _open(request)
    if not isinstance(opened, Opened):
        return opened
    ws, socket, session, raw_mode = opened
    del opened
    hub = session.hub
    trace = hub.service.trace
    final = False  # True: the session ends with this socket, no recovery
    why, by = "connection lost", "network"  # by: who ended the socket (for the trace)
    try:
        while True:
            msg = await ws.receive()
            kind = msg.type
            if trace is not None and (kind is WSMsgType.TEXT or kind is WSMsgType.BINARY):
                trace.frame_in(session, msg.data)
            if kind is WSMsgType.TEXT:
                if session.raw:
                    await _raw_frame(session, socket, raw_mode, msg.data, False)
                    continue
                try:
                    pending = dispatch(session, parse_client_message(msg.data))
                    if pending is not None:  # a user event: the next frame waits for the handler's answer
                        await pending
                except InvalidMessage as exc:
                    _close_invalid(session, socket, exc.close_code, str(exc))
                    why, final, by = f"invalid frame: {exc}", True, "service"
                    break
            elif kind is WSMsgType.BINARY:
                if session.raw:
                    await _raw_frame(session, socket, raw_mode, msg.data, True)
                    continue
                reason = (
                    f"binary frame on {session.protocol}: the JSON subprotocols take text frames only "
                    "(one JSON object per frame)"
                )
                _close_invalid(session, socket, CloseCode.UNSUPPORTED_DATA, reason)
                why, final, by = reason, True, "service"
                break
            elif kind is WSMsgType.CLOSE:
                final = msg.data in FINAL_CLIENT_CLOSES
                why = f"client closed with {msg.data}" + (f" ({msg.extra})" if msg.extra else "")
                by = "client"
                break
            elif kind is WSMsgType.ERROR:
                # A protocol violation (e.g. a frame over 1 MB: aiohttp closed with 1009) ends the
                # session; a transport error is a drop like any other.
                why, final = f"protocol error: {msg.data}", isinstance(msg.data, WebSocketError)
                by = "service" if final else "network"
                log.info("closing %s: %s (close code %s)", session.describe(), msg.data, ws.close_code)
                break
            else:  # CLOSING / CLOSED: the TCP connection ended
                if socket.closing:
                    why, by = "the service closed the connection", "service"
                break
    finally:
        if trace is not None:
            trace.socket_closed(session, ws.close_code, why, by)
        socket.closing = True
        socket.writer.discard()
        if session.socket is socket and session.state is SessionState.CONNECTED:
            if final:
                hub.end_session(session, why, code=None)
            else:
                hub.detach(session, why)
    await socket.finish()
    return ws


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

    ws = await _upgrade(request, echo, service)
    if ws.closed:
        return ws
    socket = ClientSocket(ws, request.transport, service.send_buffer_limit, service.outbound)  # type: ignore[arg-type]
    session = Session(
        hub,
        user_id=user_id,
        protocol=protocol,
        roles=roles,
        peer=request.remote or "",
        connection_id=admission.connection_id if admission is not None else None,
    )
    session.socket = socket
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
    return Opened(ws, socket, session, raw_mode)


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
    ws = await _upgrade(request, protocol, hub.service)
    if ws.closed:
        return ws
    if session is not None and session.state is SessionState.CLOSED:  # expired during the upgrade
        why = "the session expired while the upgrade was in progress"
    if hub.service.trace is not None:
        hub.service.trace.recovery(hub, connection_id, session, why)
    if why is not None or session is None:
        log.info("recovery refused hub=%s connection=%s: %s", hub.name, connection_id, why)
        await ws.close(code=CloseCode.POLICY_VIOLATION, message=RECOVERY_FAILED.encode())
        return ws
    previous = session.socket
    if previous is not None:  # the old socket has not noticed its drop yet
        previous.close(CloseCode.POLICY_VIOLATION, TAKEN_OVER)  # 1008: official clients do not try to recover again
    socket = ClientSocket(ws, request.transport, hub.service.send_buffer_limit, hub.service.outbound)  # type: ignore[arg-type]
    # The spec lets a recovery announce the connection again (client-spec 1.2.4), and the JS client 1.1.0
    # resumes its outbound group streams only when it hears `connected`; both SDKs only take the new token.
    token_for_recovery = mint_reconnection_token(hub.service.access_key, session.connection_id)
    socket.writer.send_text(
        encode_service_message(Connected(session.connection_id, session.user_id, token_for_recovery)).encode("utf-8")
    )
    hub.attach(session, socket)
    return Opened(ws, socket, session, None)


def _close_invalid(session: Session, socket: ClientSocket, code: int, reason: str) -> None:
    log.info("closing %s with %d: %s", session.describe(), code, reason)
    socket.close(code, reason)


async def _upgrade(request: web.Request, protocol: str | None, service: Service) -> web.WebSocketResponse:
    """Answer 101 and put the masking check in front of aiohttp's frame parser (closed at once with
    1002 if the bytes that came with the upgrade request already break RFC 6455)."""
    ws = _websocket_response(protocol, service)
    tail = pending_upgrade_bytes(request)
    await ws.prepare(request)
    early = guard_client_frames(request, ws, tail)
    if isinstance(early, str):
        log.info("closing a connection from %s with 1002 right after the upgrade: %s", request.remote, early)
        await ws.close(code=CloseCode.PROTOCOL_ERROR, message=close_reason(early))
    return ws


def _websocket_response(protocol: str | None, service: Service) -> web.WebSocketResponse:
    # heartbeat: aiohttp pings a connection silent for that long and drops it (1006, no close frame:
    # the peer is gone) when the pong does not come within half of it; a reliable session then waits.
    return web.WebSocketResponse(
        protocols=(protocol,) if protocol else (),
        max_msg_size=_READ_LIMIT,
        compress=False,
        autoping=True,
        heartbeat=service.keepalive_interval,
    )


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


async def _raw_frame(
    session: Session, socket: ClientSocket, raw_mode: tuple[str, bool] | None, data: str | bytes, binary: bool
) -> None:
    """A frame from a simple client: publish it (sendToGroup mode) or treat it as a user event."""
    if raw_mode is not None:
        group, no_echo = raw_mode
        if not session.permissions.can_send_to(group):
            socket.close(CloseCode.POLICY_VIOLATION, session.permissions.forbidden_reason("send", group)[:120])
            return
        if binary:
            envelope = Envelope.build("group", "binary", data, group=group, from_user_id=session.user_id)
        else:
            envelope = Envelope.build("group", "text", data, group=group, from_user_id=session.user_id)
        session.hub.send_to_group(group, envelope, skip=session if no_echo else None)
        return
    # Default mode: the frame is the user event 'message'; with no upstream handler it fails (Emu: 1011).
    upstream = session.hub.service.upstream
    if upstream is not None and upstream.handles(session.hub.name, "message"):
        try:
            reply = await upstream.user_event(session, "message", "binary" if binary else "text", data)
        except UpstreamError as exc:
            log.info("closing %s with 1011: user event 'message' failed: %s", session.describe(), exc)
            socket.close(CloseCode.INTERNAL_ERROR, "The event handler failed to handle the message.")
            return
        if reply is not None:
            session.deliver(Envelope.build("server", reply.data_type, reply.data))
        return
    log.info("closing %s with 1011: user event 'message' has no event handler", session.describe())
    socket.close(
        CloseCode.INTERNAL_ERROR,
        "No event handler for user event 'message'; connect with ?webpubsub_mode=sendToGroup&group=<g> to publish.",
    )


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
