"""Reading a local service's trace from anywhere: the watcher side of ``GET /trace``.

A :class:`TraceReader` turns a source (a :class:`~wpsnb.LocalService` or a local service's connection
string) into the trace URL and a bearer token signed with the AccessKey (as the REST SDK signs its
calls), and yields the records the service streams, one dict per line. ``wpsnb trace`` prints them;
:class:`wpsnb.LiveTrace` shows them. Azure's service has no such endpoint: its portal has the Live
Trace tool instead, and the reader says so.

Example::

    reader = TraceReader(service, hub="stream")
    for record in reader.records():          # blocks; records of kind "watcher" report drops
        print(record["kind"], record.get("type"))
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt

from .protocol.tokens import ConnectionString

TOKEN_LIFETIME = 24 * 3600  # seconds; a watcher may stay attached all day
AZURE_HOSTS = (".webpubsub.azure.com", ".webpubsub.azure.cn", ".webpubsub.azure.us")


class TraceError(RuntimeError):
    """The trace could not be read: refused (401), off, unreachable, or an Azure endpoint."""


class TraceReader:
    """Connects to a local service's trace endpoint; see the module docs.

    ``source`` is a ``LocalService`` or a connection string (``Endpoint=http://127.0.0.1:PORT;AccessKey=...``).
    ``hub`` keeps only that hub's records; ``history`` starts with what the service still holds.

    >>> reader = TraceReader("Endpoint=http://127.0.0.1:8080;AccessKey=" + "k" * 43 + ";Version=1.0;", hub="chat")
    >>> reader.url
    'http://127.0.0.1:8080/trace?hub=chat&history=1'
    """

    def __init__(self, source: Any, *, hub: str | None = None, history: bool = True, timeout: float = 10.0):
        text = getattr(source, "connection_string", source)
        if not isinstance(text, str):
            raise TypeError(
                f"a trace source is a LocalService or a local service's connection string, not {type(source).__name__}"
            )
        parsed = ConnectionString.parse(text)
        parts = urlsplit(parsed.endpoint)
        host = (parts.hostname or "").lower()
        if host.endswith(AZURE_HOSTS):
            raise TraceError(
                f"{parsed.endpoint} is an Azure Web PubSub service: the trace is a feature of the local service "
                "(wpsnb serve / wpsnb.LocalService). On Azure, open the resource's Live Trace tool in the portal."
            )
        if parts.scheme not in ("http", "https"):
            raise TraceError(f"the endpoint {parsed.endpoint!r} is not an http(s) URL")
        self.endpoint = parsed.endpoint
        self.hub = hub
        self._key = parsed.access_key
        self._timeout = timeout
        query = {k: v for k, v in (("hub", hub), ("history", "1" if history else None)) if v}
        self.path = "/trace" + (f"?{urlencode(query)}" if query else "")
        self.url = self.endpoint + self.path
        self._connection: http.client.HTTPConnection | None = None
        self._closed = False

    def token(self) -> str:
        """A bearer JWT for :attr:`url`, signed with the AccessKey (HS256, like a REST call's)."""
        now = int(time.time())
        return jwt.encode({"aud": self.url, "iat": now, "exp": now + TOKEN_LIFETIME}, self._key, algorithm="HS256")

    def records(self) -> Iterator[dict[str, Any]]:
        """Yield each record the service streams until :meth:`close` or the service stops."""
        parts = urlsplit(self.endpoint)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.netloc, timeout=self._timeout)
        try:
            connection.request("GET", self.path, headers={"Authorization": f"Bearer {self.token()}"})
            response = connection.getresponse()
        except OSError as exc:
            connection.close()
            raise TraceError(
                f"no local service answers at {self.endpoint} ({exc}); start one with `wpsnb serve` "
                "or wpsnb.LocalService() and use its connection string"
            ) from None
        if response.status != 200:
            body = response.read().decode("utf-8", "replace")
            connection.close()
            raise TraceError(_refusal(response.status, body, self.endpoint))
        self._connection = connection
        try:
            while not self._closed:
                try:
                    line = response.readline()  # the service sends a status line every second
                except (OSError, ValueError, http.client.HTTPException):
                    if self._closed:
                        return
                    raise TraceError(f"the trace stream from {self.endpoint} broke off") from None
                if not line:
                    return
                line = line.strip()
                if line:
                    yield json.loads(line)
        finally:
            connection.close()

    def close(self) -> None:
        """Stop reading (from any thread); :meth:`records` returns soon after."""
        self._closed = True
        connection = self._connection
        if connection is not None and connection.sock is not None:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in readline()
            except OSError:
                pass


def _refusal(status: int, body: str, endpoint: str) -> str:
    try:
        message = json.loads(body).get("message", body)
    except ValueError:
        message = body.strip()
    if status == 404:
        return f"{endpoint} has no trace endpoint (is it a wpsnb local service?): {status} {message}"[:500]
    return f"the trace at {endpoint} refused the watcher: {status} {message}"
