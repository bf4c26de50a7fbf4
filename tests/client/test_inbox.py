"""Inbox: the bounded buffer behind messages(), read from threads and from the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from wpsnb.client.inbox import Inbox


def test_fifo_and_one_reader_per_message() -> None:
    inbox = Inbox()
    for n in range(3):
        inbox.put(n)
    assert [inbox.get(0), inbox.get(0), inbox.get(0), inbox.get(0)] == [0, 1, 2, None]


def test_full_drops_the_oldest_and_warns_once_if_read(caplog: pytest.LogCaptureFixture) -> None:
    inbox = Inbox(limit=2)
    inbox.get(0)  # someone reads: a drop is worth a warning
    with caplog.at_level(logging.WARNING, logger="wpsnb.client"):
        for n in range(5):
            inbox.put(n)
    assert inbox.dropped == 3 and [inbox.get(0), inbox.get(0)] == [3, 4]
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "message_buffer=" in caplog.records[0].getMessage()


def test_never_read_drops_silently(caplog: pytest.LogCaptureFixture) -> None:
    inbox = Inbox(limit=1)
    with caplog.at_level(logging.WARNING, logger="wpsnb.client"):
        inbox.put(1)
        inbox.put(2)
    assert inbox.dropped == 1 and not caplog.records


def test_limit_zero_keeps_nothing_and_negative_is_refused() -> None:
    inbox = Inbox(limit=0)
    inbox.put(1)
    assert len(inbox) == 0 and inbox.get(0) is None
    with pytest.raises(ValueError, match="message_buffer"):
        Inbox(limit=-1)


def test_a_blocked_reader_wakes_on_put_and_on_close() -> None:
    inbox = Inbox()
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.extend([inbox.get(5), inbox.get(5)]))
    reader.start()
    time.sleep(0.05)
    inbox.put("first")
    time.sleep(0.05)
    started = time.monotonic()
    inbox.close()
    reader.join(5)
    assert got == ["first", None] and time.monotonic() - started < 1


def test_get_times_out() -> None:
    inbox = Inbox()
    started = time.monotonic()
    assert inbox.get(0.05) is None
    assert time.monotonic() - started >= 0.04


def test_after_close_readers_get_what_is_left_then_none() -> None:
    inbox = Inbox()
    inbox.put("last")
    inbox.close()
    assert inbox.get(None) == "last" and inbox.get(None) is None


async def test_async_reader_wakes_on_put_from_another_thread() -> None:
    inbox = Inbox()
    threading.Timer(0.05, inbox.put, args=("hello",)).start()
    assert await inbox.get_async(5) == "hello"
    assert await inbox.get_async(0.01) is None
    threading.Timer(0.05, inbox.close).start()
    assert await asyncio.wait_for(inbox.get_async(None), 5) is None
