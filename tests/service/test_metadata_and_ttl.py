"""Message metadata (client ``metadata``, REST ``X-WebPubSub-Metadata-*``) reaches receivers as ``metadata``,
with the emulator's limits; a message's TTL (``ttlSeconds``, ``messageTtlSeconds``) keeps it from being
replayed stale to a reliable connection that recovers after the TTL ran out."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, RELIABLE, data_frames, open_client
from test_reliable_recovery import attach, recover, wait_for_state
from test_rest_http import API, Rest

from wpsnb.service.local import LocalService


def new_hub() -> str:
    return "m" + uuid.uuid4().hex[:12]


@pytest.fixture
async def rest(local_service: LocalService) -> AsyncIterator[Rest]:
    async with aiohttp.ClientSession() as session:
        yield Rest(session, local_service, new_hub())


@pytest.mark.parametrize("protocol", [PLAIN, RELIABLE])
async def test_client_metadata_reaches_the_group(local_service: LocalService, protocol: str) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher,
        open_client(mint_url(local_service, hub, groups=["lab"]), protocol) as subscriber,
    ):
        metadata = {"trace-id": "abc123", "stage": "train"}
        send = {"type": "sendToGroup", "group": "lab", "dataType": "text", "data": "hi", "metadata": metadata}
        assert (await publisher.request({**send, "ackId": 1}))["success"] is True
        only_metadata = {"type": "sendToGroup", "group": "lab", "metadata": {"k": "v"}, "ackId": 2}
        assert (await publisher.request(only_metadata))["success"] is True
        first, second = data_frames(await subscriber.until_pong())
        assert (first["data"], first["metadata"]) == ("hi", metadata)
        assert (second["dataType"], second["data"], second["metadata"]) == ("text", "", {"k": "v"})


@pytest.mark.parametrize(
    ("metadata", "accepted"),
    [
        ({"k" * 256: "v"}, True),
        ({"k" * 257: "v"}, False),
        ({"k": "v" * 1024}, True),
        ({"k": "v" * 1025}, False),
        ({f"k{i}": "v" * 1000 for i in range(8)}, True),  # 8,024 bytes
        ({f"k{i}": "v" * 1000 for i in range(9)}, False),  # over 8 KiB
        ({"ok_!#$%&'*+-.^`|~": "v"}, True),
        ({"a:b": "v"}, False),
        ({"k": 1}, False),
    ],
)
async def test_metadata_limits(local_service: LocalService, metadata: dict, accepted: bool) -> None:
    url = mint_url(local_service, new_hub(), roles=ALL_ROLES)
    async with open_client(url, PLAIN) as client:
        frame = {"type": "sendToGroup", "group": "lab", "data": 1, "metadata": metadata, "ackId": 1}
        if accepted:
            assert (await client.request(frame))["success"] is True
        else:
            await client.send(frame)
            await client.expect_close(1007)
            assert "metadata" in client.ws.close_reason


async def test_rest_metadata_headers(local_service: LocalService, rest: Rest) -> None:
    async with open_client(mint_url(local_service, rest.hub, user_id="u"), PLAIN) as client:
        url = f"{rest.service.endpoint}/api/hubs/{rest.hub}/users/u/:send?{API}"
        headers = {
            "Authorization": "Bearer " + rest.bearer(url),
            "Content-Type": "text/plain",
            "X-WebPubSub-Metadata-Stage": "train",
            "x-webpubsub-metadata-Run": "a, b",  # a repeated header folds into a list: the last value counts
        }
        async with rest.session.post(url, data=b"hi", headers=headers) as response:
            assert response.status == 202
        frame = await client.recv()
        assert (frame["data"], frame["metadata"]) == ("hi", {"stage": "train", "run": "b"})
        headers["X-WebPubSub-Metadata-Big"] = "v" * 1025
        async with rest.session.post(url, data=b"refused", headers=headers) as response:
            assert response.status == 400
            body = await response.json()
            assert (body["target"], "1024" in body["message"]) == ("metadata", True)
        assert data_frames(await client.until_pong()) == []  # nothing was sent


async def test_messages_past_their_ttl_are_not_replayed_to_a_recovering_client(
    local_service: LocalService, rest: Rest
) -> None:
    url = mint_url(local_service, rest.hub, user_id="u", groups=["lab"])
    subscriber = await attach(url)
    subscriber.drop()
    await wait_for_state(local_service, rest.hub, subscriber.connected["connectionId"], "detached")
    async with open_client(mint_url(local_service, rest.hub, roles=ALL_ROLES), PLAIN) as publisher:
        for ack_id, (text, ttl) in enumerate((("short", 1), ("forever", 0), ("no ttl", None)), start=1):
            send = {"type": "sendToGroup", "group": "lab", "dataType": "text", "data": text, "ackId": ack_id}
            if ttl is not None:
                send["ttlSeconds"] = ttl
            assert (await publisher.request(send))["success"] is True
    for query, text in ((f"{API}&messageTtlSeconds=1", "rest short"), (f"{API}&messageTtlSeconds=60", "rest long")):
        answer = await rest("POST", f"users/u/:send?{query}", data=text.encode(), content_type="text/plain")
        assert answer.status == 202
    await asyncio.sleep(1.3)
    recovered = await recover(url, subscriber.connected)
    replayed = data_frames(await recovered.until_pong())
    assert [(f["data"], f["sequenceId"]) for f in replayed] == [("forever", 2), ("no ttl", 3), ("rest long", 5)]
    await recovered.ws.close()


async def test_ttl_is_validated(local_service: LocalService) -> None:
    url = mint_url(local_service, new_hub(), roles=ALL_ROLES)
    async with open_client(url, PLAIN) as client:
        await client.send(json.dumps({"type": "sendToGroup", "group": "lab", "data": 1, "ttlSeconds": 301}))
        await client.expect_close(1007)
