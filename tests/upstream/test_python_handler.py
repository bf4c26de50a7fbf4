"""Our ``wpsnb.handler`` library as the upstream of a real ``LocalService``: the scenarios the official
express handler passes (tests/upstream/test_express_upstream.py), plus signatures checked, the official
Python and JavaScript clients' events, and the one-line notebook set-up."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import pytest
from official_sdk import mint_url
from python_upstream import Recorder, make_handler
from service.service_wire import PLAIN, RELIABLE, connect_to, open_client
from websockets.exceptions import InvalidStatus

from wpsnb.handler import RunningHandler
from wpsnb.service.local import LocalService

ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]


@pytest.fixture
def upstream() -> Iterator[tuple[RunningHandler, Recorder]]:
    handler, recorder = make_handler()
    with handler.start() as running:
        yield running, recorder


@pytest.fixture
def service(upstream: tuple[RunningHandler, Recorder]) -> Iterator[LocalService]:
    running, _ = upstream
    with LocalService(event_handlers=running, recovery_window=1.0) as service:  # the one-line set-up
        yield service


def url(service: LocalService, query: str = "", **claims: object) -> str:
    return mint_url(service, "chat", **claims) + ("&" + query if query else "")


async def test_connect_request_is_typed_and_signed(
    service: LocalService, upstream: tuple[RunningHandler, Recorder]
) -> None:
    running, recorder = upstream
    assert running.handler.access_keys == [service.access_key]  # the service handed over its key
    async with open_client(url(service, "lang=en", user_id="alice", roles=ROLES), PLAIN) as client:
        connect = await asyncio.to_thread(recorder.next, "connect")
        assert connect.context.connection_id == client.connected["connectionId"]
        assert connect.context.user_id == "alice" and connect.context.hub == "chat"
        assert connect.context.origin == f"127.0.0.1:{service.port}"
        assert connect.query == {"lang": ["en"]} and connect.subprotocols == [PLAIN]
        assert connect.claims["sub"] == ["alice"] and connect.client_certificates == []
        connected = await asyncio.to_thread(recorder.next, "connected")
        assert connected.context.subprotocol == PLAIN
    disconnected = await asyncio.to_thread(recorder.next, "disconnected")
    assert disconnected.context.connection_id == connect.context.connection_id
    preflights = [e for e in running.exchanges if e.method == "OPTIONS"]
    assert preflights and preflights[0].answer_headers == {"WebHook-Allowed-Origin": "*"}


async def test_connect_answer_sets_user_roles_groups_and_state(service: LocalService) -> None:
    query = "user=bob&roles=webpubsub.sendToGroup.lab&groups=lab&state=hello"
    async with open_client(url(service, query), PLAIN) as client:
        assert client.connected["userId"] == "bob"
        ack = await client.request(
            {"type": "sendToGroup", "group": "lab", "data": "hi", "dataType": "text", "ackId": 1}
        )
        assert ack["success"] is True
        assert (await client.recv())["fromUserId"] == "bob"
        forbidden = await client.request({"type": "sendToGroup", "group": "other", "data": "x", "ackId": 2})
        assert forbidden["error"]["name"] == "Forbidden"
        await client.send({"type": "event", "event": "whoami", "data": "", "dataType": "text", "ackId": 3})
        assert (await client.recv())["data"] == {"userId": "bob", "states": {"greeting": "hello"}}
        assert (await client.recv())["ackId"] == 3


async def test_refused_connect(service: LocalService, upstream: tuple[RunningHandler, Recorder]) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect_to(url(service, "reject=403"), [PLAIN]):
            pass
    assert refused.value.response.status_code == 403
    assert b"rejected by the test handler" in refused.value.response.body


async def test_a_service_with_another_key_is_refused(upstream: tuple[RunningHandler, Recorder]) -> None:
    running, _ = upstream
    running.handler.access_keys = ["x" * 43]  # the handler knows one key, which is not this service's
    with LocalService() as stranger:
        stranger.set_event_handlers(dict(running))  # the settings only: the key is not handed over
        with pytest.raises(InvalidStatus) as refused:
            async with connect_to(mint_url(stranger, "chat"), [PLAIN]):
                pass
        assert refused.value.response.status_code == 401
        assert b"ce-signature matches none of the access keys" in refused.value.response.body


async def test_the_handler_picks_a_custom_subprotocol(service: LocalService) -> None:
    async with connect_to(url(service, "subprotocol=chat.v2"), ["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), 5) == "hello"
        await ws.send(b"\x00\x01")
        assert await asyncio.wait_for(ws.recv(), 5) == b"\x00\x01"


@pytest.mark.parametrize("protocol", [PLAIN, RELIABLE], ids=["plain", "reliable"])
async def test_user_events_and_their_replies(service: LocalService, protocol: str) -> None:
    async with open_client(url(service, roles=ROLES), protocol) as client:
        cases = [("text", "hi"), ("json", {"a": [1, 2]}), ("binary", base64.b64encode(b"\x00\xff").decode())]
        for ack_id, (data_type, data) in enumerate(cases, 1):
            await client.send({"type": "event", "event": "echo", "dataType": data_type, "data": data, "ackId": ack_id})
            reply = await client.recv()
            assert (reply["from"], reply["dataType"], reply["data"]) == ("server", data_type, data)
            assert (await client.recv()) == {"type": "ack", "ackId": ack_id, "success": True}
        ack = await client.request({"type": "event", "event": "binary", "data": "x", "dataType": "text", "ackId": 9})
        assert ack["success"] is True
        assert base64.b64decode((await client.recv())["data"]) == b"\x00\x01\x02\xff"
        ack = await client.request({"type": "event", "event": "none", "data": "x", "dataType": "text", "ackId": 10})
        assert ack["success"] is True and await client.until_pong() == []
        ack = await client.request({"type": "event", "event": "fail", "data": "x", "dataType": "text", "ackId": 11})
        assert ack["error"]["name"] == "InternalServerError" and "500" in ack["error"]["message"]


async def test_connection_state_round_trips(service: LocalService, upstream: tuple[RunningHandler, Recorder]) -> None:
    _, recorder = upstream
    async with open_client(url(service), RELIABLE) as client:
        for count in (1, 2, 3):
            await client.request({"type": "event", "event": "count", "data": 0, "ackId": count})
            assert (await client.recv())["data"] == {"count": count}
    disconnected = await asyncio.to_thread(recorder.next, "disconnected")
    assert disconnected.context.states == {"count": 3}


def test_official_python_client_send_event(service: LocalService) -> None:
    from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
    from azure.messaging.webpubsubclient.models import CallbackType

    replies: list[object] = []
    client = WebPubSubClient(WebPubSubClientCredential(lambda: url(service, roles=ROLES)))
    client.subscribe(CallbackType.SERVER_MESSAGE, lambda e: replies.append((e.data_type, e.data)))
    with client:
        client.send_event("echo", {"from": "python"}, "json")  # waits for the ack
        client.send_event("echo", "plain", "text")
    assert ("json", {"from": "python"}) in [(str(t.value if hasattr(t, "value") else t), d) for t, d in replies]
    assert any(d == "plain" for _, d in replies)


@pytest.mark.node
def test_official_js_client_send_event(service: LocalService) -> None:
    from interop.js_peer import JsPeer, node_setup_problem

    if node_setup_problem():
        pytest.skip(node_setup_problem() or "")
    with JsPeer(url=url(service, roles=ROLES), protocol=RELIABLE) as peer:
        peer.start()
        peer.request("sendEvent", event="echo", data={"from": "js"}, dataType="json")
        message = peer.next_event("server-message")
        assert message["dataType"] == "json" and message["data"] == {"from": "js"}
        peer.request("sendEvent", event="count", data=0, dataType="json")
        assert peer.next_event("server-message")["data"] == {"count": 1}


async def test_group_presence_events() -> None:
    from wpsnb.handler import EventHandler, GroupJoinedRequest, GroupLeftRequest

    seen: list[object] = []
    handler = EventHandler("chat", on_group_joined=seen.append, on_group_left=seen.append)
    with handler.start() as running:
        assert running["chat"][0]["group_presence_events"] == ["joined", "left"]
        with LocalService(event_handlers=running) as service:
            async with open_client(url(service, roles=ROLES, groups=["lobby"]), PLAIN) as client:
                await client.request({"type": "joinGroup", "group": "lab", "ackId": 1})
                await client.request({"type": "leaveGroup", "group": "lab", "ackId": 2})
                for _ in range(50):
                    if len(seen) == 3:
                        break
                    await asyncio.sleep(0.05)
    assert [(type(r).__name__, r.group) for r in seen] == [  # type: ignore[attr-defined]
        ("GroupJoinedRequest", "lobby"),
        ("GroupJoinedRequest", "lab"),
        ("GroupLeftRequest", "lab"),
    ]
    assert isinstance(seen[0], GroupJoinedRequest) and isinstance(seen[2], GroupLeftRequest)
