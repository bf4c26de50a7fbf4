"""Azure Web PubSub's event-handler protocol: CloudEvents 1.0 over HTTP, binary mode. Pure, no I/O.

The service tells an app server ("upstream", "event handler") what its clients do by POSTing one
HTTP request per event: the CloudEvents attributes travel in ``ce-*`` headers, the payload is the
body. This module builds those requests, reads the handler's answers and holds the hub's event
handler settings; :mod:`wpsnb.service.upstream` sends them, :mod:`wpsnb.handler` receives them.

Example::

    >>> setting = EventHandlerSetting.parse({"url_template": "http://127.0.0.1:3000/api/{hub}/{event}"})
    >>> setting.url("chat", "connect")
    'http://127.0.0.1:3000/api/chat/connect'
    >>> signature(["key"], "conn1")[:7]
    'sha256='
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

SYSTEM_EVENTS = ("connect", "connected", "disconnected")
BLOCKING_SYSTEM_EVENTS = ("connect",)
GROUP_EVENTS = ("joined", "left")  # group presence (Azure's groupPresenceEvents; the official handler's onGroupJoined)
SYS_PREFIX = "azure.webpubsub.sys."
GROUP_PREFIX = "azure.webpubsub.gp."
USER_PREFIX = "azure.webpubsub.user."
VALIDATE_EVENT = "validate"  # what {event} becomes in the abuse-protection preflight URL
MAX_RESPONSE = 16 * 1024 * 1024  # a handler answer larger than this is a failure (as in the emulator)
DEFAULT_TIMEOUT = 100.0  # seconds per event request (the .NET HttpClient default the service uses)
# The user-event Content-Type for each client dataType, and back (the docs' table).
CONTENT_TYPES = {"json": "application/json", "text": "text/plain", "binary": "application/octet-stream"}
_DATA_TYPES = {value: key for key, value in CONTENT_TYPES.items()}


class UpstreamError(Exception):
    """An event handler failed, refused, or answered something the service cannot use.

    ``status`` is the HTTP status to answer a refused ``connect`` with (500 for anything that is
    not the handler's own 4xx/5xx).
    """

    def __init__(self, message: str, *, status: int = 500):
        super().__init__(message)
        self.status = status


class UpstreamTimeout(UpstreamError):
    """The event handler did not answer within its ``timeout``."""


# ---- settings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventHandlerSetting:
    """One event handler of a hub, as in Azure's hub settings.

    ``user_event_pattern``: ``"*"`` for every user event, ``"a,b"`` for some, ``""`` for none.
    ``system_events``: any of ``connect``, ``connected``, ``disconnected``.
    ``group_presence_events``: any of ``joined``, ``left`` (a connection joined or left a group).

    >>> s = EventHandlerSetting.parse({"urlTemplate": "http://h/{event}", "userEventPattern": "chat, join",
    ...                                "systemEvents": ["connected"]})
    >>> s.handles_user_event("JOIN"), s.handles_user_event("message"), s.handles_system_event("connect")
    (True, False, False)
    """

    url_template: str
    user_event_pattern: str = "*"
    system_events: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    group_presence_events: tuple[str, ...] = ()
    _names: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | EventHandlerSetting) -> EventHandlerSetting:
        """Read one setting from a dict (snake_case or Azure's camelCase keys); raise ``ValueError``."""
        if isinstance(raw, EventHandlerSetting):
            return raw
        if not isinstance(raw, Mapping):
            raise ValueError(f"an event handler setting is a dict like {_EXAMPLE}, got {type(raw).__name__}")
        known = {"url_template", "urlTemplate", "user_event_pattern", "userEventPattern"}
        known |= {"system_events", "systemEvents", "timeout", "group_presence_events", "groupPresenceEvents"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown event handler setting {', '.join(unknown)}; settings look like {_EXAMPLE}")
        template = raw.get("url_template", raw.get("urlTemplate"))
        if not isinstance(template, str) or not template:
            raise ValueError(f"an event handler needs 'url_template', e.g. {_EXAMPLE}")
        problem = url_template_problem(template)
        if problem:
            raise ValueError(problem)
        pattern = raw.get("user_event_pattern", raw.get("userEventPattern", "*"))
        if pattern is None:
            pattern = ""
        if not isinstance(pattern, str):
            raise ValueError(f"'user_event_pattern' is a string ('*', 'a,b' or ''), got {pattern!r}")
        events = raw.get("system_events", raw.get("systemEvents", ()))
        if isinstance(events, str):
            events = [e for e in events.split(",") if e.strip()]
        system: list[str] = []
        for name in events:
            if not isinstance(name, str) or name.strip().lower() not in SYSTEM_EVENTS:
                raise ValueError(f"unknown system event {name!r}; use any of {', '.join(SYSTEM_EVENTS)}")
            system.append(name.strip().lower())
        timeout = raw.get("timeout", DEFAULT_TIMEOUT)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            raise ValueError(f"'timeout' is a positive number of seconds, got {timeout!r}")
        presence = raw.get("group_presence_events", raw.get("groupPresenceEvents", ()))
        if isinstance(presence, str):
            presence = [e for e in presence.split(",") if e.strip()]
        group_events: list[str] = []
        for name in presence:
            if not isinstance(name, str) or name.strip().lower() not in GROUP_EVENTS:
                raise ValueError(f"unknown group presence event {name!r}; use any of {', '.join(GROUP_EVENTS)}")
            group_events.append(name.strip().lower())
        names = frozenset(p.strip().lower() for p in pattern.split(",") if p.strip())
        return cls(template, pattern, tuple(system), float(timeout), tuple(group_events), names)

    def handles_user_event(self, event: str) -> bool:
        """Whether this handler's pattern takes the user event ``event`` (names are case-insensitive)."""
        return "*" in self._names or event.lower() in self._names

    def handles_system_event(self, event: str) -> bool:
        """Whether ``event`` (connect / connected / disconnected, or a group presence event joined / left) is
        one this handler takes."""
        event = event.lower()
        return event in self.system_events or event in self.group_presence_events

    def url(self, hub: str, event: str) -> str:
        """The URL for one event: ``{hub}`` and ``{event}`` replaced, URL-escaped."""
        return self.url_template.replace("{hub}", quote(hub, safe="")).replace("{event}", quote(event, safe=""))

    def validation_url(self, hub: str) -> str:
        """Where the abuse-protection preflight goes (``{event}`` is ``validate``)."""
        return self.url(hub, VALIDATE_EVENT)


_EXAMPLE = (
    '{"url_template": "http://127.0.0.1:3000/api/webpubsub/hubs/{hub}/", "user_event_pattern": "*", '
    '"system_events": ["connect"]}'
)


def url_template_problem(template: str) -> str | None:
    """Why ``template`` cannot be an event handler URL template, or ``None``.

    >>> url_template_problem("http://{hub}.example.com/")[:60]
    "the event handler URL 'http://{hub}.example.com/' has a plac"
    """
    try:
        parts = urlsplit(template.replace("{hub}", "hub").replace("{event}", "event"))
    except ValueError as exc:
        return f"the event handler URL {template!r} is not a URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"the event handler URL {template!r} must be an absolute http:// or https:// URL"
    if "{" in urlsplit(template).netloc:
        return (
            f"the event handler URL {template!r} has a placeholder in its host; {{hub}} and {{event}} go in the "
            "path or query"
        )
    return None


def parse_event_handlers(raw: Mapping[str, Any] | None) -> dict[str, tuple[EventHandlerSetting, ...]]:
    """``{hub: [setting, ...]}`` → hub key (lower case) → settings in priority order; ``ValueError`` if bad.

    >>> handlers = parse_event_handlers({"Chat": [{"url_template": "http://h/"}]})
    >>> list(handlers), handlers["chat"][0].user_event_pattern
    (['chat'], '*')
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"event_handlers is a dict of hub -> list of settings, e.g. {{'chat': [{_EXAMPLE}]}}")
    result: dict[str, tuple[EventHandlerSetting, ...]] = {}
    for hub, settings in raw.items():
        if not isinstance(hub, str) or not hub:
            raise ValueError(f"event_handlers: hub names are non-empty strings, got {hub!r}")
        if isinstance(settings, (Mapping, EventHandlerSetting)):
            settings = [settings]
        try:
            parsed = tuple(EventHandlerSetting.parse(s) for s in settings)
        except ValueError as exc:
            raise ValueError(f"event_handlers[{hub!r}]: {exc}") from None
        result[hub.lower()] = result.get(hub.lower(), ()) + parsed
    return result


def find_handler(settings: Iterable[EventHandlerSetting], event: str, *, system: bool) -> EventHandlerSetting | None:
    """The first setting that takes ``event`` (a system event if ``system``), or ``None``.

    >>> a = EventHandlerSetting.parse({"url_template": "http://a/", "user_event_pattern": "chat"})
    >>> b = EventHandlerSetting.parse({"url_template": "http://b/", "system_events": ["connect"]})
    >>> find_handler([a, b], "chat", system=False).url_template, find_handler([a, b], "connect", system=True) is b
    ('http://a/', True)
    """
    for setting in settings:
        if setting.handles_system_event(event) if system else setting.handles_user_event(event):
            return setting
    return None


# ---- requests (service -> handler) --------------------------------------------------------------


def signature(access_keys: Iterable[str], connection_id: str) -> str:
    """``ce-signature``: ``sha256=<hex HMAC-SHA256(key, connectionId)>`` per access key, comma-joined.

    >>> signature(["k1"], "c")
    'sha256=380b12c1cd832f2b7a4634e311cb5d75efea72ef00daff1adf384bc79be27de5'
    >>> signature(["primary", "secondary"], "c").count("sha256=")
    2
    """
    digests = (
        hmac.new(key.encode("utf-8"), connection_id.encode("utf-8"), hashlib.sha256).hexdigest() for key in access_keys
    )
    return ",".join(f"sha256={digest}" for digest in digests)


def event_type(event: str, *, system: bool) -> str:
    """``ce-type`` for an event name (``system``: a system or group presence event).

    >>> event_type("connect", system=True), event_type("chat", system=False), event_type("joined", system=True)
    ('azure.webpubsub.sys.connect', 'azure.webpubsub.user.chat', 'azure.webpubsub.gp.joined')
    """
    if not system:
        return USER_PREFIX + event
    return (GROUP_PREFIX if event in GROUP_EVENTS else SYS_PREFIX) + event


def event_headers(
    *,
    event: str,
    system: bool,
    hub: str,
    connection_id: str,
    event_id: int,
    origin: str,
    access_keys: Iterable[str],
    user_id: str | None = None,
    subprotocol: str | None = None,
    connection_state: str | None = None,
    content_type: str = "application/json; charset=utf-8",
    now: float | None = None,
) -> dict[str, str]:
    """Every header of one event request (the docs' attributes, plus ``ce-awpsversion`` that handler
    libraries use to recognise the service's requests). Absent values are omitted.

    >>> h = event_headers(event="connected", system=True, hub="chat", connection_id="c1", event_id=1,
    ...                   origin="127.0.0.1:8080", access_keys=["k"], user_id="alice", now=0)
    >>> h["ce-type"], h["ce-source"], h["ce-time"], "ce-subprotocol" in h
    ('azure.webpubsub.sys.connected', '/hubs/chat/client/c1', '1970-01-01T00:00:00Z', False)
    """
    headers = {
        "Content-Type": content_type,
        "WebHook-Request-Origin": origin,
        "ce-specversion": "1.0",
        "ce-awpsversion": "1.0",
        "ce-type": event_type(event, system=system),
        "ce-source": f"/hubs/{hub}/client/{connection_id}",
        "ce-id": str(event_id),
        "ce-time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now)),
        "ce-signature": signature(access_keys, connection_id),
        "ce-hub": hub,
        "ce-connectionId": connection_id,
        "ce-eventName": event,
    }
    if user_id:
        headers["ce-userId"] = user_id
    if subprotocol:
        headers["ce-subprotocol"] = subprotocol
    if connection_state:
        headers["ce-connectionState"] = connection_state
    return headers


def preflight_headers(origin: str) -> dict[str, str]:
    """The abuse-protection preflight's headers (``OPTIONS`` to the ``validate`` URL).

    >>> preflight_headers("127.0.0.1:8080")["WebHook-Request-Origin"]
    '127.0.0.1:8080'
    """
    return {"WebHook-Request-Origin": origin, "ce-awpsversion": "1.0"}


def origin_allowed(allowed: Iterable[str], origin: str) -> bool:
    """Whether the preflight answer's ``WebHook-Allowed-Origin`` values admit ``origin``.

    One header, several headers or a comma list (the official express handler repeats the header, one
    per allowed endpoint): any ``*`` or a case-insensitive match admits.

    >>> origin_allowed(["*"], "a"), origin_allowed(["b.example, A"], "a"), origin_allowed([], "a")
    (True, True, False)
    """
    wanted = origin.lower()
    for value in allowed:
        for item in value.split(","):
            item = item.strip().lower()
            if item == "*" or item == wanted:
                return True
    return False


def connect_body(
    *,
    claims: Mapping[str, Any],
    query: Iterable[tuple[str, str]],
    headers: Iterable[tuple[str, str]],
    subprotocols: Iterable[str],
) -> bytes:
    """The ``connect`` event's JSON body: every map value an array of strings; no token, no Authorization.

    >>> body = json.loads(connect_body(claims={"sub": "a", "role": ["r1", "r2"], "exp": 5},
    ...                                query=[("access_token", "x"), ("lang", "en")],
    ...                                headers=[("Authorization", "Bearer x"), ("Host", "h")], subprotocols=[]))
    >>> body["claims"], body["query"], body["headers"]
    ({'sub': ['a'], 'role': ['r1', 'r2'], 'exp': ['5']}, {'lang': ['en']}, {'Host': ['h']})
    """
    body = {
        "claims": {name: _strings(value) for name, value in claims.items()},
        "query": _multimap((k, v) for k, v in query if k != "access_token"),
        "headers": _multimap((k, v) for k, v in headers if k.lower() not in _PRIVATE_HEADERS),
        "subprotocols": list(subprotocols),
        "clientCertificates": [],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# Credentials and hop-by-hop headers are not the handler's business.
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "connection", "upgrade"})


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return [item if isinstance(item, str) else json.dumps(item) for item in items]


def _multimap(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, value in pairs:
        result.setdefault(key, []).append(value)
    return result


def user_event_payload(data_type: str, data: Any) -> tuple[str, bytes]:
    """A user event's Content-Type and body from the client's ``dataType`` and decoded data.

    >>> user_event_payload("json", {"a": 1}), user_event_payload("binary", b"\\x01")
    (('application/json', b'{"a":1}'), ('application/octet-stream', b'\\x01'))
    """
    if data_type == "json":
        return CONTENT_TYPES["json"], json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if data_type == "text":
        return CONTENT_TYPES["text"], str(data).encode("utf-8")
    if data_type == "protobuf":
        return "application/x-protobuf", bytes(data)
    return CONTENT_TYPES["binary"], bytes(data)


# ---- responses (handler -> service) -------------------------------------------------------------


@dataclass(frozen=True)
class ConnectResult:
    """What a successful ``connect`` answer says; ``None`` fields keep the token's values."""

    user_id: str | None = None
    roles: tuple[str, ...] | None = None
    groups: tuple[str, ...] | None = None
    subprotocol: str | None = None


@dataclass(frozen=True)
class UserEventReply:
    """A user-event handler's reply to the client: ``data_type`` json / text / binary and decoded ``data``."""

    data_type: str
    data: Any


def parse_connect_response(status: int, body: bytes, content: str = "connect") -> ConnectResult:
    """Read a ``connect`` answer: 2xx accepts (``UpstreamError`` if its JSON is unusable), anything else refuses.

    >>> parse_connect_response(200, b'{"userId":"alice","roles":["webpubsub.joinLeaveGroup"]}')
    ConnectResult(user_id='alice', roles=('webpubsub.joinLeaveGroup',), groups=None, subprotocol=None)
    >>> parse_connect_response(401, b"who are you").status
    Traceback (most recent call last):
    ...
    wpsnb.protocol.cloud_events.UpstreamError: the connect event handler refused the connection with 401: who are you
    """
    if not 200 <= status < 300:
        detail = body[:512].decode("utf-8", "replace").strip()
        raise UpstreamError(
            f"the connect event handler refused the connection with {status}" + (f": {detail}" if detail else ""),
            status=status if 400 <= status < 600 else 500,
        )
    if not body.strip():
        return ConnectResult()
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise UpstreamError("the connect event handler answered 2xx with a body that is not JSON") from None
    if answer is None:
        return ConnectResult()
    if not isinstance(answer, dict):
        raise UpstreamError(f"the connect event handler answered a JSON {type(answer).__name__}, not an object")
    user_id = answer.get("userId")
    if user_id is not None and not isinstance(user_id, str):
        raise UpstreamError(f"the connect answer's 'userId' must be a string, got {user_id!r}")
    subprotocol = answer.get("subprotocol")
    if subprotocol is not None and not isinstance(subprotocol, str):
        raise UpstreamError(f"the connect answer's 'subprotocol' must be a string, got {subprotocol!r}")
    return ConnectResult(
        user_id=user_id,
        roles=_string_list(answer, "roles"),
        groups=_string_list(answer, "groups"),
        subprotocol=subprotocol or None,
    )


def _string_list(answer: dict[str, Any], name: str) -> tuple[str, ...] | None:
    value = answer.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UpstreamError(f"the connect answer's {name!r} must be a list of strings, got {value!r}")
    return tuple(value)


def parse_user_event_response(status: int, content_type: str | None, body: bytes) -> UserEventReply | None:
    """Read a user-event answer: ``None`` for no reply (204, empty 200), else the reply; ``UpstreamError`` if
    it failed (non-2xx) or cannot be sent on (bad JSON, unknown Content-Type).

    >>> parse_user_event_response(200, "text/plain; charset=utf-8", b"hi")
    UserEventReply(data_type='text', data='hi')
    >>> parse_user_event_response(204, None, b"") is None
    True
    """
    if not 200 <= status < 300:
        raise UpstreamError(f"the event handler answered {status}", status=status)
    if not body:
        return None
    media = (content_type or "").split(";")[0].strip().lower()
    if not media:
        # No Content-Type: text if it is UTF-8, else bytes.
        try:
            return UserEventReply("text", body.decode("utf-8"))
        except UnicodeDecodeError:
            return UserEventReply("binary", body)
    data_type = _DATA_TYPES.get(media)
    if data_type is None:
        raise UpstreamError(
            f"the event handler answered with Content-Type {content_type!r}; use application/json, text/plain "
            "or application/octet-stream"
        )
    if data_type == "binary":
        return UserEventReply("binary", body)
    try:
        text = body.decode("utf-8")
        return UserEventReply(data_type, json.loads(text) if data_type == "json" else text)
    except (ValueError, UnicodeDecodeError):
        raise UpstreamError(f"the event handler's {media} answer is not valid {data_type.upper()}") from None


# ---- connection state ---------------------------------------------------------------------------


def encode_state(states: Mapping[str, Any]) -> str:
    """``ce-connectionState`` as the official handler libraries write it: base64 of the JSON object.

    >>> encode_state({"key": "a"})
    'eyJrZXkiOiJhIn0='
    """
    return base64.b64encode(json.dumps(dict(states), separators=(",", ":")).encode("utf-8")).decode("ascii")


def decode_state(header: str | None) -> dict[str, Any]:
    """The state object from a ``ce-connectionState`` header; ``{}`` if absent or not base64 JSON (as the
    official handler does).

    >>> decode_state("eyJrZXkiOiJhIn0="), decode_state(None), decode_state("%%")
    ({'key': 'a'}, {}, {})
    """
    if not header:
        return {}
    try:
        value = json.loads(base64.b64decode(header))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}
