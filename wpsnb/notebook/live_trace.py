"""LiveTrace: everything a local service sees — every connection's frames, REST calls, closes — live.

FrameInspector shows the frames of a connection this kernel opened. LiveTrace shows the ones it did
not open: the browser page's, a ``wpsnb pipe`` process's, a JS app's, the REST calls a server makes.
It reads the service's trace endpoint (:mod:`wpsnb.service.trace_http`) with the AccessKey, so the
service may be this kernel's :class:`~wpsnb.LocalService` or ``wpsnb serve`` / ``wpsnb demo`` in
another process. Azure's service has no such endpoint; the portal's Live Trace tool is its equivalent.

The table filters by hub, connection, user, group, kind, direction and text. Clicking a row shows the
frame decoded with each field explained in the protocol's words (:mod:`wpsnb.protocol.trace_records`),
the request it answers and what it caused (a sendToGroup → its delivery and ack; a REST send → its
delivery). Pause, export JSONL, and ``LiveTrace("trace.jsonl")`` opens a recording. It is built on the
same feed, store and view code as FrameInspector (:class:`~.live_widget.LiveWidget`, ``live_view.js``)
and the same record table with its detail pane (``record_inspector.js``).

Example::

    service = wpsnb.LocalService()
    trace = wpsnb.LiveTrace(service)            # or a connection string, or hub="stream"
    trace                                       # the table; in plain IPython a text summary
    trace.export("trace.jsonl")
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, OrderedDict, deque
from pathlib import Path
from typing import Any

from ..protocol.trace_records import explain, explain_record, trace_line
from ..trace_reader import TraceError, TraceReader
from ..web import css, widget_esm
from .live_widget import LiveWidget, Record

log = logging.getLogger("wpsnb.notebook")

FORMAT = "wpsnb.trace"
VERSION = 1
ROW_FRAME = 1_024  # characters of a frame sent with each row; the whole record is fetched on click
LINKS_KEPT = 20_000  # trace ids remembered for "answers" / "caused" links
SUMMARY_LINES = 8


class LiveTrace(LiveWidget):
    """A live table of a local service's whole trace; see the module docs.

    ``source``: a :class:`~wpsnb.LocalService`, the connection string of a local service (another
    process), or the path of a JSONL recording (``export()``). ``hub`` keeps one hub's records only.

    >>> trace = LiveTrace(service, hub="stream")          # doctest: +SKIP
    >>> trace.count, trace.export("trace.jsonl")           # doctest: +SKIP
    (42, PosixPath('trace.jsonl'))
    """

    _esm = widget_esm("live_trace.js")
    _css = css("widgets.css", "frame_inspector.css", "live_trace.css")

    def __init__(
        self,
        source: Any,
        hub: str | None = None,
        *,
        limit: int = 10_000,
        rows: int = 1_000,
        max_rate: float = 10.0,
        history: int = 200,
        title: str | None = None,
        key: str | None = None,
    ):
        self.hub = hub
        self._reader: TraceReader | None = None
        self._recording: list[Record] | None = None
        if isinstance(source, Path) or (isinstance(source, str) and not source.lower().startswith("endpoint=")):
            self._recording = _load(Path(source))
            self.source_name = f"recording {Path(source).name}"
        else:
            self._reader = TraceReader(source, hub=hub)
            self.source_name = self._reader.endpoint + (f" · hub {hub}" if hub else "")
        self.live = self._reader is not None
        self._count = 0
        self._counts: Counter[str] = Counter()
        self._status: dict[str, Any] = {}
        self._error: str | None = None
        self._lock = threading.Lock()
        self._records: deque[tuple[int, Record]] = deque(maxlen=limit)  # (feed index, full record)
        self._index_of: OrderedDict[int, int] = OrderedDict()  # trace id -> feed index
        self._caused: OrderedDict[int, list[int]] = OrderedDict()  # trace id -> ids it caused
        super().__init__(
            limit=limit, rows=rows, max_rate=max_rate, history=history, key=key,
            title=title if title is not None else f"LiveTrace · {self.source_name}",
        )  # fmt: skip
        if self._recording is not None:
            for record in self._recording:
                self._take(record)
            self.feed.flush()
        else:
            self._thread = threading.Thread(target=self._follow, name="wpsnb-live-trace", daemon=True)
            self._thread.start()

    # -- what users call --

    @property
    def count(self) -> int:
        """Records seen (not counting what the service dropped for this watcher)."""
        return self._count

    @property
    def dropped(self) -> int:
        """Records the service skipped for this watcher (it fell behind, or the ring overwrote them)."""
        return int(self._status.get("dropped", 0))

    def trace_records(self) -> list[Record]:
        """The full trace records the widget holds, oldest first."""
        with self._lock:
            return [record for _, record in self._records]

    def export(self, path: str | Path) -> Path:
        """Write the records held to ``path`` as JSONL (``LiveTrace(path)`` opens it again); return the path.

        >>> LiveTrace(service).export("trace.jsonl")           # doctest: +SKIP
        PosixPath('trace.jsonl')
        """
        path = Path(path)
        path.write_text(self._jsonl(), encoding="utf-8")
        return path

    # -- following the service --

    def _follow(self) -> None:
        reader = self._reader
        assert reader is not None
        try:
            for record in reader.records():
                if record.get("kind") == "watcher":
                    self._status = record
                    continue
                self._take(record)
        except TraceError as exc:
            self._error = str(exc)
            log.warning("LiveTrace stopped: %s", exc)
        except Exception as exc:  # a broken stream ends the trace with a message, not a traceback
            self._error = f"the trace stream failed: {exc}"
            log.exception("LiveTrace stream failed")
        finally:
            self.feed.flush()

    def _take(self, record: Record) -> None:
        self._count += 1
        self._counts[record.get("kind", "?")] += 1
        self.feed.push(record)

    def _release(self) -> None:
        if self._reader is not None:
            self._reader.close()

    # -- records --

    def _convert(self, record: Record, wall_time: float, index: int) -> Record | None:
        row = dict(record)
        row["t"] = record.get("t", wall_time) * 1000  # the page's clock is in milliseconds
        frame = row.get("frame")
        if isinstance(frame, str) and len(frame) > ROW_FRAME:
            row["frame"] = frame[:ROW_FRAME]
            row["truncated"] = True
        ident, cause = record.get("id"), record.get("cause")
        with self._lock:
            self._records.append((index, record))
            if isinstance(ident, int):
                self._index_of[ident] = index
                if len(self._index_of) > LINKS_KEPT:
                    self._index_of.popitem(last=False)
            if isinstance(cause, int):
                self._caused.setdefault(cause, []).append(index)
                if len(self._caused) > LINKS_KEPT:
                    self._caused.popitem(last=False)
                row["causeRow"] = self._index_of.get(cause)
        return row

    def _header(self) -> dict[str, Any]:
        counts = self._counts
        return {
            "state": "live" if self.live and self._error is None else ("failed" if self._error else "recording"),
            "source": self.source_name, "count": self._count, "frames": counts["frame"],
            "deliveries": counts["delivery"], "rest": counts["rest"], "connections": counts["connect"],
            "dropped": self.dropped, "error": self._error,
        }  # fmt: skip

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
        super().clear()

    # -- page requests --

    def _handle(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "detail":
            self.send(self._detail(content.get("i"), content.get("request")))
        elif kind == "export":
            name = time.strftime("trace-%Y%m%d-%H%M%S.jsonl")
            self.send({"kind": "export", "request": content.get("request"), "text": self._jsonl(), "name": name})

    def _detail(self, index: Any, request: Any) -> dict[str, Any]:
        record = self._record_at(index) if isinstance(index, int) else None
        if record is None:
            return {"kind": "detail", "request": request, "i": index, "missing": True}
        with self._lock:
            cause = record.get("cause")
            cause_index = self._index_of.get(cause) if isinstance(cause, int) else None
            caused = list(self._caused.get(record.get("id"), ())) if isinstance(record.get("id"), int) else []
        cause_record = self._record_at(cause_index) if cause_index is not None else None
        return {
            "kind": "detail", "request": request, "i": index, "record": record,
            "fields": explain(record), "context": explain_record(record),
            "cause": None if cause_record is None else {"i": cause_index, "line": trace_line(cause_record)},
            "causeId": cause,
            "caused": [{"i": i, "line": trace_line(r)} for i in caused if (r := self._record_at(i)) is not None],
        }  # fmt: skip

    def _record_at(self, index: int) -> Record | None:
        with self._lock:
            if not self._records:
                return None
            offset = index - self._records[0][0]
            if 0 <= offset < len(self._records) and self._records[offset][0] == index:
                return self._records[offset][1]
            return next((record for i, record in self._records if i == index), None)

    def _jsonl(self) -> str:
        lines = [
            json.dumps({"format": FORMAT, "version": VERSION, "source": self.source_name, "wall_time": time.time()})
        ]
        lines += [json.dumps(record, ensure_ascii=False) for record in self.trace_records()]
        return "\n".join(lines) + "\n"

    def _summary(self) -> str:
        header = self._header_now()
        lines = [
            f"LiveTrace · {self.source_name} · {header['state']}",
            f"{header['count']:,} records ({header['frames']:,} frames, {header['deliveries']:,} deliveries, "
            f"{header['rest']:,} REST calls) · {header['dropped']:,} dropped · {header['rate']:g}/s",
        ]
        if self._error:
            lines.append(f"  stopped: {self._error}")
        lines += ["  " + trace_line(record) for record in self.trace_records()[-SUMMARY_LINES:]]
        return "\n".join(lines)


def _load(path: Path) -> list[Record]:
    """The records of a JSONL recording written by :meth:`LiveTrace.export` or ``wpsnb trace --json``."""
    if not path.is_file():
        raise FileNotFoundError(
            f"no recording at {path}: pass a LocalService, a local service's connection string, or the path "
            "of a JSONL file written by LiveTrace.export() or `wpsnb trace --json`"
        )
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{number} is not a JSON line ({exc}); is it a trace recording?") from None
        if isinstance(value, dict) and value.get("format") == FORMAT:
            continue  # the header line
        if isinstance(value, dict) and "kind" in value and value.get("kind") != "watcher":
            records.append(value)
    return records
