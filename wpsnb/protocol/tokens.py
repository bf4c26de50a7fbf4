"""Connection strings, access keys and the JWTs Web PubSub signs with them (docs/tokens.md).

Everything here is pure: no sockets, no clocks you cannot override (every check takes ``now``).
The rules follow the official Python server SDK (``azure-messaging-webpubsubservice`` 1.3.0), which mints
the tokens wpsnb's service must accept, and the official emulator's validator where the SDK is silent.

>>> cs = ConnectionString.parse("Endpoint=http://localhost;Port=8080;AccessKey=" + "k" * 43)
>>> cs.endpoint
'http://localhost:8080'
>>> token = mint_client_token(cs.access_key, "http://localhost:8080/client/hubs/chat", user_id="ann")
>>> claims = validate_client_token(token, cs.access_key, hub="chat",
...                                audiences=client_audiences("ws", "localhost:8080", "chat"))
>>> claims.user_id
'ann'
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

import jwt

EXPECTED_CONNECTION_STRING = "Endpoint=http://<host>:<port>;AccessKey=<key>;Version=1.0;"
# Microsoft Entra ID tokens carry this audience; they cannot be checked offline.
ENTRA_AUDIENCE = "https://webpubsub.azure.com"
# Issuer of reconnection tokens (same as the emulator's), so they are never mistaken for client tokens.
RECONNECTION_ISSUER = "https://webpubsub.azure.com"
MIN_ACCESS_KEY_BYTES = 32

# Claim names other SDKs (.NET) may use instead of the short ones the Python SDK writes.
_NAME_IDENTIFIER_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
_ROLE_CLAIM_LONG = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
_CLIENT_PATHS = {
    "default": "/client/hubs/",
    "mqtt": "/clients/mqtt/hubs/",
    "socketio": "/clients/socketio/hubs/",
}
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
# Only the signature is verified by PyJWT; every claim is checked here so `now` and the messages are ours.
_DECODE_OPTIONS: dict[str, Any] = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
}


# ----------------------------------------------------------------------------------------------------
# Connection strings and access keys


@dataclass(frozen=True)
class ConnectionString:
    """A parsed ``Endpoint=...;AccessKey=...;Version=1.0;`` connection string.

    ``endpoint`` is normalised as the SDK does it: a ``Port=`` segment is appended as ``:port`` and the
    trailing ``/`` is dropped. ``str()`` gives a string the SDK accepts verbatim; ``repr()`` hides the key.

    >>> cs = ConnectionString.parse("endpoint=http://127.0.0.1:8080/;accesskey=" + "k" * 43)
    >>> cs.endpoint, str(cs).startswith("Endpoint=http://127.0.0.1:8080;AccessKey=")
    ('http://127.0.0.1:8080', True)
    """

    endpoint: str
    access_key: str = field(repr=False)
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> ConnectionString:
        """Parse ``text`` with the rules of ``WebPubSubServiceClient.from_connection_string``.

        Segments are split on ``;`` and each at its first ``=`` (keys may contain ``=``); key names are
        case-insensitive and the first occurrence wins; unknown keys are ignored. Raises ``ValueError`` that
        names the problem and shows the expected form; the access key is never echoed.
        """
        if not isinstance(text, str):
            raise ValueError(
                f"connection string must be a str, got {type(text).__name__}; expected {EXPECTED_CONNECTION_STRING!r}"
            )
        segments = text.split(";")
        values: dict[str, str] = {}
        for position, segment in enumerate(segments, start=1):
            if "=" in segment:
                key, value = segment.split("=", 1)
                values.setdefault(key.lower(), value)
            elif segment.isspace():
                raise ValueError(
                    f"connection string segment {position} of {len(segments)} is only "
                    "whitespace (a stray space or newline?); remove it. "
                    f"Expected {EXPECTED_CONNECTION_STRING!r}"
                )
            elif segment:
                # Not echoed: a pasted key without 'AccessKey=' would end up in logs.
                raise ValueError(
                    f"malformed connection string: segment {position} of {len(segments)} has no "
                    f"'=' (every segment is key=value). Expected {EXPECTED_CONNECTION_STRING!r}"
                )
        if "endpoint" not in values:
            raise ValueError(f"connection string has no Endpoint; expected {EXPECTED_CONNECTION_STRING!r}")
        if "accesskey" not in values:
            raise ValueError(
                f"connection string has no AccessKey (wpsnb needs key credentials); "
                f"expected {EXPECTED_CONNECTION_STRING!r}"
            )
        endpoint = _normalise_endpoint(values["endpoint"], values.get("port"))
        if not values["accesskey"]:
            raise ValueError(f"connection string has an empty AccessKey; expected {EXPECTED_CONNECTION_STRING!r}")
        return cls(endpoint=endpoint, access_key=values["accesskey"], version=values.get("version"))

    def __str__(self) -> str:
        return f"Endpoint={self.endpoint};AccessKey={self.access_key};Version={self.version or '1.0'};"


def _normalise_endpoint(endpoint: str, port: str | None) -> str:
    """The SDK's endpoint: ``Port`` appended after stripping ``/``; we also drop the trailing ``/`` always."""
    if not endpoint.lower().startswith(("http://", "https://")):
        shown = endpoint.split("://", 1)[0] + "://" if "://" in endpoint else repr(endpoint)
        raise ValueError(
            f"connection string Endpoint must start with http:// or https://, got {shown}; "
            f"expected {EXPECTED_CONNECTION_STRING!r}"
        )
    endpoint = endpoint.rstrip("/")
    if port:  # the SDK ignores an empty Port= segment, so do we
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"connection string Port must be a number 1-65535, got {port!r}")
        if _explicit_port(endpoint) is not None:
            raise ValueError(
                f"connection string gives the port twice (in Endpoint {endpoint!r} and "
                f"Port={port}); the SDK would build host:port:port — keep only one"
            )
        endpoint = f"{endpoint}:{port}"
    else:
        _explicit_port(endpoint)  # validates it
    return endpoint


def _explicit_port(endpoint: str) -> int | None:
    try:
        return urlsplit(endpoint).port
    except ValueError:
        raise ValueError(
            f"connection string Endpoint {endpoint!r} has an invalid port; expected {EXPECTED_CONNECTION_STRING!r}"
        ) from None


def access_key_problem(key: Any) -> str | None:
    """Why ``key`` is not acceptable as an access key (the emulator's rule), or ``None`` if it is.

    Rule: at least 32 bytes of UTF-8, no leading/trailing whitespace, no ``;``, no control characters.
    The key itself never appears in the message.

    >>> access_key_problem("short")
    'access key is 5 bytes of UTF-8; use at least 32 (e.g. wpsnb.protocol.tokens.generate_access_key())'
    """
    if not isinstance(key, str):
        return f"access key must be a str, got {type(key).__name__}"
    size = len(key.encode("utf-8"))
    if size < MIN_ACCESS_KEY_BYTES:
        return (
            f"access key is {size} bytes of UTF-8; use at least {MIN_ACCESS_KEY_BYTES} "
            "(e.g. wpsnb.protocol.tokens.generate_access_key())"
        )
    if key != key.strip():
        return "access key has leading or trailing whitespace; remove it"
    if ";" in key:
        return "access key contains ';', which would break the connection string; choose another key"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        return "access key contains control characters; use printable characters only"
    return None


def generate_access_key() -> str:
    """A fresh random access key: 44 URL-safe base64 characters (264 bits), valid by ``access_key_problem``.

    >>> key = generate_access_key()
    >>> len(key) >= 43 and access_key_problem(key) is None
    True
    """
    return secrets.token_urlsafe(33)


# ----------------------------------------------------------------------------------------------------
# Errors and common decoding


class TokenError(ValueError):
    """A token was rejected. ``reason`` is a short machine string; the message says what happened and the fix.

    Reasons: ``missing``, ``malformed``, ``bad-algorithm``, ``bad-signature``, ``expired``,
    ``wrong-audience`` and ``invalid-claim`` (a claim has the wrong type, ``exp`` is missing, ``nbf`` is in
    the future). The ``/client`` endpoint answers 401 for all of them.

    >>> TokenError("expired", "token expired 3 min ago").reason
    'expired'
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _decode(token: str | None, access_key: str, what: str, fix: str) -> dict[str, Any]:
    """Verify the HS256 signature with UTF-8(access_key) and return the claims (not yet checked)."""
    if token is None or token == "":
        raise TokenError("missing", f"no {what}; {fix}")
    if not isinstance(token, str):
        raise TokenError("malformed", f"{what} must be a string, got {type(token).__name__}")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as error:
        raise TokenError("malformed", f"{what} is not a JWT ({error}); {fix}") from None
    algorithm = header.get("alg")
    if algorithm != "HS256":
        raise TokenError(
            "bad-algorithm", f"{what} uses alg {algorithm!r}; only HS256 signed with the access key is accepted. {fix}"
        )
    try:
        return jwt.decode(token, access_key, algorithms=["HS256"], options=_DECODE_OPTIONS)
    except jwt.InvalidSignatureError:
        raise TokenError("bad-signature", f"{what} signature does not match this service's access key; {fix}") from None
    except jwt.InvalidTokenError as error:
        raise TokenError("malformed", f"{what} could not be decoded ({error}); {fix}") from None


def _check_lifetime(claims: dict[str, Any], now: float, leeway: float, what: str, fix: str) -> float:
    """Require a numeric ``exp`` not further in the past than ``leeway``; honour ``nbf`` if present."""
    expires_at = claims.get("exp")
    if expires_at is None:
        raise TokenError("invalid-claim", f"{what} has no 'exp' claim; an expiry is required. {fix}")
    if not _is_number(expires_at):
        raise TokenError("invalid-claim", f"{what} claim 'exp' must be a number, got {expires_at!r}")
    if now > expires_at + leeway:
        raise TokenError("expired", f"{what} expired {_duration(now - expires_at)} ago; {fix}")
    not_before = claims.get("nbf")
    if not_before is not None:
        if not _is_number(not_before):
            raise TokenError("invalid-claim", f"{what} claim 'nbf' must be a number, got {not_before!r}")
        if now + leeway < not_before:
            wait = _duration(not_before - now)
            raise TokenError(
                "invalid-claim",
                f"{what} is not valid for another {wait} (nbf); check the clocks of the minting machine and this one",
            )
    return float(expires_at)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _duration(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _audience_values(claims: dict[str, Any], what: str) -> list[str]:
    audience = claims.get("aud")
    if isinstance(audience, str):
        return [audience]
    if isinstance(audience, list) and audience and all(isinstance(value, str) for value in audience):
        return audience
    if audience is None:
        raise TokenError("wrong-audience", f"{what} has no 'aud' claim")
    raise TokenError("invalid-claim", f"{what} claim 'aud' must be a string or list of strings, got {audience!r}")


def _string_list(claims: dict[str, Any], names: Iterable[str], what: str) -> tuple[str, ...]:
    """A claim that may be one string (.NET) or a JSON array (Python, JS) — merged over ``names``."""
    values: list[str] = []
    for name in names:
        value = claims.get(name)
        items = [value] if isinstance(value, str) else value
        if value is None:
            continue
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise TokenError(
                "invalid-claim", f"{what} claim {name!r} must be a string or a list of strings, got {value!r}"
            )
        values.extend(item for item in items if item not in values)
    return tuple(values)


def _check_unicode(value: str, name: str, what: str) -> None:
    """Claims are echoed in UTF-8 frames (``connected``'s userId); a lone surrogate (JSON ``"\\ud800"``,
    which the SDKs mint without complaint) could never be sent, so such a token is refused up front."""
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TokenError(
            "invalid-claim",
            f"{what} claim {name!r} has an unpaired surrogate {value[exc.start]!r} at position {exc.start}; "
            "mint the token with valid Unicode text",
        ) from None


def _strip_default_port(scheme: str, netloc: str) -> str:
    default = _DEFAULT_PORTS.get(scheme)
    return netloc[: -len(default)] if default and netloc.endswith(default) else netloc


# ----------------------------------------------------------------------------------------------------
# Client access tokens (the /client endpoint)

_CLIENT_FIX = "get a fresh client URL for this service (negotiate / WebPubSubServiceClient.get_client_access_token)"


@dataclass(frozen=True)
class ClientClaims:
    """What a valid client access token says about the connection.

    ``claims`` holds every claim (custom ones are forwarded to the ``connect`` event).
    """

    user_id: str | None
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    expires_at: float
    claims: dict[str, Any]


def client_audiences(scheme: str, host: str, hub: str, *, client_type: str = "Default") -> list[str]:
    """The audience a client token must carry to connect over ``scheme``://``host`` to ``hub``.

    ``scheme`` is the request's (``ws``/``wss``/``http``/``https``); the answer uses the http form the SDK
    signs; matching is lenient anyway (see ``validate_client_token``). ``client_type``: Default, MQTT or
    SocketIO, as the SDK's ``client_protocol``.

    >>> client_audiences("ws", "127.0.0.1:8080", "Chat_Hub")
    ['http://127.0.0.1:8080/client/hubs/Chat_Hub']
    """
    http_scheme = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme.lower())
    try:
        path = _CLIENT_PATHS[client_type.lower()]
    except KeyError:
        raise ValueError(f"unknown client type {client_type!r}; use Default, MQTT or SocketIO") from None
    return [f"{http_scheme}://{host}{path}{hub}"]


def _client_audience_key(audience: str) -> str:
    """Canonical form: ws(s)→http(s), lower case, decoded, no default port or trailing '/', ?hub= → /hubs/."""
    parts = urlsplit(unquote(audience.strip()).lower())
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if path == "/client":
        hubs = parse_qs(parts.query).get("hub")
        if hubs:
            path = f"/client/hubs/{hubs[0]}"
    return f"{scheme}://{_strip_default_port(scheme, parts.netloc)}{path}"


def validate_client_token(
    token: str | None,
    access_key: str,
    *,
    hub: str,
    audiences: Sequence[str],
    now: float | None = None,
    leeway: float = 300,
) -> ClientClaims:
    """Check a client access token as the ``/client`` endpoint must, and return its claims.

    HS256 with UTF-8(access_key) only; ``exp`` required (``leeway`` seconds of clock skew); ``aud`` (string or
    list) must match one of ``audiences`` case-insensitively, treating ws/wss as http/https, ignoring a
    trailing ``/`` and a default port, and accepting the ``/client?hub=`` form. ``role`` and
    ``webpubsub.group`` may each be a string or a list. Group names are not judged here: the endpoint
    answers 400 for invalid ones (``names.group_name_problem``), not 401. Raises ``TokenError``.

    >>> key = "k" * 43
    >>> token = mint_client_token(key, "http://h:1/client/hubs/chat", roles=["webpubsub.sendToGroup"])
    >>> validate_client_token(token, key, hub="chat", audiences=["ws://h:1/client/hubs/chat/"]).roles
    ('webpubsub.sendToGroup',)
    """
    what = "client access token"
    now = time.time() if now is None else now
    claims = _decode(token, access_key, what, _CLIENT_FIX)
    expires_at = _check_lifetime(claims, now, leeway, what, _CLIENT_FIX)
    accepted = {_client_audience_key(audience) for audience in audiences}
    given = _audience_values(claims, what)
    if not any(_client_audience_key(audience) in accepted for audience in given):
        expected = " or ".join(repr(audience) for audience in audiences)
        raise TokenError(
            "wrong-audience",
            f"{what} is for {given[0]!r}, not for hub {hub!r} here "
            f"(expected {expected}); mint it for hub {hub!r} with this "
            "service's endpoint",
        )
    user_id = claims.get("sub", claims.get(_NAME_IDENTIFIER_CLAIM))
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if user_id is not None and not isinstance(user_id, str):
        raise TokenError("invalid-claim", f"{what} claim 'sub' (userId) must be a string, got {user_id!r}")
    if user_id is not None:
        _check_unicode(user_id, "sub", what)
    roles = _string_list(claims, ("role", _ROLE_CLAIM_LONG), what)
    for role in roles:
        _check_unicode(role, "role", what)
    groups = _string_list(claims, ("webpubsub.group",), what)
    return ClientClaims(user_id=user_id or None, roles=roles, groups=groups, expires_at=expires_at, claims=claims)


def mint_client_token(
    access_key: str,
    audience: str,
    *,
    user_id: str | None = None,
    roles: Iterable[str] = (),
    groups: Iterable[str] = (),
    minutes_to_expire: float = 60,
    now: float | None = None,
) -> str:
    """Mint a client token with exactly the SDK's claims (docs/tokens.md) — for the ``:generateToken`` endpoint.

    Users' tokens come from the official SDK (``wpsnb.negotiate``), not from here.

    >>> token = mint_client_token("k" * 43, "http://h/client/hubs/chat", user_id="u1", now=0)
    >>> sorted(jwt.decode(token, options={"verify_signature": False}))
    ['aud', 'exp', 'iat', 'sub']
    """
    now = time.time() if now is None else now
    payload: dict[str, Any] = {"aud": audience, "iat": int(now), "exp": int(now + minutes_to_expire * 60)}
    if user_id:
        payload["sub"] = user_id
    roles, groups = list(roles), list(groups)
    if roles:
        payload["role"] = roles
    if groups:
        payload["webpubsub.group"] = groups
    return jwt.encode(payload, access_key, algorithm="HS256")


# ----------------------------------------------------------------------------------------------------
# REST bearer tokens

_REST_FIX = "build the server client with this service's connection string (AccessKey)"


def rest_audiences(scheme: str, host: str, raw_path_qs: str) -> list[str]:
    """The audiences a REST bearer token may carry for one request (docs/tokens.md, REST bearer tokens).

    ``raw_path_qs`` is the path as sent (still percent-encoded) with its query. Candidates: the absolute URL
    with the query (what the Python SDK signs) and without it (Docs; a trailing ``/`` never matters).

    >>> rest_audiences("http", "h:80", "/api/hubs/chat/:send?api-version=2024-12-01")
    ['http://h:80/api/hubs/chat/:send?api-version=2024-12-01', 'http://h:80/api/hubs/chat/:send']
    """
    full = f"{scheme}://{host}{raw_path_qs}"
    return list(dict.fromkeys([full, full.split("?", 1)[0]]))


def _rest_audience_key(url: str) -> str:
    """Canonical form: lower case, no default port, no trailing '/' on the path."""
    parts = urlsplit(url.strip().lower())
    netloc = _strip_default_port(parts.scheme, parts.netloc)
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}{query}"


def validate_rest_token(
    token: str | None,
    access_key: str,
    *,
    request_urls: Sequence[str],
    now: float | None = None,
    leeway: float = 300,
) -> dict[str, Any]:
    """Check a data-plane REST bearer token and return its claims.

    ``aud`` must equal one of ``request_urls`` (build them with ``rest_audiences``) case-insensitively, or do
    so after one round of URL-decoding (the emulator's rule); a default port and a trailing ``/`` on the
    path are ignored too. HS256, ``exp`` required. Microsoft Entra tokens are refused with an explanation.
    Raises ``TokenError``.

    >>> key = "k" * 43
    >>> url = "http://h:1/api/hubs/chat/:send?api-version=2024-12-01"
    >>> token = jwt.encode({"aud": url, "exp": 2_000_000_000}, key, algorithm="HS256")
    >>> validate_rest_token(token, key, request_urls=[url], now=1_999_999_999)["aud"] == url
    True
    """
    what = "REST bearer token"
    now = time.time() if now is None else now
    if token:
        _refuse_entra_token(token)
    claims = _decode(token, access_key, what, _REST_FIX)
    _check_lifetime(claims, now, leeway, what, _REST_FIX)
    accepted: set[str] = set()
    for url in request_urls:
        accepted.update({_rest_audience_key(url), _rest_audience_key(unquote(url))})
    given = _audience_values(claims, what)
    for audience in given:
        forms = {audience, unquote(audience), unquote_plus(audience)}
        if any(_rest_audience_key(form) in accepted for form in forms):
            return claims
    request = request_urls[0] if request_urls else "(none given)"
    raise TokenError(
        "wrong-audience",
        f"{what} is for {given[0]!r}, but the request is {request!r}; "
        "sign the exact request URL, as the official SDKs do",
    )


def _refuse_entra_token(token: str) -> None:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return  # _decode explains malformed tokens
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if ENTRA_AUDIENCE in audiences:
        raise TokenError(
            "wrong-audience",
            "this is a Microsoft Entra ID token (aud "
            "https://webpubsub.azure.com); the local service cannot verify "
            "those offline. "
            "Create the server client from the connection string instead.",
        )


# ----------------------------------------------------------------------------------------------------
# Reconnection tokens (reliable subprotocols)


def mint_reconnection_token(access_key: str, connection_id: str, *, now: float | None = None, days: float = 7) -> str:
    """A reconnection token for ``connection_id``: HS256, iss ``https://webpubsub.azure.com``, aud = the id.

    >>> key = "k" * 43
    >>> validate_reconnection_token(mint_reconnection_token(key, "c1"), key, "c1") is None
    True
    """
    now = time.time() if now is None else now
    payload = {
        "iss": RECONNECTION_ISSUER,
        "aud": connection_id,
        "jti": secrets.token_hex(16),
        "nbf": int(now),
        "exp": int(now + days * 86400),
    }
    return jwt.encode(payload, access_key, algorithm="HS256")


def validate_reconnection_token(token: str, access_key: str, connection_id: str, now: float | None = None) -> None:
    """Raise ``TokenError`` unless ``token`` was minted by this service for ``connection_id``, unexpired.

    No clock leeway: the token is only ever checked by the service that minted it.
    """
    what = "reconnection token"
    fix = "the session cannot be recovered; open a new connection"
    now = time.time() if now is None else now
    claims = _decode(token, access_key, what, fix)
    _check_lifetime(claims, now, 0, what, fix)
    if claims.get("iss") != RECONNECTION_ISSUER:
        raise TokenError("invalid-claim", f"{what} was not issued by a Web PubSub service; {fix}")
    if claims.get("aud") != connection_id:
        raise TokenError("wrong-audience", f"{what} belongs to another connection than {connection_id!r}; {fix}")
