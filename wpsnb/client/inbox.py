"""The buffer behind ``client.messages()``: received messages wait here for a reader.

Bounded (``limit``, default 100,000): when it is full the **oldest** message is dropped to make
room, counted in ``dropped`` and warned about once (if something reads the buffer at all), so a
client only watched through callbacks never grows without bound. Thread-safe: the client puts on
its event-loop thread; readers may wait in any thread (:meth:`get`) or on that loop (:meth:`get_async`).
Each message goes to one reader.

Example::

    >>> inbox = Inbox(limit=2)
    >>> for n in (1, 2, 3):
    ...     inbox.put(n)
    >>> inbox.get(timeout=0), inbox.get(timeout=0), inbox.dropped
    (2, 3, 1)
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from typing import Any

log = logging.getLogger("wpsnb.client")


class Inbox:
    """Bounded FIFO of received messages with blocking and async reads; ``None`` means nothing came."""

    def __init__(self, limit: int = 100_000):
        if limit < 0:
            raise ValueError(f"message_buffer must be 0 or more, got {limit}")
        self.limit = limit
        self.dropped = 0
        self.closed = False
        self._read = False
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._async_waiters: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any) -> None:
        """Add a message (event-loop thread only); drops the oldest when full."""
        if self.limit == 0:
            return
        with self._lock:
            if len(self._items) >= self.limit:
                self._items.popleft()
                self.dropped += 1
                if self.dropped == 1 and self._read:
                    log.warning(
                        "messages() buffer full (%d messages): dropping the oldest; read faster or pass "
                        "a larger message_buffer=",
                        self.limit,
                    )
            self._items.append(item)
            self._ready.notify()
        if self._async_waiters:
            self._wake_async()

    def close(self) -> None:
        """No more messages will come: readers get what is left, then ``None``."""
        with self._lock:
            self.closed = True
            self._ready.notify_all()
        self._wake_async()

    def get(self, timeout: float | None = None) -> Any:
        """The next message, waiting at most ``timeout`` s (``None``: until one comes or the client closes)."""
        self._read = True
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._items:
                if self.closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._ready.wait(remaining)
            return self._items.popleft()

    async def get_async(self, timeout: float | None = None) -> Any:
        """Like :meth:`get`, awaited on the event loop that puts the messages."""
        self._read = True
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._lock:
                if self._items:
                    return self._items.popleft()
                if self.closed:
                    return None
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            waiter = loop.create_future()
            self._async_waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except asyncio.TimeoutError:
                pass
            finally:
                if waiter in self._async_waiters:
                    self._async_waiters.remove(waiter)

    def _wake_async(self) -> None:
        waiters, self._async_waiters = self._async_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.get_loop().call_soon_threadsafe(_set_none, waiter)


def _set_none(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


__all__ = ["Inbox"]
