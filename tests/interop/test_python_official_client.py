"""The official Python client, ``azure-messaging-webpubsubclient``, against ``LocalService``.

Tokens come from the official server SDK (the shared ``client_url`` fixture); every frame the SDK
receives is checked against the spec's message shapes (``python_peer.FrameLog``). Each test runs
on the plain and the reliable JSON subprotocol.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from azure.messaging.webpubsubclient.models import SendMessageError, WebPubSubDataType
from frame_shapes import PLAIN_PROTOCOL, RELIABLE_PROTOCOL
from python_peer import PythonPeer
from session_probe import SessionProbe

PeerFactory = Callable[..., PythonPeer]
ALL_ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]

# One payload of each data type, as the SDK takes it and as a receiver's callback gets it back.
JSON_VALUE = {"step": 3, "loss": [0.5, 0.25], "note": "épsilon ✓", "done": False, "extra": None}
TEXT_VALUE = "héllo, wörld ✓ — line1\nline2"
BINARY_VALUE = bytes(range(256))


def send_all_three(peer: PythonPeer, group: str) -> None:
    peer.client.send_to_group(group, JSON_VALUE, WebPubSubDataType.JSON)
    peer.client.send_to_group(group, TEXT_VALUE, WebPubSubDataType.TEXT)
    peer.client.send_to_group(group, memoryview(BINARY_VALUE), WebPubSubDataType.BINARY)


def assert_got_all_three(peer: PythonPeer, group: str, from_user_id: str | None) -> None:
    got = {m.data_type: m for m in peer.events.take_all("group-message", 3)}
    assert set(got) == {"json", "text", "binary"}
    assert got["json"].data == JSON_VALUE
    assert got["text"].data == TEXT_VALUE
    assert bytes(got["binary"].data) == BINARY_VALUE
    for message in got.values():
        assert message.group == group
        assert message.from_user_id == from_user_id


def message_frames(peer: PythonPeer) -> list[dict]:
    return peer.frames.of_type("message")


def test_connects_with_a_token_minted_by_the_official_server_sdk(
    client_url: Callable[..., str], hub: str, protocol: str, python_peers: PeerFactory
) -> None:
    peer = python_peers(client_url(hub, user_id="ann"), protocol)

    assert peer.connected.user_id == "ann"
    assert peer.connected.connection_id
    first = json.loads(peer.frames.received[0])
    assert first["type"] == "system" and first["event"] == "connected"
    assert first["connectionId"] == peer.connected.connection_id
    assert ("reconnectionToken" in first) == (protocol == RELIABLE_PROTOCOL)


def test_two_clients_exchange_json_text_and_binary(
    client_url: Callable[..., str], hub: str, protocol: str, python_peers: PeerFactory
) -> None:
    ann = python_peers(client_url(hub, user_id="ann", roles=ALL_ROLES), protocol)
    bob = python_peers(client_url(hub, user_id="bob", roles=ALL_ROLES), protocol)
    ann.client.join_group("lab")
    bob.client.join_group("lab")

    send_all_three(ann, "lab")
    assert_got_all_three(bob, "lab", from_user_id="ann")
    assert_got_all_three(ann, "lab", from_user_id="ann")  # echo: noEcho defaults to false

    send_all_three(bob, "lab")
    assert_got_all_three(ann, "lab", from_user_id="bob")
    assert_got_all_three(bob, "lab", from_user_id="bob")

    if protocol == RELIABLE_PROTOCOL:
        # Per connection, sequenceIds count 1, 2, 3 ... in delivery order.
        for peer in (ann, bob):
            assert [m["sequenceId"] for m in message_frames(peer)] == list(range(1, 7))


def test_json_data_may_be_any_json_value(
    client_url: Callable[..., str], hub: str, protocol: str, python_peers: PeerFactory
) -> None:
    ann = python_peers(client_url(hub, user_id="ann", roles=ALL_ROLES), protocol)
    ann.client.join_group("lab")
    values = ["a plain string", [1, "two", {"three": 3}], 42, 2.5, True]

    for value in values:
        ann.client.send_to_group("lab", value, WebPubSubDataType.JSON)

    got = [m.data for m in ann.events.take_all("group-message", len(values))]
    assert sorted(map(json.dumps, got)) == sorted(map(json.dumps, values))
    assert [m["data"] for m in message_frames(ann)] == values  # in order on the wire


def test_no_echo_skips_only_the_sender(
    client_url: Callable[..., str], hub: str, protocol: str, python_peers: PeerFactory
) -> None:
    ann = python_peers(client_url(hub, user_id="ann", roles=ALL_ROLES), protocol)
    bob = python_peers(client_url(hub, user_id="bob", roles=ALL_ROLES), protocol)
    ann.client.join_group("lab")
    bob.client.join_group("lab")

    bob.client.send_to_group("lab", "quiet", WebPubSubDataType.TEXT, no_echo=True)
    bob.client.send_to_group("lab", "marker", WebPubSubDataType.TEXT)

    assert {m.data for m in ann.events.take_all("group-message", 2)} == {"quiet", "marker"}
    bob.events.next("group-message", where=lambda m: m.data == "marker")
    # The service handles bob's frames in order, so once the marker's echo is in, "quiet" would be too.
    assert [m["data"] for m in message_frames(bob)] == ["marker"]


def test_groups_in_the_token_are_joined_on_connect(
    client_url: Callable[..., str], hub: str, protocol: str, python_peers: PeerFactory
) -> None:
    ann = python_peers(client_url(hub, user_id="ann", roles=["webpubsub.sendToGroup"]), protocol)
    watcher = python_peers(client_url(hub, user_id="watcher", groups=["lab", "ops"]), protocol)

    ann.client.send_to_group("ops", {"alert": 1}, WebPubSubDataType.JSON)

    message = watcher.events.next("group-message")
    assert (message.group, message.data, message.from_user_id) == ("ops", {"alert": 1}, "ann")


def test_leaving_a_group_stops_delivery(
    client_url: Callable[..., str], hub: str, protocol: str, python_peers: PeerFactory
) -> None:
    ann = python_peers(client_url(hub, user_id="ann", roles=ALL_ROLES), protocol)
    bob = python_peers(client_url(hub, user_id="bob", roles=ALL_ROLES), protocol)
    bob.client.join_group("lab")
    bob.client.join_group("other")

    bob.client.leave_group("lab")
    ann.client.send_to_group("lab", "after leaving", WebPubSubDataType.TEXT)
    ann.client.send_to_group("other", "marker", WebPubSubDataType.TEXT)

    assert bob.events.next("group-message").data == "marker"
    assert [m["data"] for m in message_frames(bob)] == ["marker"]


def test_forbidden_ack_surfaces_as_the_sdks_send_message_error(
    client_url: Callable[..., str], hub: str, protocol: str, python_peers: PeerFactory
) -> None:
    roles = ["webpubsub.joinLeaveGroup.lab", "webpubsub.sendToGroup.lab"]
    peer = python_peers(client_url(hub, user_id="mallory", roles=roles), protocol)

    peer.client.join_group("lab")  # allowed by the per-group roles
    peer.client.send_to_group("lab", "ok", WebPubSubDataType.TEXT)
    with pytest.raises(SendMessageError) as joining:
        peer.client.join_group("ops")
    with pytest.raises(SendMessageError) as sending:
        peer.client.send_to_group("ops", "nope", WebPubSubDataType.TEXT)

    for error in (joining.value, sending.value):
        assert error.error_detail.name == "Forbidden"
        assert "ops" in error.error_detail.message
    acks = peer.frames.of_type("ack")
    assert [a["success"] for a in acks] == [True, True, False, False]
    assert peer.events.next("group-message").data == "ok"


def test_a_repeated_ack_id_is_answered_duplicate_and_the_sdk_treats_it_as_success(
    client_url: Callable[..., str], hub: str, protocol: str, python_peers: PeerFactory
) -> None:
    peer = python_peers(client_url(hub, user_id="ann", roles=ALL_ROLES), protocol)

    peer.client.join_group("lab", ack_id=42)
    peer.client.join_group("lab", ack_id=42)  # must not raise

    first, second = peer.frames.of_type("ack")
    assert first == {"type": "ack", "ackId": 42, "success": True}
    assert (second["ackId"], second["success"], second["error"]["name"]) == (42, False, "Duplicate")


def test_an_event_without_an_upstream_is_answered_internal_server_error(
    client_url: Callable[..., str], hub: str, protocol: str, python_peers: PeerFactory
) -> None:
    peer = python_peers(client_url(hub, user_id="ann"), protocol)

    with pytest.raises(SendMessageError) as raised:
        peer.client.send_event("train", {"epoch": 1}, WebPubSubDataType.JSON)

    assert raised.value.error_detail.name == "InternalServerError"


def test_anonymous_connections_have_no_user_id(
    client_url: Callable[..., str], hub: str, protocol: str, python_peers: PeerFactory
) -> None:
    anonymous = python_peers(client_url(hub, roles=ALL_ROLES), protocol)
    anonymous.client.join_group("lab")

    anonymous.client.send_to_group("lab", "who am I", WebPubSubDataType.TEXT)

    assert anonymous.connected.user_id is None
    assert anonymous.events.next("group-message").from_user_id is None


def test_reliable_client_recovers_a_dropped_connection_without_loss_or_duplicates(
    client_url: Callable[..., str], hub: str, python_peers: PeerFactory, sessions: SessionProbe
) -> None:
    ann = python_peers(client_url(hub, user_id="ann", roles=ALL_ROLES), RELIABLE_PROTOCOL)
    bob = python_peers(client_url(hub, user_id="bob", roles=ALL_ROLES), RELIABLE_PROTOCOL)
    ann.client.join_group("lab")
    count = 50

    bob.client.send_to_group("lab", -1, WebPubSubDataType.JSON)
    assert ann.events.next("group-message").data == -1
    first_socket = sessions.socket_of(hub, ann.connected.connection_id)
    sessions.drop(hub, ann.connected.connection_id)
    for number in range(count):
        bob.client.send_to_group("lab", number, WebPubSubDataType.JSON)

    received = [m.data for m in ann.events.take_all("group-message", count)]
    assert sorted(received) == list(range(count))  # every message, once (the SDK drops replayed ids)
    assert ann.events.pending("group-message") == []
    assert ann.events.pending("disconnected") == []  # recovered, not reconnected
    assert ann.client.is_connected()
    # The same session now runs over a new socket: the SDK recovered it (awps_connection_id).
    assert sessions.socket_of(hub, ann.connected.connection_id) not in (None, first_socket)
    # On the wire: one sequence, same message for the same sequenceId, no gaps.
    by_sequence: dict[int, object] = {}
    for frame in message_frames(ann):
        assert by_sequence.setdefault(frame["sequenceId"], frame["data"]) == frame["data"]
    assert sorted(by_sequence) == list(range(1, count + 2))
    connected_frames = [f for f in ann.frames.of_type("system") if f["event"] == "connected"]
    assert {f["connectionId"] for f in connected_frames} == {ann.connected.connection_id}


def test_refused_recovery_makes_the_sdk_reconnect_and_rejoin_its_groups(
    client_url: Callable[..., str], hub: str, python_peers: PeerFactory, sessions: SessionProbe
) -> None:
    ann = python_peers(client_url(hub, user_id="ann", roles=ALL_ROLES), RELIABLE_PROTOCOL, reconnect_retry_total=1)
    bob = python_peers(client_url(hub, user_id="bob", roles=ALL_ROLES), PLAIN_PROTOCOL)
    ann.client.join_group("lab")
    first_id = ann.connected.connection_id

    sessions.drop_and_forget(hub, first_id)

    # The service accepts the recovery upgrade and closes it with 1008; only 1008 makes the SDK give
    # up at once (anything else keeps it retrying recovery for 30 s) and open a new connection.
    assert ann.events.next("disconnected", timeout=5).connection_id == first_id
    second = ann.events.next("connected", timeout=5)
    assert second.connection_id != first_id
    assert second.user_id == "ann"
    # The SDK re-joins "lab" on the new connection by itself.
    assert eventually(lambda: publish_and_see(bob, ann, "lab"))


def publish_and_see(sender: PythonPeer, receiver: PythonPeer, group: str) -> bool:
    sender.client.send_to_group(group, "are you there", WebPubSubDataType.TEXT)
    try:
        receiver.events.next("group-message", timeout=0.2, where=lambda m: m.data == "are you there")
    except AssertionError:
        return False
    return True


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
    return True


async def test_aio_client_exchanges_messages_with_the_sync_client(
    client_url: Callable[..., str], hub: str, protocol: str, python_peers: PeerFactory
) -> None:
    sync_peer = python_peers(client_url(hub, user_id="sync", roles=ALL_ROLES), protocol)
    aio_peer = await PythonPeer.aio(client_url(hub, user_id="aio", roles=ALL_ROLES), protocol)
    await aio_peer.client.open()
    try:
        connected = await aio_peer.events.next_async("connected")
        assert connected.user_id == "aio"
        await aio_peer.client.join_group("lab")
        sync_peer.client.join_group("lab")

        await aio_peer.client.send_to_group("lab", memoryview(BINARY_VALUE), WebPubSubDataType.BINARY)
        sync_peer.client.send_to_group("lab", {"from": "sync"}, WebPubSubDataType.JSON)

        got_by_sync = sync_peer.events.take_all("group-message", 2)
        assert {m.from_user_id for m in got_by_sync} == {"aio", "sync"}
        echo = await aio_peer.events.next_async("group-message", where=lambda m: m.from_user_id == "aio")
        assert bytes(echo.data) == BINARY_VALUE
        other = await aio_peer.events.next_async("group-message", where=lambda m: m.from_user_id == "sync")
        assert other.data == {"from": "sync"}
    finally:
        await aio_peer.client.close()
    aio_peer.frames.assert_all_valid()
