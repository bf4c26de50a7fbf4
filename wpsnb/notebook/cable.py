"""``Cable``: a loopback TCP proxy whose connections can be cut, to watch a client recover (notebook 8).

A client connects through the cable instead of straight to the service; ``cable.hold()`` makes it lose
everything the client sends from then on (its ``sequenceAck`` frames never arrive), ``cable.cut()``
severs every TCP connection through it at once (no close frame: a network failure). It keeps listening,
so the client can come back through it, and notes the first line of every HTTP request (the recovery
request shows there). :func:`through_cable` rewrites a local connection string so the tokens it mints
name the cable's address (a token names the address it is for).

Example::

    >>> cable, source = through_cable(service.connection_string)        # doctest: +SKIP
    >>> alice = wpsnb.Client(source, user_id="alice").connect()          # doctest: +SKIP
    >>> cable.cut()                                                     # doctest: +SKIP
    >>> cable.requests[-1]                                              # doctest: +SKIP
    'GET /client/hubs/stream?access_token=...&awps_connection_id=...&awps_reconnection_token=... HTTP/1.1'
"""

from __future__ import annotations

import re
import socket
import threading
from urllib.parse import urlsplit


def through_cable(connection_string: str) -> tuple[Cable | None, str]:
    """A :class:`Cable` to the service of ``connection_string`` and the connection string through it.

    ``(None, connection_string)`` for a TLS endpoint (Azure): its certificate and tokens name its own host,
    so nothing can sit in between.

    >>> through_cable("Endpoint=https://x.webpubsub.azure.com;AccessKey=k;Version=1.0;")[0] is None
    True
    """
    found = re.search(r"(?i)endpoint=([^;]+)", connection_string)
    endpoint = urlsplit(found.group(1)) if found else None
    if endpoint is None or endpoint.scheme != "http" or endpoint.hostname is None:
        return None, connection_string
    cable = Cable(endpoint.hostname, endpoint.port or 80)
    rewritten = re.sub(r"(?i)endpoint=[^;]+", f"Endpoint=http://127.0.0.1:{cable.port}", connection_string)
    return cable, rewritten


class Cable:
    """A loopback TCP proxy to ``host:port`` whose connections can be cut."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.requests: list[str] = []  # first line of each HTTP request through the cable
        self.held: set[socket.socket] = set()  # connections whose client -> service bytes are lost
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            service = socket.create_connection(self.target)
            self.sockets += [client, service]
            threading.Thread(target=self._pipe, args=(client, service, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(service, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, upstream: bool) -> None:
        try:
            first = True
            while data := source.recv(65536):
                if upstream and first:
                    self.requests.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
                    first = False
                if upstream and source in self.held:
                    continue  # lost on the way
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def hold(self) -> None:
        """From now on, lose what the clients of the live connections send (new connections are not held)."""
        self.held.update(self.sockets)

    def cut(self) -> None:
        """Sever every live connection through the cable (the cable stays up for new ones)."""
        sockets, self.sockets = self.sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


__all__ = ["Cable", "through_cable"]
