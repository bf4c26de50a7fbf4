"""Where a client connects: a *source*, and the client access URL it gives.

A source is what every wpsnb entry point accepts; :class:`Source` is its one parsed form:

* a connection string (``Endpoint=...;AccessKey=...;Version=1.0;``): URLs are minted with the
  official server SDK, ``WebPubSubServiceClient.get_client_access_token``, with the roles, groups and
  user id the caller asks for;
* a :class:`wpsnb.LocalService` (any object with a ``.connection_string``): the same;
* an ``http(s)://`` URL of a ``/negotiate`` endpoint (your web app): GET it (``?id=`` carries the user
  id), expect ``{"url": ...}``; the server behind it decides roles and groups;
* a ``ws(s)://`` client access URL: used as it is; its token already fixes user, roles and groups;
* ``None``: the connection string in the environment variable ``WebPubSubConnectionString`` (the
  tutorials' name) or ``WEBPUBSUB_CONNECTION_STRING`` (:func:`environment_connection_string`).

Example::

    >>> source = Source.of("http://localhost:8080/negotiate")
    >>> source.kind, source.describe()
    ('negotiate_url', 'http://localhost:8080/negotiate')
    >>> source.token_options(user_id="ann", roles=["webpubsub.sendToGroup.lab"])
    {'user_id': 'ann'}
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
SourceKind = Literal["connection_string", "service", "negotiate_url", "client_url"]
MAX_NEGOTIATE_ANSWER = 1024 * 1024  # bytes of a /negotiate answer read at most (it is one small JSON object)
_SECRET_QUERY = re.compile(r"((?:access_token|awps_reconnection_token)=)[^&]*", re.IGNORECASE)


def environment_connection_string() -> str | None:
    """The connection string in ``WebPubSubConnectionString``, else ``WEBPUBSUB_CONNECTION_STRING`` (blank: unset).

    >>> import os; os.environ["WEBPUBSUB_CONNECTION_STRING"] = "Endpoint=http://h;AccessKey=k;"  # doctest: +SKIP
    >>> environment_connection_string()                                                         # doctest: +SKIP
    'Endpoint=http://h;AccessKey=k;'
    """
    for variable in ENV_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    return None


class Source:
    """One source, classified: its ``kind``, how it gives a client access URL, and how to name it safely.

    Build it with :meth:`of`. ``value`` is the connection string (read from the service each time, for a
    ``LocalService``) or the URL.

    >>> Source.of("Endpoint=https://x.webpubsub.azure.com;AccessKey=abc;Version=1.0;").describe()
    'https://x.webpubsub.azure.com'
    >>> Source.of("wss://x.webpubsub.azure.com/client/hubs/h?access_token=t").token_options(user_id="ann")
    {}
    """

    __slots__ = ("kind", "_text", "_service")

    def __init__(self, kind: SourceKind, text: str = "", service: Any = None):
        self.kind: SourceKind = kind
        self._text = text
        self._service = service

    @classmethod
    def of(cls, source: Any = None) -> Source:
        """Classify ``source`` (see the module docs); ``None`` reads the environment. Raises :class:`InvalidSource`.

        >>> Source.of("ws://127.0.0.1:8080/client/hubs/stream?access_token=eyJ").kind
        'client_url'
        """
        if isinstance(source, Source):
            return source
        if source is None:
            value = environment_connection_string()
            if value is None:
                raise InvalidSource(
                    f"no source given and neither {' nor '.join(ENV_VARIABLES)} is set; pass a "
                    "connection string, a /negotiate URL or a client URL, or start a local service: "
                    "service = wpsnb.LocalService(); wpsnb.Client(service)"
                )
            return cls("connection_string", value)
        connection_string = getattr(source, "connection_string", None)
        if connection_string is not None and not isinstance(source, str):
            if not isinstance(connection_string, str):
                raise InvalidSource(f"{type(source).__name__}.connection_string is not a string")
            return cls("service", service=source)
        if not isinstance(source, str):
            raise InvalidSource(
                f"source must be a connection string, a URL or a LocalService, got {type(source).__name__}"
            )
        text = source.strip()
        scheme = text.split(":", 1)[0].lower() if "://" in text[:10] else ""
        if scheme in ("ws", "wss"):
            return cls("client_url", text)
        if scheme in ("http", "https"):
            return cls("negotiate_url", text)
        if "endpoint=" in text.lower():
            return cls("connection_string", text)
        raise InvalidSource(
            f"source is neither a URL (ws://, wss://, http://, https://) nor a connection string "
            f"(expected {EXPECTED_CONNECTION_STRING!r})"
        )

    @property
    def value(self) -> str:
        """The connection string or the URL behind this source."""
        if self._service is not None:
            return str(self._service.connection_string)
        return self._text

    @property
    def mints_tokens(self) -> bool:
        """Whether wpsnb mints the token itself (a connection string or a service), choosing roles and groups."""
        return self.kind in ("connection_string", "service")

    def token_options(
        self, *, user_id: str | None = None, roles: Iterable[str] = (), groups: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Of the wished-for token options, those this source can honour, as keyword arguments.

        All of them when it mints tokens; only ``user_id`` for a ``/negotiate`` endpoint (its server decides
        roles and groups); none for a client access URL (its token fixes them). For defaults such as "the
        role to publish to this group"; options the user asked for explicitly go to :meth:`client_url`,
        which refuses what the source cannot do.

        >>> Source.of("Endpoint=http://h;AccessKey=k;").token_options(user_id="ann", roles=["webpubsub.sendToGroup"])
        {'user_id': 'ann', 'roles': ['webpubsub.sendToGroup']}
        """
        options: dict[str, Any] = {}
        if self.kind != "client_url" and user_id is not None:
            options["user_id"] = user_id
        if self.mints_tokens:
            roles, groups = list(roles), list(groups)
            if roles:
                options["roles"] = roles
            if groups:
                options["groups"] = groups
        return options

    def client_url(
        self,
        hub: str = "stream",
        user_id: str | None = None,
        roles: Iterable[str] | None = None,
        groups: Iterable[str] | None = None,
        minutes_to_expire: int = 60,
        *,
        timeout: float = 10.0,
    ) -> str:
        """A client access URL: minted, fetched from the ``/negotiate`` endpoint, or the URL itself.

        Raises :class:`InvalidSource` for what this kind of source cannot grant (roles or groups from a
        ``/negotiate`` endpoint; anything from a client access URL).

        >>> Source.of("wss://x.webpubsub.azure.com/client/hubs/h?access_token=t").client_url()
        'wss://x.webpubsub.azure.com/client/hubs/h?access_token=t'
        """
        roles, groups = list(roles or ()), list(groups or ())
        if self.kind == "client_url":
            if user_id is not None or roles or groups:
                raise InvalidSource(
                    "a client access URL already fixes the user, roles and groups in its token; "
                    "pass a connection string or a LocalService to choose them"
                )
            return self.value
        if self.kind == "negotiate_url":
            if roles or groups:
                raise InvalidSource(
                    "roles and groups cannot be requested from a /negotiate endpoint (the server "
                    "behind it decides them); pass a connection string or a LocalService instead"
                )
            return _get_negotiate_url(self.value, user_id, timeout)
        return _mint(self.value, hub, user_id, roles, groups, minutes_to_expire)

    def describe(self) -> str:
        """A short, secret-free description for messages: the endpoint or the URL without its query.

        >>> Source.of("ws://127.0.0.1:8080/client/hubs/stream?access_token=eyJ").describe()
        'ws://127.0.0.1:8080/client/hubs/stream'
        """
        endpoint = getattr(self._service, "endpoint", None)
        if isinstance(endpoint, str):
            return endpoint
        if not self.mints_tokens:
            return self.value.split("?", 1)[0]
        try:
            return ConnectionString.parse(self.value).endpoint
        except ValueError:
            return "the given connection string"

    def __repr__(self) -> str:
        return f"Source({self.kind!r}, {self.describe()!r})"


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
    return Source.of(source).client_url(hub, user_id, roles, groups, minutes_to_expire, timeout=timeout)


def describe_source(source: Any) -> str:
    """A short, secret-free description of any ``source`` (never the access key or a token).

    >>> describe_source("Endpoint=https://x.webpubsub.azure.com;AccessKey=abc;Version=1.0;")
    'https://x.webpubsub.azure.com'
    >>> describe_source(42)
    'int'
    """
    try:
        return Source.of(source).describe()
    except InvalidSource:
        return type(source).__name__ if not isinstance(source, str) else "the given connection string"


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
            body = response.read(MAX_NEGOTIATE_ANSWER)
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


__all__ = [
    "ENV_VARIABLES",
    "Source",
    "SourceKind",
    "describe_source",
    "environment_connection_string",
    "negotiate",
    "redact_url",
    "with_query",
]
