"""One data-plane REST request as the operations see it: :class:`RestCall` (hub, decoded path parameters,
query, body), the errors they raise (:class:`RestError`), and the checks of names, filters and bodies.

Every check raises a :class:`RestError` whose message says what to fix; :mod:`.rest` turns it into
``{"code": ..., "message": ..., "target": ...}`` with the ``x-ms-error-code`` header.

Example::

    >>> decode_body("json", b'{"a": 1}'), decode_body("text", "ä".encode()), decode_body("binary", b"\\x00")
    ({'a': 1}, 'ä', b'\\x00')
    >>> valid_group("lab", "group")
    'lab'
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from multidict import MultiDictProxy

from ..protocol.envelope import Envelope
from ..protocol.filter import Filter, FilterError, parse_filter
from ..protocol.frame_fields import decode_json
from ..protocol.limits import MAX_BODY_BYTES, MAX_TTL_SECONDS
from ..protocol.metadata import metadata_from_headers
from ..protocol.names import group_name_problem, hub_key, id_problem
from ..protocol.stream_codec import metadata_member
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
        return valid_group(self.params["group"], "group")

    def connection_id(self) -> str:
        """The ``{connectionId}`` path parameter."""
        return valid_id("connectionId", self.params["connectionId"])

    def user_id(self) -> str:
        """The ``{userId}`` path parameter."""
        return valid_id("userId", self.params["userId"])

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
        return filter_param(self.query.get("filter"))

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

    def after_answer(self, deliver: Callable[[], object]) -> None:
        """Run ``deliver`` on the loop's next turn, once the answer is written.

        A send's 202 means *accepted* (Azure delivers afterwards too), and the client need not wait for
        the fan-out. The loop runs what this turn queued before it reads any socket again, so a client's
        next request, and anything else it causes, comes after this delivery.
        """
        asyncio.get_running_loop().call_soon(deliver)

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


def valid_group(group: Any, target: str) -> str:
    problem = group_name_problem(group)
    if problem:
        raise bad_request(problem, target=target)
    return group


def valid_id(kind: str, value: str) -> str:
    problem = id_problem(kind, value)
    if problem:
        raise bad_request(problem, target=kind)
    return value


def filter_param(text: str | None) -> Filter | None:
    if not text:
        return None
    try:
        return parse_filter(text)
    except FilterError as exc:
        raise bad_request(str(exc), target="filter") from None
