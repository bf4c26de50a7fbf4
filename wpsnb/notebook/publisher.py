"""The publishing engine: a bounded queue in front of a client that publishes to one group.

Whoever produces lines — a cell's ``print`` calls (:mod:`wpsnb.notebook.output_capture`), log records
(:class:`wpsnb.LogHandler`), ``wpsnb pipe`` — only appends to a queue; a worker thread takes what has
accumulated, packs it into messages and hands them to a :class:`wpsnb.Client`, whose own thread
writes them and collects the acks. So a training loop pays for an append, never for the network.

Policies, all explicit:

* **Queue full** (``max_queued`` items): ``when_full="block"`` waits up to ``block_timeout`` seconds
  for room (``None``: as long as it takes — the right choice for ``wpsnb pipe``); if no room comes,
  the producer drops from then on, without waiting again, until the worker empties the queue — so a
  stalled connection costs the producer one ``block_timeout``, not one per line. ``when_full="drop"``
  drops at once. Every dropped line is counted (``stats.dropped``) and the viewers are told where:
  a notice takes the lost lines' place in the stream.
* **Batching**: text lines that are already waiting together travel in one message (at most
  ``max_message_chars``), so a flood of prints becomes a few large messages instead of thousands of
  small ones; a line arriving alone is sent alone, at once (after ``linger`` seconds, 5 ms by
  default, which lets a burst gather). ``max_message_chars=0`` sends one message per line.
* **Delivery**: every message is acknowledged by the service (on the reliable protocol, the default,
  a dropped connection is recovered and unacknowledged messages are resent; the service drops
  duplicates), at most ``max_in_flight`` messages unacknowledged at a time. A refusal
  (``Forbidden``) or a closed client stops publishing; the lines are counted as failed.
* **Flush**: :meth:`Publisher.close` waits (``timeout``) until everything queued is acknowledged.

Example::

    >>> with Publisher("train", service) as publisher:          # doctest: +SKIP
    ...     publisher.put_text("epoch 1 loss 0.31\\n")
    >>> publisher.stats.summary()                               # doctest: +SKIP
    'published 1 line to group train (0 dropped)'
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import Forbidden, NotConnected, RecoveryFailed, WebPubSubError
from ..negotiate import resolve_source
from ..protocol.names import group_name_problem

log = logging.getLogger("wpsnb.notebook")

WhenFull = Literal["block", "drop"]
WHEN_FULL = ("block", "drop")
# Errors after which nothing more can be published by this client.
_FATAL = (Forbidden, NotConnected, RecoveryFailed)


@dataclass
class PublishStats:
    """What happened to the lines given to a :class:`Publisher`.

    ``lines``: acknowledged by the service; ``dropped``: lost to a full queue; ``failed``: refused by the
    service or never sent (``error`` says why); ``unconfirmed``: still unacknowledged when ``close()``
    stopped waiting. ``messages``: acknowledged messages (lines travel several to a message).

    >>> PublishStats("train", lines=3, dropped=1).summary()
    'published 3 lines to group train (1 dropped)'
    """

    group: str
    lines: int = 0
    messages: int = 0
    dropped: int = 0
    failed: int = 0
    unconfirmed: int = 0
    error: str | None = None

    def summary(self) -> str:
        """One line: ``published N lines to group G (M dropped)``, plus failures if there were any."""
        text = f"published {_lines(self.lines)} to group {self.group} ({self.dropped} dropped)"
        if self.failed:
            text += f"; {_lines(self.failed)} failed: {self.error or 'unknown error'}"
        if self.unconfirmed:
            text += f"; {_lines(self.unconfirmed)} not yet acknowledged when the flush timed out"
        return text


class _Item:
    """One queued thing: ``data`` of ``data_type`` standing for ``lines`` lines (a drop notice: ``None``)."""

    __slots__ = ("data", "data_type", "lines")

    def __init__(self, data_type: str | None, data: Any, lines: int):
        self.data_type = data_type
        self.data = data
        self.lines = lines


DropNotice = Callable[[int], "tuple[str, Any]"]


def text_drop_notice(count: int) -> tuple[str, Any]:
    """The notice that stands in a text stream where ``count`` lines were dropped.

    >>> text_drop_notice(3)
    ('text', '[wpsnb: 3 lines dropped here: the publish queue was full]\\n')
    """
    return "text", f"[wpsnb: {_lines(count)} dropped here: the publish queue was full]\n"


class Publisher:
    """Publishes queued text and JSON to ``group``; see the module docs for the policies.

    ``source``: anything :class:`wpsnb.Client` accepts (connection string, ``LocalService``, ``/negotiate``
    URL, client access URL); or pass a connected ``client=`` that the publisher borrows (and does not close).
    From a connection string, the token grants only ``webpubsub.sendToGroup.<group>``.

    >>> publisher = Publisher("train", service).start()        # doctest: +SKIP
    >>> publisher.put_json({"step": 1, "loss": 0.5})            # doctest: +SKIP
    True
    >>> publisher.close().lines                                 # doctest: +SKIP
    1
    """

    def __init__(self, group: str, source: Any = None, *, hub: str = "stream", user_id: str | None = None,
                 client: Any = None, when_full: WhenFull = "block", block_timeout: float | None = 0.1,
                 max_queued: int = 10_000, max_message_chars: int = 16_384, linger: float = 0.005,
                 max_in_flight: int = 1_000, connect_timeout: float = 10.0,
                 drop_notice: DropNotice = text_drop_notice):
        problem = group_name_problem(group)
        if problem:
            raise ValueError(problem)
        if when_full not in WHEN_FULL:
            raise ValueError(f"when_full must be 'block' (wait up to block_timeout for room) or 'drop' (drop at "
                             f"once), got {when_full!r}")
        if block_timeout is not None and block_timeout < 0:
            raise ValueError(f"block_timeout must be >= 0 seconds or None (wait for room forever), got "
                             f"{block_timeout!r}")
        if max_queued < 1 or max_in_flight < 1:
            raise ValueError("max_queued and max_in_flight must be at least 1")
        if source is None and client is None:
            raise ValueError("pass a source (connection string, LocalService, /negotiate URL, client URL) or a "
                             "connected client=")
        self.group = group
        self.source = source
        self.hub = hub
        self.user_id = user_id
        self.when_full = when_full
        self.block_timeout = block_timeout
        self.max_queued = max_queued
        self.max_message_chars = max_message_chars
        self.linger = linger
        self.max_in_flight = max_in_flight
        self.connect_timeout = connect_timeout
        self.drop_notice = drop_notice
        self.stats = PublishStats(group)
        self.client: Any = client
        self._owns_client = client is None
        self._queue: deque[_Item] = deque()
        self._lock = threading.Lock()
        self._has_items = threading.Condition(self._lock)
        self._has_room = threading.Condition(self._lock)
        self._progress = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        self._worker_idle = False
        self._overloaded = False   # a wait for room timed out: drop without waiting until the queue empties
        self._closing = False
        self._closed = False
        self._flushing = 0
        self._failure: BaseException | None = None
        self._enqueued = 0         # items accepted into the queue (drop notices included)
        self._done = 0             # items acknowledged, or given up on
        self._in_flight = 0        # messages handed to the client and not yet answered
        self._accepted_lines = 0
        self._ticks: list[Callable[[], None]] = []
        self.tick_interval = 0.1

    # ---- life ------------------------------------------------------------------------------------

    def start(self) -> Publisher:
        """Connect (unless a client was given) and start the worker thread; raises if it cannot connect."""
        if self._worker is not None:
            return self
        if self.client is None:
            from ..client import Client

            kind, _ = resolve_source(self.source)
            minted = kind == "connection_string"  # only then can we choose the token's roles and user
            self.client = Client(self.source, hub=self.hub, user_id=self.user_id if kind != "client_url" else None,
                                 roles=[f"webpubsub.sendToGroup.{self.group}"] if minted else None)
            self.client.connect(timeout=self.connect_timeout)
        self._worker = threading.Thread(target=self._run, name=f"wpsnb-publish-{self.group}", daemon=True)
        self._worker.start()
        return self

    def __enter__(self) -> Publisher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self, timeout: float = 30.0) -> PublishStats:
        """Publish everything queued (waiting at most ``timeout`` s), stop, and return the stats."""
        if self._closed:
            return self.stats
        self.flush(timeout)
        with self._lock:
            self._closing = True
            self._has_items.notify_all()
            self._has_room.notify_all()
        if self._worker is not None:
            self._worker.join(max(timeout, 1.0))
        with self._lock:
            self._closed = True
            stats = self.stats
            stats.unconfirmed = max(0, self._accepted_lines - stats.lines - stats.failed)
        if self._owns_client and self.client is not None:
            try:
                self.client.close(timeout=1.0)
            except Exception as exc:  # closing is best effort: the stats already say what was published
                log.debug("closing the publisher's client: %s", exc)
        return stats

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is acknowledged (or failed); ``False`` if ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._enqueued
            self._flushing += 1
            self._has_items.notify()
            try:
                while self._done < target:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._worker is None or not self._worker.is_alive():
                        return False
                    self._progress.wait(min(remaining, 0.25))
                return True
            finally:
                self._flushing -= 1

    def add_tick(self, tick: Callable[[], None]) -> None:
        """Call ``tick()`` on the worker thread every ``tick_interval`` s while it has nothing to send
        (the output capture publishes stale progress lines this way)."""
        with self._lock:
            self._ticks.append(tick)
            self._has_items.notify()  # an idle worker may be waiting without a timeout

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped publishing, if one did."""
        return self._failure

    # ---- producers -------------------------------------------------------------------------------

    def put_text(self, text: str, lines: int = 1, *, wait: bool = True) -> bool:
        """Queue terminal text standing for ``lines`` lines; ``False`` if it was dropped (queue full).

        ``wait=False`` never blocks, whatever the policy (for callers on the worker's own thread).
        """
        return self._put(_Item("text", text, lines), wait)

    def put_json(self, value: Any, lines: int = 1) -> bool:
        """Queue one JSON message; ``False`` if it was dropped."""
        return self._put(_Item("json", value, lines), True)

    def _put(self, item: _Item, wait: bool) -> bool:
        with self._lock:
            if self._closing:
                return False
            if self._failure is not None:  # nothing more can be published: count it, do not queue it
                self.stats.failed += item.lines
                return False
            if len(self._queue) >= self.max_queued and not (wait and self._wait_for_room()):
                self._count_drop(item.lines)
                return False
            self._queue.append(item)  # not a local: waiting for room let the worker swap in a new deque
            self._enqueued += 1
            self._accepted_lines += item.lines
            if self._worker_idle:
                self._has_items.notify()
            return True

    def _wait_for_room(self) -> bool:
        # Called with the lock held and the queue full.
        if self.when_full == "drop" or self._overloaded or self._failure is not None:
            return False
        deadline = None if self.block_timeout is None else time.monotonic() + self.block_timeout
        while len(self._queue) >= self.max_queued:
            if self._closing or self._failure is not None:
                return False
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self._overloaded = True
                return False
            self._has_room.wait(remaining)
        return True

    def _count_drop(self, lines: int) -> None:
        # With the lock held. The notice takes the dropped lines' place: the last queued item, past the bound.
        self.stats.dropped += lines
        queue = self._queue
        if queue and queue[-1].data_type is None:
            queue[-1].data += lines
        else:
            queue.append(_Item(None, lines, 0))
            self._enqueued += 1

    # ---- the worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                items = self._take()
                if items is None:
                    return
                if items:
                    self._send(items)
                else:
                    for tick in self._ticks:
                        tick()
        except Exception:
            log.exception("the publisher for group %r stopped by an internal error", self.group)
            with self._lock:
                self._failure = self._failure or RuntimeError("the publisher stopped by an internal error")
                self._give_up_queued()

    def _take(self) -> deque[_Item] | None:
        """What is queued (after letting a burst gather); ``[]`` for a tick; ``None`` to stop."""
        with self._lock:
            if not self._queue and not self._closing:
                self._worker_idle = True
                self._has_items.wait(self.tick_interval if self._ticks else None)
                self._worker_idle = False
            if not self._queue:
                return None if self._closing else deque()
            hurry = self._closing or self._flushing or len(self._queue) * 2 >= self.max_queued
        if self.linger and not hurry:
            time.sleep(self.linger)
        with self._lock:
            items, self._queue = self._queue, deque()
            self._overloaded = False
            self._has_room.notify_all()
            return items

    def _send(self, items: deque[_Item]) -> None:
        for data_type, data, lines, count in self._pack(items):
            with self._lock:
                while self._in_flight >= self.max_in_flight and self._failure is None:
                    if self._closing:  # close() stopped waiting: what is left stays unconfirmed
                        return
                    self._progress.wait(0.5)
                if self._failure is not None:
                    self._give_up(lines, count)
                    continue
                self._in_flight += 1
            self._submit(data_type, data, lines, count)

    def _pack(self, items: deque[_Item]) -> list[tuple[str, Any, int, int]]:
        """Messages ``(data_type, data, lines, items)``: runs of text joined up to ``max_message_chars``."""
        messages: list[tuple[str, Any, int, int]] = []
        texts: list[str] = []
        size = lines = count = 0
        for item in items:
            data_type, data = item.data_type, item.data
            if data_type is None:
                data_type, data = self.drop_notice(data)
            if data_type == "text" and self.max_message_chars > 0:
                if texts and size + len(data) > self.max_message_chars:
                    messages.append(("text", "".join(texts), lines, count))
                    texts, size, lines, count = [], 0, 0, 0
                texts.append(data)
                size += len(data)
                lines += item.lines
                count += 1
                continue
            if texts:
                messages.append(("text", "".join(texts), lines, count))
                texts, size, lines, count = [], 0, 0, 0
            messages.append((data_type, data, item.lines, 1))
        if texts:
            messages.append(("text", "".join(texts), lines, count))
        return messages

    def _submit(self, data_type: str, data: Any, lines: int, count: int) -> None:
        # The client's request path: built (encoded) here, written and acknowledged on the client's thread.
        client = self.client.async_client
        waiter: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            request = client.build_send_to_group(self.group, data, data_type, False, True)
            request.waiter = waiter
            client.submit_threadsafe(request)
        except (WebPubSubError, ValueError, TypeError) as exc:
            self._answered(lines, count, exc)
            return
        waiter.add_done_callback(lambda done: self._answered(lines, count, done.exception()))

    def _answered(self, lines: int, count: int, error: BaseException | None) -> None:
        with self._lock:
            self._in_flight -= 1
            stats = self.stats
            if error is None:
                stats.lines += lines
                stats.messages += 1
                self._done += count
            else:
                self._give_up(lines, count, error)
            self._progress.notify_all()

    def _give_up(self, lines: int, count: int, error: BaseException | None = None) -> None:
        # With the lock held: these lines will not be published.
        stats = self.stats
        stats.failed += lines
        self._done += count
        if error is not None and stats.error is None:
            stats.error = _describe_error(error)
            log.warning("publishing to group %r failed: %s", self.group, error)
        if error is not None and isinstance(error, _FATAL) and self._failure is None:
            self._failure = error
            self._give_up_queued()
        self._progress.notify_all()

    def _give_up_queued(self) -> None:
        items, self._queue = self._queue, deque()
        for item in items:
            self.stats.failed += item.lines
            self._done += 1
        self._has_room.notify_all()
        self._progress.notify_all()


def _describe_error(error: BaseException) -> str:
    name = getattr(error, "name", None) or type(error).__name__
    text = " ".join(str(error).split())
    return text if text.startswith(name) else f"{name}: {text}"


def _lines(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count} lines"


__all__ = ["WHEN_FULL", "PublishStats", "Publisher", "WhenFull", "text_drop_notice"]
