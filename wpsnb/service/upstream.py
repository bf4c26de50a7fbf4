"""The service's side of event handlers: it POSTs CloudEvents to the app server ("upstream").

One :class:`Upstream` per service holds the hubs' event handler settings, an HTTP client, the
abuse-protection results and, per connection, what later events need (its connection state, its
event counter, the subprotocol it negotiated). The request and response formats are in
:mod:`wpsnb.protocol.cloud_events`; this module only sends and waits.

Blocking events (``connect``, user events) are awaited by the caller; ``connected`` and
``disconnected`` are notifications sent from their own tasks, so a slow handler never holds a
connection up.

Example (what the client endpoint and dispatch do)::

    upstream = Upstream(service, parse_event_handlers({"chat": [{"url_template": "http://127.0.0.1:3000/"}]}))
    admission = await upstream.admit("chat", request, claims, protocol)   # the connect event
    reply = await upstream.user_event(session, "message", "text", "hi")   # a user event
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from ..protocol.cloud_events import (
    MAX_RESPONSE,
    ConnectResult,
    EventHandlerSetting,
    UpstreamError,
    UpstreamTimeout,
    UserEventReply,
    connect_body,
    event_headers,
    find_handler,
    origin_allowed,
    parse_connect_response,
    parse_user_event_response,
    preflight_headers,
    user_event_payload,
)
from ..protocol.messages import JSON_PROTOCOLS
from ..protocol.names import group_name_problem
from .hub import new_connection_id

if TYPE_CHECKING:
    from ..protocol.tokens import ClientClaims
    from .hub import Service, Session

log = logging.getLogger("wpsnb.service.upstream")

VALID_FOR = 60.0  # seconds a successful preflight is trusted before it is repeated
RETRY_PREFLIGHT_AFTER = 1.0  # seconds before a refused or failed preflight is tried again
PREFLIGHT_TIMEOUT = 10.0


class NoEventHandler(UpstreamError):
    """No event handler setting of the hub takes this user event."""


@dataclass
class Admission:
    """What the ``connect`` step decided for a new connection (token values unless the handler changed them)."""

    connection_id: str
    user_id: str | None
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    protocol: str | None  # a predefined subprotocol the service speaks, or None for a simple client
    echo: str | None  # the subprotocol to echo in the handshake (predefined or the handler's custom choice)
    state: str | None
    origin: str


class _Connection:
    """Per-connection upstream context: what every later event of this connection carries."""

    __slots__ = ("hub", "connection_id", "user_id", "subprotocol", "state", "next_id", "origin", "notified")

    def __init__(self, admission: Admission, hub: str):
        self.hub = hub
        self.connection_id = admission.connection_id
        self.user_id = admission.user_id
        self.subprotocol = admission.echo
        self.state = admission.state
        self.next_id = 1  # 0 was the connect event
        self.origin = admission.origin
        # The system event (connected, joined, left, disconnected) sent last: the next one waits for it, so a
        # connection's system events reach the handler in the order they happened.
        self.notified: asyncio.Task[None] | None = None

    def take_id(self) -> int:
        event_id, self.next_id = self.next_id, self.next_id + 1
        return event_id


class _Preflight:
    __slots__ = ("allowed", "until", "pending")

    def __init__(self) -> None:
        self.allowed = False
        self.until = 0.0
        self.pending: asyncio.Future[bool] | None = None


class Upstream:
    """Event handlers of every hub of one service.

    ``handlers`` is what :func:`~wpsnb.protocol.cloud_events.parse_event_handlers` returns.
    """

    def __init__(self, service: Service, handlers: Mapping[str, tuple[EventHandlerSetting, ...]]):
        self.service = service
        self.handlers = dict(handlers)
        self._http: aiohttp.ClientSession | None = None
        self._preflights: dict[tuple[str, str], _Preflight] = {}
        self._connections: dict[str, _Connection] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- settings --

    def settings(self, hub: str) -> tuple[EventHandlerSetting, ...]:
        """The hub's settings in priority order (the ``_default`` hub's if it has none)."""
        return self.handlers.get(hub.lower()) or self.handlers.get("_default", ())

    def handler_for(self, hub: str, event: str, *, system: bool) -> EventHandlerSetting | None:
        """The first setting of ``hub`` that takes ``event``."""
        return find_handler(self.settings(hub), event, system=system)

    # -- connect (blocking, before the WebSocket upgrade) --

    async def admit(
        self, hub: str, request: web.Request, claims: ClientClaims, protocol: str | None
    ) -> Admission | None:
        """Run the ``connect`` event for a client handshake; ``None`` if the hub has no event handlers.

        Raises :class:`UpstreamError` (its ``status`` is the HTTP answer for the client) if the handler
        refuses, fails, or answers something unusable.
        """
        if not self.settings(hub):
            return None
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        admission = Admission(
            connection_id=new_connection_id(),
            user_id=claims.user_id,
            roles=claims.roles,
            groups=claims.groups,
            protocol=protocol,
            echo=protocol,
            state=None,
            origin=request.host,
        )
        setting = self.handler_for(hub, "connect", system=True)
        if setting is None:
            return admission
        body = connect_body(
            claims=claims.claims,
            query=request.query.items(),
            headers=request.headers.items(),
            subprotocols=offered,
        )
        headers = event_headers(
            event="connect",
            system=True,
            hub=hub,
            connection_id=admission.connection_id,
            event_id=0,
            origin=admission.origin,
            access_keys=[self.service.access_key],
            user_id=claims.user_id,
        )
        status, _, answer, state = await self._post(setting, hub, "connect", admission.origin, headers, body)
        result = parse_connect_response(status, answer)
        _apply(admission, result, offered)
        admission.state = state or None
        return admission

    def opened(self, session: Session, admission: Admission) -> None:
        """The connection is up: remember its context and send ``connected`` (not awaited)."""
        connection = _Connection(admission, session.hub.name)
        self._connections[session.connection_id] = connection
        if self.handler_for(connection.hub, "connected", system=True) is not None:
            self._notify(connection, "connected", b"{}")

    def closed(self, session: Session, reason: str) -> None:
        """The connection is gone for good: send ``disconnected`` (not awaited) and forget it."""
        connection = self._connections.pop(session.connection_id, None)
        if connection is None or self.handler_for(connection.hub, "disconnected", system=True) is None:
            return
        body = ('{"reason":' + _json_string(reason) + "}").encode("utf-8")
        self._notify(connection, "disconnected", body)

    def group_changed(self, session: Session, group: str, joined: bool) -> None:
        """``session`` joined or left ``group``: send the group presence event ``joined`` / ``left`` (not
        awaited) if a handler takes it."""
        connection = self._connections.get(session.connection_id)
        event = "joined" if joined else "left"
        if connection is None or self.handler_for(connection.hub, event, system=True) is None:
            return
        self._notify(connection, event, ('{"group":' + _json_string(group) + "}").encode("utf-8"))

    # -- user events (blocking) --

    def handles(self, hub: str, event: str) -> bool:
        """Whether a user event ``event`` in ``hub`` has a handler to go to.

        >>> from wpsnb.protocol.cloud_events import parse_event_handlers
        >>> from wpsnb.service.hub import Service
        >>> upstream = Upstream(Service("k" * 43), parse_event_handlers({"chat": [{"url_template": "http://h/"}]}))
        >>> upstream.handles("Chat", "message"), upstream.handles("other", "message")
        (True, False)
        """
        return self.handler_for(hub, event, system=False) is not None

    async def user_event(self, session: Session, event: str, data_type: str, data: Any) -> UserEventReply | None:
        """Send one user event of ``session`` and wait for the handler's answer.

        ``data_type`` is the client's (``json`` / ``text`` / ``binary``; a simple client's text frame is
        ``text``, its binary frame ``binary``) and ``data`` its decoded value. Returns the reply to pass to
        the client (``None``: nothing to send), after storing any ``ce-connectionState`` the handler set.
        Raises :class:`NoEventHandler` if no setting takes the event, :class:`UpstreamError` if the handler
        failed, timed out, refused this service or answered something unusable. The caller keeps one user
        event per connection in flight (the client endpoint awaits it before reading the next frame).

        Example::

            reply = await upstream.user_event(session, "chat", "json", {"text": "hi"})
            if reply is not None:
                session.deliver(Envelope.build("server", reply.data_type, reply.data))
        """
        hub = session.hub.name
        setting = self.handler_for(hub, event, system=False)
        if setting is None:
            raise NoEventHandler(f"no event handler of hub '{hub}' takes user event '{event}'")
        connection = self._connections.get(session.connection_id)
        if connection is None:  # connected before the handlers were configured
            raise UpstreamError(f"connection {session.connection_id} has no upstream context; reconnect it")
        content_type, body = user_event_payload(data_type, data)
        headers = event_headers(
            event=event,
            system=False,
            hub=hub,
            connection_id=connection.connection_id,
            event_id=connection.take_id(),
            origin=connection.origin,
            access_keys=[self.service.access_key],
            user_id=connection.user_id,
            subprotocol=connection.subprotocol,
            connection_state=connection.state,
            content_type=content_type,
        )
        status, reply_type, answer, state = await self._post(setting, hub, event, connection.origin, headers, body)
        reply = parse_user_event_response(status, reply_type, answer)
        if state is not None:
            connection.state = state or None  # an empty header clears the state
        return reply

    # -- HTTP --

    async def _post(
        self, setting: EventHandlerSetting, hub: str, event: str, origin: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str | None, bytes, str | None]:
        """POST one event: (status, Content-Type, body, ce-connectionState) or ``UpstreamError``."""
        url = setting.url(hub, event)
        started, status, detail = time.perf_counter(), None, ""
        try:
            await self._check_allowed(setting, hub, origin)
            http = self._client()
            async with http.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=setting.timeout)
            ) as response:
                answer = await _read_bounded(response)
                status, detail = response.status, answer[:300].decode("utf-8", "replace")
                return (
                    response.status,
                    response.headers.get("Content-Type"),
                    answer,
                    response.headers.getall("ce-connectionState", [None])[-1],
                )
        except asyncio.TimeoutError:
            detail = f"the event handler {url} did not answer the {event} event within {setting.timeout:g} s"
            raise UpstreamTimeout(detail) from None
        except aiohttp.ClientError as exc:
            detail = f"the event handler {url} is unreachable for the {event} event: {exc}"
            raise UpstreamError(detail) from None
        except UpstreamError as exc:  # refused by the abuse-protection preflight
            detail = str(exc)
            raise
        finally:
            trace = self.service.trace
            if trace is not None:
                elapsed = time.perf_counter() - started
                trace.upstream(hub, event, url, status, elapsed, detail, headers.get("ce-connectionId"))

    async def _check_allowed(self, setting: EventHandlerSetting, hub: str, origin: str) -> None:
        """Abuse protection: the handler must have allowed this service (preflight, cached)."""
        url = setting.validation_url(hub)
        record = self._preflights.setdefault((url, origin.lower()), _Preflight())
        if time.monotonic() >= record.until:
            if record.pending is None:
                record.pending = asyncio.ensure_future(self._preflight(url, origin, record))
            await asyncio.shield(record.pending)
        if not record.allowed:
            raise UpstreamError(
                f"the event handler {url} did not allow this service ({origin}) in its abuse-protection answer; "
                f"answer OPTIONS with 'WebHook-Allowed-Origin: *' or '{origin}'"
            )

    async def _preflight(self, url: str, origin: str, record: _Preflight) -> bool:
        allowed, why = False, ""
        try:
            for method in ("OPTIONS", "GET"):  # GET only if OPTIONS is not routed (404)
                async with self._client().request(
                    method,
                    url,
                    headers=preflight_headers(origin),
                    timeout=aiohttp.ClientTimeout(total=PREFLIGHT_TIMEOUT),
                ) as response:
                    values = response.headers.getall("WebHook-Allowed-Origin", [])
                    if response.status == 404 and method == "OPTIONS":
                        continue
                    allowed = 200 <= response.status < 300 and origin_allowed(values, origin)
                    why = f"{method} answered {response.status} with WebHook-Allowed-Origin {values or 'missing'}"
                    break
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            why = f"the preflight failed: {exc or type(exc).__name__}"
        if allowed:
            log.info("event handler %s allows %s", url, origin)
        else:
            log.warning(
                "event handler %s does not allow this service (%s): %s; no events go to it until its OPTIONS "
                "answer carries 'WebHook-Allowed-Origin: *' or '%s'",
                url,
                origin,
                why,
                origin,
            )
        record.allowed = allowed
        record.until = time.monotonic() + (VALID_FOR if allowed else RETRY_PREFLIGHT_AFTER)
        record.pending = None
        return allowed

    def _client(self) -> aiohttp.ClientSession:
        http = self._http
        if http is None or http.closed:
            # No cookies shared between connections, no proxy from the environment: events go straight out.
            http = self._http = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(), trust_env=False, auto_decompress=True
            )
        return http

    def _notify(self, connection: _Connection, event: str, body: bytes) -> asyncio.Task[None]:
        setting = self.handler_for(connection.hub, event, system=True)
        headers = event_headers(
            event=event,
            system=True,
            hub=connection.hub,
            connection_id=connection.connection_id,
            event_id=connection.take_id(),
            origin=connection.origin,
            access_keys=[self.service.access_key],
            user_id=connection.user_id,
            subprotocol=connection.subprotocol,
            connection_state=connection.state,
        )

        after = connection.notified

        async def send() -> None:
            if after is not None:
                await asyncio.wait([after])
            assert setting is not None
            try:
                status, _, _, _ = await self._post(setting, connection.hub, event, connection.origin, headers, body)
            except UpstreamError as exc:
                log.warning("%s event of connection %s not delivered: %s", event, connection.connection_id, exc)
                return
            if not 200 <= status < 300:
                log.warning(
                    "the %s event handler answered %d for connection %s", event, status, connection.connection_id
                )

        task = connection.notified = asyncio.get_running_loop().create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self, timeout: float = 2.0) -> None:
        """Let pending notifications finish (up to ``timeout`` s), then close the HTTP client."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        if self._http is not None:
            await self._http.close()
            self._http = None


def _apply(admission: Admission, result: ConnectResult, offered: Iterable[str]) -> None:
    """Fold a ``connect`` answer into the admission; ``UpstreamError`` if it cannot be used."""
    if result.user_id is not None:
        admission.user_id = result.user_id or None
    if result.roles is not None:
        admission.roles = result.roles
    if result.groups is not None:
        for group in result.groups:
            problem = group_name_problem(group)
            if problem:
                raise UpstreamError(f"the connect answer has an invalid group: {problem}")
        admission.groups = tuple(dict.fromkeys((*admission.groups, *result.groups)))
    if result.subprotocol is not None:
        chosen = next((p for p in offered if p.lower() == result.subprotocol.lower()), None)
        if chosen is None:
            raise UpstreamError(
                f"the connect handler chose subprotocol {result.subprotocol!r}, which the client did not offer "
                f"(it offered {list(offered)})"
            )
        if chosen.lower().startswith("protobuf"):
            raise UpstreamError(f"the connect handler chose {chosen!r}, which the local service does not speak")
        admission.echo = chosen
        admission.protocol = chosen if chosen.lower() in {p.lower() for p in JSON_PROTOCOLS} else None


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    length = response.content_length
    if length is not None and length > MAX_RESPONSE:
        raise UpstreamError(f"the event handler's answer is {length} bytes; the limit is {MAX_RESPONSE}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_RESPONSE:
            raise UpstreamError(f"the event handler's answer is over the limit of {MAX_RESPONSE} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
