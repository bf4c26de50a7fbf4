"""The client endpoint's handshake, as raw WebSocket clients see it (docs/protocol.md).

Tokens are minted by the official server SDK (``mint_url``); the one expired token is crafted with
PyJWT because the SDK cannot mint one in the past.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, RELIABLE, connect_to, open_client
from websockets.exceptions import InvalidStatus

from wpsnb.service.local import LocalService


def new_hub() -> str:
    """A hub of the test's own on the shared service."""
    return "h" + uuid.uuid4().hex[:12]


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["access_token"][0]


async def rejection(url: str, protocols: list[str] | None = None, **options: Any) -> tuple[int, str]:
    """Status and body of a handshake the service refuses before the upgrade."""
    with pytest.raises(InvalidStatus) as info:
        async with connect_to(url, protocols, **options):
            pass
    response = info.value.response
    return response.status_code, response.body.decode("utf-8")


# ---- URL forms and tokens ------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["path", "query", "query-slash"])
async def test_both_url_forms_connect(local_service: LocalService, form: str) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, user_id="ann")
    token = token_of(url)
    base = f"ws://127.0.0.1:{local_service.port}"
    target = {
        "path": url,
        "query": f"{base}/client?hub={hub}&access_token={token}",
        "query-slash": f"{base}/client/?hub={hub}&access_token={token}",
    }[form]
    async with open_client(target, PLAIN) as client:
        assert client.connected is not None
        assert client.connected["userId"] == "ann"
        assert client.connected["connectionId"]


async def test_bearer_header_is_accepted(local_service: LocalService) -> None:
    hub = new_hub()
    token = token_of(mint_url(local_service, hub, user_id="bea"))
    url = f"ws://127.0.0.1:{local_service.port}/client/hubs/{hub}"
    async with open_client(url, PLAIN, additional_headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.connected["userId"] == "bea"


async def test_missing_token_is_401_with_a_clear_body(local_service: LocalService) -> None:
    status, body = await rejection(f"ws://127.0.0.1:{local_service.port}/client/hubs/{new_hub()}", [PLAIN])
    assert status == 401
    assert "no client access token" in body


async def test_token_signed_with_another_key_is_401(local_service: LocalService) -> None:
    hub = new_hub()
    other_key = "x" * 44
    forged = mint_url(f"Endpoint={local_service.endpoint};AccessKey={other_key};Version=1.0;", hub, user_id="eve")
    status, body = await rejection(forged, [PLAIN])
    assert status == 401
    assert "signature does not match" in body


async def test_expired_token_is_401(local_service: LocalService) -> None:
    hub = new_hub()
    now = int(time.time())
    # Beyond the service's 5-minute clock-skew leeway.
    token = jwt.encode(
        {"aud": f"{local_service.endpoint}/client/hubs/{hub}", "iat": now - 7200, "exp": now - 3600, "sub": "old"},
        local_service.access_key,
        algorithm="HS256",
    )
    status, body = await rejection(
        f"ws://127.0.0.1:{local_service.port}/client/hubs/{hub}?access_token={token}", [PLAIN]
    )
    assert status == 401
    assert "expired" in body


async def test_token_for_another_hub_is_401(local_service: LocalService) -> None:
    hub, other = new_hub(), new_hub()
    token = token_of(mint_url(local_service, other, user_id="ann"))
    status, body = await rejection(
        f"ws://127.0.0.1:{local_service.port}/client/hubs/{hub}?access_token={token}", [PLAIN]
    )
    assert status == 401
    assert f"not for hub '{hub}'" in body


async def test_token_for_another_port_is_401(local_service: LocalService) -> None:
    hub = new_hub()
    elsewhere = f"Endpoint=http://127.0.0.1:{local_service.port + 1};AccessKey={local_service.access_key};Version=1.0;"
    token = token_of(mint_url(elsewhere, hub, user_id="ann"))
    status, body = await rejection(
        f"ws://127.0.0.1:{local_service.port}/client/hubs/{hub}?access_token={token}", [PLAIN]
    )
    assert status == 401
    assert "not for hub" in body and str(local_service.port + 1) in body


async def test_invalid_hub_name_is_400(local_service: LocalService) -> None:
    status, body = await rejection(f"ws://127.0.0.1:{local_service.port}/client?hub=1bad", [PLAIN])
    assert status == 400
    assert "hub name '1bad' is invalid" in body


async def test_hub_names_match_case_insensitively(local_service: LocalService) -> None:
    hub = "Case_" + uuid.uuid4().hex[:8]
    url = mint_url(local_service, hub, user_id="ann")
    async with open_client(url.replace(f"/hubs/{hub}", f"/hubs/{hub.lower()}"), PLAIN) as client:
        assert client.connected["userId"] == "ann"


# ---- subprotocols --------------------------------------------------------------------------------


@pytest.mark.parametrize("offered", ["JSON.WebPubSub.Azure.V1", "Json.Reliable.WebPubSub.Azure.v1"])
async def test_subprotocol_is_matched_case_insensitively_and_echoed_exactly(
    local_service: LocalService, offered: str
) -> None:
    async with open_client(mint_url(local_service, new_hub()), offered) as client:
        assert client.ws.response.headers["Sec-WebSocket-Protocol"] == offered
        assert client.protocol == offered
        assert ("reconnectionToken" in client.connected) == ("reliable" in offered.lower())


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["custom.v1", RELIABLE, PLAIN], RELIABLE),
        ([PLAIN, RELIABLE], PLAIN),
        (["custom.v1", PLAIN], PLAIN),
    ],
)
async def test_first_predefined_subprotocol_in_offer_order_wins(
    local_service: LocalService, offered: list[str], chosen: str
) -> None:
    async with open_client(mint_url(local_service, new_hub()), *offered) as client:
        assert client.ws.response.headers["Sec-WebSocket-Protocol"] == chosen
        assert client.connected is not None


async def test_only_custom_subprotocols_make_a_simple_client(local_service: LocalService) -> None:
    hub = new_hub()
    group = "lab"
    async with (
        open_client(mint_url(local_service, hub, groups=[group]), "custom.v1", "other.v2") as simple,
        open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher,
    ):
        assert simple.protocol is None
        assert "Sec-WebSocket-Protocol" not in simple.ws.response.headers
        await publisher.request({"type": "sendToGroup", "group": group, "dataType": "text", "data": "hi", "ackId": 1})
        # No connected system message came first: the bare payload is the first frame.
        assert await simple.recv_raw() == "hi"


async def test_protobuf_subprotocol_is_refused_clearly(local_service: LocalService) -> None:
    status, body = await rejection(mint_url(local_service, new_hub()), ["protobuf.webpubsub.azure.v1"])
    assert status == 400
    assert "not supported" in body and PLAIN in body


# ---- the connected message and initial groups ----------------------------------------------------


async def test_connected_message_names_connection_and_user(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, user_id="ann"), PLAIN) as ann,
        open_client(mint_url(local_service, hub), PLAIN) as anonymous,
        open_client(mint_url(local_service, hub, user_id="ann"), RELIABLE) as reliable,
    ):
        assert ann.connected["userId"] == "ann"
        assert "reconnectionToken" not in ann.connected
        assert anonymous.connected.get("userId") is None
        assert reliable.connected["userId"] == "ann"
        assert reliable.connected["reconnectionToken"]
        ids = {ann.connected["connectionId"], anonymous.connected["connectionId"], reliable.connected["connectionId"]}
        assert len(ids) == 3, "every connection gets its own id"


async def test_connected_is_the_first_frame_even_with_initial_groups(local_service: LocalService) -> None:
    async with open_client(mint_url(local_service, new_hub(), groups=["a", "b"]), PLAIN, handshake=False) as client:
        first = await client.recv()
        assert first["type"] == "system" and first["event"] == "connected"


async def test_initial_groups_come_from_the_token(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, user_id="sub", groups=["lab", "ops"]), PLAIN) as subscriber,
        open_client(mint_url(local_service, hub, user_id="pub", roles=ALL_ROLES), PLAIN) as publisher,
    ):
        for ack_id, group in enumerate(["lab", "ops", "elsewhere"], start=1):
            await publisher.request(
                {"type": "sendToGroup", "group": group, "dataType": "text", "data": group, "ackId": ack_id}
            )
        frames = await subscriber.until_pong()
        assert [(f["group"], f["data"], f["fromUserId"]) for f in frames] == [
            ("lab", "lab", "pub"),
            ("ops", "ops", "pub"),
        ]


# ---- simple (raw) clients ------------------------------------------------------------------------


async def test_simple_client_receives_bare_frames(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, groups=["lab"])) as simple,
        open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher,
    ):
        assert simple.protocol is None
        sends = [
            ("text", "hi"),
            ("json", {"a": [1, 2]}),
            ("json", "hello"),
            ("json", 42),
            ("binary", base64.b64encode(b"\x00\x01\xff").decode()),
        ]
        for ack_id, (data_type, data) in enumerate(sends, start=1):
            await publisher.request(
                {"type": "sendToGroup", "group": "lab", "dataType": data_type, "data": data, "ackId": ack_id}
            )
        received = [await simple.recv_raw() for _ in sends]
        assert received[0] == "hi"
        assert json.loads(received[1]) == {"a": [1, 2]} and isinstance(received[1], str)
        assert received[2] == '"hello"', "a JSON string arrives with its quotes"
        assert received[3] == "42"
        assert received[4] == b"\x00\x01\xff"


def raw_publisher_url(service: LocalService, hub: str, group: str, query: str = "", **claims: Any) -> str:
    return mint_url(service, hub, **claims) + f"&webpubsub_mode=sendToGroup&group={group}" + query


async def test_simple_client_in_send_to_group_mode_publishes_each_frame(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, user_id="sub", groups=["lab"]), PLAIN) as subscriber,
        open_client(
            raw_publisher_url(local_service, hub, "lab", user_id="raw", roles=["webpubsub.sendToGroup"], groups=["lab"])
        ) as raw,
    ):
        await raw.send("plain text")
        await raw.send(b"\x01\x02")
        first, second = await subscriber.recv(), await subscriber.recv()
        assert first == {
            "type": "message",
            "from": "group",
            "group": "lab",
            "fromUserId": "raw",
            "dataType": "text",
            "data": "plain text",
        }
        assert (second["dataType"], second["data"]) == ("binary", "AQI=")
        # Without noEcho the raw publisher, a member of the group, gets its own frames back.
        assert await raw.recv_raw() == "plain text"
        assert await raw.recv_raw() == b"\x01\x02"


async def test_simple_client_send_to_group_mode_with_no_echo(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as subscriber,
        open_client(
            raw_publisher_url(
                local_service, hub, "lab", "&noEcho=true", roles=["webpubsub.sendToGroup"], groups=["lab"]
            )
        ) as raw,
        open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as other,
    ):
        await raw.send("one")
        assert (await subscriber.recv())["data"] == "one"
        # The next frame the raw client sees is someone else's message, not its own "one".
        await other.request({"type": "sendToGroup", "group": "lab", "dataType": "text", "data": "two", "ackId": 1})
        assert await raw.recv_raw() == "two"


async def test_simple_client_send_to_group_mode_needs_permission(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as subscriber,
        open_client(raw_publisher_url(local_service, hub, "lab")) as raw,
    ):
        await raw.send("not allowed")
        await raw.expect_close(1008)
        assert await subscriber.until_pong() == [], "nothing was published"


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("&webpubsub_mode=broadcast", "webpubsub_mode 'broadcast' is invalid"),
        ("&webpubsub_mode=sendToGroup", "needs a valid 'group'"),
        ("&webpubsub_mode=sendToGroup&group=%20%20", "only whitespace"),
        ("&webpubsub_mode=sendToGroup&group=lab&noEcho=maybe", "noEcho must be 'true' or 'false'"),
    ],
)
async def test_invalid_simple_client_mode_is_400(local_service: LocalService, query: str, complaint: str) -> None:
    status, body = await rejection(mint_url(local_service, new_hub(), roles=ALL_ROLES) + query)
    assert status == 400
    assert complaint in body


async def test_simple_client_frame_in_event_mode_closes_1011(local_service: LocalService) -> None:
    async with open_client(mint_url(local_service, new_hub())) as simple:
        await simple.send("an event nobody handles")
        await simple.expect_close(1011)


async def test_failed_handshake_leaves_no_session(fresh_service: LocalService) -> None:
    await rejection(f"ws://127.0.0.1:{fresh_service.port}/client/hubs/stream", [PLAIN])
    async with open_client(mint_url(fresh_service, "stream"), PLAIN) as client:
        sessions = fresh_service.call(lambda: list(fresh_service.service.hub("stream").sessions))
        assert sessions == [client.connected["connectionId"]]
