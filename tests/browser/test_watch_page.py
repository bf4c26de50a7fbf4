"""The watch page in headless Chromium: a group's history and live lines, a progress bar drawn in place,
log records with their level, a chart of a published metric, and a second page opened later that
shows the history too.

A publisher (``wpsnb.publishing.Publisher`` and a ``LogHandler``: what ``%%publish`` uses) writes to a
group of the local service *before* ``wpsnb watch`` starts (a separate process, as a user runs it),
so the first page's lines come from the history protocol; later lines are live.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from wpsnb import LogHandler
from wpsnb.publishing import Publisher
from wpsnb.watch import WatchServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import Background

pytestmark = pytest.mark.browser
HUB = "watch"


@pytest.fixture
def training(local_service) -> Iterator[tuple[Publisher, logging.Logger]]:
    """A training run's publisher and logger on group ``train``, kept open (they answer history requests)."""
    run = Publisher("train", local_service, hub=HUB, user_id="trainer").start()
    log = logging.getLogger("train")
    log.propagate = False
    log.setLevel(logging.INFO)
    handler = LogHandler("train", source=local_service, hub=HUB, user_id="trainer")
    log.addHandler(handler)
    try:
        yield run, log
    finally:
        log.removeHandler(handler)
        handler.close()
        run.close()


def publish_epoch_1(run: Publisher, log: logging.Logger) -> None:
    run.put_chunk(0, "epoch 1 starting\n")
    for n in range(6):
        run.put_chunk(0, f"\r{n * 20:3d}% |" + "#" * n)
        time.sleep(0.25)  # slower than the publisher's update interval: each state is published
    run.put_chunk(0, "\r100% |###### done\n")
    log.warning("loss is high", extra={"step": 1, "loss": 0.9})
    log.error("gradient exploded")
    for step in range(2, 6):
        run.put_json({"step": step, "loss": 1 / step, "acc": 0.5 + step / 20})
    assert run.flush(10)
    for handler in log.handlers:
        handler.flush()


def watch(page: Any, url: str) -> Any:
    page.goto(url)
    view = page.locator(".wpsnb-watch")
    expect(view).to_have_attribute("data-state", "live", timeout=15_000)
    return view


def test_wpsnb_watch_shows_history_live_lines_progress_levels_and_metrics(
    local_service, training, page, context, artifact_path
):
    run, log = training
    publish_epoch_1(run, log)
    command = Background("watch", "train", "--hub", HUB, "--connection-string", local_service.connection_string)
    try:
        url = command.wait_for(r"open (http://127\.0\.0\.1:\d+/)").group(1)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        view = watch(page, url)
        expect(view.locator(".wpsnb-header")).to_contain_text("group train · hub watch")

        # History: what was published before the server started, in order, none twice.
        history = view.locator(".wpsnb-message[data-history='true']", has_text="epoch 1 starting")
        expect(history).to_have_count(1)
        expect(view.locator(".wpsnb-message", has_text="epoch 1 starting")).to_have_count(1)

        # The progress bar is one row, redrawn to its last state.
        bar = view.locator(".wpsnb-message", has_text=re.compile(r"\d+% \|"))
        expect(bar).to_have_count(1)
        expect(bar.locator(".wpsnb-text")).to_have_text("100% |###### done")

        # Log records read `time LEVEL logger: message`, with their level.
        warning = view.locator(".wpsnb-log-record[data-level='WARNING'] .wpsnb-record")
        expect(warning).to_contain_text(re.compile(r"^WARNING train: loss is high"))
        expect(view.locator(".wpsnb-log-record[data-level='ERROR']")).to_have_class(re.compile("wpsnb-row-ERROR"))
        expect(view.locator(".wpsnb-message", has_text="history-request")).to_have_count(0)

        # Live lines follow, a progress bar in place included.
        run.put_chunk(0, "epoch 2 live line\n")
        for n in range(3):
            run.put_chunk(0, f"\r{n * 50:3d}% |live bar")
            time.sleep(0.25)
        run.put_chunk(0, "\r100% |live bar done\n")
        run.flush(10)
        live = view.locator(".wpsnb-message", has_text="epoch 2 live line")
        expect(live).to_have_count(1)
        assert live.get_attribute("data-history") is None
        expect(view.locator(".wpsnb-message", has_text="live bar")).to_have_count(1)
        expect(view.locator(".wpsnb-message", has_text="live bar").locator(".wpsnb-text")).to_have_text(
            "100% |live bar done"
        )
        page.set_viewport_size({"width": 1100, "height": 400})
        page.screenshot(path=artifact_path("watch-page.png"))

        # The chart of a published metric: loss against step (from the log record's extra and the JSON).
        view.locator(".wpsnb-tab[data-tab='metrics']").click()
        loss = view.locator(".wpsnb-metric[data-metric='loss']")
        expect(loss).to_have_attribute("data-points", "5")
        expect(loss).to_have_attribute("data-axis", "step")
        expect(loss.locator("canvas")).to_be_visible()
        page.screenshot(path=artifact_path("watch-page-metrics.png"))

        # A second page opened later shows the history too (the server's records, replayed).
        second = context.new_page()
        other = watch(second, url)
        expect(other.locator(".wpsnb-message", has_text="epoch 1 starting")).to_have_count(1)
        expect(other.locator(".wpsnb-message", has_text="epoch 2 live line")).to_have_count(1)
        expect(other.locator(".wpsnb-message", has_text=re.compile(r"\d+% \|"))).to_have_count(2)
        assert other.locator(".wpsnb-message").count() == view.locator(".wpsnb-message").count()
        run.put_chunk(0, "epoch 3 seen by both\n")
        run.flush(10)
        for shown in (view, other):
            expect(shown.locator(".wpsnb-message", has_text="epoch 3 seen by both")).to_have_count(1)

        # Nothing came from anywhere else (no CDN): every request the page made went to the server.
        assert requested and all(
            address.startswith(url.replace("http", "ws", 1)) or address.startswith(url) for address in requested
        ), requested
        with urllib.request.urlopen(url + "health", timeout=5) as answer:
            assert b'"pages": 2' in answer.read()
    finally:
        assert command.interrupt() == 0


def test_binding_another_address_warns(local_service) -> None:
    server = WatchServer(local_service, "train", hub=HUB, host="0.0.0.0")
    assert server.warning and "anyone who can reach this address" in server.warning
    assert WatchServer(local_service, "train", hub=HUB).warning is None
