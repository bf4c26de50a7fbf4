"""A static snapshot of a StreamView: what a saved notebook shows where the live widget cannot run.

A widget's output is an ``application/vnd.jupyter.widget-view+json`` reference to a model in the
kernel. Where that model is gone, the front ends pick differently among an output's mime types:

- **JupyterLab / Notebook 7** render the widget type in a *trusted* notebook (ours, re-opened) and
  print "Error displaying widget: model not found" when the kernel no longer has the model; in an
  untrusted one (someone else's) they choose only safe types (sanitized ``text/html``, ``text/plain``).
- **nbconvert** renders the widget type only if the notebook's saved widget state holds that model
  (``WidgetsDataTypeFilter``), and then through the HTML manager fetched from a CDN — nothing offline;
  otherwise it takes the next type in its priority (``text/html`` before ``text/plain``).
- **GitHub** renders no widgets; it shows the richest static type of each output.

So a StreamView displays *two* outputs: the widget, and this snapshot (``text/html`` and
``text/plain``, under its own ``display_id``), rewritten after every cell run while the view has news.
While the widget is live its style sheet hides the snapshot; where the widget cannot be shown the
snapshot's own style hides the widget's error placeholder (trusted JupyterLab, nbconvert), and
elsewhere it simply follows the widget's text summary. The snapshot holds the last lines as the log
shows them (``\\r`` updates applied, log records as ``time LEVEL logger: message``, control messages
left out) and one small chart per metric as inline SVG (a static picture: no script can run there).

Example::

    >>> records = [{"kind": "message", "dataType": "text", "data": "epoch 1\\n", "t": 0},
    ...            {"kind": "message", "dataType": "text", "data": "\\r 50%", "t": 1},
    ...            {"kind": "message", "dataType": "text", "data": "\\r100%\\n", "t": 2}]
    >>> snapshot_lines(records)
    ['epoch 1', '100%']
"""

from __future__ import annotations

import html
import json
import math
import time
from typing import Any

from .message_records import Record

LINES = 25  # lines of the log in a snapshot (all in view: a saved page cannot scroll to the end by itself)
METRIC_POINTS = 400  # points per metric chart (the newest)
_LEVELS = ((50, "CRITICAL"), (40, "ERROR"), (30, "WARNING"), (20, "INFO"), (10, "DEBUG"))


def _terminal(raw: str) -> str:
    lines = []
    for line in raw.replace("\r\n", "\n").split("\n"):
        body = line.rstrip("\r")
        lines.append(body[body.rfind("\r") + 1 :])
    return "\n".join(lines)


def _log_fields(record: Record) -> dict[str, Any] | None:
    data = record.get("data")
    if record.get("dataType") != "json" or not isinstance(data, dict):
        return None
    return data if isinstance(data.get("levelno"), int | float) and isinstance(data.get("message"), str) else None


def _is_control(record: Record) -> bool:
    data = record.get("data")
    return record.get("dataType") == "json" and isinstance(data, dict) and "wpsnb" in data


def _level(levelno: float) -> str:
    return next((name for number, name in _LEVELS if levelno >= number), "DEBUG")


def snapshot_lines(records: list[Record], limit: int = LINES) -> list[str]:
    """The last ``limit`` lines of the log, as StreamView's log shows them (see the module docs)."""
    lines: list[str] = []
    open_line: dict[tuple[Any, Any], int] = {}  # sender -> index in `lines` of its line in progress
    for record in records:
        if record.get("kind") == "system":
            lines.append(f"● {record.get('text', '')}")
            continue
        if _is_control(record):
            continue
        data = record.get("data")
        key = (record.get("group"), record.get("from"))
        if record.get("dataType") == "text" and isinstance(data, str):
            at = open_line.get(key)
            if at is not None and data.startswith("\r"):
                lines[at] = _terminal(lines[at] + data)
            else:
                lines.append(_terminal(data))
                at = len(lines) - 1
            if data.endswith("\n"):
                open_line.pop(key, None)
                lines[at] = lines[at].removesuffix("\n")
            else:
                open_line[key] = at
            continue
        log = _log_fields(record)
        if log is not None:
            extra = log.get("extra")
            text = f"{str(log.get('time', ''))[11:23]} {_level(log['levelno'])} {log.get('logger', 'root')}: "
            text += log["message"] + (f" {json.dumps(extra)}" if extra else "")
            lines.append(text + (f"\n{log['exception']}" if log.get("exception") else ""))
        elif record.get("dataType") in ("binary", "protobuf"):
            lines.append(f"<{record.get('dataType')} {record.get('size', 0)} B> {data}")
        else:
            lines.append(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False))
    return [line for text in lines[-limit:] for line in text.split("\n")][-limit:]


def snapshot_metrics(records: list[Record]) -> dict[str, list[tuple[float, float]]]:
    """Each metric's points ``(x, y)`` sorted by x, as the Metrics tab charts them.

    >>> snapshot_metrics([{"kind": "message", "dataType": "json", "t": 0, "data": {"step": 2, "loss": 0.5}}])
    {'loss': [(2, 0.5)]}
    """
    metrics: dict[str, list[tuple[float, float]]] = {}
    axis: dict[str, str] = {}
    for record in records:
        data = record.get("data")
        if record.get("kind") != "message" or record.get("dataType") != "json" or not isinstance(data, dict):
            continue
        if _is_control(record):
            continue
        log = _log_fields(record)
        fields = log.get("extra") if log is not None else data
        if not isinstance(fields, dict):
            continue
        step = fields.get("step")
        has_step = isinstance(step, int | float) and not isinstance(step, bool) and math.isfinite(step)
        x = step if has_step else record.get("t", 0) / 1000
        for name, value in fields.items():
            if (
                name == "step"
                or isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                continue
            kind = "step" if has_step else "time"
            if axis.setdefault(name, kind) != kind:
                continue
            metrics.setdefault(name, []).append((x, value))
    return {name: sorted(points, key=lambda p: p[0])[-METRIC_POINTS:] for name, points in metrics.items()}


def _sparkline(points: list[tuple[float, float]], width: int = 260, height: int = 64) -> str:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = (width - 8) / (x1 - x0) if x1 > x0 else 0.0
    sy = (height - 8) / (y1 - y0) if y1 > y0 else 0.0
    path = " ".join(f"{4 + (x - x0) * sx:.1f},{height - 4 - (y - y0) * sy:.1f}" for x, y in points)
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f'<rect width="{width}" height="{height}" fill="none" stroke="#d1d9e0"/>'
        f'<polyline fill="none" stroke="#1a73e8" stroke-width="1.5" points="{path}"/></svg>'
    )


def _number(value: float) -> str:
    return f"{value:.4g}"


def snapshot_html(key: str, title: str, summary: str, records: list[Record]) -> str:
    """The ``text/html`` of a snapshot: a header line, the last lines, and a chart per metric."""
    lines = snapshot_lines(records)
    metrics = snapshot_metrics(records)
    taken = time.strftime("%Y-%m-%d %H:%M:%S")
    # Hides the widget output just before this one unless a live widget is in it (its error or summary
    # placeholder); a sanitizer that drops <style> leaves both outputs visible, which is fine too.
    style = (
        "<style>.jp-OutputArea-child:has(+ .jp-OutputArea-child .wpsnb-snapshot)"
        " .jp-OutputArea-output:not(:has(.wpsnb-widget)) { display: none; }</style>"
    )
    charts = "".join(
        f'<figure style="display:inline-block;margin:4px 12px 4px 0" data-metric="{html.escape(name)}">'
        f'{_sparkline(points)}<figcaption style="font-family:monospace;font-size:12px">{html.escape(name)}: '
        f"last {_number(points[-1][1])} · min {_number(min(p[1] for p in points))} · "
        f"max {_number(max(p[1] for p in points))} · {len(points)} points</figcaption></figure>"
        for name, points in metrics.items()
    )
    body = html.escape("\n".join(lines)) if lines else "(no messages yet)"
    return (
        f'{style}<div class="wpsnb-snapshot" data-wpsnb-key="{html.escape(key)}" '
        'style="border:1px solid #d1d9e0;border-radius:6px;padding:6px 10px;max-width:100%">'
        f'<div style="font-weight:600">{html.escape(title)}</div>'
        f'<div style="color:#59636e;font-size:12px">{html.escape(summary)} · snapshot of {taken}; '
        "the live view needs its kernel</div>"
        f'<pre style="margin:6px 0;font-size:12px;white-space:pre-wrap">{body}</pre>'
        f"{charts}</div>"
    )


def snapshot_text(title: str, summary: str, records: list[Record]) -> str:
    """The ``text/plain`` of a snapshot (what a terminal front end or a plain viewer shows)."""
    return "\n".join([f"{title} · {summary} (snapshot)", *("  " + line for line in snapshot_lines(records, 20))])
