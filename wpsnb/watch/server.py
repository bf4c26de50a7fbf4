"""The watch server: one group's messages (history, then live) relayed to browser pages.

A :class:`~wpsnb.publishing.Watcher` listens to the group (asking its publishers for their last lines,
``docs/history.md``). What it hands out goes through a :class:`~wpsnb.notebook.feed.Feed` — the same
batched, bounded, numbered records a StreamView's page gets — and out to every open page over a
WebSocket (``/feed``). The page (``wpsnb/web/watch.html`` and ``watch_page.js``) is the training log
StreamView shows (``training_log.js``), fed by the socket instead of a widget model. A page that opens
later asks for a replay and gets the server's whole ring of records: history for it too.

Each page has a bounded queue (``PAGE_QUEUE`` messages, about ten seconds of batches); a page that
falls that far behind is disconnected and reloads itself (then replays). Nothing is loaded from
outside the package.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from typing import Any

from aiohttp import WSMsgType, web

from ..notebook.feed import Feed, RateMeter
from ..notebook.message_records import Record, message_record
from ..protocol.history import DEFAULT_HISTORY_LINES
from ..protocol.limits import CloseCode
from ..protocol.names import is_loopback_host
from ..source import describe_source
from ..web import WEB_DIR, module_source

log = logging.getLogger("wpsnb.watch")

PAGE_QUEUE = 256  # messages waiting for one page (batches are at most max_rate a second)
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


class WatchServer:
    """Serves a page that shows ``group`` of ``hub`` on ``source``; see the module docs.

    ``source`` is what every wpsnb entry point takes (connection string, ``LocalService``,
    ``/negotiate`` URL, client access URL). ``host`` is loopback by default: another address
    makes the group readable by anyone who can reach it, and :attr:`warning` says so. ``port=0``
    picks a free port; :attr:`url` is the page's address once started.

    >>> import wpsnb
    >>> service = wpsnb.LocalService()
    >>> with WatchServer(service, "train") as server:
    ...     server.url.startswith("http://127.0.0.1:"), server.state
    (True, 'live')
    >>> service.stop()
    """

    def __init__(
        self,
        source: Any,
        group: str,
        *,
        hub: str = "stream",
        host: str = "127.0.0.1",
        port: int = 0,
        history: int = DEFAULT_HISTORY_LINES,
        limit: int = 10_000,
        rows: int = 2_000,
        max_rate: float = 20.0,
        title: str | None = None,
    ):
        self.source, self.group, self.hub, self.host, self.port = source, group, hub, host, port
        self.history_lines, self.limit, self.rows = history, limit, rows
        self.title = title or f"wpsnb watch · {group}"
        self.described = describe_source(source)
        self.warning: str | None = None
        if not is_loopback_host(host):
            self.warning = (
                f"serving group {group!r} on {host}: anyone who can reach this address can read its messages "
                "(the page has no sign-in); use --host 127.0.0.1 unless that is what you want"
            )
        self.count = 0
        self.state = "starting"
        self.reason: str | None = None
        self._meter = RateMeter()
        self._pages: set[_Page] = set()
        self._replays: dict[Any, _Page] = {}  # replay request id -> the page that asked
        self._closing: set[asyncio.Future[Any]] = set()  # pages being disconnected
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._watcher: Any = None
        # The two "traits" the Feed keeps current; pages ask for a replay instead of reading them.
        self.history: list[Record] = []
        self.header: dict[str, Any] = {}
        self.feed = Feed(self, self._convert, self._header, limit=limit, max_rate=max_rate, history=0)

    # ---- life ------------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> WatchServer:
        """Serve the page, then connect to the group; raises what :meth:`wpsnb.Client.connect` raises."""
        from ..publishing import Watcher

        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name="wpsnb-watch", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            self.close()
            raise failure[0] if failure else TimeoutError(f"the watch server did not start within {timeout} s")
        if self.warning:
            log.warning("wpsnb watch: %s", self.warning)
        self._watcher = Watcher(
            self.source, self.group, hub=self.hub, history=self.history_lines, on_entry=self._on_entry,
            on_status=self._on_status,
        )  # fmt: skip
        try:
            self._watcher.start(timeout=timeout)
        except BaseException:
            self.close()
            raise
        self.state = "live"
        return self

    @property
    def url(self) -> str:
        """The page's address (``http://127.0.0.1:PORT/``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def close(self) -> None:
        """Disconnect from the group and stop serving; safe to call twice."""
        if self._watcher is not None:
            watcher, self._watcher = self._watcher, None
            watcher.close()
        self.state = "closed"
        self.feed.close()
        loop = self._loop
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(5)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> WatchServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- what the Feed calls (it treats this server as its widget) --------------------------------

    def send(self, content: dict[str, Any]) -> None:
        """Relay one Feed message: a replay to the page that asked, anything else to every page."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        text = json.dumps(content, ensure_ascii=False, default=repr)
        target = self._replays.pop(content["request"], None) if content.get("kind") == "replay" else None
        if content.get("kind") == "replay" and not content.get("last") and target is not None:
            self._replays[content["request"]] = target  # more chunks follow
        try:
            loop.call_soon_threadsafe(self._deliver, text, target)
        except RuntimeError:  # the loop closed meanwhile
            pass

    # ---- the group -------------------------------------------------------------------------------

    def _on_entry(self, entry: Any) -> None:
        self.count += 1
        self.feed.push(entry)

    def _on_status(self, change: Any) -> None:
        self.state = {"connected": "live", "reconnected": "live"}.get(change.state, change.state)
        self.reason = None if self.state == "live" else change.text
        self.feed.push(_Status(change.state, change.text))

    def _convert(self, item: Any, wall_time: float, index: int) -> Record | None:
        if isinstance(item, _Status):
            level = "info" if item.state in ("connected", "reconnected") else "warning"
            return {"kind": "system", "t": wall_time * 1000, "event": item.state, "text": item.text, "level": level}
        record = message_record(_Received(self.group, item), wall_time)
        if item.kind == "history":
            record["history"] = True
        return record

    def _header(self) -> dict[str, Any]:
        return {
            "state": self.state, "reason": self.reason, "group": self.group, "hub": self.hub,
            "source": self.described, "count": self.count, "pages": len(self._pages),
            "rate": round(self._meter.rate(self.count), 1),
        }  # fmt: skip

    # ---- the HTTP side (the server's own thread and loop) -----------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:  # e.g. the port is taken: start() raises it
            failure.append(error)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/feed", self._feed_socket)
        app.router.add_get("/health", self._health)
        app.router.add_get("/static/{path:.+}", self._static)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        # Bound here, so port=0 tells us the port it got.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.create_server((self.host, self.port), family=family)
        self.port = listener.getsockname()[1]
        await web.SockSite(self._runner, listener).start()

    async def _shutdown(self) -> None:
        for page in list(self._pages):
            await page.socket.close(code=CloseCode.GOING_AWAY, message=b"the watch server is stopping")
        if self._runner is not None:
            await self._runner.cleanup()
        asyncio.get_running_loop().call_soon(asyncio.get_running_loop().stop)

    async def _page(self, request: web.Request) -> web.Response:
        html = (WEB_DIR / "watch.html").read_text(encoding="utf-8")
        return web.Response(text=html.replace("{{title}}", _html_escape(self.title)), content_type="text/html")

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"state": self.state, "group": self.group, "pages": len(self._pages)})

    async def _static(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        suffix = "." + path.rsplit(".", 1)[-1] if "." in path else ""
        if suffix not in _TYPES:
            raise web.HTTPNotFound(text=f"no such file: {path}")
        try:
            text = module_source(path)
        except (FileNotFoundError, ValueError) as error:
            raise web.HTTPNotFound(text=str(error)) from None
        return web.Response(text=text, content_type=_TYPES[suffix], headers={"Cache-Control": "no-cache"})

    async def _feed_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=64 * 1024)
        await ws.prepare(request)
        page = _Page(ws)
        self._pages.add(page)
        sender = asyncio.ensure_future(page.run())
        state = {
            "kind": "state", "title": self.title, "limit": self.limit, "rows": self.rows, "group": self.group,
            "hub": self.hub, "source": self.described, "header": self._header(),
        }  # fmt: skip
        page.put(json.dumps(state))
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    content = json.loads(message.data)
                except ValueError:
                    continue
                if isinstance(content, dict) and content.get("kind") == "replay":
                    self._replays[content.get("request")] = page
                    # The replay takes the feed's send lock: not on this loop, which delivers the result.
                    await asyncio.get_running_loop().run_in_executor(None, self.feed.replay, content.get("request"))
        finally:
            self._pages.discard(page)
            page.close()
            await sender
        return ws

    def _deliver(self, text: str, target: _Page | None) -> None:
        for page in [target] if target is not None else list(self._pages):
            if page in self._pages and not page.put(text):
                log.info("wpsnb watch: a page fell %d messages behind; disconnecting it (it reloads)", PAGE_QUEUE)
                self._pages.discard(page)
                task = asyncio.ensure_future(
                    page.socket.close(code=CloseCode.TRY_AGAIN_LATER, message=b"too far behind; reload")
                )
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)


class _Page:
    """One open page: its socket and a bounded queue of messages for it."""

    def __init__(self, socket: web.WebSocketResponse):
        self.socket = socket
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(PAGE_QUEUE)

    def put(self, text: str) -> bool:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            return False
        return True

    def close(self) -> None:
        while True:
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()

    async def run(self) -> None:
        while (text := await self.queue.get()) is not None:
            if self.socket.closed:
                return
            try:
                await self.socket.send_str(text)
            except (ConnectionError, RuntimeError):
                return


class _Status:
    __slots__ = ("state", "text")

    def __init__(self, state: str, text: str):
        self.state, self.text = state, text


class _Received:
    """A Watcher entry as a received group message (what :func:`message_record` reads)."""

    __slots__ = ("data", "data_type", "from_user_id", "group")
    source = "group"
    sequence_id = None

    def __init__(self, group: str, entry: Any):
        self.group, self.data_type, self.data, self.from_user_id = (
            group,
            entry.data_type,
            entry.data,
            entry.from_user_id,
        )


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def serve_watch(
    source: Any,
    group: str,
    hub: str = "stream",
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    history: int = DEFAULT_HISTORY_LINES,
    out: Any = None,
) -> None:
    """Serve the watch page for ``group`` until interrupted (Ctrl-C); print its URL first.

    What ``wpsnb watch`` runs. A non-loopback ``host`` prints a warning line first. ``out`` is where
    the lines go (default ``sys.stdout``; the warning goes to ``sys.stderr``).

    >>> serve_watch(service, "train")                          # doctest: +SKIP
    watching group 'train' (hub stream) on http://127.0.0.1:8080
      open http://127.0.0.1:41231/
    """
    import sys

    out = out or sys.stdout
    server = WatchServer(source, group, hub=hub, host=host, port=port, history=history)
    if server.warning:
        print(f"warning: {server.warning}", file=sys.stderr, flush=True)
    server.start()
    try:
        print(f"watching group {group!r} (hub {hub}) on {server.described}\n  open {server.url}", file=out, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
