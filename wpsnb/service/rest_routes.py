"""The operations of the data-plane REST API (docs/rest.md), one small function each.

Every operation takes a :class:`RestCall` — one authenticated request, with its hub and decoded path
parameters — and returns the response the official server SDKs expect, with the *exact* success code
(the SDKs accept one code per operation: 202 for sends, 200 for adds and grants, 204 for removes and
closes, 200/404 for existence checks). Bad input raises :class:`RestError`, which :mod:`.rest` turns into
``{"code": ..., "message": ...}`` plus the ``x-ms-error-code`` header.

:data:`ROUTES` maps method + path (below ``/api/hubs/{hub}/``) to the operations; :mod:`.rest` does the
routing, authentication and error responses.

Example::

    Route("POST", "groups/{group}/:send", send_to_group)   # WebPubSubServiceClient.send_to_group
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

from aiohttp import web
from multidict import MultiDictProxy

from ..protocol.filter import Filter, FilterError, parse_filter
from ..protocol.json_codec import Envelope, decode_json
from ..protocol.limits import MAX_BODY_BYTES, MAX_TTL_SECONDS
from ..protocol.metadata import metadata_from_headers
from ..protocol.names import group_name_problem, hub_key, id_problem
from ..protocol.permissions import PermissionLimitError, parse_permission_name
from ..protocol.stream_codec import metadata_member
from ..protocol.tokens import mint_client_token
from .hub import CLOSED_BY_REST, Hub, Service, Session

MAX_PAGE_SIZE = 200  # list connections: maxpagesize 1-200
MAX_TOP = 2**31 - 1
DEFAULT_API_VERSION = "2024-12-01"
# docs/rest.md, message bodies: request Content-Type → the dataType subprotocol clients see.
DATA_TYPE_OF_MEDIA_TYPE = {"application/json": "json", "text/plain": "text", "application/octet-stream": "binary"}


class RestError(Exception):
    """An error answer: HTTP ``status``, an ``Error.*`` ``code`` and a message saying what to fix.

    >>> RestError(404, "Error.NotFound", "connection 'c1' does not exist").body()
    {'code': 'Error.NotFound', 'message': "connection 'c1' does not exist"}
    """

    def __init__(self, status: int, code: str, message: str, *, target: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target

    def body(self) -> dict[str, str]:
        """The REST spec's ``ErrorDetail`` shape."""
        body = {"code": self.code, "message": self.message}
        if self.target is not None:
            body["target"] = self.target
        return body


def bad_request(message: str, target: str | None = None) -> RestError:
    """A 400 ``Error.BadRequest`` (invalid names, filters, bodies, query parameters)."""
    return RestError(400, "Error.BadRequest", message, target=target)


def not_found(code: str, message: str, target: str) -> RestError:
    """A 404 with the code Azure and the emulator give for what is missing (``Warning.Group.NotExisted``,
    ``Error.Connection.NotExisted``, ...); also the ``false`` answer of the existence checks.

    >>> not_found("Warning.User.NotExisted", "user 'u' has no connection", "User").body()["target"]
    'User'
    """
    return RestError(404, code, message, target=target)


# ---- one request ---------------------------------------------------------------------------------


class RestCall:
    """One authenticated REST request: the hub, the decoded path parameters and the query.

    Path parameters arrive decoded exactly once (``g%201%2Fx`` → ``g 1/x``); the query is decoded by
    aiohttp (``+`` is a space there, as in every form-encoded query; the SDKs send ``%2B`` for ``+``).
    """

    def __init__(self, request: web.Request, service: Service, hub_name: str, params: dict[str, str]):
        self.request = request
        self.service = service
        self.hub_name = hub_name
        self.params = params
        self.query: MultiDictProxy[str] = request.query
        # An unknown hub behaves as an empty one; it is not created, so REST calls never leave hubs behind.
        self.hub: Hub = service.find_hub(hub_name) or Hub(service, hub_key(hub_name))

    # -- path parameters --

    def group(self) -> str:
        """The ``{group}`` path parameter, validated (1-1024 characters, not all whitespace)."""
        return _valid_group(self.params["group"], "group")

    def connection_id(self) -> str:
        """The ``{connectionId}`` path parameter."""
        return _valid_id("connectionId", self.params["connectionId"])

    def user_id(self) -> str:
        """The ``{userId}`` path parameter."""
        return _valid_id("userId", self.params["userId"])

    def session(self, code: str = "Error.Connection.NotExisted") -> Session:
        """The live (or recoverable) connection named in the path; 404 with ``code`` if there is none."""
        connection_id = self.connection_id()
        session = self.hub.sessions.get(connection_id)
        if session is None:
            raise not_found(
                code,
                f"connection {connection_id!r} does not exist in hub {self.hub_name!r} "
                "(it closed, or the id is from another hub or service)",
                "Connection",
            )
        return session

    # -- query parameters --

    def values(self, name: str) -> list[str]:
        """Every non-empty value of a repeated query parameter (``excluded=a&excluded=b``)."""
        return [value for value in self.query.getall(name, []) if value]

    def integer(self, name: str, low: int, high: int) -> int | None:
        """An optional integer query parameter within ``low``..``high``."""
        values = self.query.getall(name, [])
        if not values:
            return None
        text = values[0]
        if len(values) > 1 or not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
            raise bad_request(
                f"query parameter {name!r} must be one integer from {low} to {high}, "
                f"got {', '.join(map(repr, values))}",
                target=name,
            )
        return int(text)

    def reason(self) -> str:
        """The ``reason`` for a close, shown to clients; the emulator's default when absent."""
        return self.query.get("reason") or CLOSED_BY_REST

    def filter(self) -> Filter | None:
        """The ``filter`` query parameter, parsed; ``None`` when absent or empty (= everyone)."""
        return _parse_filter(self.query.get("filter"))

    def check_ttl(self) -> int | None:
        """``messageTtlSeconds`` (0-300; 0 or absent: the message never expires)."""
        return self.integer("messageTtlSeconds", 0, MAX_TTL_SECONDS) or None

    def metadata(self) -> dict[str, str] | None:
        """The message's ``X-WebPubSub-Metadata-*`` headers (400 if one breaks the metadata rules)."""
        try:
            return metadata_from_headers(self.request.headers)
        except ValueError as exc:
            raise bad_request(f"{exc} (in an X-WebPubSub-Metadata-* header)", target="metadata") from None

    # -- body --

    async def body(self) -> bytes:
        """The request body, at most ``MAX_BODY_BYTES`` bytes (413 beyond)."""
        size = self.request.content_length
        if size is not None and size > MAX_BODY_BYTES:
            raise _too_large(size)
        try:
            return await self.request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _too_large(None) from None

    async def message(self, source: str, group: str | None = None) -> Envelope:
        """The body as a data message from ``source`` ("server" or "group"), typed by its Content-Type."""
        media_type = self._media_type()
        data_type = DATA_TYPE_OF_MEDIA_TYPE.get(media_type)
        if data_type is None:
            raise RestError(
                415,
                "Error.UnsupportedMediaType",
                f"Content-Type {media_type!r} is not supported for messages; use application/json "
                "(dataType json), text/plain (text) or application/octet-stream (binary)",
            )
        metadata = self.metadata()
        body = await self.body()
        data = decode_body(data_type, body, self.request.charset)
        try:
            envelope = Envelope.build(source, data_type, data, group=group, extra=metadata_member(metadata))
        except (ValueError, RecursionError) as exc:
            # Parsed but not re-encodable as UTF-8 JSON: a lone surrogate ("\ud800"), 1e400, deep nesting.
            raise bad_request(
                f"the JSON body cannot be passed on to clients ({exc}); send valid Unicode text (no unpaired "
                "surrogate escapes such as \\ud800), finite numbers and less deeply nested values",
                target="body",
            ) from None
        if data_type == "json":
            envelope.raw = body  # simple WebSocket clients get the JSON text exactly as posted
        ttl = self.check_ttl()
        if ttl is not None:
            envelope.expires_at = time.monotonic() + ttl
        return envelope

    async def json_object(self) -> dict[str, Any]:
        """A JSON object body (``:addToGroups``); 415 unless the Content-Type is application/json."""
        media_type = self._media_type()
        if media_type != "application/json":
            raise RestError(
                415,
                "Error.UnsupportedMediaType",
                f"Content-Type {media_type!r} is not supported here; send application/json",
            )
        value = decode_body("json", await self.body(), self.request.charset)
        if not isinstance(value, dict):
            raise bad_request(
                'the body must be a JSON object like {"groups": ["room"], "filter": "..."}', target="body"
            )
        return value

    def _media_type(self) -> str:
        # A missing Content-Type means binary (what the emulator does; aiohttp reports octet-stream then).
        return self.request.content_type.lower()

    # -- answers --

    def absolute_url(self, query: dict[str, Any]) -> str:
        """This request's URL (scheme, host, still-encoded path) with another ``query``."""
        path = self.request.raw_path.split("?", 1)[0]
        encoded = urlencode({k: v for k, v in query.items() if v is not None}, quote_via=quote, safe="")
        return f"{self.request.scheme}://{self.request.host}{path}?{encoded}"


def decode_body(data_type: str, body: bytes, charset: str | None = None) -> Any:
    """Decode a message body of ``data_type`` (docs/rest.md): parsed JSON, a str or the bytes.

    >>> decode_body("json", b'{"a": 1}'), decode_body("text", "ä".encode()), decode_body("binary", b"\\x00")
    ({'a': 1}, 'ä', b'\\x00')
    """
    if data_type == "binary":
        return body
    try:
        text = body.decode(charset or "utf-8")
    except (UnicodeDecodeError, LookupError) as exc:
        hint = ""
        if isinstance(exc, UnicodeDecodeError) and exc.reason == "unexpected end of data":
            # azure-core sets Content-Length to len(str), and aiohttp (the aio SDK's transport) obeys it.
            hint = (
                " The body was cut short inside a character: the client counted characters instead of "
                "bytes for Content-Length (the aio Python SDK does this for a str body; pass "
                "text.encode() instead)."
            )
        raise bad_request(
            f"the body is not valid {charset or 'utf-8'} text ({exc}); send UTF-8 or use "
            f"Content-Type application/octet-stream for binary data.{hint}",
            target="body",
        ) from None
    if data_type == "text":
        return text
    try:
        return decode_json(text)
    except RecursionError:
        raise bad_request("the JSON body is nested too deeply to parse; send flatter JSON", target="body") from None
    except ValueError as exc:
        raise bad_request(
            f"the body is not valid JSON ({exc}); send JSON, or use Content-Type text/plain for plain text",
            target="body",
        ) from None


def _too_large(size: int | None) -> RestError:
    got = f" (got {size} bytes)" if size is not None else ""
    return RestError(
        413,
        "Error.PayloadTooLarge",
        f"the body is larger than the {MAX_BODY_BYTES}-byte limit{got}; split the message or send a link to the "
        "data instead",
        target="body",
    )


def _valid_group(group: Any, target: str) -> str:
    problem = group_name_problem(group)
    if problem:
        raise bad_request(problem, target=target)
    return group


def _valid_id(kind: str, value: str) -> str:
    problem = id_problem(kind, value)
    if problem:
        raise bad_request(problem, target=kind)
    return value


def _parse_filter(text: str | None) -> Filter | None:
    if not text:
        return None
    try:
        return parse_filter(text)
    except FilterError as exc:
        raise bad_request(str(exc), target="filter") from None


def _status(code: int) -> web.Response:
    return web.Response(status=code)


def _exists(found: bool, code: str, what: str, target: str) -> web.Response:
    if not found:
        raise not_found(code, f"{what} does not exist", target)
    return _status(200)


# ---- sending (202) -------------------------------------------------------------------------------


async def send_to_all(call: RestCall) -> web.Response:
    """``POST :send?excluded&filter`` — every connection of the hub."""
    excluded, selected = call.values("excluded"), call.filter()
    call.check_ttl()
    envelope = await call.message("server")
    call.hub.send_to_all(envelope, excluded=excluded, filter=selected)
    return _status(202)


async def send_to_group(call: RestCall) -> web.Response:
    """``POST groups/{group}/:send?excluded&filter`` — members get ``from: group``; 202 for an empty group."""
    group = call.group()
    excluded, selected = call.values("excluded"), call.filter()
    call.check_ttl()
    envelope = await call.message("group", group=group)
    call.hub.send_to_group(group, envelope, excluded=excluded, filter=selected)
    return _status(202)


async def send_to_user(call: RestCall) -> web.Response:
    """``POST users/{userId}/:send?filter`` — every connection of the user."""
    user_id, selected = call.user_id(), call.filter()
    call.check_ttl()
    envelope = await call.message("server")
    call.hub.send_to_user(user_id, envelope, filter=selected)
    return _status(202)


async def send_to_connection(call: RestCall) -> web.Response:
    """``POST connections/{connectionId}/:send`` — 202 even when the connection is gone (as Azure does)."""
    connection_id = call.connection_id()
    call.check_ttl()
    envelope = await call.message("server")
    call.hub.send_to_connection(connection_id, envelope)
    return _status(202)


# ---- groups --------------------------------------------------------------------------------------


async def add_connection_to_group(call: RestCall) -> web.Response:
    """``PUT groups/{group}/connections/{connectionId}`` — 200; 404 for an unknown connection."""
    group = call.group()
    call.hub.join(call.session(), group)
    return _status(200)


async def remove_connection_from_group(call: RestCall) -> web.Response:
    """``DELETE groups/{group}/connections/{connectionId}`` — 204, also when the connection is gone.

    Removing is idempotent so that server clean-up code does not fail for a client that just left.
    """
    group, connection_id = call.group(), call.connection_id()
    session = call.hub.sessions.get(connection_id)
    if session is not None:
        call.hub.leave(session, group)
    return _status(204)


async def remove_connection_from_all_groups(call: RestCall) -> web.Response:
    """``DELETE connections/{connectionId}/groups`` — 204, also for an unknown connection."""
    session = call.hub.sessions.get(call.connection_id())
    if session is not None:
        call.hub.leave_all(session)
    return _status(204)


async def add_user_to_group(call: RestCall) -> web.Response:
    """``PUT users/{userId}/groups/{group}`` — the user's current connections join; 404 if there are none.

    Membership belongs to connections here (as in the emulator), so a user without one cannot be added:
    the answer says so instead of a 200 that changed nothing.
    """
    user_id, group = call.user_id(), call.group()
    sessions = call.hub.user_sessions(user_id)
    if not sessions:
        raise not_found(
            "Warning.User.NotExisted",
            f"user {user_id!r} has no connection in hub {call.hub_name!r}, so it cannot join {group!r}; "
            "add the user once it is connected (or put webpubsub.group claims in its token)",
            "User",
        )
    for session in sessions:
        call.hub.join(session, group)
    return _status(200)


async def remove_user_from_group(call: RestCall) -> web.Response:
    """``DELETE users/{userId}/groups/{group}`` — 204."""
    user_id, group = call.user_id(), call.group()
    for session in call.hub.user_sessions(user_id):
        call.hub.leave(session, group)
    return _status(204)


async def remove_user_from_all_groups(call: RestCall) -> web.Response:
    """``DELETE users/{userId}/groups`` — 204."""
    for session in call.hub.user_sessions(call.user_id()):
        call.hub.leave_all(session)
    return _status(204)


async def add_to_groups(call: RestCall) -> web.Response:
    """``POST :addToGroups`` with ``{"groups": [...], "filter": "..."}`` — 200, also when nothing matches."""
    return await _update_groups(call, join=True)


async def remove_from_groups(call: RestCall) -> web.Response:
    """``POST :removeFromGroups`` with ``{"groups": [...], "filter": "..."}`` — 200."""
    return await _update_groups(call, join=False)


async def _update_groups(call: RestCall, *, join: bool) -> web.Response:
    body = await call.json_object()
    groups = body.get("groups")
    if not isinstance(groups, list) or not groups:
        raise bad_request(
            'the body needs "groups": a non-empty list of group names, e.g. '
            '{"groups": ["room"], "filter": "userId eq \'alice\'"}',
            target="groups",
        )
    for group in groups:
        _valid_group(group, "groups")
    text = body.get("filter")
    if text is not None and not isinstance(text, str):
        raise bad_request(f'"filter" must be a string (an OData filter) or omitted, got {text!r}', target="filter")
    change = call.hub.join if join else call.hub.leave
    for session in call.hub.sessions_matching(_parse_filter(text)):
        for group in groups:
            change(session, group)
    return _status(200)


async def list_connections(call: RestCall) -> web.Response:
    """``GET groups/{group}/connections?maxpagesize&top&continuationToken`` — one page and a ``nextLink``.

    Pages are in connection-id order; the continuation token is the last id of the page (base64url), and
    ``nextLink`` is the absolute URL of the next page with ``top`` reduced by what this page returned.
    """
    group = call.group()
    page_size = call.integer("maxpagesize", 1, MAX_PAGE_SIZE) or MAX_PAGE_SIZE
    top = call.integer("top", 1, MAX_TOP)
    after = _read_continuation(call.query.getall("continuationToken", []))
    limit = page_size if top is None else min(page_size, top)
    page = call.hub.group_page(group, after, limit + 1)
    more, page = len(page) > limit, page[:limit]
    remaining = None if top is None else top - len(page)
    next_link = None
    if more and remaining != 0:
        next_link = call.absolute_url(
            {
                "api-version": call.query.get("api-version") or DEFAULT_API_VERSION,
                "maxpagesize": page_size,
                "top": remaining,
                "continuationToken": _continuation(page[-1].connection_id),
            }
        )
    value = [{"connectionId": s.connection_id, "userId": s.user_id} for s in page]
    return web.json_response({"value": value, "nextLink": next_link})


def _continuation(connection_id: str) -> str:
    return base64.urlsafe_b64encode(connection_id.encode("utf-8")).decode("ascii").rstrip("=")


def _read_continuation(values: list[str]) -> str | None:
    if not values:
        return None
    invalid = bad_request(
        "continuationToken is not one this service issued; follow the nextLink of the "
        "previous page, or leave it out to start from the first page",
        target="continuationToken",
    )
    token = values[0]
    if len(values) > 1 or not token:
        raise invalid
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None


# ---- existence (200 / 404) -----------------------------------------------------------------------


async def connection_exists(call: RestCall) -> web.Response:
    """``HEAD connections/{connectionId}``."""
    connection_id = call.connection_id()
    return _exists(
        connection_id in call.hub.sessions,
        "Warning.Connection.NotExisted",
        f"connection {connection_id!r}",
        "Connection",
    )


async def group_exists(call: RestCall) -> web.Response:
    """``HEAD groups/{group}`` — a group exists while it has at least one member."""
    group = call.group()
    return _exists(
        bool(call.hub.groups.get(group)),
        "Warning.Group.NotExisted",
        f"group {group!r} (no connection is in it)",
        "Group",
    )


async def user_exists(call: RestCall) -> web.Response:
    """``HEAD users/{userId}`` — a user exists while one of their connections does."""
    user_id = call.user_id()
    return _exists(
        bool(call.hub.users.get(user_id)),
        "Warning.User.NotExisted",
        f"user {user_id!r} (no connection has this user id)",
        "User",
    )


# ---- closing (204) -------------------------------------------------------------------------------


async def close_connection(call: RestCall) -> web.Response:
    """``DELETE connections/{connectionId}?reason`` — 204, also for an unknown connection."""
    session = call.hub.sessions.get(call.connection_id())
    if session is not None:
        call.hub.close_sessions([session], call.reason())
    return _status(204)


async def close_all_connections(call: RestCall) -> web.Response:
    """``POST :closeConnections?excluded&reason``."""
    call.hub.close_sessions(call.hub.sessions_matching(None), call.reason(), call.values("excluded"))
    return _status(204)


async def close_group_connections(call: RestCall) -> web.Response:
    """``POST groups/{group}/:closeConnections?excluded&reason``."""
    group = call.group()
    call.hub.close_sessions(call.hub.group_sessions(group), call.reason(), call.values("excluded"))
    return _status(204)


async def close_user_connections(call: RestCall) -> web.Response:
    """``POST users/{userId}/:closeConnections?excluded&reason``."""
    user_id = call.user_id()
    call.hub.close_sessions(call.hub.user_sessions(user_id), call.reason(), call.values("excluded"))
    return _status(204)


# ---- permissions ---------------------------------------------------------------------------------


def _permission(call: RestCall) -> tuple[str, str | None]:
    """The ``{permission}`` and the optional ``targetName`` group."""
    try:
        permission = parse_permission_name(call.params["permission"])
    except ValueError as exc:
        raise bad_request(str(exc), target="permission") from None
    target = call.query.get("targetName")
    return permission, None if target is None else _valid_group(target, "targetName")


async def grant_permission(call: RestCall) -> web.Response:
    """``PUT permissions/{permission}/connections/{connectionId}?targetName`` — 200; 404 unknown connection."""
    permission, target = _permission(call)
    session = call.session("Info.Connection.NotExisted")
    try:
        session.permissions.grant(permission, target)
    except PermissionLimitError as exc:
        raise RestError(409, "Error.Conflict", str(exc)) from None
    return _status(200)


async def revoke_permission(call: RestCall) -> web.Response:
    """``DELETE permissions/{permission}/connections/{connectionId}?targetName`` — 204, also if unknown."""
    permission, target = _permission(call)
    session = call.hub.sessions.get(call.connection_id())
    if session is not None:
        session.permissions.revoke(permission, target)
    return _status(204)


async def has_permission(call: RestCall) -> web.Response:
    """``HEAD permissions/{permission}/connections/{connectionId}?targetName`` — 200 or 404."""
    permission, target = _permission(call)
    session = call.session("Info.Connection.NotExisted")
    scope = f"group {target!r}" if target is not None else "every group"
    return _exists(
        session.permissions.has(permission, target),
        "Error.NotFound",  # the connection exists; only the permission is missing (no special code known)
        f"permission {permission!r} for {scope} on connection {session.connection_id!r}",
        "Permission",
    )


# ---- tokens --------------------------------------------------------------------------------------


async def generate_token(call: RestCall) -> web.Response:
    """``POST :generateToken?userId&role*&group*&minutesToExpire&clientType`` — ``{"token": jwt}``.

    The token is exactly what ``get_client_access_token`` mints locally with a key (docs/tokens.md).
    """
    client_type = call.query.get("clientType") or "Default"
    if client_type.lower() != "default":
        raise RestError(
            400,
            "NotSupported",
            f"clientType {client_type!r} is not supported by the local service "
            "(no MQTT or Socket.IO endpoint); use Default",
        )
    minutes = call.integer("minutesToExpire", 1, MAX_TOP) or 60
    groups = [_valid_group(group, "group") for group in call.values("group")]
    endpoint = f"{call.request.scheme}://{call.request.host}".lower()
    token = mint_client_token(
        call.service.access_key,
        f"{endpoint}/client/hubs/{call.hub_name}",
        user_id=call.query.get("userId") or None,
        roles=call.values("role"),
        groups=groups,
        minutes_to_expire=minutes,
    )
    return web.json_response({"token": token})


# ---- the table -----------------------------------------------------------------------------------


class Route(NamedTuple):
    """``method`` + ``pattern`` (below ``/api/hubs/{hub}/``; ``{name}`` is one decoded segment)."""

    method: str
    pattern: str
    operation: Callable[[RestCall], Awaitable[web.Response]]


ROUTES = (
    Route("POST", ":send", send_to_all),
    Route("POST", ":closeConnections", close_all_connections),
    Route("POST", ":addToGroups", add_to_groups),
    Route("POST", ":removeFromGroups", remove_from_groups),
    Route("POST", ":generateToken", generate_token),
    Route("POST", "groups/{group}/:send", send_to_group),
    Route("POST", "groups/{group}/:closeConnections", close_group_connections),
    Route("HEAD", "groups/{group}", group_exists),
    Route("GET", "groups/{group}/connections", list_connections),
    Route("PUT", "groups/{group}/connections/{connectionId}", add_connection_to_group),
    Route("DELETE", "groups/{group}/connections/{connectionId}", remove_connection_from_group),
    Route("POST", "users/{userId}/:send", send_to_user),
    Route("POST", "users/{userId}/:closeConnections", close_user_connections),
    Route("HEAD", "users/{userId}", user_exists),
    Route("PUT", "users/{userId}/groups/{group}", add_user_to_group),
    Route("DELETE", "users/{userId}/groups/{group}", remove_user_from_group),
    Route("DELETE", "users/{userId}/groups", remove_user_from_all_groups),
    Route("POST", "connections/{connectionId}/:send", send_to_connection),
    Route("HEAD", "connections/{connectionId}", connection_exists),
    Route("DELETE", "connections/{connectionId}", close_connection),
    Route("DELETE", "connections/{connectionId}/groups", remove_connection_from_all_groups),
    Route("PUT", "permissions/{permission}/connections/{connectionId}", grant_permission),
    Route("DELETE", "permissions/{permission}/connections/{connectionId}", revoke_permission),
    Route("HEAD", "permissions/{permission}/connections/{connectionId}", has_permission),
)
