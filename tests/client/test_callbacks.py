"""Dispatcher: callbacks run in order on the loop, bounded, never blocking the reader."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from wpsnb.client import callbacks
from wpsnb.client.callbacks import Dispatcher


async def test_calls_run_in_order_including_async_ones() -> None:
    dispatcher = Dispatcher()
    seen: list[object] = []

    async def slow(argument: object) -> None:
        await asyncio.sleep(0.01)
        seen.append(("async", argument))

    dispatcher.submit(seen.append, 1)  # queued before start: runs once started
    dispatcher.start()
    dispatcher.submit(slow, 2)
    dispatcher.submit(seen.append, 3)
    await dispatcher.stop()
    assert seen == [1, ("async", 2), 3]


async def test_a_full_queue_drops_the_oldest_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    dispatcher = Dispatcher(limit=2)
    seen: list[int] = []
    with caplog.at_level(logging.WARNING, logger="wpsnb.client"):
        for n in range(5):
            dispatcher.submit(seen.append, n)  # not started: nothing runs yet
    assert dispatcher.dropped == 3 and len(dispatcher) == 2
    assert len([r for r in caplog.records if "callback_buffer=" in r.getMessage()]) == 1
    dispatcher.start()
    await dispatcher.stop()
    assert seen == [3, 4]


async def test_an_exception_is_logged_and_later_calls_still_run(caplog: pytest.LogCaptureFixture) -> None:
    dispatcher = Dispatcher()
    seen: list[int] = []

    def broken(argument: int) -> None:
        raise RuntimeError(f"broken {argument}")

    dispatcher.start()
    with caplog.at_level(logging.ERROR, logger="wpsnb.client"):
        dispatcher.submit(broken, 1)
        dispatcher.submit(seen.append, 2)
        await dispatcher.stop()
    assert seen == [2]
    assert any("broken" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_a_slow_callback_is_reported_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(callbacks, "SLOW_CALLBACK", 0.01)
    dispatcher = Dispatcher()
    dispatcher.start()

    def slow(_: object) -> None:
        time.sleep(0.02)

    with caplog.at_level(logging.WARNING, logger="wpsnb.client"):
        for _ in range(3):
            dispatcher.submit(slow, None)
        await dispatcher.stop()
    assert len([r for r in caplog.records if "event-loop thread" in r.getMessage()]) == 1


async def test_a_burst_yields_to_the_loop() -> None:
    dispatcher = Dispatcher()
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0)

    task = asyncio.get_running_loop().create_task(ticker())
    await asyncio.sleep(0)
    before = len(ticks)
    dispatcher.start()
    for _ in range(200):
        dispatcher.submit(lambda _: time.sleep(0.001), None)  # 0.2 s of callbacks in all
    await dispatcher.stop(timeout=5)
    task.cancel()
    assert len(ticks) - before > 5  # other tasks ran while the callbacks did


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="callback_buffer"):
        Dispatcher(limit=0)
