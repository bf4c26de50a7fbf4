"""Packing lines into messages: what waits together travels together, under a size limit.

A flood of prints becomes a few large messages instead of thousands of small ones; a message never
exceeds ``max_chars`` characters of text (cut at a line end, or inside a line longer than that), far
under the service's 1 MB frame limit.

Example::

    >>> packer = MessagePacker(max_chars=0)                     # one message per line
    >>> packer.add("text", "a\\nb\\n", 2)
    >>> [m.data for m in packer.take()]
    ['a\\n', 'b\\n']
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Message(NamedTuple):
    """One message to send: ``data_type`` (text/json), ``data``, and the complete lines it holds."""

    data_type: str
    data: Any
    lines: int


class MessagePacker:
    """Collects :class:`Message` values: consecutive text joined up to ``max_chars`` (cut at line ends
    when longer); ``max_chars=0``: one message per line.

    >>> packer = MessagePacker(10)
    >>> packer.add("text", "a\\n", 1); packer.add("text", "b\\n", 1); packer.add("json", {"step": 1}, 1)
    >>> packer.take()
    [Message(data_type='text', data='a\\nb\\n', lines=2), Message(data_type='json', data={'step': 1}, lines=1)]
    """

    def __init__(self, max_chars: int):
        self.max_chars = max_chars
        self.messages: list[Message] = []
        self._texts: list[str] = []
        self._size = 0
        self._lines = 0

    def add(self, data_type: str, data: Any, lines: int) -> None:
        if data_type != "text":
            self._close_text()
            self.messages.append(Message(data_type, data, lines))
        elif self.max_chars <= 0:
            self._one_per_line(data, lines)
        elif len(data) > self.max_chars:
            self._cut(data, lines)
        else:
            self._add_text(data, lines)

    def take(self) -> list[Message]:
        self._close_text()
        messages, self.messages = self.messages, []
        return messages

    def _add_text(self, data: str, lines: int) -> None:
        if self._texts and self._size + len(data) > self.max_chars:
            self._close_text()
        self._texts.append(data)
        self._size += len(data)
        self._lines += lines

    def _cut(self, data: str, lines: int) -> None:
        start, end = 0, len(data)
        while end - start > self.max_chars:
            cut = data.rfind("\n", start, start + self.max_chars)
            cut = cut + 1 if cut >= 0 else start + self.max_chars  # a line longer than a message: cut it
            piece = data[start:cut]
            count = piece.count("\n")
            self._add_text(piece, count)
            lines -= count
            start = cut
        self._add_text(data[start:], lines)

    def _one_per_line(self, data: str, lines: int) -> None:
        if lines <= 1:
            self.messages.append(Message("text", data, lines))
            return
        *complete, rest = data.split("\n")  # plain lines only come in bulk (see LineSplitter.feed_wire)
        self.messages.extend(Message("text", text + "\n", 1) for text in complete)
        if rest:
            self.messages.append(Message("text", rest, 0))

    def _close_text(self) -> None:
        if self._texts:
            self.messages.append(Message("text", "".join(self._texts), self._lines))
            self._texts, self._size, self._lines = [], 0, 0


__all__ = ["Message", "MessagePacker"]
