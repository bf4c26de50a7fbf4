"""The publishing engine: a bounded queue in front of a client that publishes to one group.

Whoever produces output — a cell's ``print`` calls (:mod:`wpsnb.notebook.output_capture`), log records
(:class:`wpsnb.LogHandler`), ``wpsnb pipe`` — only appends to a queue. A worker thread takes what has
accumulated, cuts stream output into lines (:mod:`wpsnb.publishing.lines`), packs lines into
messages (:mod:`wpsnb.publishing.packing`) and hands them to a :class:`wpsnb.Client`, whose own thread
writes them and collects the acks (:mod:`wpsnb.publishing.delivery` counts the answers). So the
producer pays for one append — no lock, no splitting, no network — per write.

Policies, all explicit:

* **One bound** (``max_queued`` writes; a ``print`` is about two): what waits in the queue *plus* what
  was handed to the client and is not acknowledged yet. The publisher keeps no window of its own over
  the client's: it hands messages over as it makes them, the client writes them under its own flow
  control, and acknowledgements make room. When full, ``when_full="block"`` waits up to
  ``block_timeout`` seconds for room (``None``: as long as it takes — the right choice for ``wpsnb
  pipe``); if no room comes, the producer drops from then on, without waiting again, until the worker
  has emptied the queue — so a stalled connection costs the producer one ``block_timeout``, not one
  per line. ``when_full="drop"`` drops at once. A line is dropped whole: once dropping starts in the
  middle of a line, the rest of that line goes too. Every dropped line is counted
  (``stats.dropped``) and viewers are told where: a notice takes the lost lines' place in the stream.
* **Batching**: lines that are already waiting together travel in one message (at most
  ``max_message_chars``), so a flood of prints becomes a few large messages instead of thousands of
  small ones; a line written alone is sent alone (after ``linger`` seconds, 20 ms by default, which
  lets a burst gather). ``max_message_chars=0`` sends one message per line.
* **Progress lines**: a line still in progress (a redrawn progress bar, ``print(..., end="")``) is
  published as an update at most every ``update_interval`` seconds.
* **Delivery**: every message is acknowledged by the service (on the reliable protocol, the default,
  a dropped connection is recovered and unacknowledged messages are resent; the service drops
  duplicates). A refusal
  (``Forbidden``) or a closed client stops publishing; the lines are counted as failed.
* **Flush**: :meth:`Publisher.flush` and :meth:`Publisher.close` wait (``timeout``) until everything
  queued before them is acknowledged.

Example::

    >>> with Publisher("train", service) as publisher:          # doctest: +SKIP
    ...     publisher.put_text("epoch 1 loss 0.31\\n")
    >>> publisher.stats.summary()                               # doctest: +SKIP
    'published 1 line to group train (0 dropped)'
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from itertools import groupby, islice
from operator import itemgetter
from typing import Any, Literal

from ..protocol.history import DEFAULT_HISTORY_LINES
from ..protocol.names import group_name_problem
from ..source import Source
from .connecting import connect_softly
from .delivery import Delivery
from .items import (
    END_LINES,
    DropNotice,
    DropNoticeMaker,
    EndLines,
    Flush,
    Json,
    PublishStats,
    QueueItem,
    Text,
    lines_in,
    text_drop_notice,
)
from .lines import LineSplitter
from .packing import Message, MessagePacker
from .responder import HistoryResponder

log = logging.getLogger("wpsnb.publishing")

WhenFull = Literal["block", "drop"]
WHEN_FULL = ("block", "drop")


class Publisher:
    """Publishes queued output, text and JSON to ``group``; see the module docs for the policies.

    ``source``: anything :class:`wpsnb.Client` accepts (connection string, ``LocalService``, ``/negotiate``
    URL, client access URL); or pass a connected ``client=`` that the publisher borrows (and does not close).
    From a connection string, the token grants only ``webpubsub.sendToGroup.<group>`` and (unless
    ``history=0``) ``webpubsub.joinLeaveGroup.<group>``, to hear watchers' history requests: the last
    ``history`` lines are kept and sent to a watcher that asks (:mod:`wpsnb.publishing.responder`).

    >>> publisher = Publisher("train", service).start()        # doctest: +SKIP
    >>> publisher.put_chunk(0, "step 1\\nstep 2\\n")             # doctest: +SKIP
    True
    >>> publisher.put_json({"step": 2, "loss": 0.5})            # doctest: +SKIP
    True
    >>> publisher.close().lines                                 # doctest: +SKIP
    3
    """

    def __init__(
        self,
        group: str,
        source: Any = None,
        *,
        hub: str = "stream",
        user_id: str | None = None,
        client: Any = None,
        when_full: WhenFull = "block",
        block_timeout: float | None = 0.1,
        max_queued: int = 20_000,
        max_message_chars: int = 16_384,
        linger: float = 0.02,
        update_interval: float = 0.2,
        connect_timeout: float = 10.0,
        drop_notice: DropNoticeMaker = text_drop_notice,
        history: int = DEFAULT_HISTORY_LINES,
        fail_soft: bool = False,
    ):
        problem = group_name_problem(group)
        if problem:
            raise ValueError(problem)
        if when_full not in WHEN_FULL:
            raise ValueError(
                f"when_full must be 'block' (wait up to block_timeout for room) or 'drop' (drop at "
                f"once), got {when_full!r}"
            )
        if block_timeout is not None and block_timeout < 0:
            raise ValueError(
                f"block_timeout must be >= 0 seconds or None (wait for room forever), got {block_timeout!r}"
            )
        if max_queued < 1:
            raise ValueError(f"max_queued must be at least 1, got {max_queued!r}")
        if update_interval < 0:
            raise ValueError(f"update_interval must be >= 0 seconds, got {update_interval!r}")
        if source is None and client is None:
            raise ValueError(
                "pass a source (connection string, LocalService, /negotiate URL, client URL) or a connected client="
            )
        self.group = group
        self.source = source
        self.hub = hub
        self.user_id = user_id
        self.when_full = when_full
        self.block_timeout = block_timeout
        self.max_queued = max_queued
        self.max_message_chars = max_message_chars
        self.linger = linger
        self.update_interval = update_interval
        self.connect_timeout = connect_timeout
        self.drop_notice = drop_notice
        self.history = history
        self.fail_soft = fail_soft
        self.connect_error: BaseException | None = None  # why the service could not be reached (fail_soft)
        self._connected = threading.Event()
        self.stats = PublishStats(group)
        self._owns_client = client is None
        # Producers append and the worker pops from the two ends of this deque without a lock (both are
        # atomic); the lock is for the rare paths: a full queue, waking an idle worker, the counters.
        # The producers' whole fast path (put(), and a TeeStream does the same inline: a print is two
        # writes): while len(queue) < open_below, append; then, if worker_idle, call wake_worker().
        # open_below folds the bound and every reason to take the slow path into one number (0: always
        # the slow path); it is only changed under the lock.
        self.queue: deque[QueueItem] = deque()
        self.open_below = max_queued
        self.worker_idle = False
        self._lock = threading.Lock()
        # Hands the worker's messages to the client and counts their answers (under the same lock).
        self._delivery = Delivery(
            group,
            self.stats,
            self._lock,
            self._connected,
            client=client,
            release=self._release,
            on_failure=self._refuse,
        )
        self._has_items = threading.Condition(self._lock)
        self._has_room = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        self._lingering = False
        self._hurry = threading.Event()  # cuts the worker's linger short
        self._hurry_at = max(1, max_queued // 4)
        self._shedding = False  # producers must take the slow path (dropping, waiting for room, refused)
        self._overloaded = False  # a wait for room timed out: drop without waiting until the worker drains
        self._cut_lines: set[int] = set()  # streams whose line in progress is being dropped to its end
        self._room_waiters = 0
        self._closing = False
        self._closed = False
        self._splitters: dict[int, LineSplitter] = {}
        # Written by the worker and the client's thread under the lock, read by producers without it: the
        # writes taken from the queue whose messages are not all answered yet (the bound counts them).
        self._in_flight_writes = 0
        self._queue_limit = max_queued  # max_queued - _in_flight_writes

    # ---- life ------------------------------------------------------------------------------------

    def start(self) -> Publisher:
        """Connect (unless a client was given) and start the worker thread.

        Raises if it cannot connect, unless ``fail_soft``: then :attr:`connect_error` says why, what is
        queued meanwhile is counted as failed, and a background thread keeps trying (an unreachable
        service; not a refused token): publishing resumes once it connects.
        """
        if self._worker is not None:
            return self
        if self.client is None:
            from ..client import Client

            source = Source.of(self.source)
            roles = [f"webpubsub.sendToGroup.{self.group}"]
            if self.history:  # to hear watchers' history requests
                roles.append(f"webpubsub.joinLeaveGroup.{self.group}")
            # message_buffer=0: the client hears the group (for history requests, read by a callback); nobody
            # reads its messages() queue, which would otherwise keep other publishers' messages.
            client = self._delivery.client = Client(
                source, hub=self.hub, message_buffer=0, **source.token_options(user_id=self.user_id, roles=roles)
            )
            if self.fail_soft:
                self.connect_error = connect_softly(
                    client,
                    self.connect_timeout,
                    on_connected=self._on_connected,
                    stopped=lambda: self._closing,
                    name=f"wpsnb-connect-{self.group}",
                )
            else:
                client.connect(timeout=self.connect_timeout)
                self._on_connected()
        else:
            self._on_connected()
        self._worker = threading.Thread(target=self._run, name=f"wpsnb-publish-{self.group}", daemon=True)
        self._worker.start()
        return self

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed or self._closing

    @property
    def connected(self) -> bool:
        """Whether the publisher's client has connected (it may be recovering a dropped connection now)."""
        return self._connected.is_set()

    @property
    def client(self) -> Any:
        """The :class:`wpsnb.Client` publishing (``None`` before :meth:`start` unless one was given)."""
        return self._delivery.client

    @property
    def responder(self) -> HistoryResponder | None:
        """What answers watchers' history requests, once connected (``None`` with ``history=0``)."""
        return self._delivery.responder

    def _on_connected(self) -> None:
        if self.history:
            responder = self._delivery.responder = HistoryResponder(self.client, self.group, self.history)
            responder.start(timeout=self.connect_timeout)
        self.connect_error = None
        self._connected.set()

    def __enter__(self) -> Publisher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is acknowledged (or failed); ``False`` if ``timeout`` passed."""
        marker = Flush()
        done = marker.done
        self.queue.append(marker)  # past any room limit: it holds no output
        self._wake_worker(hurry=True)
        if self._worker is None:
            return False
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> PublishStats:
        """Publish everything queued (waiting at most ``timeout`` s), stop, and return the stats."""
        if self._closed:
            return self.stats
        self.end_lines()
        self.flush(timeout)
        with self._lock:
            self._closing = True
            self._has_items.notify_all()
            self._has_room.notify_all()
        if self._worker is not None:
            self._worker.join(max(timeout, 1.0))
        with self._lock:
            self._closed = True
            waiting = sum(lines_in(item) for item in self.queue)
            self.stats.unconfirmed += self._delivery.in_flight_lines + waiting
        if self.responder is not None:
            self.responder.close()
        if self._owns_client and self.client is not None:
            try:
                self.client.close(timeout=1.0)
            except Exception as exc:  # closing is best effort: the stats already say what was published
                log.debug("closing the publisher's client: %s", exc)
        return self.stats

    def pending_lines(self) -> int:
        """Lines queued or sent and not yet acknowledged."""
        with self._lock:
            return self._delivery.in_flight_lines + sum(lines_in(item) for item in self.queue)

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped publishing, if one did."""
        return self._delivery.failure

    # ---- producers -------------------------------------------------------------------------------

    def put(self, item: QueueItem) -> bool:
        """Queue ``item`` (:mod:`wpsnb.publishing.items`); ``False`` if it was dropped (no room).

        The hot path of a printing loop (a tee does the same inline, twice per print): one comparison,
        one append, no lock.
        """
        queue = self.queue
        if len(queue) < self.open_below:
            queue.append(item)
            if self.worker_idle:
                self.wake_worker()
            return True
        return self._put_slowly(item)

    def put_chunk(self, stream: int, text: str) -> bool:
        """Queue what was written to output stream number ``stream`` (cut into lines by the worker)."""
        return self.put((stream, text))

    def put_text(self, text: str, lines: int = 1) -> bool:
        """Queue terminal text standing for ``lines`` lines, published as it is; ``False`` if dropped."""
        return self.put(Text(text, lines))

    def put_json(self, value: Any, lines: int = 1) -> bool:
        """Queue one JSON message; ``False`` if it was dropped."""
        return self.put(Json(value, lines))

    def end_lines(self) -> None:
        """Complete every stream's line in progress (end of a cell): it is published as a whole line."""
        with self._lock:
            self._cut_lines.clear()
            self._update_shedding()
        self.queue.append(END_LINES)
        self._wake_worker()

    def wake_worker(self) -> None:
        """Wake the worker after an append that found it idle (what a producer's fast path ends with)."""
        self._wake_worker()

    def _full(self) -> bool:
        return len(self.queue) >= self._queue_limit

    def _put_slowly(self, item: QueueItem) -> bool:
        with self._lock:
            if self._closing:
                return False
            if self._delivery.failure is not None:  # nothing more can be published: count it, do not queue it
                self.stats.failed += lines_in(item)
                return False
            if type(item) is tuple and item[0] in self._cut_lines:  # the rest of a line being dropped
                self._drop(item)
                return False
            if self._full() and not self._wait_for_room():
                self._drop(item)
                return False
            self.queue.append(item)
            if self._lingering and len(self.queue) >= self._hurry_at:
                self._lingering = False  # a flood: do not let the queue fill up while the worker lingers
                self._hurry.set()
            self._update_shedding()
            if self.worker_idle:
                self.worker_idle = False
                self._has_items.notify()
            return True

    def _wait_for_room(self) -> bool:
        # With the lock held and the queue full.
        if self.when_full == "drop" or self._overloaded:
            return False
        deadline = None if self.block_timeout is None else time.monotonic() + self.block_timeout
        self._room_waiters += 1
        try:
            while self._full():
                if self._closing:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    self._overloaded = True
                    self._update_shedding()
                    return False
                self._has_room.wait(remaining)
            return True
        finally:
            self._room_waiters -= 1

    def _drop(self, item: QueueItem) -> None:
        # With the lock held: count the lost lines; a notice (past the bound) marks the place in the stream.
        # A line counts as dropped when its first piece is; once a line loses a piece, the rest of it goes too.
        stream: int | None = None
        if type(item) is tuple:
            stream, text = item
            if not text:
                return
            cut = stream in self._cut_lines  # this chunk begins with the rest of a line already counted
            lines = text.count("\n") + (0 if text.endswith("\n") else 1) - (1 if cut else 0)
            if text.endswith("\n"):
                self._cut_lines.discard(stream)
            else:
                self._cut_lines.add(stream)
        else:
            lines = lines_in(item)
        self._shedding = True
        self.open_below = 0
        self.stats.dropped += lines
        queue = self.queue
        last = queue[-1] if queue else None
        if isinstance(last, DropNotice) and last.stream == stream:
            last.count += lines  # drops go on right where the last ones were: one notice for all
        elif lines:  # (the rest of a line already counted needs no notice of its own)
            queue.append(DropNotice(stream, lines))

    def _update_shedding(self) -> None:
        # With the lock held: whether producers must leave the lock-free path, and how far they may fill.
        self._shedding = self._overloaded or bool(self._cut_lines) or self._delivery.failure is not None
        self._update_gate()

    def _update_gate(self) -> None:
        # With the lock held. A lingering worker is hurried once the queue holds _hurry_at writes.
        if self._shedding:
            self.open_below = 0
        elif self._lingering:
            self.open_below = min(self._queue_limit, self._hurry_at)
        else:
            self.open_below = self._queue_limit

    def _refuse(self) -> None:
        # With the lock held, when publishing failed for good: producers take the slow path, which refuses.
        self._shedding = True
        self.open_below = 0

    def _wake_worker(self, hurry: bool = False) -> None:
        with self._lock:
            self.worker_idle = False  # one wake-up is enough: later appends need not take the lock
            self._has_items.notify()
        if hurry:
            self._hurry.set()

    # ---- the worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._wait_for_work():
                if self.linger and not self._in_a_hurry():
                    self._linger(True)  # let a burst gather into few messages
                    self._hurry.wait(self.linger)
                    self._linger(False)
                    self._hurry.clear()
                self._drain()
        except Exception:
            log.exception("the publisher for group %r stopped by an internal error", self.group)
            delivery = self._delivery
            with self._lock:
                delivery.failure = delivery.failure or RuntimeError("the publisher stopped by an internal error")
            self._discard_queue()
        finally:
            self._delivery.wake_flushes()
            self._release_flush_markers()

    def _linger(self, lingering: bool) -> None:
        with self._lock:
            self._lingering = lingering
            self._update_gate()

    def _wait_for_work(self) -> bool:
        """Wait until something is queued, or a line in progress may be due for an update; ``False``: stop."""
        queue = self.queue
        if queue:
            return True
        with self._lock:
            self.worker_idle = True
            # Producers append, then look at worker_idle; we set it, then look at the queue: one of us sees
            # the other, so no wake-up is lost.
            if not queue and not self._closing:
                pending = any(s.pending is not None for s in self._splitters.values())
                self._has_items.wait(self.update_interval / 2 if pending and self.update_interval else None)
            self.worker_idle = False
            return bool(queue) or not self._closing

    def _in_a_hurry(self) -> bool:
        queue = self.queue
        return self._closing or len(queue) >= self._hurry_at or bool(queue and type(queue[-1]) is Flush)

    def _drain(self) -> None:
        """Take what is queued now, cut it into lines, pack and send the messages (in order)."""
        queue = self.queue
        # Taken in one go and grouped by C code (islice/groupby/join): in a flood these run for every write.
        taken = len(queue)
        items = list(islice(iter(queue.popleft, _NOTHING), taken))
        with self._lock:
            self._in_flight_writes += taken  # out of the queue, still inside the bound until answered
            self._queue_limit = self.max_queued - self._in_flight_writes
            self._update_gate()
        now = time.monotonic()
        messages = MessagePacker(self.max_message_chars)
        sent: list[Message] = []
        for kind, group in groupby(items, key=type):  # chunks are plain tuples, everything else a class
            if kind is tuple:  # consecutive writes to output streams: one chunk per stream
                for stream, chunks in groupby(group, key=_stream_of):
                    self._feed(stream, "".join(map(_text_of, chunks)), now, messages)
                continue
            for item in group:
                match item:
                    case Text(text=text, lines=lines):
                        messages.add("text", text, lines)
                    case Json(value=value, lines=lines):
                        messages.add("json", value, lines)
                    case DropNotice():
                        self._add_notice(item, messages)
                    case EndLines():
                        for splitter in self._splitters.values():
                            line = splitter.close()
                            if line is not None:
                                messages.add("text", line.wire, 1)
                    case Flush(done=done):
                        sent += messages.take()
                        self._delivery.send(sent, 0)
                        sent = []
                        self._delivery.when_answered(done)
        for splitter in self._splitters.values():  # lines in progress that have waited long enough
            update = splitter.due(now)
            if update is not None:
                messages.add("text", update.wire, 0)
        self._delivery.send(sent + messages.take(), taken)
        with self._lock:
            if self._overloaded:
                self._overloaded = False
                self._update_shedding()
            if self._room_waiters:
                self._has_room.notify_all()

    def _feed(self, stream: int, chunk: str, now: float, messages: MessagePacker) -> None:
        splitter = self._splitters.get(stream)
        if splitter is None:
            splitter = self._splitters[stream] = LineSplitter(self.update_interval)
        for wire, lines in splitter.feed_wire(chunk, now):
            messages.add("text", wire, lines)

    def _add_notice(self, notice: DropNotice, messages: MessagePacker) -> None:
        with self._lock:  # a producer adds to the count under the lock, while the notice is last in the queue
            count = notice.count
        splitter = self._splitters.get(notice.stream) if notice.stream is not None else None
        if splitter is not None:
            line = splitter.close()  # the head of a line whose rest was dropped: shown as it is
            if line is not None:
                messages.add("text", line.wire, 0)
        made = self.drop_notice(count)
        if isinstance(made, Json):
            messages.add("json", made.value, 0)
        else:
            messages.add("text", made.text, 0)

    def _release(self, writes: int) -> None:
        with self._lock:
            self._in_flight_writes -= writes
            self._queue_limit = self.max_queued - self._in_flight_writes
            self._update_gate()
            self._has_room.notify_all()

    def _discard_queue(self) -> None:
        with self._lock:
            while self.queue:
                self.stats.failed += lines_in(self.queue.popleft())

    def _release_flush_markers(self) -> None:
        for item in list(self.queue):
            if type(item) is Flush:
                item.done.set()


_stream_of = itemgetter(0)  # of a chunk, in C: the worker applies these to every write
_text_of = itemgetter(1)
_NOTHING = object()  # iter(popleft, _NOTHING): pops in C until islice has taken enough


__all__ = ["WHEN_FULL", "PublishStats", "Publisher", "WhenFull", "text_drop_notice"]
