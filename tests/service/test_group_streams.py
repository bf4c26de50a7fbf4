"""Group streams over raw WebSockets (client-spec §3.6): start, fragments in order and once, duplicates,
gaps, keepalives, end, abort, idle timeout, unknown streams, permissions, noEcho, a publisher whose
connection ends, and a stream that continues across a reliable recovery. On both JSON subprotocols.

The publisher and the subscribers are hand-written WebSocket clients; every frame they get is checked
against the protocol's shapes (``tests/frame_shapes.py``).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, RELIABLE, WireClient, data_frames, open_client
from test_reliable_recovery import attach, recover, wait_for_state

from wpsnb.service.local import LocalService


def new_hub() -> str:
    return "s" + uuid.uuid4().hex[:12]


def start(stream_id: str, group: str = "lab", **stream: Any) -> dict[str, Any]:
    return {"type": "sendToGroup", "group": group, "stream": {"streamId": stream_id, **stream}}


def fragment(stream_id: str, number: int, data: Any = None, data_type: str = "text") -> dict[str, Any]:
    payload = f"part {number}" if data is None else data
    return {
        "type": "streamData",
        "streamId": stream_id,
        "streamSequenceId": number,
        "dataType": data_type,
        "data": payload,
    }


async def control(client: WireClient) -> list[dict[str, Any]]:
    """Every stream control frame that arrives before a pong (the service answers in order)."""
    return [frame for frame in await client.until_pong() if frame["type"].startswith("stream")]


async def acked(publisher: WireClient) -> int:
    """The expectedSequenceId the publisher was last told (acks may be batched: how many varies)."""
    acks = await control(publisher)
    assert acks and all(ack["type"] == "streamAck" for ack in acks), acks
    return acks[-1]["expectedSequenceId"]


async def started(publisher: WireClient, stream_id: str, **stream: Any) -> None:
    await publisher.send(start(stream_id, **stream))
    assert await publisher.recv() == {"type": "streamAck", "streamId": stream_id, "expectedSequenceId": 1}


async def read_stream(subscriber: WireClient, count: int) -> list[dict[str, Any]]:
    frames = []
    while len(frames) < count:
        frame = await subscriber.recv()
        if frame["type"] == "message":
            frames.append(frame)
    return frames


@pytest.mark.parametrize("protocol", [PLAIN, RELIABLE])
async def test_hundreds_of_fragments_arrive_in_order_and_once(local_service: LocalService, protocol: str) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, user_id="pub", roles=ALL_ROLES), protocol) as publisher,
        open_client(mint_url(local_service, hub, groups=["lab"]), protocol) as subscriber,
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as other,
    ):
        await started(publisher, "s1")
        for number in range(1, 501):
            await publisher.send(fragment("s1", number, data={"n": number}, data_type="json"))
        acks = await control(publisher)
        assert acks and all(ack["type"] == "streamAck" for ack in acks)
        assert [ack["expectedSequenceId"] for ack in acks] == sorted(ack["expectedSequenceId"] for ack in acks)
        assert acks[-1]["expectedSequenceId"] == 501  # acks are batched; the last one covers everything
        await publisher.send({"type": "streamEnd", "streamId": "s1"})
        assert await publisher.recv() == {"type": "streamClosed", "streamId": "s1"}
        for client in (subscriber, other):
            frames = await read_stream(client, 501)
            assert [f["data"] for f in frames[:-1]] == [{"n": n} for n in range(1, 501)]
            assert [f["stream"]["streamSequenceId"] for f in frames] == list(range(1, 502))
            assert {(f["group"], f["fromUserId"], f["stream"]["streamId"]) for f in frames} == {("lab", "pub", "s1")}
            last = frames[-1]
            assert last["stream"] == {"streamId": "s1", "streamSequenceId": 501, "endOfStream": True}
            assert (last["dataType"], last["data"]) == ("text", "")
            if client.protocol == RELIABLE:
                assert [f["sequenceId"] for f in frames] == list(range(1, 502))
            assert data_frames(await client.until_pong()) == []


@pytest.mark.parametrize("protocol", [PLAIN, RELIABLE])
async def test_fragments_sent_with_the_end_are_acknowledged_before_stream_closed(
    local_service: LocalService, protocol: str
) -> None:
    # Fragments and the end read in one turn of the event loop: the batched streamAck must still name
    # them (it was lost once the end had closed the stream, so the publisher never heard of them).
    hub = new_hub()
    async with open_client(mint_url(local_service, hub, user_id="pub", roles=ALL_ROLES), protocol) as publisher:
        for attempt in range(5):
            stream_id = f"s{attempt}"
            await started(publisher, stream_id)
            for number in range(1, 21):
                await publisher.send(fragment(stream_id, number))
            await publisher.send({"type": "streamEnd", "streamId": stream_id})
            frames = await control(publisher)
            assert frames[-1] == {"type": "streamClosed", "streamId": stream_id}, frames
            acks = [frame["expectedSequenceId"] for frame in frames if frame["type"] == "streamAck"]
            assert acks and acks[-1] == 21, frames


async def test_duplicates_are_dropped_and_gaps_refused(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher,
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as subscriber,
    ):
        await started(publisher, "s1")
        for number in (1, 2, 1, 2):
            await publisher.send(fragment("s1", number))
        assert await acked(publisher) == 3
        await publisher.send(fragment("s1", 5))
        (nack,) = await control(publisher)
        assert (nack["type"], nack["name"], nack["expectedSequenceId"]) == ("streamNack", "InvalidSequenceId", 3)
        assert "expected streamSequenceId 3, got 5" in nack["message"]
        await publisher.send(fragment("s1", 3))  # the stream is still open after a nack
        assert await acked(publisher) == 4
        frames = data_frames(await subscriber.until_pong())
        assert [f["data"] for f in frames] == ["part 1", "part 2", "part 3"]


async def test_keepalives_are_not_delivered_and_unknown_streams_are_not_found(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher,
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as subscriber,
    ):
        await started(publisher, "s1")
        await publisher.send({"type": "streamData", "streamId": "s1"})
        assert await control(publisher) == []
        for frame in (
            {"type": "streamData", "streamId": "nope"},
            fragment("nope", 1),
            {"type": "streamEnd", "streamId": "nope"},
        ):
            await publisher.send(frame)
            (closed,) = await control(publisher)
            assert (closed["streamId"], closed["error"]["name"]) == ("nope", "StreamNotFound")
            assert "no open stream 'nope'" in closed["error"]["message"]
        assert data_frames(await subscriber.until_pong()) == []


async def test_start_is_refused_without_permission_or_with_a_bad_start(local_service: LocalService) -> None:
    hub = new_hub()
    roles = ["webpubsub.sendToGroup.lab"]
    async with open_client(mint_url(local_service, hub, roles=roles), PLAIN) as publisher:
        await publisher.send(start("s1", group="other"))
        (forbidden,) = await control(publisher)
        assert (forbidden["type"], forbidden["error"]["name"]) == ("streamClosed", "Forbidden")
        await started(publisher, "s1")
        for bad, problem in ((start("s1"), "already open"), (start("s2", idleTimeoutMs=0), "greater than 0")):
            await publisher.send(bad)
            (closed,) = await control(publisher)
            assert closed["error"]["name"] == "BadRequest"
            assert problem in closed["error"]["message"]
        await publisher.send(fragment("s1", 1))  # the open stream was not disturbed
        assert await acked(publisher) == 2


async def test_an_aborted_stream_tells_subscribers_why(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher,
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as subscriber,
    ):
        await started(publisher, "s1")
        await publisher.send(fragment("s1", 1))
        error = {"message": "disk full", "userErrorCode": "E42"}
        await publisher.send({"type": "streamEnd", "streamId": "s1", "error": error})
        closed = [f for f in await control(publisher) if f["type"] == "streamClosed"]
        assert closed == [{"type": "streamClosed", "streamId": "s1"}]
        first, last = await read_stream(subscriber, 2)
        assert first["data"] == "part 1"
        assert last["stream"] == {
            "streamId": "s1",
            "streamSequenceId": 2,
            "endOfStream": True,
            "error": {"name": "UserError", "message": "disk full", "userErrorCode": "E42"},
        }


async def test_an_idle_stream_times_out_and_keepalives_hold_it(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher,
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as subscriber,
    ):
        await started(publisher, "kept", idleTimeoutMs=400)
        await started(publisher, "idle", idleTimeoutMs=150)
        for _ in range(4):  # 'kept' stays open past its timeout thanks to keepalives
            await asyncio.sleep(0.15)
            await publisher.send({"type": "streamData", "streamId": "kept"})
        closed = await publisher.recv()
        assert (closed["type"], closed["streamId"], closed["error"]["name"]) == ("streamClosed", "idle", "IdleTimeout")
        assert "150 ms" in closed["error"]["message"]
        (terminal,) = await read_stream(subscriber, 1)
        assert terminal["stream"]["streamId"] == "idle"
        assert terminal["stream"]["error"]["name"] == "IdleTimeout"
        await publisher.send(fragment("kept", 1))
        assert await acked(publisher) == 2


async def test_no_echo_keeps_the_fragments_from_the_publisher(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, roles=ALL_ROLES, groups=["lab"]), PLAIN) as publisher,
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as subscriber,
    ):
        await publisher.send({**start("quiet"), "noEcho": True})
        assert (await publisher.recv())["expectedSequenceId"] == 1
        await started(publisher, "loud")
        for stream_id in ("quiet", "loud"):
            await publisher.send(fragment(stream_id, 1))
            await publisher.send({"type": "streamEnd", "streamId": stream_id})
        mine = data_frames(await publisher.until_pong())
        assert {f["stream"]["streamId"] for f in mine} == {"loud"}
        theirs = await read_stream(subscriber, 4)
        assert [f["stream"]["streamId"] for f in theirs] == ["quiet", "quiet", "loud", "loud"]


async def test_a_publisher_that_leaves_cancels_its_streams(local_service: LocalService) -> None:
    hub = new_hub()
    async with open_client(mint_url(local_service, hub, groups=["lab"]), RELIABLE) as subscriber:
        async with open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher:
            await started(publisher, "s1")
            await publisher.send(fragment("s1", 1))
            await control(publisher)
        first, last = await read_stream(subscriber, 2)
        assert first["data"] == "part 1"
        assert last["stream"]["endOfStream"] is True
        assert last["stream"]["error"]["name"] == "Cancelled"


async def test_a_stream_continues_across_a_reliable_recovery(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, roles=ALL_ROLES)
    async with open_client(mint_url(local_service, hub, groups=["lab"]), RELIABLE) as subscriber:
        publisher = await attach(url)
        await started(publisher, "s1")
        for number in range(1, 101):
            await publisher.send(fragment("s1", number))
        await control(publisher)
        publisher.drop()
        await wait_for_state(local_service, hub, publisher.connected["connectionId"], "detached")
        recovered = await recover(url, publisher.connected)
        # What the official client does after a recovery: replay what it has no ack for, then go on.
        for number in range(90, 201):
            await recovered.send(fragment("s1", number))
        await recovered.send({"type": "streamEnd", "streamId": "s1"})
        frames = [f for f in await recovered.until_pong() if f["type"].startswith("stream")]
        assert frames[-1] == {"type": "streamClosed", "streamId": "s1"}
        await recovered.send({"type": "streamEnd", "streamId": "s1"})  # a replayed end: closed again, no error
        assert await control(recovered) == [{"type": "streamClosed", "streamId": "s1"}]
        received = await read_stream(subscriber, 201)
        assert [f["stream"]["streamSequenceId"] for f in received] == list(range(1, 202))
        assert [f["data"] for f in received[:-1]] == [f"part {n}" for n in range(1, 201)]
        await recovered.ws.close()
