"""What a program writes to a stream, cut into whole lines and updates of the line in progress.

``print`` hands a stream pieces (``"epoch 3"``, then ``"\\n"``); progress bars such as tqdm rewrite
one line over and over (``"\\r 40%|####  |"``). A :class:`LineSplitter` turns those pieces into
:class:`OutputLine` values: every complete line once, and, for a line still in progress, at most
one *update* per ``update_interval`` seconds — so a bar that redraws itself a thousand times is
published as a handful of updates of one line, not a thousand lines.

The wire form of a line is terminal text (what a terminal would have been sent):

* a complete line: ``"text\\n"``;
* an update of the line in progress: ``"\\rtext"`` (replaces what the line showed);
* the completion of a line that had updates: ``"\\rtext\\n"``.

Writing the wire forms one after the other to a terminal shows what the program showed. A ``"\\r"``
makes the following text replace the whole line (terminals overwrite character by character; progress
bars redraw the full width, so the two agree for them). ``"\\r\\n"`` ends a line like ``"\\n"``.

Example::

    >>> splitter = LineSplitter(update_interval=0.5)
    >>> [line.wire for line in splitter.feed("loss 0.3\\nepoch", now=0.0)]
    ['loss 0.3\\n']
    >>> [line.wire for line in splitter.feed("\\r 50%", now=1.0)]     # stale for 1 s: one update
    ['\\r 50%']
    >>> [line.wire for line in splitter.feed("\\r100%\\n", now=1.1)]
    ['\\r100%\\n']
"""

from __future__ import annotations

from typing import NamedTuple

MAX_LINE_CHARS = 65_536


class OutputLine(NamedTuple):
    """One line of output: ``complete`` (it ended) or an update of the line in progress.

    ``replaces`` says an update of this line was published before, so this one replaces it.

    >>> OutputLine("50%", complete=False, replaces=True).wire
    '\\r50%'
    """

    text: str
    complete: bool = True
    replaces: bool = False

    @property
    def wire(self) -> str:
        """The terminal text for this line (see the module docs)."""
        return ("\r" if self.replaces else "") + self.text + ("\n" if self.complete else "")


class LineSplitter:
    """Cuts one stream's writes into :class:`OutputLine` values (not thread-safe: lock around it).

    ``update_interval`` (s): a line in progress is published as an update once it has been pending, or
    unchanged since its last update, for this long. Complete lines are never delayed. A line longer than
    ``max_line_chars`` is cut there, so one message stays well under the service's 1 MB frame limit.

    >>> splitter = LineSplitter()
    >>> [line.text for line in splitter.feed("a\\nb\\r\\nc", now=0.0)]
    ['a', 'b']
    >>> splitter.close().text
    'c'
    """

    def __init__(self, update_interval: float = 0.2, max_line_chars: int = MAX_LINE_CHARS):
        if update_interval < 0:
            raise ValueError(f"update_interval must be >= 0 seconds, got {update_interval!r}")
        if max_line_chars < 1:
            raise ValueError(f"max_line_chars must be >= 1, got {max_line_chars!r}")
        self.update_interval = update_interval
        self.max_line_chars = max_line_chars
        self._pieces: list[str] = []  # the line in progress, as written
        self._length = 0
        self._return = False  # a "\r" came: the next text replaces the line in progress
        self._started = False  # a line is in progress (text or "\r" written since the last "\n")
        self._shown: str | None = None  # what the last published update of this line said
        self._since = 0.0  # when the line began, or its last update was published

    @property
    def pending(self) -> str | None:
        """The line in progress (``None`` when the last write ended a line)."""
        return "".join(self._pieces) if self._started else None

    def feed(self, chunk: str, now: float) -> list[OutputLine]:
        """Take one write; return the lines it completed, plus an update if one is due."""
        # Fast paths for what print() writes: its text, then "\n" (this runs for every line a cell prints).
        if chunk == "\n":
            return [self._finish()]
        if (
            self._started
            and not self._return
            and "\n" not in chunk
            and "\r" not in chunk
            and self._length + len(chunk) <= self.max_line_chars
        ):
            self._pieces.append(chunk)
            self._length += len(chunk)
            if now - self._since < self.update_interval:
                return []
            update = self.due(now)
            return [update] if update is not None else []
        lines: list[OutputLine] = []
        if "\r" not in chunk:  # the common case (print): no carriage returns
            *complete, rest = chunk.split("\n")
            for text in complete:
                if text:
                    self._add(text, now, lines)
                lines.append(self._finish())
            if rest:
                self._add(rest, now, lines)
        else:
            for index, segment in enumerate(chunk.split("\n")):
                if index:
                    lines.append(self._finish())
                for part, text in enumerate(segment.split("\r")):
                    if part:
                        self._carriage_return(now)
                    if text:
                        self._add(text, now, lines)
        update = self.due(now)
        if update is not None:
            lines.append(update)
        return lines

    def feed_wire(self, chunk: str, now: float) -> list[tuple[str, int]]:
        """Like :meth:`feed`, as ``(wire text, complete lines in it)`` pieces for a publisher.

        Plain complete lines (no ``"\\r"``, none too long) come out as *one* piece, the text as written:
        a burst of prints costs a ``count`` instead of an object per line.

        >>> LineSplitter().feed_wire("a\\nb\\nc\\npartial", now=0.0)
        [('a\\nb\\nc\\n', 3)]
        """
        last = chunk.rfind("\n")
        if last < 0 or "\r" in chunk or self._return:
            return [(line.wire, 1 if line.complete else 0) for line in self.feed(chunk, now)]
        pieces: list[tuple[str, int]] = []
        body_start = 0
        if self._started:  # the first "\n" ends the line in progress: that one goes the careful way
            body_start = chunk.index("\n") + 1
            pieces += [(line.wire, 1 if line.complete else 0) for line in self.feed(chunk[:body_start], now)]
        body = chunk[body_start : last + 1]
        if body:
            if no_line_longer_than(body, self.max_line_chars):
                pieces.append((body, body.count("\n")))
            else:
                pieces += [(line.wire, 1) for line in self.feed(body, now)]
        rest = chunk[last + 1 :]
        if rest:
            pieces += [(line.wire, 1 if line.complete else 0) for line in self.feed(rest, now)]
        return pieces

    def due(self, now: float) -> OutputLine | None:
        """The update of the line in progress, if one is due at ``now`` (else ``None``)."""
        if not self._started or now - self._since < self.update_interval:
            return None
        text = "".join(self._pieces)
        if text == self._shown or (self._shown is None and not text):
            return None
        self._shown = text
        self._since = now
        return OutputLine(text, complete=False, replaces=True)

    def close(self) -> OutputLine | None:
        """End of the stream: the line in progress, completed (``None`` if there is none)."""
        if not self._started:
            return None
        if not self._pieces and self._shown is None:
            self._reset()
            return None
        return self._finish()

    def _carriage_return(self, now: float) -> None:
        if not self._started:
            self._started = True
            self._since = now
        self._return = True

    def _add(self, text: str, now: float, lines: list[OutputLine]) -> None:
        if not text:  # an empty piece starts a line but replaces nothing ("\r" then "\n" keeps the text)
            if not self._started:
                self._started = True
                self._since = now
            return
        if self._return:  # "\r": replace the line in progress
            self._return = False
            self._pieces.clear()
            self._length = 0
        if not self._started:
            self._started = True
            self._since = now
        while self._length + len(text) > self.max_line_chars:  # cut an endless line into pieces
            room = self.max_line_chars - self._length
            self._pieces.append(text[:room])
            text = text[room:]
            lines.append(self._finish())
            self._started = True
            self._since = now
        self._pieces.append(text)
        self._length += len(text)

    def _finish(self) -> OutputLine:
        line = OutputLine("".join(self._pieces), complete=True, replaces=self._shown is not None)
        self._reset()
        return line

    def _reset(self) -> None:
        self._pieces = []
        self._length = 0
        self._return = False
        self._started = False
        self._shown = None


def no_line_longer_than(text: str, limit: int) -> bool:
    """Whether no line of ``text`` is longer than ``limit`` characters: ``True`` proves it; ``False`` means
    "look closer" (it may be wrong only that way).

    When every aligned window of ``(limit + 1) // 2`` characters holds a ``"\\n"``, every line is shorter than
    two windows: a few ``find`` calls per burst of prints instead of a look at every line.

    >>> no_line_longer_than("ab\\ncd\\n", 8), no_line_longer_than("abcdefghi\\n", 8)
    (True, False)
    """
    if len(text) <= limit:
        return True
    window = max(1, (limit + 1) // 2)
    find = text.find
    return all(find("\n", start, start + window) >= 0 for start in range(0, len(text), window))


__all__ = ["MAX_LINE_CHARS", "LineSplitter", "OutputLine", "no_line_longer_than"]
