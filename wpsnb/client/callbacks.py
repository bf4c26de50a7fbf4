"""Runs a client's callbacks on its event-loop thread without ever blocking the socket reader.

The reader only *queues* ``(callback, argument)`` pairs; one task per client calls them in order.
It yields to the loop every few milliseconds, so a burst of callbacks cannot starve the sockets,
and awaits callbacks that return awaitables (``async def``), so those may take their time.

Policy:

* The queue holds ``limit`` calls (default 10,000). When it is full the **oldest** pending call is
  dropped, counted in ``dropped``, and a warning is logged once.
* A plain callback still runs *on* the loop thread: while it runs, no client of that loop reads or
  writes. One that takes longer than 0.25 s is reported once with a warning. Do heavy work
  elsewhere (``client.messages()`` in your own thread, or an ``async def`` callback that awaits).
* An exception in a callback is logged (logger ``wpsnb.client``) and never reaches the client.

Example::

    >>> async def demo() -> None:
    ...     dispatcher = Dispatcher()
    ...     dispatcher.start()
    ...     dispatcher.submit(print, "hello from the loop")
    ...     await dispatcher.stop()
    >>> asyncio.run(demo())
    hello from the loop
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("wpsnb.client")

SLICE = 0.005  # seconds of callbacks before letting the sockets run
SLOW_CALLBACK = 0.25


class Dispatcher:
    """An ordered, bounded queue of callback calls consumed by one task."""

    def __init__(self, limit: int = 10_000):
        if limit < 1:
            raise ValueError(f"callback_buffer must be at least 1, got {limit}")
        self.limit = limit
        self.dropped = 0
        self._calls: deque[tuple[Callable[[Any], Any], Any]] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._reported_slow: set[int] = set()

    def start(self) -> None:
        """Start consuming on the running loop."""
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="wpsnb-callbacks")
            if self._calls:
                self._wake.set()

    def submit(self, callback: Callable[[Any], Any], argument: Any) -> None:
        """Queue ``callback(argument)``; never blocks (event-loop thread only)."""
        calls = self._calls
        if len(calls) >= self.limit:
            calls.popleft()
            self.dropped += 1
            if self.dropped == 1:
                log.warning(
                    "callbacks are %d calls behind: dropping the oldest pending calls; make callbacks "
                    "faster or pass a larger callback_buffer=",
                    self.limit,
                )
        calls.append((callback, argument))
        if self._wake is not None:
            self._wake.set()

    def __len__(self) -> int:
        return len(self._calls)

    async def stop(self, timeout: float = 1.0) -> None:
        """Run what is queued (for at most ``timeout`` s), then stop."""
        task = self._task
        if task is None:
            return
        if task is asyncio.current_task():  # a callback is closing its own client
            self._calls.clear()
            return
        deadline = time.monotonic() + timeout
        while self._calls and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.005)
        self._task = None
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        calls, wake = self._calls, self._wake
        while True:
            await wake.wait()
            wake.clear()
            started = loop.time()
            while calls:
                callback, argument = calls.popleft()
                await self._call(callback, argument)
                if loop.time() - started > SLICE:
                    await asyncio.sleep(0)
                    started = loop.time()

    async def _call(self, callback: Callable[[Any], Any], argument: Any) -> None:
        started = time.perf_counter()
        try:
            result = callback(argument)
            took = time.perf_counter() - started
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("callback %s failed", _name(callback))
            return
        if took > SLOW_CALLBACK and id(callback) not in self._reported_slow:
            self._reported_slow.add(id(callback))
            log.warning(
                "callback %s took %.2f s on the wpsnb event-loop thread; while it runs no client "
                "sends or receives. Move heavy work out of callbacks (iterate client.messages() in "
                "your own thread, or use an async def callback).",
                _name(callback),
                took,
            )


def _name(callback: Callable[..., Any]) -> str:
    return getattr(callback, "__qualname__", None) or repr(callback)


__all__ = ["Dispatcher"]
