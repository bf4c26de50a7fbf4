"""The watch server without a browser: its files, its status, and the records it relays to pages.

Pages are aiohttp WebSocket clients speaking what ``watch_page.js`` speaks (a ``state`` message, then
the Feed's ``batch`` / ``replay`` messages; a page asks for a replay with its own request id).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import pytest

from wpsnb.publishing import Publisher
from wpsnb.watch import WatchServer
from wpsnb.web import WEB_DIR


@pytest.fixture
def hub() -> str:
    return "watch" + uuid.uuid4().hex[:8]


async def next_of_kind(socket: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        message = json.loads((await asyncio.wait_for(socket.receive(), max(left, 0.01))).data)
        if message["kind"] == kind:
            return message


async def test_the_page_and_its_files_come_from_the_package_and_nothing_else_is_served(local_service, hub) -> None:
    with WatchServer(local_service, "train", hub=hub, title="run <1>") as server:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url) as page:
                html = await page.text()
                assert page.status == 200 and "<title>run &lt;1&gt;</title>" in html
            async with http.get(server.url + "static/training_log.js") as module:
                assert module.content_type == "text/javascript"
                assert await module.text() == (WEB_DIR / "training_log.js").read_text()
            async with http.get(server.url + "static/vendor/uPlot.iife.min.js") as chart:
                assert (await chart.text()).rstrip().endswith("export default uPlot;")
            for refused in (
                "static/modules.py",
                "static/vendor/VENDORED.md",
                "static/..%2F__init__.py",
                "static/nope.js",
            ):
                async with http.get(server.url + refused) as answer:
                    assert answer.status == 404, refused
            async with http.get(server.url + "health") as health:
                assert await health.json() == {"state": "live", "group": "train", "pages": 0}


async def test_every_page_gets_the_batches_and_only_the_asking_page_its_replay(local_service, hub) -> None:
    with Publisher("train", local_service, hub=hub, user_id="trainer") as run:
        run.put_text("before the server\n")
        assert run.flush(10)
        with WatchServer(local_service, "train", hub=hub, max_rate=50.0) as server:
            async with aiohttp.ClientSession() as http:
                first = await http.ws_connect(server.url + "feed")
                state = await next_of_kind(first, "state")
                assert (state["group"], state["hub"], state["limit"]) == ("train", hub, 10_000)
                await first.send_json({"kind": "replay", "request": "first-page"})
                replay = await next_of_kind(first, "replay")
                assert replay["request"] == "first-page" and replay["last"]
                second = await http.ws_connect(server.url + "feed")
                await next_of_kind(second, "state")
                await asyncio.to_thread(run.put_text, "live line\n")
                await asyncio.to_thread(run.flush, 10)
                for page in (first, second):  # a live batch reaches every page
                    batch = await next_of_kind(page, "batch")
                    while not any(r.get("data") == "live line\n" for r in batch["records"]):
                        batch = await next_of_kind(page, "batch")
                await second.send_json({"kind": "replay", "request": "second-page"})
                late = await next_of_kind(second, "replay")
                data = [r.get("data") for r in late["records"]]
                assert "before the server\n" in data and "live line\n" in data  # history for a later page too
                assert next(r for r in late["records"] if r.get("data") == "before the server\n")["history"]
                await asyncio.sleep(0.3)
                # The first page never sees the second page's replay.
                while True:
                    try:
                        message = await first.receive(timeout=0.2)
                    except asyncio.TimeoutError:
                        break
                    assert json.loads(message.data)["kind"] != "replay"
                await first.close()
                await second.close()
