"""Run an :class:`~.handler.EventHandler` from a background thread: the notebook kernel stays free.

``RunningHandler`` is also the event handler settings of its hub (a mapping ``{hub: [setting]}``), so
one line points a local service at it, and the service hands it its access key to check signatures::

    service = wpsnb.LocalService(event_handlers=handler.start())

Every CloudEvent it answered is kept in ``.exchanges`` (request and answer), to look at what went
over the wire.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .aiohttp_handler import MAX_BODY, to_response
from .events import HandlerResponse
from .handler import EventHandler

KEEP = 200  # exchanges remembered


@dataclass(frozen=True)
class Exchange:
    """One HTTP request the handler received and what it answered."""

    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    answer_headers: dict[str, str]
    answer_body: bytes

    def describe(self) -> str:
        """The request and the answer as HTTP text (bodies up to 400 bytes).

        >>> Exchange(0, "POST", "/x", {"ce-type": "t"}, b"{}", 204, {}, b"").describe().splitlines()[:2]
        ['POST /x', 'ce-type: t']
        """
        lines = [f"{self.method} {self.path}", *(f"{k}: {v}" for k, v in self.headers.items())]
        lines += ["", _show(self.body), "", f"HTTP {self.status}"]
        lines += [f"{k}: {v}" for k, v in self.answer_headers.items()]
        if self.answer_body:
            lines += ["", _show(self.answer_body)]
        return "\n".join(lines)


def _show(body: bytes) -> str:
    try:
        text = body[:400].decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(body)} bytes: {body[:40].hex(' ')}>"
    return text + (" …" if len(body) > 400 else "")


class RunningHandler(Mapping[str, list[dict[str, Any]]]):
    """An event handler served on ``http://host:port`` by a thread of its own."""

    def __init__(self, handler: EventHandler, host: str = "127.0.0.1", port: int = 0):
        self.handler = handler
        self.host = host
        self.port = port
        self.exchanges: deque[Exchange] = deque(maxlen=KEEP)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    # -- the settings mapping --

    @property
    def url(self) -> str:
        """``http://host:port`` of the running handler."""
        return f"http://{self.host}:{self.port}"

    def _settings(self) -> dict[str, list[dict[str, Any]]]:
        return {self.handler.hub: [self.handler.setting(self.url)]}

    def __getitem__(self, hub: str) -> list[dict[str, Any]]:
        return self._settings()[hub]

    def __iter__(self) -> Iterator[str]:
        return iter(self._settings())

    def __len__(self) -> int:
        return 1

    def trust_access_key(self, key: str) -> None:
        """Check signatures against ``key`` (the local service's)."""
        self.handler.trust_access_key(key)

    # -- lifecycle --

    def start(self, timeout: float = 10.0) -> RunningHandler:
        """Start serving; returns once the port is open."""
        if self._thread is not None:
            return self
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="wpsnb-event-handler", daemon=True)
        self._thread.start()
        self.port = ready.result(timeout)
        return self

    def _run(self, ready: concurrent.futures.Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        finally:
            loop.close()

    async def _serve(self, ready: concurrent.futures.Future[int]) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._view)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException as exc:
            ready.set_exception(exc)
            await runner.cleanup()
            return
        self._stop = asyncio.Event()
        ready.set_result(int(site._server.sockets[0].getsockname()[1]))  # type: ignore[union-attr]
        await self._stop.wait()
        await runner.cleanup()

    async def _view(self, request: web.Request) -> web.StreamResponse:
        body = await request.read() if request.can_read_body else b""
        answer = await self.handler.handle_async(request.method, request.path, request.headers, body)
        if answer is None:
            answer = HandlerResponse(404, body=b"not a Web PubSub event for this handler\n")
        self.exchanges.append(
            Exchange(
                time.time(),
                request.method,
                request.path_qs,
                dict(request.headers),
                body,
                answer.status,
                dict(answer.headers),
                answer.body,
            )
        )
        return to_response(answer)

    def stop(self) -> None:
        """Stop serving."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is None or stop is None or thread is None:
            return
        self._thread = None
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)

    def __enter__(self) -> RunningHandler:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RunningHandler hub={self.handler.hub} {self.url}{self.handler.path}>"
