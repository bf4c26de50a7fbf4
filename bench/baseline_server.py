"""The baseline every fan-out number is compared with: a bare aiohttp broadcast server.

No protocol, no tokens, no queue: a subscriber connects to ``/sub?group=g`` (and is greeted with
one ``ready`` text frame once it is a member), a publisher connects to ``/pub?group=g`` (greeted
the same way), and every text frame the publisher sends is forwarded with one
``await ws.send_str()`` per subscriber, as the simplest aiohttp program would do.
The library baselines (docs/send-path.md) measured this at ~150k frames/s on a 2-core machine. For the REST
benchmark it also accepts the data-plane ``:send`` call and answers 202 without delivering.

Example::

    with BaselineServer() as server:
        ...  # ws://127.0.0.1:{server.port}/sub?group=lab
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

from aiohttp import WSMsgType, web

READY = "ready"
GROUPS: web.AppKey[dict[str, set[web.WebSocketResponse]]] = web.AppKey("groups", dict)


async def subscribe(request: web.Request) -> web.WebSocketResponse:
    """Add the socket to its group until it closes."""
    group = request.app[GROUPS].setdefault(request.query.get("group", ""), set())
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    group.add(ws)
    await ws.send_str(READY)
    try:
        async for _ in ws:
            pass
    finally:
        group.discard(ws)
    return ws


async def publish(request: web.Request) -> web.WebSocketResponse:
    """Forward each text frame to every subscriber of the group, one ``send_str`` each."""
    groups = request.app[GROUPS]
    name = request.query.get("group", "")
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    await ws.send_str(READY)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            for subscriber in list(groups.get(name, ())):
                await subscriber.send_str(msg.data)
    return ws


async def accept_rest_send(request: web.Request) -> web.Response:
    """``POST /api/hubs/{hub}/groups/{group}/:send``: read the body, answer 202, deliver nothing.

    The floor for REST send throughput: what the official SDK and aiohttp's HTTP handling cost.
    """
    await request.read()
    return web.Response(status=202)


def build_baseline_app() -> web.Application:
    """The routes of the baseline server."""
    app = web.Application()
    app[GROUPS] = {}
    app.router.add_get("/sub", subscribe)
    app.router.add_get("/pub", publish)
    app.router.add_post("/api/hubs/{hub}/groups/{group}/:send", accept_rest_send)
    return app


class BaselineServer:
    """The baseline app on its own event loop thread (as :class:`wpsnb.LocalService` runs)."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def start(self) -> BaselineServer:
        """Start serving; returns once the port is open."""
        ready: Future[int] = Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="baseline-server", daemon=True)
        self._thread.start()
        self.port = ready.result(10)
        return self

    def _run(self, ready: Future[int]) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            ready.set_result(loop.run_until_complete(self._serve()))
        except BaseException as exc:
            ready.set_exception(exc)
            return
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
        loop.close()

    async def _serve(self) -> int:
        self._runner = web.AppRunner(build_baseline_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024, reuse_address=True)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def stop(self) -> None:
        """Close every connection and end the thread."""
        if self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> BaselineServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
