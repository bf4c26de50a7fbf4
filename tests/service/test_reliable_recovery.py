"""The reliable subprotocol over raw WebSockets (docs/protocol.md): sequenceIds, cumulative
sequenceAck, recovery after a dropped TCP connection with zero loss and zero duplicates, refused
recoveries (upgrade, then close 1008) and the 1000-message / 16 MB buffer limits."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, RELIABLE, WireClient, connect_to, data_frames, open_client
from websockets.exceptions import ConnectionClosed

from wpsnb.service.local import LocalService

RECOVERY_FAILED = "The connection could not be recovered."


def new_hub() -> str:
    return "r" + uuid.uuid4().hex[:12]


def recovery_url(url: str, connected: dict[str, Any], token: str | None = None) -> str:
    """The same URL plus the recovery parameters, as the official clients build it."""
    token = connected["reconnectionToken"] if token is None else token
    return f"{url}&awps_connection_id={quote(connected['connectionId'])}&awps_reconnection_token={quote(token)}"


async def attach(url: str, *, handshake: bool = True, **options: Any) -> WireClient:
    """A reliable connection the test manages itself (it may be dropped rather than closed)."""
    client = WireClient(await connect_to(url, [RELIABLE], **options))
    assert client.protocol == RELIABLE
    return await client.handshake() if handshake else client


async def recover(url: str, connected: dict[str, Any], **options: Any) -> WireClient:
    """Recover a dropped session; the upgrade must echo the original subprotocol, and the service announces
    the same connection again (with a fresh reconnection token) before it replays anything."""
    client = await attach(recovery_url(url, connected), handshake=False, **options)
    assert client.ws.response.headers["Sec-WebSocket-Protocol"] == RELIABLE
    again = await client.recv()
    assert (again["type"], again["event"], again["connectionId"]) == ("system", "connected", connected["connectionId"])
    assert again["userId"] == connected["userId"] and again["reconnectionToken"]
    return client


async def publish(publisher: WireClient, group: str, texts: list[str], ack_id: int) -> None:
    """Fire-and-forget sends, then one acked send as a barrier: all of them are fanned out on return."""
    for text in texts[:-1]:
        await publisher.send({"type": "sendToGroup", "group": group, "dataType": "text", "data": text})
    ack = await publisher.request(
        {"type": "sendToGroup", "group": group, "dataType": "text", "data": texts[-1], "ackId": ack_id}
    )
    assert ack["success"] is True


async def read_messages(client: WireClient, count: int) -> list[tuple[int, str]]:
    """The next ``count`` data messages as (sequenceId, data); nothing else may come in between."""
    messages = []
    for _ in range(count):
        frame = await client.recv()
        assert frame["type"] == "message", frame
        messages.append((frame["sequenceId"], frame["data"]))
    return messages


async def acknowledge(client: WireClient, sequence_id: int | str) -> list[dict[str, Any]]:
    """sequenceAck, then a ping barrier: the service has applied the ack once the pong is here."""
    await client.send({"type": "sequenceAck", "sequenceId": sequence_id})
    return await client.until_pong()


async def session_state(service: LocalService, hub: str, connection_id: str) -> str | None:
    def state() -> str | None:
        session = service.service.hub(hub).sessions.get(connection_id)
        return None if session is None else session.state

    return await asyncio.to_thread(service.call, state)


async def wait_for_state(service: LocalService, hub: str, connection_id: str, wanted: str | None) -> None:
    for _ in range(200):
        if await session_state(service, hub, connection_id) == wanted:
            return
        await asyncio.sleep(0.01)
    assert await session_state(service, hub, connection_id) == wanted


async def expect_refused(url: str) -> None:
    """A failed recovery: the upgrade is accepted (subprotocol echoed), then the service closes with 1008."""
    async with open_client(url, RELIABLE, handshake=False) as client:
        assert client.ws.response.headers["Sec-WebSocket-Protocol"] == RELIABLE
        await client.expect_close(1008)
        assert client.ws.close_reason == RECOVERY_FAILED


# ---- sequenceIds and sequenceAck -----------------------------------------------------------------


async def test_sequence_ids_start_at_one_and_only_data_messages_carry_them(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, roles=ALL_ROLES), RELIABLE) as subscriber,
        open_client(mint_url(local_service, hub, user_id="pub", roles=ALL_ROLES), PLAIN) as publisher,
    ):
        # connected, ack and pong carry no sequenceId (frame_shapes checks every frame's shape).
        assert "sequenceId" not in subscriber.connected
        ack = await subscriber.request({"type": "joinGroup", "group": "lab", "ackId": 1})
        assert "sequenceId" not in ack
        await publish(publisher, "lab", [f"m{i}" for i in range(1, 6)], 1)
        assert await read_messages(subscriber, 5) == [(i, f"m{i}") for i in range(1, 6)]
        assert await subscriber.until_pong() == []


async def test_sequence_ids_are_per_connection(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, roles=ALL_ROLES, groups=["lab"])
    async with open_client(url, RELIABLE) as early:
        await early.request({"type": "sendToGroup", "group": "lab", "dataType": "text", "data": "a", "ackId": 1})
        async with open_client(url, RELIABLE) as late:
            await late.request({"type": "sendToGroup", "group": "lab", "dataType": "text", "data": "b", "ackId": 1})
            assert await read_messages(late, 1) == [(1, "b")]
        assert await read_messages(early, 2) == [(1, "a"), (2, "b")]


async def test_cumulative_sequence_ack_frees_the_buffer(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, roles=ALL_ROLES, groups=["lab"])
    subscriber = await attach(url)
    connection_id = subscriber.connected["connectionId"]

    def held() -> int:
        return len(local_service.service.hub(hub).sessions[connection_id].outbox)

    async with open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher:
        await publish(publisher, "lab", [f"m{i}" for i in range(1, 11)], 1)
        await read_messages(subscriber, 10)
        assert await asyncio.to_thread(local_service.call, held) == 10
        await acknowledge(subscriber, 4)
        assert await asyncio.to_thread(local_service.call, held) == 6
        await acknowledge(subscriber, 2)  # an older ack changes nothing
        assert await asyncio.to_thread(local_service.call, held) == 6
        await acknowledge(subscriber, "7")  # Docs show the id as a string: accepted too
        assert await asyncio.to_thread(local_service.call, held) == 3
        # The wire proof: after a drop only what was not acknowledged comes back.
        subscriber.drop()
        recovered = await recover(url, subscriber.connected)
        assert await read_messages(recovered, 3) == [(8, "m8"), (9, "m9"), (10, "m10")]
        await acknowledge(recovered, 10)
        assert await asyncio.to_thread(local_service.call, held) == 0
        await recovered.ws.close()


# ---- recovery ------------------------------------------------------------------------------------


async def test_recovery_replays_unacknowledged_messages_with_original_ids(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, user_id="sub", roles=ALL_ROLES, groups=["lab"])
    subscriber = await attach(url)
    async with open_client(mint_url(local_service, hub, user_id="pub", roles=ALL_ROLES), PLAIN) as publisher:
        await publish(publisher, "lab", ["a", "b", "c"], 1)
        assert await read_messages(subscriber, 3) == [(1, "a"), (2, "b"), (3, "c")]
        await acknowledge(subscriber, 1)
        subscriber.drop()
        await publish(publisher, "lab", ["d", "e"], 2)  # published while the subscriber is away
        recovered = await recover(url, subscriber.connected)
        # 2 and 3 arrived before the drop but were never acknowledged: they come back, exactly once.
        assert await read_messages(recovered, 4) == [(2, "b"), (3, "c"), (4, "d"), (5, "e")]
        assert await recovered.until_pong() == []
        # The session kept its groups and numbering: new messages continue at 6.
        await publish(publisher, "lab", ["f"], 3)
        assert await read_messages(recovered, 1) == [(6, "f")]
        await recovered.ws.close()


async def test_recovery_keeps_the_ack_id_memory(local_service: LocalService) -> None:
    url = mint_url(local_service, new_hub(), roles=ALL_ROLES)
    client = await attach(url)
    assert (await client.request({"type": "joinGroup", "group": "lab", "ackId": 1}))["success"] is True
    client.drop()
    recovered = await recover(url, client.connected)
    duplicate = await recovered.request({"type": "joinGroup", "group": "lab", "ackId": 1})
    assert duplicate["error"]["name"] == "Duplicate"
    await recovered.ws.close()


async def test_thousands_of_messages_across_several_drops_arrive_once_in_order(
    local_service: LocalService,
) -> None:
    """Five rounds of: publish while attached, read part, acknowledge part, drop mid-stream, publish more
    while detached, recover. 5000 messages; every sequenceId is delivered after its last ack exactly
    once, in order, with its original data."""
    hub = new_hub()
    url = mint_url(local_service, hub, user_id="sub", roles=ALL_ROLES, groups=["lab"])
    subscriber = await attach(url)
    connected = subscriber.connected
    published: list[str] = []
    acked = 0
    delivered: dict[int, str] = {}
    async with open_client(mint_url(local_service, hub, user_id="pub", roles=ALL_ROLES), PLAIN) as publisher:
        for round_number in range(5):
            attached_batch = [f"r{round_number}-live-{i}" for i in range(300)]
            await publish(publisher, "lab", attached_batch, round_number * 2 + 1)
            published += attached_batch
            first_read = await read_messages(subscriber, 150)
            assert [seq for seq, _ in first_read] == list(range(acked + 1, acked + 151))
            delivered.update(first_read)
            acked = first_read[99][0]
            # The rest of the batch arrives while the ack is applied (the pong comes after it); then
            # the drop leaves 200 received-but-unacknowledged messages in the buffer.
            rest = [(f["sequenceId"], f["data"]) for f in data_frames(await acknowledge(subscriber, acked))]
            assert [seq for seq, _ in rest] == list(range(acked + 51, len(published) + 1))
            delivered.update(rest)
            subscriber.drop()
            detached_batch = [f"r{round_number}-away-{i}" for i in range(700)]
            await publish(publisher, "lab", detached_batch, round_number * 2 + 2)
            published += detached_batch
            subscriber = await recover(url, connected)
            replay = await read_messages(subscriber, len(published) - acked)
            assert [seq for seq, _ in replay] == list(range(acked + 1, len(published) + 1))
            for seq, data in replay:
                assert data == published[seq - 1]
                assert delivered.setdefault(seq, data) == data
            assert await subscriber.until_pong() == [], "nothing beyond the replay"
            acked = len(published)
            await acknowledge(subscriber, acked)
        assert len(published) == 5000
        assert [delivered[seq] for seq in range(1, 5001)] == published
    await subscriber.ws.close()


async def test_recovering_while_the_old_socket_is_still_open_takes_over(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, roles=ALL_ROLES, groups=["lab"])
    old = await attach(url)
    await old.request({"type": "sendToGroup", "group": "lab", "dataType": "text", "data": "x", "ackId": 1})
    new = await recover(url, old.connected)  # the service has not seen the old socket drop
    assert await read_messages(new, 1) == [(1, "x")]
    with pytest.raises(ConnectionClosed) as cut:
        while True:
            await old.recv(timeout=2)
    assert cut.value.rcvd is not None and cut.value.rcvd.code == 1008, "the old socket gets a close frame"
    await new.ws.close()


async def test_graceful_close_ends_a_reliable_session(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub)
    client = await attach(url)
    await client.ws.close(1000)
    await wait_for_state(local_service, hub, client.connected["connectionId"], None)
    await expect_refused(recovery_url(url, client.connected))


async def test_abnormal_close_code_keeps_the_session_for_recovery(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub)
    client = await attach(url)
    await client.ws.close(4000, "going through a tunnel")
    await wait_for_state(local_service, hub, client.connected["connectionId"], "detached")
    recovered = await recover(url, client.connected)
    assert await recovered.until_pong() == []
    await recovered.ws.close()


async def test_dropped_session_is_detached_then_removed_after_the_window(fresh_service: LocalService) -> None:
    url = mint_url(fresh_service, "stream", roles=ALL_ROLES)
    client = await attach(url)
    connection_id = client.connected["connectionId"]
    client.drop()
    await wait_for_state(fresh_service, "stream", connection_id, "detached")
    await asyncio.sleep(fresh_service.service.recovery_window + 0.3)
    assert await session_state(fresh_service, "stream", connection_id) is None
    await expect_refused(recovery_url(url, client.connected))


async def test_plain_connections_end_on_a_drop(local_service: LocalService) -> None:
    hub = new_hub()
    async with open_client(mint_url(local_service, hub), PLAIN) as client:
        connection_id = client.connected["connectionId"]
        client.drop()
        await wait_for_state(local_service, hub, connection_id, None)


# ---- refused recoveries --------------------------------------------------------------------------


async def test_recovery_with_a_bad_token_is_refused_and_the_session_survives(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, roles=ALL_ROLES, groups=["lab"])
    victim, other = await attach(url), await attach(url)
    victim.drop()
    await expect_refused(recovery_url(url, victim.connected, token="not-a-token"))
    await expect_refused(recovery_url(url, victim.connected, token=other.connected["reconnectionToken"]))
    await expect_refused(recovery_url(url, victim.connected, token=""))
    recovered = await recover(url, victim.connected)  # the real token still works
    assert await recovered.until_pong() == []
    await recovered.ws.close()
    await other.ws.close()


async def test_recovery_of_an_unknown_connection_is_refused(local_service: LocalService) -> None:
    url = mint_url(local_service, new_hub())
    client = await attach(url)
    await client.ws.close()
    fake = {"connectionId": "no-such-connection", "reconnectionToken": client.connected["reconnectionToken"]}
    await expect_refused(recovery_url(url, fake))


async def test_recovery_in_another_hub_is_refused(local_service: LocalService) -> None:
    url = mint_url(local_service, new_hub())
    client = await attach(url)
    client.drop()
    await expect_refused(recovery_url(mint_url(local_service, new_hub()), client.connected))


async def test_recovery_of_a_plain_connection_is_refused(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub)
    async with open_client(url, PLAIN) as plain:
        fake = {"connectionId": plain.connected["connectionId"], "reconnectionToken": "x"}
        await expect_refused(recovery_url(url, fake))


# ---- buffer limits -------------------------------------------------------------------------------


async def test_more_than_1000_unacknowledged_messages_close_1008_and_drop_the_session(
    local_service: LocalService,
) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, roles=ALL_ROLES, groups=["lab"])
    subscriber = await attach(url)
    async with open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher:
        await publish(publisher, "lab", [f"m{i}" for i in range(1, 1002)], 1)
    frames = await subscriber.expect_close(1008)
    assert [f["sequenceId"] for f in data_frames(frames)] == list(range(1, 1001))
    assert frames[-1]["type"] == "system" and frames[-1]["event"] == "disconnected"
    assert "1000" in frames[-1]["message"]
    await wait_for_state(local_service, hub, subscriber.connected["connectionId"], None)
    await expect_refused(recovery_url(url, subscriber.connected))


async def test_acknowledging_keeps_a_connection_under_the_message_limit(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, roles=ALL_ROLES, groups=["lab"])
    async with (
        open_client(url, RELIABLE) as subscriber,
        open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher,
    ):
        for batch in range(3):
            await publish(publisher, "lab", [f"b{batch}-{i}" for i in range(900)], batch + 1)
            messages = await read_messages(subscriber, 900)
            await acknowledge(subscriber, messages[-1][0])
        assert messages[-1][0] == 2700


async def test_more_than_16_megabytes_unacknowledged_close_1008(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, roles=ALL_ROLES, groups=["lab"])
    subscriber = await attach(url, max_size=2 * 1024 * 1024)
    big = "z" * 900_000
    data: list[dict[str, Any]] = []
    async with open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher:
        # Lockstep: the subscriber reads each message (its socket never backs up) but acknowledges none.
        for _ in range(20):
            await publisher.send({"type": "sendToGroup", "group": "lab", "dataType": "text", "data": big})
            frame = await subscriber.recv()
            if frame["type"] != "message":
                break
            data.append(frame)
    assert frame["type"] == "system" and frame["event"] == "disconnected", frame
    assert "16777216 bytes" in frame["message"]
    await subscriber.expect_close(1008)
    assert [f["sequenceId"] for f in data] == list(range(1, len(data) + 1))
    size = len(encode_frame(data[0]))
    assert len(data) * size <= 16 * 1024 * 1024 < (len(data) + 1) * size
    await wait_for_state(local_service, hub, subscriber.connected["connectionId"], None)
    await expect_refused(recovery_url(url, subscriber.connected))


def encode_frame(frame: dict[str, Any]) -> bytes:
    """The frame's size on the wire (the service writes compact JSON)."""
    return json.dumps(frame, separators=(",", ":")).encode()


async def test_overflow_while_detached_drops_the_session(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, roles=ALL_ROLES, groups=["lab"])
    subscriber = await attach(url)
    subscriber.drop()
    await wait_for_state(local_service, hub, subscriber.connected["connectionId"], "detached")
    async with open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher:
        await publish(publisher, "lab", [f"m{i}" for i in range(1001)], 1)
    await wait_for_state(local_service, hub, subscriber.connected["connectionId"], None)
    await expect_refused(recovery_url(url, subscriber.connected))


async def test_each_drop_gets_a_full_recovery_window(fresh_service: LocalService) -> None:
    """The window of an earlier drop must not cut short the window of a later one."""
    window = fresh_service.service.recovery_window
    url = mint_url(fresh_service, "stream", roles=ALL_ROLES)
    client = await attach(url)
    client.drop()
    await asyncio.sleep(window * 0.5)
    again = await recover(url, client.connected)
    await again.until_pong()
    await asyncio.sleep(window * 0.3)
    again.drop()  # the first window would end in 0.2 * window
    await asyncio.sleep(window * 0.5)
    last = await recover(url, client.connected)
    assert await last.until_pong() == []
    await last.ws.close()
