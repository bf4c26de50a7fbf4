"""Handlers that hang, answer garbage, answer 500 or are not there: the client gets a clear answer, and
nobody else is disturbed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from aiohttp import web
from official_sdk import mint_url
from service.service_wire import PLAIN, connect_to, open_client
from websockets.exceptions import InvalidStatus

from wpsnb.service.local import LocalService

ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]


class BadServer:
    """An aiohttp app in a thread: /hang/ never answers, /garbage/ answers nonsense, /fail/ answers 500."""

    def __init__(self) -> None:
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{kind}/{event}", self._answer)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()
        leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    async def _answer(self, request: web.Request) -> web.Response:
        if request.method == "OPTIONS":
            return web.Response(headers={"WebHook-Allowed-Origin": "*"})
        kind, event = request.match_info["kind"], request.match_info["event"]
        if kind == "hang":
            await asyncio.sleep(3600)
        if kind == "fail":
            return web.Response(status=500, text="boom")
        if event == "connect":
            return web.Response(status=200, text="this is not JSON")
        return web.Response(status=200, body=b"\x89PNG", content_type="image/png")

    def __enter__(self) -> BadServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


@pytest.fixture(scope="module")
def service() -> Iterator[LocalService]:
    with BadServer() as bad:
        base = f"http://127.0.0.1:{bad.port}"

        def handler(kind: str, system: list[str], timeout: float = 10.0) -> list[dict[str, object]]:
            return [
                {
                    "url_template": base + f"/{kind}/{{event}}",
                    "user_event_pattern": "*",
                    "system_events": system,
                    "timeout": timeout,
                }
            ]

        handlers = {
            "hang": handler("hang", [], timeout=0.5),
            "hangconnect": handler("hang", ["connect"], timeout=0.5),
            "garbage": handler("garbage", ["connect"]),
            "garbageevents": handler("garbage", []),
            "fail": handler("fail", []),
            "failconnect": handler("fail", ["connect"]),
            "gone": [{"url_template": "http://127.0.0.1:9/{event}", "system_events": ["connect"]}],
            "picky": [{"url_template": base + "/garbage/{event}", "user_event_pattern": "chat, join"}],
        }
        with LocalService(event_handlers=handlers) as service:
            yield service


async def refused(service: LocalService, hub: str) -> tuple[int, bytes]:
    with pytest.raises(InvalidStatus) as caught:
        async with connect_to(mint_url(service, hub), [PLAIN]):
            pass
    return caught.value.response.status_code, caught.value.response.body or b""


async def event(client, name: str, ack_id: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return await client.request({"type": "event", "event": name, "data": "x", "dataType": "text", "ackId": ack_id})


async def test_a_hanging_handler_times_out_and_disturbs_nobody(service: LocalService) -> None:
    async with (
        open_client(mint_url(service, "hang"), PLAIN) as stuck,
        open_client(mint_url(service, "lab", roles=ROLES), PLAIN) as other,
    ):
        started = time.monotonic()
        pending = asyncio.ensure_future(event(stuck, "chat", 1))
        await asyncio.sleep(0.05)
        await other.request({"type": "joinGroup", "group": "g", "ackId": 1})
        ack = await other.request({"type": "sendToGroup", "group": "g", "data": "still here", "ackId": 2})
        assert ack["success"] is True and (await other.recv())["data"] == "still here"
        assert not pending.done()  # the other connection was served while this event waits
        ack = await pending
        assert ack["success"] is False and ack["error"]["name"] == "InternalServerError"
        assert "did not answer the chat event within 0.5 s" in ack["error"]["message"]
        assert 0.4 < time.monotonic() - started < 5
        assert (await event(stuck, "chat", 2))["success"] is False  # and the connection still answers


async def test_a_hanging_connect_handler_refuses_with_500(service: LocalService) -> None:
    status, body = await refused(service, "hangconnect")
    assert status == 500 and b"did not answer the connect event within 0.5 s" in body


async def test_garbage_answers(service: LocalService) -> None:
    status, body = await refused(service, "garbage")
    assert status == 500 and b"not JSON" in body
    async with open_client(mint_url(service, "garbageevents"), PLAIN) as client:
        ack = await event(client, "chat", 1)
        assert ack["error"]["name"] == "InternalServerError" and "image/png" in ack["error"]["message"]


async def test_a_500_handler(service: LocalService) -> None:
    status, body = await refused(service, "failconnect")
    assert status == 500 and b"refused the connection with 500: boom" in body
    async with open_client(mint_url(service, "fail"), PLAIN) as client:
        ack = await event(client, "chat", 1)
        assert ack["error"]["name"] == "InternalServerError" and "answered 500" in ack["error"]["message"]
        await client.send({"type": "event", "event": "chat", "data": "no ack wanted", "dataType": "text"})
        assert await client.until_pong() == []  # fire-and-forget: no answer, connection open
    async with connect_to(mint_url(service, "fail")) as simple:  # a simple client is dropped (1011)
        await simple.send("hello")
        await asyncio.wait_for(simple.wait_closed(), 5)
        assert simple.close_code == 1011


async def test_an_unreachable_handler(service: LocalService) -> None:
    status, body = await refused(service, "gone")
    assert status == 500 and b"127.0.0.1:9" in body


async def test_an_event_no_handler_takes(service: LocalService) -> None:
    async with open_client(mint_url(service, "picky"), PLAIN) as client:
        ack = await event(client, "other", 1)
        assert ack["error"]["name"] == "InternalServerError"
        assert "No event handler is configured for event 'other'" in ack["error"]["message"]
