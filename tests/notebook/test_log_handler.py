"""LogHandler: log records published as JSON (level, logger, message, time, extra fields) to a real subscriber."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from publisher_helpers import Subscriber, unique_group

import wpsnb
from wpsnb.notebook.log_handler import LogHandler, record_to_json
from wpsnb.service.local import LocalService

ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def group() -> str:
    return unique_group("logs")


@pytest.fixture
def subscriber(local_service: LocalService, group: str) -> Iterator[Subscriber]:
    sub = Subscriber(local_service, group)
    yield sub
    sub.close()


@pytest.fixture
def logger(group: str) -> Iterator[logging.Logger]:
    log = logging.getLogger(f"train.{group}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def test_records_arrive_as_json_with_level_logger_message_time_and_extra(
    local_service: LocalService, group: str, subscriber: Subscriber, logger: logging.Logger
) -> None:
    handler = wpsnb.LogHandler(group, source=local_service)
    logger.addHandler(handler)
    logger.info("epoch %d done", 3, extra={"epoch": 3, "loss": 0.25, "tags": ("a", "b"), "model": object()})
    logger.warning("loss is nan")
    handler.flush()
    received = subscriber.collect(lambda got: len(got) >= 2)
    assert [m.data_type for m in received] == ["json", "json"]
    info, warning = (m.data for m in received)
    assert {key: info[key] for key in ("level", "levelno", "logger", "message")} == {
        "level": "INFO",
        "levelno": 20,
        "logger": f"train.{group}",
        "message": "epoch 3 done",
    }
    assert ISO_TIME.match(info["time"])
    assert info["extra"]["epoch"] == 3 and info["extra"]["loss"] == 0.25 and info["extra"]["tags"] == ["a", "b"]
    assert info["extra"]["model"].startswith("<object object at")  # not JSON: its repr
    assert warning["level"] == "WARNING" and warning["extra"] == {}
    assert handler.stats.lines == 2 and handler.stats.dropped == 0


def test_a_viewer_can_filter_by_level(
    local_service: LocalService, group: str, subscriber: Subscriber, logger: logging.Logger
) -> None:
    handler = LogHandler(group, source=local_service, level=logging.INFO)
    logger.addHandler(handler)
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
        logger.log(level, "at %s", logging.getLevelName(level))
    handler.flush()
    received = subscriber.collect(lambda got: len(got) >= 3)
    assert [m.data["level"] for m in received] == ["INFO", "WARNING", "ERROR"]  # the handler's own level applies
    assert [m.data["message"] for m in received if m.data["levelno"] >= logging.WARNING] == ["at WARNING", "at ERROR"]


def test_exceptions_and_stacks_are_included(
    local_service: LocalService, group: str, subscriber: Subscriber, logger: logging.Logger
) -> None:
    handler = LogHandler(group, source=local_service)
    logger.addHandler(handler)
    try:
        {}["missing"]
    except KeyError:
        logger.exception("lookup failed")
    logger.info("where am I", stack_info=True)
    handler.flush()
    failed, located = (m.data for m in subscriber.collect(lambda got: len(got) >= 2))
    assert failed["level"] == "ERROR" and failed["message"] == "lookup failed"
    assert failed["exception"].startswith("Traceback (most recent call last):")
    assert failed["exception"].rstrip().endswith("KeyError: 'missing'")
    assert "test_exceptions_and_stacks_are_included" in located["stack"]


def test_close_flushes_and_a_full_queue_is_reported_as_a_record(
    local_service: LocalService, group: str, subscriber: Subscriber, logger: logging.Logger
) -> None:
    # At most 100 records queued or unacknowledged (one bound): 2000 records logged in a few milliseconds
    # overflow it.
    handler = LogHandler(group, source=local_service, when_full="drop", max_queued=100, max_message_chars=0)
    logger.addHandler(handler)
    for n in range(2000):
        logger.info("record %d", n)
    logger.removeHandler(handler)
    handler.close()
    stats = handler.stats
    assert stats.lines + stats.dropped == 2000
    received = subscriber.collect(lambda got: len(got) >= stats.messages)
    records = [m.data for m in received if m.data["logger"] != "wpsnb"]
    notices = [m.data for m in received if m.data["logger"] == "wpsnb"]
    numbers = [int(r["message"].split()[1]) for r in records]
    assert numbers == sorted(numbers) and len(numbers) == stats.lines  # in order, none twice
    assert stats.dropped > 0
    assert sum(n["extra"]["dropped"] for n in notices) == stats.dropped
    assert notices[0]["level"] == "WARNING" and "dropped here" in notices[0]["message"]


def test_record_to_json_survives_a_bad_format_string() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("many",), None)
    assert "formatting failed" in record_to_json(record)["message"]


def test_no_service_fails_when_the_handler_is_made() -> None:
    with pytest.raises(wpsnb.WebPubSubError, match="cannot reach"):
        LogHandler("g", source="Endpoint=http://127.0.0.1:9;AccessKey=" + "k" * 44 + ";Version=1.0;", connect_timeout=3)
