"""``TeeStream``: a text stream that writes through and queues what is written for a publisher.

``publish_output`` / ``%%publish`` put one in place of ``sys.stdout`` and ``sys.stderr``; ``wpsnb pipe``
writes stdin through one. Writes made by wpsnb's own threads (named ``wpsnb-*``) are shown but not
queued, so the client's own warnings can never feed back into the stream.

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
from typing import Any, Protocol, TextIO

OWN_THREAD_PREFIX = "wpsnb-"


class ChunkSink(Protocol):
    """What a tee queues ``(stream, text)`` into: :meth:`wpsnb.publishing.Publisher.put`."""

    def put(self, item: tuple[int, str]) -> bool: ...


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
        self._put = publisher.put
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
            self._put((self.stream, text))
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
