"""What a :class:`~wpsnb.publishing.Publisher` queue holds, and what it reports.

The queue's hot item is a write to an output stream, ``(stream, text)`` (:data:`Chunk`): a plain tuple,
because a printing loop makes two per ``print`` and a tuple costs a fraction of any object. Everything
else is a small class of its own, so the worker dispatches on the type (``match``) instead of on tags:

* :class:`Text` — terminal text standing for ``lines`` lines, published as it is;
* :class:`Json` — one JSON message;
* :class:`DropNotice` — ``count`` lines were dropped here (of ``stream``, or of text/JSON items);
* :class:`EndLines` — complete every stream's line in progress (the end of a cell);
* :class:`Flush` — set ``done`` once everything before it is acknowledged.

Example::

    >>> item = Text("epoch 1\\n", 1)
    >>> match item:
    ...     case Text(text=text, lines=lines):
    ...         print(repr(text), lines)
    'epoch 1\\n' 1
    >>> lines_in((0, "a\\nb\\n")), lines_in(Json({"step": 1})), lines_in(END_LINES)
    (2, 1, 0)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Chunk = tuple[int, str]  # (stream number, what was written to it)


@dataclass(frozen=True, slots=True)
class Text:
    """Terminal text standing for ``lines`` complete lines (0: an update of a line in progress)."""

    text: str
    lines: int = 1


@dataclass(frozen=True, slots=True)
class Json:
    """One JSON message (a log record, metrics), counted as ``lines`` lines."""

    value: Any
    lines: int = 1


@dataclass(slots=True)
class DropNotice:
    """``count`` lines were dropped at this place; ``stream`` is the output stream they were written to
    (``None`` for text and JSON items). Later drops right after it add to ``count`` (under the lock)."""

    stream: int | None
    count: int


@dataclass(frozen=True, slots=True)
class EndLines:
    """Complete every stream's line in progress."""


END_LINES = EndLines()


@dataclass(frozen=True, slots=True)
class Flush:
    """Set ``done`` once everything queued before this is acknowledged (or failed)."""

    done: threading.Event = field(default_factory=threading.Event)


QueueItem = Chunk | Text | Json | DropNotice | EndLines | Flush


def lines_in(item: QueueItem) -> int:
    """The complete lines ``item`` stands for (a chunk: its line ends)."""
    if type(item) is tuple:
        return item[1].count("\n")
    if isinstance(item, (Text, Json)):
        return item.lines
    return 0


@dataclass
class PublishStats:
    """What happened to what was given to a :class:`~wpsnb.publishing.Publisher`.

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

    def since(self, earlier: PublishStats) -> PublishStats:
        """What happened after ``earlier`` (a :func:`dataclasses.replace` copy of these stats, taken then).

        >>> before = PublishStats("g", lines=2)
        >>> PublishStats("g", lines=5, dropped=1).since(before).summary()
        'published 3 lines to group g (1 dropped)'
        """
        error = self.error if self.failed > earlier.failed else None
        return PublishStats(
            self.group,
            lines=self.lines - earlier.lines,
            messages=self.messages - earlier.messages,
            dropped=self.dropped - earlier.dropped,
            failed=self.failed - earlier.failed,
            unconfirmed=self.unconfirmed - earlier.unconfirmed,
            error=error,
        )

    def summary(self) -> str:
        """One line: ``published N lines to group G (M dropped)``, plus failures if there were any."""
        text = f"published {count_lines(self.lines)} to group {self.group} ({self.dropped} dropped)"
        if self.failed:
            text += f"; {count_lines(self.failed)} failed: {self.error or 'unknown error'}"
        if self.unconfirmed:
            text += f"; {count_lines(self.unconfirmed)} not yet acknowledged when the flush timed out"
        return text


DropNoticeMaker = Callable[[int], Text | Json]


def text_drop_notice(count: int) -> Text:
    """The notice that stands in a text stream where ``count`` lines were dropped.

    >>> text_drop_notice(3)
    Text(text='[wpsnb: 3 lines dropped here: the publish queue was full]\\n', lines=0)
    """
    return Text(f"[wpsnb: {count_lines(count)} dropped here: the publish queue was full]\n", 0)


def count_lines(count: int) -> str:
    """``1 line``, ``3 lines``.

    >>> count_lines(1), count_lines(0)
    ('1 line', '0 lines')
    """
    return f"{count} line" if count == 1 else f"{count} lines"


__all__ = [
    "END_LINES",
    "Chunk",
    "DropNotice",
    "DropNoticeMaker",
    "EndLines",
    "Flush",
    "Json",
    "PublishStats",
    "QueueItem",
    "Text",
    "count_lines",
    "lines_in",
    "text_drop_notice",
]
