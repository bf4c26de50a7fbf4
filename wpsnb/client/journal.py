"""The frame journal: every WebSocket frame a client sent or received, as it was on the wire.

A :class:`Journal` keeps the last ``size`` frames in a ring buffer, tells subscribers about each new
frame, and can append every frame to a JSONL file as it happens (``record_to=``), export its ring, or
load a recorded file back (the frame inspector reads the same objects either way).

JSONL format (one JSON object per line, UTF-8). The first line of each recording session is a header::

    {"format": "wpsnb.journal", "version": 1, "wall_time": 1732730000.5}

and every other line one frame::

    {"time": 1234.5678, "wall_time": 1732730000.61, "direction": "received", "kind": "text",
     "raw": "{\\"type\\":\\"ack\\",\\"ackId\\":1,\\"success\\":true}", "size": 39,
     "connection_id": "3b8c0f", "error": null, "code": null}

``time`` is ``time.monotonic()`` of the recording process (compare it only within one file), ``wall_time``
is ``time.time()``. ``kind`` is ``"text"``, ``"binary"`` (``raw`` is then base64) or ``"close"`` (``raw`` is
the close reason, ``code`` the close code). ``error`` is the parse error, if the frame was not a valid
message. The decoded message is not stored: :meth:`Journal.load` parses ``raw`` again. Readers must
ignore keys they do not know.

Example::

    >>> journal = Journal(size=100)
    >>> unsubscribe = journal.subscribe(lambda frame: print(frame.direction, frame.size))
    >>> _ = journal.record("received", '{"type":"pong"}', *decode_frame("received", '{"type":"pong"}'))
    received 15
    >>> [f.message for f in journal]
    [Pong()]
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from ..protocol.client_codec import parse_service_message
from ..protocol.frame_fields import InvalidMessage
from ..protocol.json_codec import parse_client_message

log = logging.getLogger("wpsnb.client")

FORMAT = "wpsnb.journal"
VERSION = 1

FrameCallback = Callable[["Frame"], Any]
# How subscribers are called: the client passes its callback dispatcher so a slow subscriber never
# stalls the socket; a stand-alone journal calls them directly.
Notify = Callable[[FrameCallback, "Frame"], None]


class Frame(NamedTuple):
    """One WebSocket frame as it crossed the wire (an immutable named tuple).

    ``time`` (``time.monotonic()``) and ``wall_time`` (``time.time()``) say when; ``direction`` is
    ``"sent"`` or ``"received"``; ``raw`` is the frame text (or bytes for a binary frame, or the close
    reason); ``message`` the decoded protocol message (``None`` if it did not parse, then ``error`` says
    why); ``size`` the payload size in bytes; ``kind`` ``"text"``/``"binary"``/``"close"``;
    ``connection_id`` the connection it belongs to; ``code`` the close code of a ``"close"`` frame.
    """

    time: float
    wall_time: float
    direction: str
    raw: str | bytes
    message: Any
    error: str | None
    size: int
    kind: str = "text"
    connection_id: str | None = None
    code: int | None = None

    def to_record(self) -> dict[str, Any]:
        """The JSONL record of this frame (see the module docs)."""
        raw = self.raw
        if isinstance(raw, bytes):
            raw = base64.b64encode(raw).decode("ascii")
        return {
            "time": self.time,
            "wall_time": self.wall_time,
            "direction": self.direction,
            "kind": self.kind,
            "raw": raw,
            "size": self.size,
            "connection_id": self.connection_id,
            "error": self.error,
            "code": self.code,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Frame:
        """Rebuild a frame from its JSONL record, parsing ``raw`` again to get ``message``."""
        kind = record.get("kind", "text")
        direction = record["direction"]
        raw: str | bytes = record.get("raw", "")
        error = record.get("error")
        message = None
        if kind == "binary" and isinstance(raw, str):
            raw = base64.b64decode(raw)
        elif kind == "text" and error is None:
            message, error = decode_frame(direction, raw)
        return cls(
            time=float(record.get("time", 0.0)),
            wall_time=float(record.get("wall_time", 0.0)),
            direction=direction,
            raw=raw,
            message=message,
            error=error,
            size=int(record.get("size", len(raw))),
            kind=kind,
            connection_id=record.get("connection_id"),
            code=record.get("code"),
        )


def decode_frame(direction: str, raw: str | bytes) -> tuple[Any, str | None]:
    """Parse a frame as the side that received it would: ``(message, None)`` or ``(None, error)``.

    >>> decode_frame("received", '{"type":"pong"}')
    (Pong(), None)
    """
    parse = parse_client_message if direction == "sent" else parse_service_message
    try:
        return parse(raw), None
    except InvalidMessage as exc:
        return None, str(exc)


class Journal:
    """A bounded, subscribable record of frames; optionally appended to a JSONL file as it grows.

    ``size`` frames are kept in memory (0 keeps none; subscribers and ``record_to`` still see every frame).
    Iterating gives a snapshot, oldest first, and is safe from any thread.
    """

    def __init__(self, size: int = 10_000, record_to: str | Path | None = None, *, notify: Notify | None = None):
        if size < 0:
            raise ValueError(f"journal size must be 0 or more, got {size}")
        self.size = size
        self._frames: deque[Frame] = deque(maxlen=size)
        self._subscribers: tuple[FrameCallback, ...] = ()
        self._notify: Notify = notify or _call_now
        self.record_to = Path(record_to) if record_to is not None else None
        self._file: IO[str] | None = None
        if self.record_to is not None:
            self._file = self.record_to.open("a", encoding="utf-8")
            self._file.write(_header_line())

    # -- adding frames (the client calls these on its event-loop thread) --

    def record(
        self,
        direction: str,
        raw: str | bytes,
        message: Any = None,
        error: str | None = None,
        *,
        kind: str | None = None,
        connection_id: str | None = None,
        code: int | None = None,
        size: int | None = None,
    ) -> Frame:
        """Add one frame; ``size`` defaults to the UTF-8 length of ``raw``."""
        if kind is None:
            kind = "binary" if isinstance(raw, bytes) else "text"
        if size is None:
            size = len(raw) if isinstance(raw, bytes) or raw.isascii() else len(raw.encode("utf-8"))
        frame = Frame(time.monotonic(), time.time(), direction, raw, message, error, size, kind, connection_id, code)
        self.add(frame)
        return frame

    def add(self, frame: Frame) -> None:
        """Append an existing :class:`Frame` (e.g. from another journal)."""
        if self.size:
            self._frames.append(frame)
        if self._file is not None:
            self._file.write(json.dumps(frame.to_record(), ensure_ascii=False) + "\n")
        for callback in self._subscribers:
            self._notify(callback, frame)

    # -- reading --

    def __iter__(self) -> Iterator[Frame]:
        # list(deque) runs in C without releasing the GIL: a consistent snapshot even while frames arrive.
        return iter(list(self._frames))

    def __len__(self) -> int:
        return len(self._frames)

    def __repr__(self) -> str:
        recording = f", recording to {str(self.record_to)!r}" if self._file is not None else ""
        return f"<Journal {len(self._frames)}/{self.size} frames{recording}>"

    def subscribe(self, callback: FrameCallback) -> Callable[[], None]:
        """Call ``callback(frame)`` for every new frame; returns a function that unsubscribes.

        >>> journal = Journal()
        >>> stop = journal.subscribe(print)
        >>> stop()
        """
        self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    def clear(self) -> None:
        """Forget the frames held in memory (a recording file is not touched)."""
        self._frames.clear()

    # -- files --

    def export(self, path: str | Path) -> Path:
        """Write the frames held in memory to ``path`` as JSONL (overwriting it); return the path."""
        path = Path(path)
        with path.open("w", encoding="utf-8") as file:
            file.writelines(jsonl_lines(self))
        return path

    @classmethod
    def load(cls, path: str | Path, size: int | None = None) -> Journal:
        """Read a JSONL file written by ``record_to=`` or :meth:`export`; keep the last ``size`` frames.

        Lines that are not JSON objects (e.g. a line cut short by a crash) are skipped with a warning.
        """
        path = Path(path)
        frames: list[Frame] = []
        skipped = 0
        with path.open(encoding="utf-8") as file:
            for line in file:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    if "format" in record:
                        continue
                    frames.append(Frame.from_record(record))
                except (ValueError, KeyError, TypeError, AttributeError):
                    skipped += 1
        if skipped:
            log.warning("skipped %d unreadable line(s) in %s", skipped, path)
        journal = cls(size=max(len(frames), 1) if size is None else size)
        for frame in frames:
            journal._frames.append(frame)
        return journal

    def flush(self) -> None:
        """Push buffered lines of the recording file to the OS."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Stop recording (close the file); the frames in memory stay readable."""
        file, self._file = self._file, None
        if file is not None:
            file.close()


def _call_now(callback: FrameCallback, frame: Frame) -> None:
    try:
        callback(frame)
    except Exception:
        log.exception("journal subscriber %r failed", callback)


def _header_line() -> str:
    return json.dumps({"format": FORMAT, "version": VERSION, "wall_time": time.time()}) + "\n"


def jsonl_lines(frames: Iterable[Frame]) -> Iterator[str]:
    """The lines of a JSONL journal holding ``frames`` (what :meth:`Journal.export` writes): header, then records.

    >>> lines = list(jsonl_lines([Frame.from_record({"direction": "received", "raw": '{"type":"pong"}'})]))
    >>> json.loads(lines[0])["format"] == FORMAT, json.loads(lines[1])["raw"]
    (True, '{"type":"pong"}')
    """
    yield _header_line()
    for frame in frames:
        yield json.dumps(frame.to_record(), ensure_ascii=False) + "\n"


__all__ = ["Frame", "Journal", "decode_frame", "jsonl_lines"]
