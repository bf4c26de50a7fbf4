"""Display records of received messages: the format StreamView's page and the watch page read.

A record is a small JSON object per message (``kind``, ``t`` in ms, ``source``, ``group``, ``from``,
``dataType``, ``seq``, ``data`` cut to a preview, ``size``, ``truncated``); the pages turn records
into log lines and charts (``wpsnb/web/log_lines.js``, ``metrics.js``). It imports no widget library,
so the watch server uses it without Jupyter.
"""

from __future__ import annotations

import json
import time
from typing import Any

Record = dict[str, Any]

TEXT_PREVIEW = 4_096  # characters of a text or JSON payload kept for display; the journal has the rest
HEX_PREVIEW = 64  # bytes of a binary payload shown as hex


def message_record(message: Any, wall_time: float) -> Record:
    """The display record of a received data message (payload cut to a preview).

    >>> from wpsnb.protocol.messages import DataMessage
    >>> r = message_record(DataMessage(source="group", group="lab", data="hi", data_type="text"), 0.0)
    >>> r["group"], r["dataType"], r["data"], r["size"]
    ('lab', 'text', 'hi', 2)
    """
    data_type = getattr(message, "data_type", "json")
    record: Record = {
        "kind": "message", "t": wall_time * 1000, "source": getattr(message, "source", "group"),
        "group": getattr(message, "group", None), "from": getattr(message, "from_user_id", None),
        "dataType": data_type, "seq": getattr(message, "sequence_id", None),
    }  # fmt: skip
    data = getattr(message, "data", None)
    if isinstance(data, bytes | bytearray | memoryview):
        data = bytes(data)
        record["size"] = len(data)
        record["data"] = data[:HEX_PREVIEW].hex(" ")
        record["truncated"] = len(data) > HEX_PREVIEW
    elif data_type == "text" and isinstance(data, str):
        record["size"] = len(data) if data.isascii() else len(data.encode("utf-8"))
        record["data"] = data[:TEXT_PREVIEW]
        record["truncated"] = len(data) > TEXT_PREVIEW
    else:
        text = json.dumps(data, ensure_ascii=False, default=repr)
        record["size"] = len(text) if text.isascii() else len(text.encode("utf-8"))
        if len(text) > TEXT_PREVIEW:  # too big to pretty-print: a text preview instead
            record["data"], record["truncated"], record["preview"] = text[:TEXT_PREVIEW], True, True
        else:
            record["data"] = data if data_type == "json" else text
    return record


def record_text(record: Record) -> str:
    """One line for a record, as the text summary shows it."""
    clock = time.strftime("%H:%M:%S", time.localtime(record.get("t", 0) / 1000))
    if record.get("kind") == "system":
        return f"{clock} · {record.get('text', '')}"
    where = f"[{record['group']}]" if record.get("group") else f"({record.get('source')})"
    sender = f" {record['from']}" if record.get("from") else ""
    data = record.get("data")
    if record.get("dataType") in ("binary", "protobuf"):
        body = f"<{record.get('dataType')} {record.get('size', 0)} B> {data}"
    elif isinstance(data, str):
        body = data
    else:
        body = json.dumps(data, ensure_ascii=False)
    body = body.replace("\n", "⏎ ")
    return f"{clock} {where}{sender}: {body[:100]}{'…' if len(body) > 100 else ''}"
