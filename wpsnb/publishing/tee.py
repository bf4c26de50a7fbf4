"""``TeeStream``: a text stream that writes through and queues what is written for a publisher.

``publish_output`` / ``%%publish`` put one in place of ``sys.stdout`` and ``sys.stderr``; ``wpsnb pipe``
writes stdin through one. Writes made by wpsnb's own threads (named ``wpsnb-*``) are shown but not
queued, so the client's own warnings can never feed back into the stream.

A print is two writes (its text, then ``"\\n"``), so for a :class:`~wpsnb.publishing.Publisher` the tee
does the publisher's fast path itself (one comparison, one append: see :meth:`Publisher.put
<wpsnb.publishing.Publisher.put>`) instead of calling it; any other sink gets ``put((stream, text))``.

Example::

    >>> import io
    >>> class Collect:
    ...     chunks = []
    ...     def put(self, item): self.chunks.append(item); return True
    >>> tee = TeeStream(io.StringIO(), Collect(), stream=1)
    >>> tee.write("epoch 1\\n")
    8
    >>> Collect.chunks
    [(1, 'epoch 1\\n')]
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Protocol, TextIO

OWN_THREAD_PREFIX = "wpsnb-"


class ChunkSink(Protocol):
    """What a tee queues ``(stream, text)`` into: :meth:`wpsnb.publishing.Publisher.put`."""

    def put(self, item: tuple[int, str]) -> bool: ...


class _PutOnly:
    """A sink without the publisher's fast path, seen through it: every write goes to ``put``."""

    queue: deque[Any] = deque()  # never appended to: open_below is 0
    open_below = 0
    worker_idle = False

    def __init__(self, sink: ChunkSink):
        self.put = sink.put


class TeeStream:
    """A text stream that writes through to ``original`` and queues what is written for ``publisher``.

    ``stream`` numbers this stream for the publisher, which cuts each stream's writes into lines.
    Anything it does not define (``encoding``, ``fileno``, ...) is the original's.
    """

    def __init__(self, original: TextIO, publisher: ChunkSink, stream: int = 0, *, tee: bool = True):
        self.original = original
        self.publisher = publisher
        self.stream = stream
        self.tee = tee
        # Bound once: write() runs twice per print, so every attribute look-up there counts.
        self._write_through = original.write if tee else None
        self._sink: Any = publisher if hasattr(publisher, "open_below") else _PutOnly(publisher)
        self._queue: deque[Any] = self._sink.queue
        self._newline = (stream, "\n")  # what print() writes second: one tuple for all of them
        self._thread = threading.local()

    def write(self, text: str) -> int:
        """Write ``text`` to the original stream (if teeing) and queue it for publishing."""
        write_through = self._write_through
        if write_through is not None:
            write_through(text)  # a text stream: it raises TypeError for anything but str, as print expects
        elif not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        try:
            own = self._thread.own  # per thread object: idents are reused, thread-locals are not
        except AttributeError:
            own = self._thread.own = threading.current_thread().name.startswith(OWN_THREAD_PREFIX)
        if not own:
            item = self._newline if text == "\n" else (self.stream, text)
            sink, queue = self._sink, self._queue
            if len(queue) < sink.open_below:  # the publisher's fast path (Publisher.put), inline
                queue.append(item)
                if sink.worker_idle:
                    sink.wake_worker()
            else:
                sink.put(item)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.tee:
            self.original.flush()

    def isatty(self) -> bool:
        return False  # what is published is not a terminal: tools should not send it colour codes

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


__all__ = ["OWN_THREAD_PREFIX", "ChunkSink", "TeeStream"]
