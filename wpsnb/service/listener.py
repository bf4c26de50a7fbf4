"""The listening socket: an accept loop that survives running out of file descriptors, and quiet logs.

asyncio's own accept loop (``loop.create_server``, which aiohttp's ``TCPSite`` uses) handles ``EMFILE``
by logging a traceback and scheduling a retry — once per pending connection in the same call, so a
service at its open-file limit spins at full CPU writing megabytes of identical tracebacks per second
while nobody can connect. :class:`ListeningSite` accepts itself: when ``accept()`` fails for lack of
descriptors (or memory) it stops accepting for ``retry_delay`` seconds, and says so at most once per
:data:`LOG_INTERVAL`. Connections wait in the kernel's listen backlog meanwhile; they get in as soon
as descriptors are free again (the handshake timeout frees those of clients that never finish).

:class:`QuietHttpErrors` does the same for garbage from unauthenticated clients: aiohttp logs a full
traceback for every malformed or oversized HTTP request; the filter turns each into one line and lets
through at most one per interval (with a count of the ones it held back). Errors of our own handlers
keep their traceback.

Example::

    runner = web.AppRunner(app, logger=quiet_http_logger())
    await runner.setup()
    site = ListeningSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site.port)
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("wpsnb.service")

HANDSHAKE_TIMEOUT = 15.0  # seconds from accept() to a complete HTTP request (and between keep-alive requests)
LOG_INTERVAL = 10.0  # seconds between two log lines about the same kind of failure
ACCEPT_RETRY_DELAY = 0.5  # seconds without accepting after accept() ran out of descriptors
# The kernel's send buffer per connection (it doubles this for bookkeeping). Left to autotuning it grows
# to 4 MiB on Linux, and filling that for every subscriber that stopped reading costs the service a
# kernel copy of each byte; readers that keep up on loopback or a LAN never need more.
SEND_BUFFER = 256 * 1024
ACCEPT_BATCH = 128  # connections accepted per readiness event, so one burst cannot starve the loop
# accept() failures that mean "this process is out of something", not "this connection is bad".
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class RateLimitedLog:
    """Log a recurring condition at most once per ``interval`` seconds, counting what was held back.

    >>> limited = RateLimitedLog(interval=60.0)
    >>> limited.ready(), limited.ready(), limited.ready()
    (0, None, None)
    """

    def __init__(self, interval: float = LOG_INTERVAL):
        self.interval = interval
        self._last = float("-inf")
        self._held_back = 0

    def ready(self) -> int | None:
        """``None`` to stay quiet; otherwise how many occurrences were held back since the last line."""
        now = time.monotonic()
        if now - self._last < self.interval:
            self._held_back += 1
            return None
        self._last = now
        held_back, self._held_back = self._held_back, 0
        return held_back


class ListeningSite(web.BaseSite):
    """A TCP site for an aiohttp runner whose accept loop backs off on ``EMFILE`` instead of spinning."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        backlog: int = 1024,
        retry_delay: float = ACCEPT_RETRY_DELAY,
    ):
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._requested_port = port
        self._retry_delay = retry_delay
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused: asyncio.TimerHandle | None = None
        self._starving = RateLimitedLog()
        self._handshakes: set[asyncio.Task[object]] = set()
        self.port = 0

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        """Bind, listen and start accepting (raises ``OSError`` if the address is taken)."""
        await super().start()
        family, kind, proto, _, address = socket.getaddrinfo(
            self._host or None, self._requested_port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(self._backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._accept)
        self._server = self  # type: ignore[assignment]  # BaseSite.stop() calls self._server.close()
        await first_request(family, self.port)

    def close(self) -> None:
        """Stop accepting and close the listening socket (open connections are the runner's)."""
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        sock, self._sock = self._sock, None
        if sock is not None and self._loop is not None:
            self._loop.remove_reader(sock.fileno())
            sock.close()

    def _accept(self) -> None:
        sock, loop, server = self._sock, self._loop, self._runner.server
        if sock is None or loop is None or server is None:
            return
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause(exc)
                    return
                raise
            conn.setblocking(False)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            task = loop.create_task(loop.connect_accepted_socket(server, conn))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    def _pause(self, exc: OSError) -> None:
        """Out of descriptors: stop watching the socket for a while instead of failing in a loop."""
        assert self._sock is not None and self._loop is not None
        self._loop.remove_reader(self._sock.fileno())
        self._paused = self._loop.call_later(self._retry_delay, self._resume)
        held_back = self._starving.ready()
        if held_back is not None:
            more = f" ({held_back} more times since the last report)" if held_back else ""
            log.warning(
                "cannot accept connections: %s%s; retrying every %.1f s. New clients wait until open "
                "connections close; raise the open-file limit (ulimit -n) if this is normal load",
                exc.strerror or exc,
                more,
                self._retry_delay,
            )

    def _resume(self) -> None:
        self._paused = None
        if self._sock is not None and self._loop is not None:
            self._loop.add_reader(self._sock.fileno(), self._accept)
            self._accept()


async def first_request(family: int, port: int, timeout: float = 2.0) -> None:
    """Answer one request of our own (``HEAD /``) before any client's.

    CPython 3.11 gives the instances of a class one shared key table for their attributes, but only for
    attributes set while the class has had few instances. aiohttp's response writer sets two of its
    attributes on its first write, so when a burst of clients connects to a fresh service, every
    response after it gets a dictionary of its own: about 460 bytes per connection, for as long as the
    connection stays open (``bench/idle_memory.py``). One response written alone first avoids that.
    """
    address = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
        try:
            writer.write(b"HEAD / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            await asyncio.wait_for(reader.read(), timeout)
        finally:
            writer.close()
    except (OSError, asyncio.TimeoutError) as exc:  # only memory is at stake: go on without it
        log.debug("the service's first request to itself failed: %s", exc)


class QuietHttpErrors(logging.Filter):
    """One rate-limited line per malformed HTTP request instead of aiohttp's traceback for each."""

    def __init__(self, interval: float = LOG_INTERVAL):
        super().__init__()
        self._limited = RateLimitedLog(interval)

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True  # our own handlers' errors keep their traceback
        held_back = self._limited.ready()
        if held_back is None:
            return False
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        more = f" ({held_back} more since the last report)" if held_back else ""
        record.msg = "refused a malformed HTTP request from %s: %s%s"
        record.args = (peer, _one_line(exc), more)
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def quiet_http_logger() -> logging.Logger:
    """The logger aiohttp's request handlers should use: ``wpsnb.service.http`` with the filter on it.

    >>> quiet_http_logger().name
    'wpsnb.service.http'
    """
    logger = logging.getLogger("wpsnb.service.http")
    if not any(isinstance(f, QuietHttpErrors) for f in logger.filters):
        logger.addFilter(QuietHttpErrors())
    return logger


def _one_line(exc: HttpProcessingError) -> str:
    text = f"{exc.code} {exc.message}".strip()
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."
