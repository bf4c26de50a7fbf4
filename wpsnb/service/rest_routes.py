"""The operations of the data-plane REST API (docs/rest.md), one small function each.

Every operation takes a :class:`RestCall` — one authenticated request, with its hub and decoded path
parameters — and returns the response the official server SDKs expect, with the *exact* success code
(the SDKs accept one code per operation: 202 for sends, 200 for adds and grants, 204 for removes and
closes, 200/404 for existence checks). Bad input raises :class:`RestError`, which :mod:`.rest` turns into
``{"code": ..., "message": ...}`` plus the ``x-ms-error-code`` header.

:data:`ROUTES` maps method + path (below ``/api/hubs/{hub}/``) to the operations; :mod:`.rest` does the
routing, authentication and error responses.

The request side (reading the path, query and body, and the errors) is :mod:`.rest_call`.

Example (what ``WebPubSubServiceClient.send_to_group`` reaches)::

    >>> [route.operation.__name__ for route in ROUTES if route.pattern == "groups/{group}/:send"]
    ['send_to_group']
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from functools import partial
from typing import NamedTuple

from aiohttp import web

from ..protocol.permissions import PermissionLimitError, parse_permission_name
from ..protocol.tokens import mint_client_token
from .rest_call import (
    DEFAULT_API_VERSION,
    MAX_PAGE_SIZE,
    MAX_TOP,
    RestCall,
    RestError,
    bad_request,
    filter_param,
    not_found,
    valid_group,
)


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
    call.after_answer(partial(call.hub.send_to_all, envelope, excluded=excluded, filter=selected))
    return _status(202)


async def send_to_group(call: RestCall) -> web.Response:
    """``POST groups/{group}/:send?excluded&filter`` — members get ``from: group``; 202 for an empty group."""
    group = call.group()
    excluded, selected = call.values("excluded"), call.filter()
    call.check_ttl()
    envelope = await call.message("group", group=group)
    call.after_answer(partial(call.hub.send_to_group, group, envelope, excluded=excluded, filter=selected))
    return _status(202)


async def send_to_user(call: RestCall) -> web.Response:
    """``POST users/{userId}/:send?filter`` — every connection of the user."""
    user_id, selected = call.user_id(), call.filter()
    call.check_ttl()
    envelope = await call.message("server")
    call.after_answer(partial(call.hub.send_to_user, user_id, envelope, filter=selected))
    return _status(202)


async def send_to_connection(call: RestCall) -> web.Response:
    """``POST connections/{connectionId}/:send`` — 202 even when the connection is gone (as Azure does)."""
    connection_id = call.connection_id()
    call.check_ttl()
    envelope = await call.message("server")
    call.after_answer(partial(call.hub.send_to_connection, connection_id, envelope))
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
        valid_group(group, "groups")
    text = body.get("filter")
    if text is not None and not isinstance(text, str):
        raise bad_request(f'"filter" must be a string (an OData filter) or omitted, got {text!r}', target="filter")
    change = call.hub.join if join else call.hub.leave
    for session in call.hub.sessions_matching(filter_param(text)):
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
    return permission, None if target is None else valid_group(target, "targetName")


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
    groups = [valid_group(group, "group") for group in call.values("group")]
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
