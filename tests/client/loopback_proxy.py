"""A loopback TCP proxy that tests can sever: every byte passes through untouched until ``sever()``
aborts all open connections (both sides get a reset, like a dropped Wi-Fi link).

Clients must be minted against the proxy's address (the token audience includes host:port); the
Host header passes through unchanged, so the service checks the token against the proxy's address.

Example::

    with LoopbackProxy(service.port) as proxy:
        url = mint_url(f"Endpoint=http://127.0.0.1:{proxy.port};AccessKey={service.access_key};Version=1.0;")
        ...
        proxy.sever()          # drop every connection now
        proxy.sever(release=True)  # ... and let bytes pass again, before any new connection is accepted
        proxy.refuse = True    # new connections are cut at once until set back to False
        proxy.hold_replies = True   # what the service sends is dropped (the client hears nothing)
        proxy.hold_requests = True  # what the client sends is dropped (the service hears nothing)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any


class LoopbackProxy:
    """Forward ``127.0.0.1:<port>`` to ``127.0.0.1:<target_port>`` in a thread of its own."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = 0
        self.refuse = False
        self.hold_replies = False
        self.hold_requests = False
        self.accepted = 0
        self.severed = 0
        self._loop = asyncio.new_event_loop()
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.base_events.Server | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="test-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.refuse:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            upstream = _pump(reader, up_writer, lambda: self.hold_requests)
            downstream = _pump(up_reader, writer, lambda: self.hold_replies)
            await asyncio.gather(upstream, downstream)
        finally:
            self._pairs.discard(pair)
            for side in pair:
                side.transport.abort()

    def sever(self, release: bool = False) -> int:
        """Abort every open connection now; return how many were cut.

        ``release=True`` also clears ``hold_requests`` and ``hold_replies`` in the same step on the
        proxy's loop, so the client's reconnection (which may come at once) is never held, and the
        old connection never gets another byte through.
        """
        return self._call(lambda: self._sever(release))

    def _sever(self, release: bool = False) -> int:
        if release:
            self.hold_requests = self.hold_replies = False
        pairs = list(self._pairs)
        for downstream, upstream in pairs:
            downstream.transport.abort()
            upstream.transport.abort()
        self._pairs.clear()
        self.severed += len(pairs)
        return len(pairs)

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    def _call(self, fn: Any) -> Any:
        done: asyncio.Future[Any] = asyncio.run_coroutine_threadsafe(_as_coroutine(fn), self._loop)  # type: ignore[assignment]
        return done.result(10)

    def close(self) -> None:
        """Cut everything and stop the proxy thread."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self) -> None:
        self._sever()
        if self._server is not None:
            self._server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> LoopbackProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _as_coroutine(fn: Any) -> Any:
    return fn()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, held: Callable[[], bool]) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if held():
                continue  # lost on the way; the connection is useless from here on, as after a real loss
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()
