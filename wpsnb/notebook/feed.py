"""A bounded, batched, replayable feed of display records from any thread to a widget's page.

Why it exists: Jupyter's server forwards at most ~1000 IOPub messages a second and silently drops
the rest, and a list trait that grows by one item per message costs O(N²) bytes. So a widget that
shows a fast stream must not send one comm message per event. A :class:`Feed`:

- takes items from any thread (``push``, cheap: a lock, an append, an event);
- turns them into JSON-able records on its own flusher thread, numbers them (``"i"``) and keeps
  the last ``limit`` in a ring buffer;
- sends new records as one ``{"kind": "batch"}`` custom message at most ``max_rate`` times a second;
- answers a page's ``{"kind": "replay"}`` request with the whole ring (a reloaded page, a second view);
- re-assigns the widget's ``history`` trait (the last ``history`` records) and ``header`` trait at most
  once per ``history_interval`` seconds, so a saved notebook still shows the latest records.

If items arrive faster than they are flushed, only the newest ``limit`` pending items are kept: the
page could not show more anyway. Records sent to the page are in ``i`` order; the page ignores
records it already has, so replies and batches may overlap.

Example (any ``ipywidgets.Widget`` with ``history`` and ``header`` traits)::

    feed = Feed(widget, convert=lambda item, t, i: {"t": t, "text": str(item)}, header=lambda: {"count": 1})
    feed.push("hello")          # from any thread; the page sees it within 1/max_rate seconds
    feed.close()
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("wpsnb.notebook")

Record = dict[str, Any]
Convert = Callable[[Any, float, int], "Record | None"]

REPLAY_CHUNK = 2_000  # records per replay message: keeps each comm message well under a few MB


class Feed:
    """Carries display records from producer threads to a widget's page, batched and bounded.

    ``widget`` needs ``send(content)`` and the traits ``history`` (list) and ``header`` (dict).
    ``convert(item, wall_time, index)`` turns a pushed item into the record numbered ``index`` (or
    returns ``None`` to drop it); it runs on the feed's thread, never on the producer's.
    ``header()`` returns the header dict sent with every batch (state, counts, rate...).
    """

    def __init__(
        self,
        widget: Any,
        convert: Convert,
        header: Callable[[], dict[str, Any]],
        *,
        limit: int = 10_000,
        max_rate: float = 20.0,
        history: int = 500,
        history_interval: float = 1.0,
        name: str = "wpsnb-feed",
    ):
        if limit < 1:
            raise ValueError(f"limit must be at least 1 record, got {limit}")
        if max_rate <= 0:
            raise ValueError(f"max_rate must be a positive number of batches per second, got {max_rate}")
        self.widget = widget
        self.limit = limit
        self.max_rate = max_rate
        self.history = min(history, limit)
        self.history_interval = history_interval
        self._convert = convert
        self._header = header
        self._pending: deque[tuple[Any, float]] = deque(maxlen=limit)
        self._pending_lock = threading.Lock()
        self._ring: deque[Record] = deque(maxlen=limit)
        # Held while records are numbered and sent, so a replay snapshot and the batches around it
        # reach the page in order (IOPub is FIFO).
        self._send_lock = threading.RLock()
        self._next_index = 0
        self._dirty = False  # records changed since the last history sync
        self._wake = threading.Event()
        self._closed = threading.Event()
        self.batches_sent = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- producers (any thread) --

    def push(self, item: Any) -> None:
        """Queue ``item`` for the page; safe and cheap from any thread (ignored once closed)."""
        if self._closed.is_set():
            return
        with self._pending_lock:
            self._pending.append((item, time.time()))
        if not self._wake.is_set():
            self._wake.set()

    # -- page requests (the kernel's comm handler) --

    def replay(self, request_id: Any = None) -> None:
        """Send every record in the ring (in chunks), then the header, tagged with ``request_id``."""
        with self._send_lock:
            records = list(self._ring)
            chunks = [records[i : i + REPLAY_CHUNK] for i in range(0, len(records), REPLAY_CHUNK)] or [[]]
            for n, chunk in enumerate(chunks):
                self._send({
                    "kind": "replay", "request": request_id, "records": chunk,
                    "first": n == 0, "last": n == len(chunks) - 1, "header": self._header(),
                })  # fmt: skip

    def clear(self) -> None:
        """Forget every record (ring, pending, history) and tell the page to clear."""
        with self._send_lock:
            with self._pending_lock:
                self._pending.clear()
            self._ring.clear()
            self._send({"kind": "clear", "through": self._next_index - 1, "header": self._header()})
            self._dirty = True

    def records(self) -> list[Record]:
        """A snapshot of the ring, oldest first."""
        return list(self._ring)

    def flush(self) -> None:
        """Send whatever is pending now (the flusher thread also does this by itself)."""
        with self._send_lock:
            self._flush_pending()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the flusher thread (pending items are flushed first)."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- the flusher thread --

    def _run(self) -> None:
        interval = 1.0 / self.max_rate
        last_batch = 0.0
        last_history = time.monotonic()
        while not self._closed.is_set():
            self._wake.wait(self.history_interval)
            # At most max_rate batches a second: wait out the rest of the interval, collecting more.
            delay = last_batch + interval - time.monotonic()
            if delay > 0 and self._closed.wait(delay):
                break
            self._wake.clear()  # before taking the pending items: a push after this wakes us again
            try:
                with self._send_lock:
                    if self._flush_pending():
                        last_batch = time.monotonic()
                if time.monotonic() - last_history >= self.history_interval:
                    last_history = time.monotonic()
                    self._sync_traits()
            except Exception:  # a broken record must not stop the feed for good
                log.exception("wpsnb feed %s failed to flush", self._thread.name)
        try:
            with self._send_lock:
                self._flush_pending()
            self._sync_traits(force=True)
        except Exception:
            log.exception("wpsnb feed %s failed to flush on close", self._thread.name)

    def _flush_pending(self) -> bool:
        with self._pending_lock:
            if not self._pending:
                return False
            items, self._pending = self._pending, deque(maxlen=self.limit)
        records = []
        for item, wall_time in items:
            record = self._convert(item, wall_time, self._next_index)
            if record is None:
                continue
            record["i"] = self._next_index
            self._next_index += 1
            records.append(record)
        if not records:
            return False
        self._ring.extend(records)
        if len(records) > self.limit:
            records = records[-self.limit :]
        self._send({"kind": "batch", "records": records, "header": self._header()})
        self._dirty = True
        return True

    def _sync_traits(self, force: bool = False) -> None:
        # Only this thread writes these two traits; ipywidgets turns each write into one update message.
        header = self._header()
        if header != self.widget.header:
            self.widget.header = header
        if self._dirty or force:
            self._dirty = False
            history = list(self._ring)[-self.history :] if self.history else []
            if history != self.widget.history:
                self.widget.history = history

    def _send(self, content: dict[str, Any]) -> None:
        self.batches_sent += 1
        self.widget.send(content)


class RateMeter:
    """Events per second over a sliding window, from a running count sampled now and then.

    >>> meter = RateMeter(window=1.0)
    >>> meter.rate(0, now=0.0), meter.rate(50, now=0.5)
    (0.0, 100.0)
    """

    def __init__(self, window: float = 2.0):
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def rate(self, count: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        samples = self._samples
        samples.append((now, count))
        while len(samples) > 2 and now - samples[1][0] >= self.window:
            samples.popleft()
        then, first = samples[0]
        return (count - first) / (now - then) if now > then else 0.0
