"""From a *source* to a client access URL (``ws(s)://host/client/hubs/<hub>?access_token=...``).

A source is what every wpsnb entry point accepts:

* a connection string (``Endpoint=...;AccessKey=...;Version=1.0;``): the URL is minted with the
  official server SDK, ``WebPubSubServiceClient.get_client_access_token``;
* an object with a ``.connection_string`` (a :class:`wpsnb.LocalService`): same;
* an ``http(s)://`` URL of a ``/negotiate`` endpoint (your web app): GET it, expect ``{"url": ...}``;
* a ``ws(s)://`` client access URL: returned as it is;
* ``None``: the connection string in the environment variable ``WebPubSubConnectionString`` (the
  tutorials' name) or ``WEBPUBSUB_CONNECTION_STRING``.

Example::

    >>> url = negotiate(service, hub="stream", user_id="ann",            # doctest: +SKIP
    ...                 roles=["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"])
    >>> url.split("?")[0]                                                 # doctest: +SKIP
    'ws://127.0.0.1:53117/client/hubs/stream'
"""

from __future__ import annotations

import json
import os
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import InvalidSource, NegotiateFailed, ServiceUnreachable
from .protocol.names import hub_name_problem
from .protocol.tokens import EXPECTED_CONNECTION_STRING, ConnectionString

ENV_VARIABLES = ("WebPubSubConnectionString", "WEBPUBSUB_CONNECTION_STRING")
SourceKind = Literal["connection_string", "negotiate_url", "client_url"]
_SECRET_QUERY = re.compile(r"((?:access_token|awps_reconnection_token)=)[^&]*", re.IGNORECASE)


def negotiate(
    source: Any = None,
    hub: str = "stream",
    user_id: str | None = None,
    roles: Iterable[str] | None = None,
    groups: Iterable[str] | None = None,
    minutes_to_expire: int = 60,
    *,
    timeout: float = 10.0,
) -> str:
    """Return a client access URL for ``source`` (see the module docs for what a source may be).

    ``hub``, ``user_id``, ``roles``, ``groups`` and ``minutes_to_expire`` go into the token minted from a
    connection string. A ``/negotiate`` endpoint decides them itself (``user_id`` is passed as ``?id=``);
    a client access URL already carries them, so asking for roles or groups there is an error.

    >>> negotiate("wss://x.webpubsub.azure.com/client/hubs/h?access_token=t")
    'wss://x.webpubsub.azure.com/client/hubs/h?access_token=t'
    """
    kind, value = resolve_source(source)
    roles, groups = list(roles or ()), list(groups or ())
    if kind == "client_url":
        if user_id is not None or roles or groups:
            raise InvalidSource(
                "a client access URL already fixes the user, roles and groups in its token; "
                "pass a connection string or a LocalService to choose them"
            )
        return value
    if kind == "negotiate_url":
        if roles or groups:
            raise InvalidSource(
                "roles and groups cannot be requested from a /negotiate endpoint (the server "
                "behind it decides them); pass a connection string or a LocalService instead"
            )
        return _get_negotiate_url(value, user_id, timeout)
    return _mint(value, hub, user_id, roles, groups, minutes_to_expire)


def resolve_source(source: Any) -> tuple[SourceKind, str]:
    """Classify ``source``; return its kind and the string behind it (connection string or URL).

    >>> resolve_source("http://localhost:8080/negotiate")
    ('negotiate_url', 'http://localhost:8080/negotiate')
    """
    if source is None:
        for variable in ENV_VARIABLES:
            value = os.environ.get(variable)
            if value:
                return "connection_string", value
        raise InvalidSource(
            f"no source given and neither {' nor '.join(ENV_VARIABLES)} is set; pass a "
            "connection string, a /negotiate URL or a client URL, or start a local service: "
            "service = wpsnb.LocalService(); wpsnb.Client(service)"
        )
    connection_string = getattr(source, "connection_string", None)
    if connection_string is not None and not isinstance(source, str):
        if not isinstance(connection_string, str):
            raise InvalidSource(f"{type(source).__name__}.connection_string is not a string")
        return "connection_string", connection_string
    if not isinstance(source, str):
        raise InvalidSource(f"source must be a connection string, a URL or a LocalService, got {type(source).__name__}")
    text = source.strip()
    scheme = text.split(":", 1)[0].lower() if "://" in text[:10] else ""
    if scheme in ("ws", "wss"):
        return "client_url", text
    if scheme in ("http", "https"):
        return "negotiate_url", text
    if "endpoint=" in text.lower():
        return "connection_string", text
    raise InvalidSource(
        f"source is neither a URL (ws://, wss://, http://, https://) nor a connection string "
        f"(expected {EXPECTED_CONNECTION_STRING!r})"
    )


def redact_url(url: str) -> str:
    """``url`` with its access and reconnection tokens hidden, for messages and logs.

    >>> redact_url("ws://h/client/hubs/s?access_token=eyJabc&x=1")
    'ws://h/client/hubs/s?access_token=...&x=1'
    """
    return _SECRET_QUERY.sub(r"\1...", url)


def with_query(url: str, **params: str) -> str:
    """``url`` with query parameters set (replaced if present), the others kept in order.

    >>> with_query("ws://h/c?access_token=t&a=1", awps_connection_id="c1")
    'ws://h/c?access_token=t&a=1&awps_connection_id=c1'
    """
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _mint(
    connection_string: str, hub: str, user_id: str | None, roles: list[str], groups: list[str], minutes_to_expire: int
) -> str:
    problem = hub_name_problem(hub)
    if problem:
        raise InvalidSource(problem)
    try:
        ConnectionString.parse(connection_string)  # its errors explain the problem and never echo the key
    except ValueError as exc:
        raise InvalidSource(str(exc)) from None
    from azure.messaging.webpubsubservice import WebPubSubServiceClient

    try:
        client = WebPubSubServiceClient.from_connection_string(connection_string, hub=hub)
        token = client.get_client_access_token(
            user_id=user_id, roles=roles or None, groups=groups or None, minutes_to_expire=minutes_to_expire
        )
    except (ValueError, KeyError, TypeError) as exc:
        # The SDK's own messages may quote the connection string: say what it is about, not what it says.
        raise InvalidSource(
            f"the Web PubSub SDK could not use this connection string "
            f"({type(exc).__name__}); expected {EXPECTED_CONNECTION_STRING!r}"
        ) from None
    return str(token["url"])


def _get_negotiate_url(url: str, user_id: str | None, timeout: float) -> str:
    if user_id is not None:
        url = with_query(url, id=user_id)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(1024 * 1024)
    except urllib.error.HTTPError as exc:
        detail = exc.read(500).decode("utf-8", "replace").strip()
        raise NegotiateFailed(
            f"the negotiate endpoint {url} answered HTTP {exc.code}"
            f"{': ' + detail if detail else ''}; check the URL and the server's log",
            url=url,
            status=exc.code,
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise ServiceUnreachable(
                f"the negotiate endpoint {url} did not answer within {timeout:g} s; is the server busy or stuck?",
                url=url,
            ) from None
        raise ServiceUnreachable(
            f"cannot reach the negotiate endpoint {url} ({reason}); the server is not "
            "running or the URL is wrong — start it, or pass a connection string or "
            "a wpsnb.LocalService instead",
            url=url,
        ) from None
    try:
        answer = json.loads(body)
    except ValueError:
        raise NegotiateFailed(
            f"the negotiate endpoint {url} did not answer JSON (got "
            f"{body[:80].decode('utf-8', 'replace')!r}); it must return "
            '{"url": "wss://.../client/hubs/<hub>?access_token=..."}',
            url=url,
        ) from None
    client_url = answer.get("url") if isinstance(answer, dict) else None
    if not isinstance(client_url, str) or not client_url.lower().startswith(("ws://", "wss://")):
        raise NegotiateFailed(
            f"the negotiate endpoint {url} answered JSON without a ws(s):// 'url' field; "
            'it must return {"url": "wss://.../client/hubs/<hub>?access_token=..."}',
            url=url,
        )
    return client_url


__all__ = ["negotiate", "redact_url", "resolve_source", "with_query"]
