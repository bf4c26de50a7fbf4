"""The data-plane REST API's front door: routing on the raw path, bearer authentication, error bodies.

Every ``/api`` request lands in :func:`handle`. The still-encoded path is split on ``/`` first and each
segment is percent-decoded exactly once afterwards, so group and user names holding ``/``, spaces, ``+`` or
non-ASCII characters arrive intact (a router working on the decoded path would split ``g%201%2Fx`` in two).
Then the bearer token is checked against the exact URL the SDK signed (docs/tokens.md), and the operation
from :data:`.rest_routes.ROUTES` runs — on the service's event loop, so it may touch hub state directly.

Example (what ``WebPubSubServiceClient.send_to_group("g 1/x", {"a": 1})`` sends)::

    POST /api/hubs/stream/groups/g%201%2Fx/:send?api-version=2024-12-01 HTTP/1.1
    Authorization: Bearer eyJ...        (aud = this URL, HS256 with the access key)
    Content-Type: application/json

    {"a": 1}
"""

from __future__ import annotations

import logging
import time
from urllib.parse import unquote

from aiohttp import web

from ..protocol.names import hub_name_problem
from ..protocol.tokens import TokenError, rest_audiences, validate_rest_token
from .rest_call import RestCall, RestError, bad_request
from .rest_routes import ROUTES, Route
from .trace_http import traced_call
from .websocket import SERVICE_KEY

log = logging.getLogger("wpsnb.service")

# The data-plane API versions the local service answers (the emulator's set); every /api response says so
# in ``api-supported-versions``, as ASP.NET API versioning does in Azure and the emulator.
API_VERSIONS = ("2021-10-01", "2022-11-01", "2023-07-01", "2024-01-01", "2024-12-01")
SUPPORTED_VERSIONS_HEADER = {"api-supported-versions": ", ".join(API_VERSIONS)}

_HUB_PREFIX = ("api", "hubs")
# Verified bearer tokens, for this key and exactly this scheme, host and path -> their exp.
_VERIFIED: dict[tuple[str, str, str, str, str], float] = {}
_VERIFIED_MAX = 1024
# What a method and an exact still-encoded path (with its query) resolve to: the route, its decoded
# parameters, the hub and what is wrong with the hub's name. The SDKs call the same few URLs over and
# over; the checks are pure functions of these two strings, so each URL is checked once.
_RESOLVED: dict[tuple[str, str], tuple[Route, dict[str, str], str, str | None]] = {}
_RESOLVED_MAX = 1024
# Each route's pattern as segments; literal segments compare case-insensitively (ASP.NET routing does).
_PATTERNS = [(route, tuple(route.pattern.split("/"))) for route in ROUTES]


def add_routes(app: web.Application) -> None:
    """Register ``HEAD /api/health`` and the whole ``/api/hubs/...`` surface on ``app``."""
    app.router.add_route("HEAD", "/api/health", health)
    app.router.add_route("GET", "/api/health", health)
    app.router.add_route("*", "/api/{tail:.*}", handle)


async def health(request: web.Request) -> web.Response:
    """``HEAD /api/health`` → 200 (readiness; no authentication, as in Azure and the emulator)."""
    return web.Response(status=200, headers=SUPPORTED_VERSIONS_HEADER)


async def handle(request: web.Request) -> web.StreamResponse:
    """Route, authenticate and run one REST request; every failure becomes an error body."""
    trace = request.app[SERVICE_KEY].trace
    if trace is not None:
        return await traced_call(trace, request, _answer)
    return await _answer(request)


async def _answer(request: web.Request) -> web.StreamResponse:
    try:
        response = await _handle(request)
    except RestError as error:
        log.info("REST %s %s -> %d %s: %s", request.method, request.raw_path, error.status, error.code, error.message)
        response = error_response(error)
    else:
        log.debug("REST %s %s -> %d", request.method, request.raw_path, response.status)
    response.headers.update(SUPPORTED_VERSIONS_HEADER)
    return response


async def _handle(request: web.Request) -> web.StreamResponse:
    key = (request.method, request.raw_path)
    resolved = _RESOLVED.get(key)
    if resolved is None:
        resolved = resolve(request)
        if len(_RESOLVED) >= _RESOLVED_MAX:
            _RESOLVED.clear()
        _RESOLVED[key] = resolved
    route, params, hub_name, problem = resolved
    service = request.app[SERVICE_KEY]
    authenticate(request, service.access_key)
    if problem:
        raise bad_request(problem, target="hub")
    return await route.operation(RestCall(request, service, hub_name, dict(params)))


def resolve(request: web.Request) -> tuple[Route, dict[str, str], str, str | None]:
    """The route, path parameters and hub of ``request``, and the problem with the hub's name (if any).

    Raises 404/405 for a path no operation lives at and 400 for an unsupported ``api-version``: checked
    before authentication, as Azure does; a bad hub name is refused after it.
    """
    segments = split_path(request.raw_path)
    if segments[:2] != list(_HUB_PREFIX) or len(segments) < 3:
        raise RestError(
            404,
            "Error.NotFound",
            f"no REST operation at {request.path!r}; operations live under /api/hubs/<hub>/",
        )
    hub_name, rest = segments[2], segments[3:]
    route, params = find_route(request.method, rest, request.path)
    check_api_version(request.query.getall("api-version", []))
    return route, params, hub_name, hub_name_problem(hub_name)


def check_api_version(values: list[str]) -> None:
    """At most one ``api-version``, one of :data:`API_VERSIONS` (none at all means the newest).

    Checked before anything runs, so a refused request changes nothing.

    >>> check_api_version(["2024-12-01"])
    >>> try:
    ...     check_api_version(["2099-01-01"])
    ... except RestError as error:
    ...     print(error.status, error.code)
    400 UnsupportedApiVersion
    """
    supported = ", ".join(API_VERSIONS)
    if len(values) > 1:
        raise RestError(
            400,
            "UnsupportedApiVersion",
            f"api-version is given {len(values)} times ({', '.join(values)}); give it once, one of {supported}",
            target="api-version",
        )
    if values and values[0] not in API_VERSIONS:
        raise RestError(
            400,
            "UnsupportedApiVersion",
            f"api-version {values[0]!r} is not supported; use one of {supported}",
            target="api-version",
        )


def split_path(raw_path: str) -> list[str]:
    """Split a still-encoded path (query ignored) into segments, decoding each exactly once.

    >>> split_path("/api/hubs/chat/groups/g%201%2Fx+%C3%BC/:send?api-version=2024-12-01")
    ['api', 'hubs', 'chat', 'groups', 'g 1/x+ü', ':send']
    """
    path = raw_path.split("?", 1)[0]
    parts = path.split("/")[1:]
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # a trailing '/'
    try:
        return [unquote(part, errors="strict") for part in parts]
    except UnicodeDecodeError:
        raise bad_request(
            f"the path {path!r} has percent-escapes that are not UTF-8; percent-encode names as UTF-8 (the SDKs do)",
            target="path",
        ) from None


def find_route(method: str, segments: list[str], path: str) -> tuple[Route, dict[str, str]]:
    """The route for ``method`` and the segments below ``/api/hubs/{hub}/``, with its path parameters.

    Raises 404 for an unknown path and 405 (listing the allowed methods) for a known path.
    """
    allowed: list[str] = []
    for route, pattern in _PATTERNS:
        params = _match(pattern, segments)
        if params is None:
            continue
        if route.method == method:
            return route, params
        allowed.append(route.method)
    if allowed:
        raise RestError(
            405, "Error.MethodNotAllowed", f"{method} is not supported on {path!r}; use {' or '.join(allowed)}"
        )
    raise RestError(
        404, "Error.NotFound", f"no REST operation at {path!r} (the paths are those WebPubSubServiceClient calls)"
    )


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params: dict[str, str] = {}
    for expected, segment in zip(pattern, segments, strict=True):
        if expected.startswith("{"):
            params[expected[1:-1]] = segment
        elif expected.lower() != segment.lower():
            return None
    return params


def authenticate(request: web.Request, access_key: str) -> None:
    """Check ``Authorization: Bearer <jwt>`` against the URL of this request; 401 otherwise."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RestError(
            401,
            "Error.Unauthorized",
            "the request has no 'Authorization: Bearer <jwt>' header; call the REST API through "
            "WebPubSubServiceClient built with this service's connection string",
        )
    token = token.strip()
    scheme, host, raw_path = request.scheme, request.host, request.raw_path
    # The SDKs sign each request, but calls to one URL within a second carry the same token: remember
    # the ones already verified (for this key and exactly this URL, which the audiences come from) until
    # they expire.
    remembered = (access_key, token, scheme, host, raw_path)
    if time.time() < _VERIFIED.get(remembered, 0.0):
        return
    try:
        claims = validate_rest_token(token, access_key, request_urls=rest_audiences(scheme, host, raw_path))
    except TokenError as exc:
        raise RestError(401, "Error.Unauthorized", str(exc)) from None
    expires = claims.get("exp")
    if isinstance(expires, (int, float)) and not isinstance(expires, bool):
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[remembered] = float(expires)


def error_response(error: RestError) -> web.Response:
    """``{"code", "message"[, "target"]}`` with ``x-ms-error-code`` (HEAD answers drop the body)."""
    headers = {"x-ms-error-code": error.code}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="wpsnb local Web PubSub"'
    return web.json_response(error.body(), status=error.status, headers=headers)
