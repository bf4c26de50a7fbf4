"""FrameInspector: the raw WebSocket frames of a connection, live, as a filterable table.

Each row is one frame from the client's journal (:mod:`wpsnb.client.journal`): time, direction
(sent/received), message type, group, ackId / sequenceId, size. Clicking a row shows the raw frame
and its decoding; a frame that did not parse is marked with the parse error. An ack and the request
it answers are linked (click one, the other is highlighted and one click away). The page can pause,
filter by direction, type and group, and export what it holds as JSONL; ``inspector.export(path)``
does the same from Python, and ``FrameInspector("frames.jsonl")`` opens a recording offline.

Updates are batched like :class:`~wpsnb.notebook.stream_view.StreamView`'s (see :mod:`.feed`).

Example::

    client = wpsnb.Client(service, roles=["webpubsub.joinLeaveGroup"])
    client.connect()
    inspector = wpsnb.FrameInspector(client)     # or a StreamView, a Journal, or a .jsonl path
    inspector                                     # the table; in plain IPython a text summary
    client.join_group("lab")                      # joinGroup (sent) and its ack (received) appear, linked
    inspector.export("frames.jsonl")              # the frames it holds, in the journal's JSONL format
"""

from __future__ import annotations

import base64
import json
import pprint
import threading
import time
from collections import Counter, OrderedDict, deque
from pathlib import Path
from typing import Any

from ..client.journal import Frame, Journal, jsonl_lines
from ..web import css, widget_esm
from .live_widget import LiveWidget, Record

RAW_PREVIEW = 2_048  # characters of a frame sent with each row; the whole frame is fetched on click
LINKS_KEPT = 10_000  # unanswered requests remembered for linking their acks
SUMMARY_LINES = 8


class FrameInspector(LiveWidget):
    """A live table of a connection's raw frames; see the module docs.

    ``source`` is a :class:`wpsnb.Client`, a :class:`StreamView` (its client), a
    :class:`~wpsnb.client.journal.Journal`, or the path of a JSONL recording (``record_to=`` or
    ``export``). A live source is followed until ``close()``; nothing else about it changes.

    >>> inspector = FrameInspector(view)                      # doctest: +SKIP
    >>> inspector.count, inspector.export("frames.jsonl")     # doctest: +SKIP
    (12, PosixPath('frames.jsonl'))
    """

    _esm = widget_esm("frame_inspector.js")
    _css = css("widgets.css", "frame_inspector.css")

    def __init__(
        self,
        source: Any,
        *,
        limit: int = 10_000,
        rows: int = 1_000,
        max_rate: float = 20.0,
        history: int = 200,
        title: str | None = None,
        key: str | None = None,
    ):
        self.journal, self.source_name, self.live = _journal_of(source)
        self._count = 0
        self._counts: Counter[str] = Counter()
        self._frames_lock = threading.Lock()
        # (record index, frame) for the rows in the feed's ring: the page asks for a whole frame by index.
        self._frames: deque[tuple[int, Frame]] = deque(maxlen=limit)
        self._requests: OrderedDict[tuple[Any, int], int] = OrderedDict()  # (connection, ackId) -> request index
        self._unsubscribe: Any = None
        super().__init__(
            limit=limit, rows=rows, max_rate=max_rate, history=history, key=key,
            title=title if title is not None else f"FrameInspector · {self.source_name}",
        )  # fmt: skip
        self._follow()

    # -- what users call --

    @property
    def count(self) -> int:
        """Frames seen since the inspector was created (including those loaded from a recording)."""
        return self._count

    def frames(self) -> list[Frame]:
        """The frames whose rows the inspector holds, oldest first."""
        with self._frames_lock:
            return [frame for _, frame in self._frames]

    def export(self, path: str | Path) -> Path:
        """Write the frames the inspector holds to ``path`` as JSONL (the journal's format); return the path.

        >>> FrameInspector(client).export("frames.jsonl")         # doctest: +SKIP
        PosixPath('frames.jsonl')
        """
        path = Path(path)
        path.write_text(self._jsonl(), encoding="utf-8")
        return path

    # -- following the source --

    def _follow(self) -> None:
        """Push the frames the journal holds, then every new one, without a gap or a duplicate."""
        if not self.live:
            for frame in self.journal:
                self._on_frame(frame)
            self.feed.flush()
            return
        early: list[Frame] = []
        catching_up = True
        lock = threading.Lock()

        def on_frame(frame: Frame) -> None:
            with lock:
                if catching_up:
                    early.append(frame)
                    return
            self._on_frame(frame)

        self._unsubscribe = self.journal.subscribe(on_frame)
        snapshot = list(self.journal)
        seen = {id(frame) for frame in snapshot}
        for frame in snapshot:
            self._on_frame(frame)
        with lock:
            for frame in early:
                if id(frame) not in seen:
                    self._on_frame(frame)
            catching_up = False
        self.feed.flush()

    def _on_frame(self, frame: Frame) -> None:
        self._count += 1
        self._counts[frame.direction] += 1
        if frame.error:
            self._counts["errors"] += 1
        self.feed.push(frame)

    def _release(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- records --

    def _convert(self, frame: Frame, wall_time: float, index: int) -> Record | None:
        record = frame_record(frame)
        link_key = (frame.connection_id, record.get("ackId"))
        if record.get("ackId") is not None:
            if frame.direction == "sent":
                self._requests[link_key] = index
                if len(self._requests) > LINKS_KEPT:
                    self._requests.popitem(last=False)
            elif record["type"] == "ack":
                request = self._requests.pop(link_key, None)
                if request is not None:
                    record["link"] = request
        with self._frames_lock:
            self._frames.append((index, frame))
        return record

    def _header(self) -> dict[str, Any]:
        return {
            "state": "live" if self.live else "recording", "source": self.source_name, "count": self._count,
            "sent": self._counts["sent"], "received": self._counts["received"], "errors": self._counts["errors"],
        }  # fmt: skip

    def clear(self) -> None:
        with self._frames_lock:
            self._frames.clear()
        super().clear()

    # -- page requests --

    def _handle(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "frame":
            self.send(self._frame_detail(content.get("i"), content.get("request")))
        elif kind == "export":
            self.send(
                {
                    "kind": "export",
                    "request": content.get("request"),
                    "text": self._jsonl(),
                    "name": time.strftime("frames-%Y%m%d-%H%M%S.jsonl"),
                }
            )

    def _frame_detail(self, index: Any, request: Any) -> dict[str, Any]:
        frame = self._frame_at(index) if isinstance(index, int) else None
        if frame is None:
            return {"kind": "frame", "request": request, "i": index, "missing": True}
        raw, message = frame.raw, frame.message
        return {
            "kind": "frame", "request": request, "i": index,
            "raw": raw if isinstance(raw, str) else base64.b64encode(raw).decode("ascii"),
            "rawEncoding": "text" if isinstance(raw, str) else "base64",
            "decoded": None if message is None else pprint.pformat(message, width=100, sort_dicts=False),
            "error": frame.error, "monotonic": frame.time, "wallTime": frame.wall_time,
            "connectionId": frame.connection_id, "code": frame.code,
        }  # fmt: skip

    def _frame_at(self, index: int) -> Frame | None:
        with self._frames_lock:
            if not self._frames:
                return None
            offset = index - self._frames[0][0]  # indices are consecutive: every frame gets a row
            if 0 <= offset < len(self._frames) and self._frames[offset][0] == index:
                return self._frames[offset][1]
            return next((frame for i, frame in self._frames if i == index), None)

    def _jsonl(self) -> str:
        return "".join(jsonl_lines(self.frames()))

    def _summary(self) -> str:
        header = self._header_now()
        lines = [
            f"FrameInspector · {self.source_name} · {header['state']}",
            f"{header['count']:,} frames ({header['sent']:,} sent, {header['received']:,} received, "
            f"{header['errors']:,} malformed) · {header['rate']:g}/s",
        ]
        for record in self.feed.records()[-SUMMARY_LINES:]:
            lines.append("  " + frame_line(record))
        return "\n".join(lines)


def frame_record(frame: Frame) -> Record:
    """The table row of a frame: type, group, ackId, sequenceId, size, a raw preview, the parse error.

    >>> from wpsnb.client.journal import Journal, decode_frame
    >>> raw = '{"type":"joinGroup","group":"lab","ackId":1}'
    >>> r = frame_record(Journal().record("sent", raw, *decode_frame("sent", raw)))
    >>> r["type"], r["group"], r["ackId"], r["size"]
    ('joinGroup', 'lab', 1, 44)
    """
    raw = frame.raw
    text = raw if isinstance(raw, str) else base64.b64encode(raw).decode("ascii")
    record: Record = {
        "t": frame.wall_time * 1000, "mono": frame.time, "dir": frame.direction, "kind": frame.kind,
        "size": frame.size, "conn": frame.connection_id, "raw": text[:RAW_PREVIEW],
        "rawTruncated": len(text) > RAW_PREVIEW, "rawEncoding": "text" if isinstance(raw, str) else "base64",
    }  # fmt: skip
    message = frame.message
    if frame.kind == "close":
        record["type"] = "close"
        record["code"] = frame.code
    elif message is not None:
        record["type"] = _message_type(message)
        _copy_fields(record, message)
    else:
        record["type"] = "binary" if frame.kind == "binary" else _type_from_raw(text)
    if frame.error:
        record["error"] = frame.error
    return record


def frame_line(record: Record) -> str:
    """One line for a frame row, as the text summary shows it."""
    clock = time.strftime("%H:%M:%S", time.localtime(record.get("t", 0) / 1000))
    arrow = "→" if record.get("dir") == "sent" else "←"
    kind = record.get("type", "?")
    if kind == "ack":
        kind = "ack ✓" if record.get("success") else f"ack ✗ {record.get('ackError', '')}".rstrip()
    parts = [clock, arrow, kind]
    for field, label in (("group", "group"), ("ackId", "ackId"), ("seq", "seq")):
        if record.get(field) is not None:
            parts.append(f"{label}={record[field]}")
    parts.append(f"{record.get('size', 0)} B")
    if record.get("error"):
        parts.append(f"MALFORMED: {record['error']}")
    return " ".join(str(p) for p in parts)


def _message_type(message: Any) -> str:
    kind = getattr(message, "type", type(message).__name__)
    event = getattr(message, "event", None)
    if kind == "system" and isinstance(event, str):
        return f"system.{event}"  # connected / disconnected
    return str(kind)


def _copy_fields(record: Record, message: Any) -> None:
    for attribute, field in (
        ("group", "group"),
        ("ack_id", "ackId"),
        ("sequence_id", "seq"),
        ("data_type", "dataType"),
        ("source", "from"),
        ("from_user_id", "fromUser"),
    ):
        value = getattr(message, attribute, None)
        if value is not None:
            record[field] = value
    if getattr(message, "type", None) == "ack":
        record["success"] = bool(getattr(message, "success", False))
        error = getattr(message, "error", None)
        if error is not None:
            record["ackError"] = getattr(error, "name", str(error))


def _type_from_raw(text: str) -> str:
    """Best effort for a malformed frame: its ``type`` field if it is a JSON object, else ``invalid``."""
    try:
        value = json.loads(text)
    except ValueError:
        return "invalid"
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) and kind else "invalid"


def _journal_of(source: Any) -> tuple[Journal, str, bool]:
    """``(journal, a name for the header, live)`` for an inspector source."""
    if isinstance(source, Journal):
        return source, repr(source).strip("<>"), True
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(
                f"no recording at {path}: pass the path of a JSONL file written by "
                "record_to= or FrameInspector.export(), or a live Client/StreamView"
            )
        return Journal.load(path), f"recording {path.name}", False
    client = getattr(source, "client", source)  # a StreamView carries its client
    frames = getattr(client, "frames", None)
    if isinstance(frames, Journal):
        connection = getattr(client, "connection_id", None)
        return frames, f"connection {connection}" if connection else type(client).__name__, True
    raise TypeError(
        f"FrameInspector needs a wpsnb.Client, a StreamView, a Journal or a path to a JSONL recording, "
        f"not {type(source).__name__}"
    )
