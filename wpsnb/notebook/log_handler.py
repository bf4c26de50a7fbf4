"""``LogHandler``: a ``logging.Handler`` that publishes each record to a group as JSON.

Every record becomes one ``json`` message a viewer can filter on::

    {"level": "WARNING", "levelno": 30, "logger": "train", "message": "loss is NaN at step 7",
     "time": "2024-11-27T18:03:12.345Z", "extra": {"step": 7}}

plus ``"exception"`` (the formatted traceback) when the record carries one and ``"stack"`` for
``stack_info``. ``extra`` holds the fields given with ``extra={...}``; values JSON cannot hold are sent
as their ``repr``. ``time`` is the record's creation time, UTC, ISO 8601 with milliseconds.

``emit`` never waits for the network: records go through the same bounded queue and worker as
``%%publish`` (:mod:`wpsnb.publishing.publisher`, same full-queue policy options). ``close()`` (also
called by ``logging.shutdown()`` at exit) flushes what is queued.

Example::

    >>> import logging, wpsnb
    >>> log = logging.getLogger("train")
    >>> log.addHandler(wpsnb.LogHandler("train-logs"))           # doctest: +SKIP
    >>> log.warning("loss is NaN at step %d", 7, extra={"step": 7})   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..publishing.items import Json
from ..publishing.publisher import Publisher, PublishStats, WhenFull
from .default_source import source_or_default

# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_MAX_REPR = 2_000
_OWN_LOGGER = "wpsnb"


def record_to_json(record: logging.LogRecord) -> dict[str, Any]:
    """The JSON object published for ``record`` (see the module docs for its fields).

    >>> record = logging.LogRecord("train", logging.INFO, __file__, 1, "step %d", (3,), None)
    >>> record.created = 0.0
    >>> record_to_json(record)
    {'level': 'INFO', 'levelno': 20, 'logger': 'train', 'message': 'step 3', 'time': '1970-01-01T00:00:00.000Z', \
'extra': {}}
    """
    try:
        message = record.getMessage()
    except Exception as exc:  # a bad format string must not lose the record
        message = f"{record.msg!r} % {record.args!r} (formatting failed: {exc})"
    payload: dict[str, Any] = {
        "level": record.levelname,
        "levelno": record.levelno,
        "logger": record.name,
        "message": message,
        "time": _iso_time(record.created),
        "extra": {
            key: _jsonable(value)
            for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        },
    }
    if record.exc_info and record.exc_info[0] is not None:
        payload["exception"] = logging.Formatter().formatException(record.exc_info)
    elif record.exc_text:
        payload["exception"] = record.exc_text
    if record.stack_info:
        payload["stack"] = record.stack_info
    return payload


class LogHandler(logging.Handler):
    """Publishes log records to ``group`` as JSON (see the module docs).

    ``source``: connection string, ``LocalService``, ``/negotiate`` URL or client URL; default the
    ``WebPubSubConnectionString`` / ``WEBPUBSUB_CONNECTION_STRING`` variable, else a local service started
    in this process. It connects when created (and raises if it cannot). ``when_full``, ``block_timeout``
    and ``max_queued`` set the full-queue policy; ``stats`` counts what was published and dropped.

    >>> handler = LogHandler("train-logs", level=logging.INFO)          # doctest: +SKIP
    >>> logging.getLogger().addHandler(handler)                         # doctest: +SKIP
    """

    def __init__(
        self,
        group: str,
        *,
        source: Any = None,
        hub: str = "stream",
        level: int | str = logging.NOTSET,
        when_full: WhenFull = "block",
        block_timeout: float | None = 0.1,
        max_queued: int = 10_000,
        user_id: str | None = None,
        **publisher_options: Any,
    ):
        super().__init__(level)
        self.group = group
        self.publisher = Publisher(
            group,
            source_or_default(source),
            hub=hub,
            user_id=user_id,
            when_full=when_full,
            block_timeout=block_timeout,
            max_queued=max_queued,
            drop_notice=_json_drop_notice,
            **publisher_options,
        ).start()

    @property
    def stats(self) -> PublishStats:
        """Records published, dropped and failed so far."""
        return self.publisher.stats

    def emit(self, record: logging.LogRecord) -> None:
        # wpsnb's own threads log about publishing: sending that back through the publisher could loop.
        if record.name.startswith(_OWN_LOGGER) and threading.current_thread().name.startswith("wpsnb-"):
            return
        try:
            self.publisher.put_json(record_to_json(record))
        except Exception:
            self.handleError(record)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait (at most ``timeout`` s) until every record so far is acknowledged."""
        self.publisher.flush(timeout)

    def close(self) -> None:
        """Flush, disconnect and detach (``logging.shutdown()`` calls this at exit)."""
        try:
            self.publisher.close(timeout=10.0)
        finally:
            super().close()

    def __repr__(self) -> str:
        return f"<LogHandler group={self.group!r} level={logging.getLevelName(self.level)}>"


def _json_drop_notice(count: int) -> Json:
    return Json(
        {
            "level": "WARNING",
            "levelno": logging.WARNING,
            "logger": "wpsnb",
            "message": f"{count} log record{'s' if count != 1 else ''} dropped here: the publish queue was full",
            "time": _iso_time(time.time()),
            "extra": {"dropped": count},
        },
        0,
    )


def _iso_time(created: float) -> str:
    seconds = int(created)
    milliseconds = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{milliseconds:03d}Z"


def _jsonable(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if depth < 5 and isinstance(value, (list, tuple)):
        return [_jsonable(item, depth + 1) for item in value]
    if depth < 5 and isinstance(value, dict):
        return {str(key): _jsonable(item, depth + 1) for key, item in value.items()}
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + "..."


__all__ = ["LogHandler", "record_to_json"]
