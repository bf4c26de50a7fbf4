"""The official ``@azure/web-pubsub-express`` handler as the upstream of a real ``LocalService``.

Observed from both ends: what raw WebSocket clients and the official clients get, and what the
official handler received (every request, header by header, and its callbacks).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from express_upstream import ExpressUpstream, express_setup_problem
from official_sdk import mint_url
from service.service_wire import PLAIN, RELIABLE, connect_to, open_client
from websockets.exceptions import InvalidStatus

from wpsnb.service.local import LocalService

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(express_setup_problem() is not None, reason=express_setup_problem() or ""),
]
ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]


@pytest.fixture
def express() -> Iterator[ExpressUpstream]:
    with ExpressUpstream("chat") as upstream:
        yield upstream


@pytest.fixture
def service(express: ExpressUpstream) -> Iterator[LocalService]:
    with LocalService(event_handlers={"chat": [express.setting()]}, recovery_window=1.0) as service:
        yield service


def url(service: LocalService, query: str = "", **claims: Any) -> str:
    base = mint_url(service, "chat", **claims)
    return base + ("&" + query if query else "")


def hmac_hex(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


async def test_connect_event_carries_every_documented_header_and_body(
    service: LocalService, express: ExpressUpstream
) -> None:
    async with open_client(url(service, "lang=en", user_id="alice", roles=ROLES), PLAIN) as client:
        connection_id = client.connected["connectionId"]
        request = await asyncio.to_thread(express.request, "connect")
        headers = request["headers"]
        origin = f"127.0.0.1:{service.port}"
        assert headers["webhook-request-origin"] == origin
        assert headers["ce-specversion"] == "1.0"
        assert headers["ce-awpsversion"] == "1.0"
        assert headers["ce-type"] == "azure.webpubsub.sys.connect"
        assert headers["ce-source"] == f"/hubs/chat/client/{connection_id}"
        assert headers["ce-id"] == "0"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", headers["ce-time"])
        assert headers["ce-signature"] == "sha256=" + hmac_hex(service.access_key, connection_id)
        assert headers["ce-userid"] == "alice"
        assert headers["ce-connectionid"] == connection_id
        assert headers["ce-hub"] == "chat"
        assert headers["ce-eventname"] == "connect"
        assert headers["content-type"].startswith("application/json")
        assert "ce-subprotocol" not in headers and "ce-connectionstate" not in headers
        body = json.loads(request["body"])
        assert body["claims"]["sub"] == ["alice"]
        assert sorted(body["claims"]["role"]) == sorted(ROLES)
        assert body["query"] == {"lang": ["en"]}  # the access token is not forwarded
        assert "authorization" not in {k.lower() for k in body["headers"]}
        assert body["subprotocols"] == [PLAIN]
        assert body["clientCertificates"] == []
        # What the official handler made of it.
        seen = await asyncio.to_thread(express.next, "connect")
        assert seen["context"]["connectionId"] == connection_id
        assert seen["context"]["userId"] == "alice"
        assert seen["context"]["origin"] == origin
        assert seen["query"] == {"lang": ["en"]}
        # The abuse-protection preflight came first, to the validate URL, and was allowed.
        preflight = await asyncio.to_thread(express.next, "request", method="OPTIONS")
        assert preflight["headers"]["webhook-request-origin"] == origin
        assert preflight["status"] == 200 and preflight["allowed"] == "*"
        connected = await asyncio.to_thread(express.next, "connected")
        assert connected["context"]["connectionId"] == connection_id
        assert connected["context"]["signature"] == "sha256=" + hmac_hex(service.access_key, connection_id)


async def test_connect_answer_sets_user_roles_groups_and_state(service: LocalService, express: ExpressUpstream) -> None:
    query = "user=bob&roles=webpubsub.sendToGroup.lab&groups=lab&state=hello"
    async with open_client(url(service, query), PLAIN) as client:
        assert client.connected["userId"] == "bob"
        ack = await client.request(
            {"type": "sendToGroup", "group": "lab", "data": "hi", "dataType": "text", "ackId": 1}
        )
        assert ack["success"] is True  # the handler's role
        echo = await client.recv()
        assert echo["group"] == "lab" and echo["fromUserId"] == "bob"  # the handler's group
        forbidden = await client.request({"type": "sendToGroup", "group": "other", "data": "x", "ackId": 2})
        assert forbidden["error"]["name"] == "Forbidden"  # roles were replaced, not added
        await client.send({"type": "event", "event": "whoami", "data": "", "dataType": "text", "ackId": 3})
        reply = await client.recv()
        assert reply == {
            "type": "message",
            "from": "server",
            "dataType": "json",
            "data": {"userId": "bob", "states": {"greeting": "hello"}},
        }
        assert (await client.recv())["ackId"] == 3  # the reply came before the ack


async def test_refused_connect_refuses_the_handshake(service: LocalService, express: ExpressUpstream) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect_to(url(service, "reject=401"), [PLAIN]):
            pass
    assert refused.value.response.status_code == 401
    assert b"rejected by the test handler" in refused.value.response.body
    seen = [line["kind"] for line in await asyncio.to_thread(express.drain)]
    assert "connected" not in seen and "disconnected" not in seen


async def test_the_handler_picks_a_custom_subprotocol(service: LocalService, express: ExpressUpstream) -> None:
    async with connect_to(url(service, "subprotocol=chat.v2"), ["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), 5) == "hello"  # the handler echoed the text frame as text
        await ws.send(b"\x00\x01")
        assert await asyncio.wait_for(ws.recv(), 5) == b"\x00\x01"  # binary stays binary
    request = await asyncio.to_thread(express.request, "message")
    assert request["headers"]["ce-subprotocol"] == "chat.v2"
    assert request["headers"]["ce-type"] == "azure.webpubsub.user.message"
    assert request["headers"]["content-type"] == "text/plain"
    assert request["body"] == b"hello"
    connect = await asyncio.to_thread(express.next, "connect")
    assert connect["subprotocols"] == ["chat.v1", "chat.v2"]


async def test_a_simple_websocket_client_talks_to_the_handler(service: LocalService, express: ExpressUpstream) -> None:
    # The "Build a chat app" tutorial's client: no subprotocol; every frame is the user event 'message'.
    async with connect_to(url(service, user_id="carol")) as ws:
        assert ws.subprotocol is None
        for n in range(3):
            await ws.send(f"line {n}")
            assert await asyncio.wait_for(ws.recv(), 5) == f"line {n}"
    user = await asyncio.to_thread(express.next, "user")
    assert user["dataType"] == "text" and user["data"] == "line 0" and user["context"]["userId"] == "carol"


@pytest.mark.parametrize("protocol", [PLAIN, RELIABLE], ids=["plain", "reliable"])
async def test_user_events_and_their_replies(service: LocalService, express: ExpressUpstream, protocol: str) -> None:
    async with open_client(url(service, roles=ROLES), protocol) as client:
        cases = [
            ("text", "hi", "text/plain", b"hi"),
            ("json", {"a": [1, 2]}, "application/json", b'{"a":[1,2]}'),
            ("binary", base64.b64encode(b"\x00\xff").decode(), "application/octet-stream", b"\x00\xff"),
        ]
        for ack_id, (data_type, data, content_type, body) in enumerate(cases, 1):
            await client.send({"type": "event", "event": "echo", "dataType": data_type, "data": data, "ackId": ack_id})
            reply = await client.recv()
            assert reply["from"] == "server" and reply["dataType"] == data_type and reply["data"] == data
            assert ("sequenceId" in reply) is (protocol == RELIABLE)
            ack = await client.recv()
            assert ack == {"type": "ack", "ackId": ack_id, "success": True}
            request = await asyncio.to_thread(express.request, "echo")
            assert request["headers"]["content-type"] == content_type and request["body"] == body
            assert request["headers"]["ce-type"] == "azure.webpubsub.user.echo"
            assert request["headers"]["ce-subprotocol"] == protocol
            assert request["headers"]["ce-id"] == str(ack_id + 1)  # 0 connect, 1 connected
        ack = await client.request({"type": "event", "event": "binary", "data": "x", "dataType": "text", "ackId": 9})
        assert ack["success"] is True
        reply = await client.recv()  # kept by request(): it came first
        assert reply["dataType"] == "binary" and base64.b64decode(reply["data"]) == b"\x00\x01\x02\xff"
        ack = await client.request({"type": "event", "event": "none", "data": "x", "dataType": "text", "ackId": 10})
        assert ack["success"] is True
        assert await client.until_pong() == []  # an empty answer sends nothing to the client
        await client.send({"type": "event", "event": "echo", "data": "no ack wanted", "dataType": "text"})
        assert (await client.recv())["data"] == "no ack wanted"
        assert await client.until_pong() == []


async def test_connection_state_round_trips_through_the_official_handler(
    service: LocalService, express: ExpressUpstream
) -> None:
    async with open_client(url(service), PLAIN) as client:
        for count in (1, 2, 3):
            ack = await client.request({"type": "event", "event": "count", "data": 0, "ackId": count})
            assert ack["success"] is True
            assert (await client.recv())["data"] == {"count": count}
        states = []
        for _ in range(3):
            request = await asyncio.to_thread(express.request, "count")
            states.append(request["headers"].get("ce-connectionstate"))
        assert states[0] is None
        assert json.loads(base64.b64decode(states[2])) == {"count": 2}
    disconnected = await asyncio.to_thread(express.next, "disconnected")
    assert disconnected["context"]["states"] == {"count": 3}
    assert isinstance(disconnected["reason"], str)


async def test_a_failing_handler_fails_the_event_not_the_connection(
    service: LocalService, express: ExpressUpstream
) -> None:
    async with open_client(url(service), PLAIN) as client:
        ack = await client.request({"type": "event", "event": "fail", "data": "x", "dataType": "text", "ackId": 1})
        assert ack["success"] is False and ack["error"]["name"] == "InternalServerError"
        assert "500" in ack["error"]["message"]
        ack = await client.request({"type": "event", "event": "echo", "data": "y", "dataType": "text", "ackId": 2})
        assert ack["success"] is True  # still open, still working


async def test_reliable_client_disconnected_fires_once_after_the_recovery_window(
    service: LocalService, express: ExpressUpstream
) -> None:
    async with open_client(url(service), RELIABLE) as client:
        connection_id = client.connected["connectionId"]
        await asyncio.to_thread(express.next, "connected")
        client.drop()
    disconnected = await asyncio.to_thread(express.next, "disconnected", 10.0)
    assert disconnected["context"]["connectionId"] == connection_id
    later = [line for line in await asyncio.to_thread(express.drain, 0.5) if line["kind"] == "disconnected"]
    assert later == []


@pytest.mark.parametrize("allowed", ["other", "this"])
async def test_handler_allowing_only_some_endpoints(allowed: str) -> None:
    # The official handler answers the preflight with the hosts of its allowedEndpoints.
    with LocalService() as service:
        endpoint = service.endpoint if allowed == "this" else "https://other.webpubsub.azure.com"
        with ExpressUpstream("chat", allowedEndpoints=[endpoint]) as express:
            service.set_event_handlers({"chat": [express.setting()]})
            if allowed == "this":
                async with open_client(url(service), PLAIN) as client:
                    assert client.connected["connectionId"]
                return
            with pytest.raises(InvalidStatus) as refused:
                async with connect_to(url(service), [PLAIN]):
                    pass
            assert refused.value.response.status_code == 500
            assert b"did not allow this service" in refused.value.response.body
            seen = await asyncio.to_thread(express.drain)
            assert [line["method"] for line in seen if line["kind"] == "request"] == ["OPTIONS"]
            assert seen[0]["allowed"] == ["other.webpubsub.azure.com"]  # one header per allowed endpoint


def test_official_python_client_events_through_the_express_handler(
    service: LocalService, express: ExpressUpstream
) -> None:
    from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
    from azure.messaging.webpubsubclient.models import CallbackType, SendMessageError

    replies: list[tuple[str, object]] = []
    client = WebPubSubClient(
        WebPubSubClientCredential(lambda: url(service, "user=py", roles=ROLES)), message_retry_total=0
    )
    client.subscribe(CallbackType.SERVER_MESSAGE, lambda e: replies.append((str(e.data_type), e.data)))
    with client:
        client.send_event("echo", {"from": "python"}, "json")  # returns once acknowledged
        client.send_event("count", 0, "json")
        with pytest.raises(SendMessageError) as failed:
            client.send_event("fail", "x", "text")
        assert failed.value.error_detail.name == "InternalServerError"
    assert ({"from": "python"} in [data for _, data in replies]) and ({"count": 1} in [data for _, data in replies])
    user = express.next("user", where=lambda line: line["context"]["eventName"] == "echo")
    assert user["context"]["userId"] == "py" and user["dataType"] == "json" and user["data"] == {"from": "python"}


def test_official_js_client_events_through_the_express_handler(service: LocalService, express: ExpressUpstream) -> None:
    from interop.js_peer import JsPeer, JsPeerError

    with JsPeer(url=url(service, "user=js", roles=ROLES), protocol=RELIABLE) as peer:
        peer.start()
        peer.request("sendEvent", event="echo", data="from js", dataType="text")
        message = peer.next_event("server-message")
        assert message["dataType"] == "text" and message["data"] == "from js"
        peer.request("sendEvent", event="binary", data="x", dataType="text")
        assert peer.next_event("server-message")["dataType"] == "binary"
        with pytest.raises(JsPeerError) as failed:
            peer.request("sendEvent", event="fail", data="x", dataType="text")
        assert failed.value.error_detail is not None and failed.value.error_detail["name"] == "InternalServerError"
    user = express.next("user", where=lambda line: line["context"]["eventName"] == "echo")
    assert user["context"]["userId"] == "js" and user["data"] == "from js"


async def test_group_presence_events_reach_the_official_handler() -> None:
    with ExpressUpstream("chat") as express:
        setting = express.setting(group_presence_events=["joined", "left"])
        with LocalService(event_handlers={"chat": [setting]}) as service:
            async with open_client(url(service, "groups=lobby", roles=ROLES), PLAIN) as client:
                connection_id = client.connected["connectionId"]
                await client.request({"type": "joinGroup", "group": "lab", "ackId": 1})
                await client.request({"type": "leaveGroup", "group": "lab", "ackId": 2})
                joined = [await asyncio.to_thread(express.next, "joined") for _ in range(2)]
                assert [j["group"] for j in joined] == ["lobby", "lab"]  # the connect answer's group, then joinGroup
                assert joined[0]["context"]["connectionId"] == connection_id
                assert joined[0]["context"]["eventName"] == "joined"
                left = await asyncio.to_thread(express.next, "left")
                assert left["group"] == "lab"
                request = await asyncio.to_thread(express.request, "left")
                assert request["headers"]["ce-type"] == "azure.webpubsub.gp.left"
                assert json.loads(request["body"]) == {"group": "lab"}
