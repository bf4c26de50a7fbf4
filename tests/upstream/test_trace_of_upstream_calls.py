"""The trace records every call to an upstream event handler (the official ``@azure/web-pubsub-express``):
event, URL, status, latency, the answer, and the connection it was for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from express_upstream import ExpressUpstream, express_setup_problem
from official_sdk import mint_url
from service.service_wire import PLAIN, open_client
from trace_watcher import Watcher

from wpsnb.service.local import LocalService

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(express_setup_problem() is not None, reason=express_setup_problem() or ""),
]


@pytest.fixture
def express() -> Iterator[ExpressUpstream]:
    with ExpressUpstream("chat") as upstream:
        yield upstream


async def test_upstream_calls_are_traced_with_event_status_and_latency(express: ExpressUpstream) -> None:
    with LocalService(event_handlers={"chat": [express.setting()]}) as service:
        watcher = Watcher(service, hub="chat")
        try:
            async with open_client(mint_url(service, "chat", user_id="ann"), PLAIN) as client:
                connection_id = client.connected["connectionId"]
                await client.send({"type": "event", "event": "echo", "dataType": "text", "data": "hi", "ackId": 1})
                assert (await client.recv())["data"] == "hi"

                def upstream(event: str) -> Any:
                    return lambda r: r["kind"] == "upstream" and r["event"] == event

                connect = await watcher.wait_for(upstream("connect"))
                assert connect["status"] in (200, 204) and connect["url"].startswith("http://127.0.0.1:")
                echo = await watcher.wait_for(upstream("echo"))
                assert echo["conn"] == connection_id and echo["status"] == 200 and echo["ms"] > 0
                assert echo["detail"] == "hi"  # what the handler answered
            started = time.monotonic()
            disconnected = await watcher.wait_for(upstream("disconnected"))
            assert disconnected["conn"] == connection_id and time.monotonic() - started < 5
        finally:
            await asyncio.to_thread(watcher.close)
