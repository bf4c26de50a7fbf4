"""``LocalService``: the local Web PubSub service, running in a background thread of this process.

It works the same in a script and inside a running Jupyter kernel (whose own event loop is busy
with the notebook): the service has its own thread and event loop.

Example::

    >>> import wpsnb
    >>> with wpsnb.LocalService() as service:           # doctest: +SKIP
    ...     print(service.connection_string)
    Endpoint=http://127.0.0.1:53117;AccessKey=...;Version=1.0;
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from ..protocol.cloud_events import parse_event_handlers
from ..protocol.limits import CloseCode
from ..protocol.names import is_loopback_host
from ..protocol.tokens import ConnectionString, access_key_problem, generate_access_key
from .app import build_app
from .hub import KEEPALIVE_INTERVAL, RECOVERY_WINDOW, Service
from .listener import HANDSHAKE_TIMEOUT, ListeningSite, quiet_http_logger
from .outbound_budget import DEFAULT_OUTBOUND_BUDGET
from .trace import DEFAULT_CAPACITY, TraceRecorder
from .upstream import Upstream
from .writer import DEFAULT_LIMIT

log = logging.getLogger("wpsnb.service")
T = TypeVar("T")
SHUTDOWN_REASON = "The local service is stopping."


class LocalService:
    """A local Web PubSub service speaking the same client protocol and REST API as Azure's.

    ``port=0`` picks a free port. A random access key is generated unless one is given.
    ``.connection_string`` is usable verbatim by ``WebPubSubServiceClient.from_connection_string``.
    ``send_buffer_limit``: bytes a connection may have waiting to be sent before the service aborts it
    (a client that stopped reading); ``recovery_window``: seconds a dropped reliable session is kept;
    ``trace``: record every connection, frame and REST call for ``wpsnb trace`` / ``wpsnb.LiveTrace``
    (``True``; a number: how many events to keep; ``False``: off).
    ``handshake_timeout``: seconds an HTTP connection may take to send a complete request (and may stay
    idle between REST requests); ``keepalive_interval``: seconds of silence before a WebSocket is pinged
    (closed if no pong comes within half that; ``None``: never); ``outbound_budget``: unsent bytes over all
    connections before those holding the most are closed (``None``: no bound). docs/limits.md lists them all.
    ``event_handlers``: the hubs' upstream event handlers, as Azure's hub settings say them
    (``{"chat": [{"url_template": "http://127.0.0.1:3000/api/webpubsub/hubs/{hub}/", "user_event_pattern": "*",
    "system_events": ["connect", "connected", "disconnected"]}]}``), or a handler started with
    :meth:`wpsnb.handler.EventHandler.start` (which then checks signatures with this service's key).
    """

    def __init__(
        self,
        port: int = 0,
        access_key: str | None = None,
        host: str = "127.0.0.1",
        *,
        recovery_window: float = RECOVERY_WINDOW,
        send_buffer_limit: int = DEFAULT_LIMIT,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        keepalive_interval: float | None = KEEPALIVE_INTERVAL,
        outbound_budget: int | None = DEFAULT_OUTBOUND_BUDGET,
        trace: bool | int = True,
        event_handlers: Mapping[str, Any] | None = None,
        start: bool = True,
    ):
        if access_key is not None:
            problem = access_key_problem(access_key)
            if problem:
                raise ValueError(f"access_key is not usable: {problem}")
        self.host = host
        self.access_key = access_key or generate_access_key()
        recorder = TraceRecorder(DEFAULT_CAPACITY if trace is True else int(trace)) if trace else None
        self.service = Service(
            self.access_key,
            recovery_window=recovery_window,
            send_buffer_limit=send_buffer_limit,
            keepalive_interval=keepalive_interval,
            outbound_budget=outbound_budget,
            trace=recorder,
        )
        self.handshake_timeout = handshake_timeout
        self._requested_port = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.set_event_handlers(event_handlers)
        if start:
            self.start()

    # -- lifecycle --

    def start(self, timeout: float = 10.0) -> LocalService:
        """Start the service thread and wait until it accepts connections."""
        if self._thread is not None:
            return self
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="wpsnb-local-service", daemon=True)
        self._thread.start()
        try:
            self.port = ready.result(timeout)
        except OSError as exc:
            self._thread = None
            raise OSError(
                exc.errno,
                f"could not start the local service on {self.host}:{self._requested_port}: "
                f"{exc.strerror}. Pick another port (port=0 chooses a free one).",
            ) from exc
        _warn_if_exposed(self.host)
        log.info("local Web PubSub service listening on %s", self.endpoint)
        return self

    def _run(self, ready: concurrent.futures.Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            port = loop.run_until_complete(self._serve())
        except BaseException as exc:
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(port)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _serve(self) -> int:
        app = build_app(self.service)
        # keepalive_timeout is aiohttp's idle timer, armed from the moment a connection is accepted until
        # a complete request has arrived: it is the handshake timeout (slowloris) as well.
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            keepalive_timeout=self.handshake_timeout,
            logger=quiet_http_logger(),
        )
        await self._runner.setup()
        site = ListeningSite(self._runner, self.host, self._requested_port, backlog=1024)
        await site.start()
        return site.port

    async def _shutdown(self) -> None:
        # Say goodbye to every client first (disconnected message, close 1001), so the handlers end
        # at once instead of being cancelled after aiohttp's shutdown timeout.
        for hub in list(self.service.hubs.values()):
            for session in list(hub.sessions.values()):
                hub.end_session(session, SHUTDOWN_REASON, code=CloseCode.GOING_AWAY)
        if self.service.upstream is not None:  # deliver the disconnected events just queued
            await self.service.upstream.close()
        await self._finish_closing_handshakes()
        if self._runner is not None:
            await self._runner.cleanup()
        # Closing handshakes with clients that stopped reading never finish: cancel, don't leak them.
        leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    async def _finish_closing_handshakes(self, timeout: float = 1.0) -> None:
        # Clients answer the close frames just sent; drop the connections of those that do not.
        service = self.service
        if service.keepalive is not None:
            service.keepalive.stop()
        deadline = asyncio.get_running_loop().time() + timeout
        while service.connections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(service.connections):
            connection.abort()
        await asyncio.sleep(0)  # let the transports report connection_lost

    def stop(self) -> None:
        """Close every connection and stop the service thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._thread = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._thread is not None else "stopped"
        return f"<LocalService {self.endpoint} {state}>"

    def set_event_handlers(self, event_handlers: Mapping[str, Any] | None) -> None:
        """Replace the hubs' event handlers (the same shape as the constructor's ``event_handlers``).

        Connections made before keep working; their next events go to the new settings.

        >>> service.set_event_handlers({"chat": [{"url_template": "http://127.0.0.1:3000/{event}"}]})  # doctest: +SKIP
        """
        handlers = parse_event_handlers(event_handlers)

        def apply() -> None:
            if self.service.upstream is None:
                if handlers:
                    self.service.upstream = Upstream(self.service, handlers)
            else:
                self.service.upstream.handlers = dict(handlers)

        if self.running:
            self.call(apply)
        else:
            apply()
        trust = getattr(event_handlers, "trust_access_key", None)
        if callable(trust):
            trust(self.access_key)

    # -- addresses --

    @property
    def endpoint(self) -> str:
        """``http://host:port`` — what the connection string's Endpoint says."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def connection_string(self) -> str:
        """``Endpoint=http://127.0.0.1:PORT;AccessKey=...;Version=1.0;``."""
        return str(ConnectionString(endpoint=self.endpoint, access_key=self.access_key, version="1.0"))

    @property
    def running(self) -> bool:
        """Whether the service thread is serving."""
        return self._thread is not None

    # -- for tests and tools: run code on the service's own loop --

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run ``fn(*args)`` on the service's event loop thread and return its result.

        >>> service.call(lambda: len(service.service.hub("stream").sessions))   # doctest: +SKIP
        0
        """
        loop = self._loop
        if loop is None or self._thread is None:
            raise RuntimeError("the local service is not running; call start() first")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout)


def _warn_if_exposed(host: str) -> None:
    if not (host == "" or is_loopback_host(host)):
        log.warning(
            "the local service is listening on %s, reachable from other machines: anyone who "
            "knows the access key can connect; use it on trusted networks only",
            host,
        )
