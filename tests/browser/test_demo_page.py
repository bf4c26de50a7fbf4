"""``wpsnb demo``'s log-stream page in headless Chromium: `seq 1 200 | wpsnb pipe stream --negotiate ...` and the
page shows all 200 lines, in order, in a monospace, whitespace-preserving view; progress lines rewrite one line."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import WPSNB, Background, clean_env

from wpsnb.client import Client

pytestmark = pytest.mark.browser


@pytest.fixture
def demo() -> Iterator[str]:
    """``wpsnb demo --port 0`` in a subprocess; yields the page URL."""
    running = Background("demo", "--port", "0")
    try:
        yield running.wait_for(r"the log-stream page is at (http://\S+/)").group(1)
    finally:
        assert running.interrupt() == 0


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    expect(page.locator("#status")).to_have_attribute("data-state", "joined", timeout=15_000)


def shown_lines(page: Any) -> list[str]:
    return page.eval_on_selector_all("#output .line", "lines => lines.map(line => line.textContent)")


def test_seq_piped_through_wpsnb_appears_on_the_page_in_order(demo: str, page: Any, artifact_path: Any) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    open_page(page, demo)
    command = f"seq 1 200 | {shlex.join(WPSNB)} pipe stream --negotiate {shlex.quote(demo + 'negotiate')}"
    piped = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60, env=clean_env())
    assert piped.returncode == 0, piped.stderr
    expect(page.locator("#output")).to_have_attribute("data-lines", "200", timeout=15_000)
    assert shown_lines(page) == [str(n) for n in range(1, 201)]
    expect(page.locator("#count")).to_have_text("200 lines")
    style = page.eval_on_selector("#output", "e => [getComputedStyle(e).whiteSpace, getComputedStyle(e).fontFamily]")
    assert style[0] == "pre-wrap" and "monospace" in style[1]
    page.screenshot(path=str(artifact_path("demo-page-seq.png")))
    assert errors == []


def test_whitespace_progress_lines_and_plain_messages(demo: str, page: Any) -> None:
    open_page(page, demo)
    with Client(demo + "negotiate") as client:  # the demo's /negotiate grants sending to "stream"
        for text in [
            "  indented\ttab  \n",
            "\r 10%|#",
            "\r 50%|#####",
            "\r100%|##########|\n",
            "a message without a line end",
            "last\n",
        ]:
            client.send_to_group("stream", text, data_type="text")
        client.send_to_group("stream", {"json": [1, 2]})
    expect(page.locator("#output")).to_have_attribute("data-lines", "5", timeout=15_000)
    assert shown_lines(page) == [
        "  indented\ttab  ",
        "100%|##########|",
        "a message without a line end",
        "last",
        '{"json":[1,2]}',
    ]
