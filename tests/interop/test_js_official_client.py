"""The official JavaScript SDKs (``@azure/web-pubsub-client``, ``@azure/web-pubsub``) against ``LocalService``.

Each JS client runs in a node process (``tests/js/peer.mjs``, driven by ``js_peer.JsPeer``); every
frame it receives is checked against the spec's message shapes. Client URLs come from the official
Python server SDK (``client_url``) or from the JS server SDK itself. Each test runs on the plain and
the reliable JSON subprotocol.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from azure.messaging.webpubsubclient.models import WebPubSubDataType
from frame_shapes import PLAIN_PROTOCOL, RELIABLE_PROTOCOL
from js_peer import JsPeer, JsPeerError
from python_peer import PythonPeer
from session_probe import SessionProbe

from wpsnb.service.local import LocalService

pytestmark = pytest.mark.node

JsPeers = Callable[..., JsPeer]
PythonPeers = Callable[..., PythonPeer]
ALL_ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]

JSON_VALUE = {"step": 3, "loss": [0.5, 0.25], "note": "épsilon ✓", "done": False, "extra": None}
TEXT_VALUE = "héllo, wörld ✓ — line1\nline2"
BINARY_VALUE = bytes(range(256))
# The three payloads as peer.mjs takes and reports them (binary travels base64-encoded).
JS_PAYLOADS = [
    ("json", JSON_VALUE),
    ("text", TEXT_VALUE),
    ("binary", base64.b64encode(BINARY_VALUE).decode()),
]


def started(js_peers: JsPeers, url: str, protocol: str, **start: object) -> JsPeer:
    peer = js_peers(url=url, protocol=protocol)
    peer.start(**start)
    return peer


def send_all_three(peer: JsPeer, group: str) -> None:
    for data_type, data in JS_PAYLOADS:
        peer.request("sendToGroup", group=group, data=data, dataType=data_type)


def assert_js_got_all_three(peer: JsPeer, group: str, from_user_id: str | None) -> None:
    got = peer.take_events("group-message", 3)
    assert [(m["dataType"], m["data"]) for m in got] == JS_PAYLOADS  # in order
    assert {(m["group"], m["fromUserId"]) for m in got} == {(group, from_user_id)}


def group_message_frames(peer: JsPeer) -> list[dict]:
    return peer.received("message")


def test_js_client_connects_with_a_url_from_the_python_server_sdk(
    client_url: Callable[..., str], hub: str, protocol: str, js_peers: JsPeers
) -> None:
    peer = js_peers(url=client_url(hub, user_id="ann"), protocol=protocol)

    connected = peer.start()

    assert connected["userId"] == "ann"
    first = json.loads(peer.frames[0])
    assert (first["type"], first["event"], first["connectionId"]) == ("system", "connected", connected["connectionId"])
    assert ("reconnectionToken" in first) == (protocol == RELIABLE_PROTOCOL)


def test_two_js_clients_exchange_json_text_and_binary(
    client_url: Callable[..., str], hub: str, protocol: str, js_peers: JsPeers
) -> None:
    ann = started(js_peers, client_url(hub, user_id="ann", roles=ALL_ROLES), protocol)
    bob = started(js_peers, client_url(hub, user_id="bob", roles=ALL_ROLES), protocol)
    ann.request("joinGroup", group="lab")
    bob.request("joinGroup", group="lab")

    send_all_three(ann, "lab")
    assert_js_got_all_three(bob, "lab", from_user_id="ann")
    assert_js_got_all_three(ann, "lab", from_user_id="ann")  # echo: noEcho defaults to false

    bob.request("sendToGroup", group="lab", data="quiet", dataType="text", noEcho=True)
    bob.request("sendToGroup", group="lab", data="marker", dataType="text")
    assert [m["data"] for m in ann.take_events("group-message", 2)] == ["quiet", "marker"]
    assert bob.next_event("group-message")["data"] == "marker"  # "quiet" was not echoed to bob

    for peer, count in ((ann, 5), (bob, 4)):
        sequence_ids = [m.get("sequenceId") for m in group_message_frames(peer)]
        reliable = protocol == RELIABLE_PROTOCOL
        assert sequence_ids == (list(range(1, count + 1)) if reliable else [None] * count)


def test_js_and_python_official_clients_exchange_json_text_and_binary(
    client_url: Callable[..., str], hub: str, protocol: str, js_peers: JsPeers, python_peers: PythonPeers
) -> None:
    js = started(js_peers, client_url(hub, user_id="js", roles=ALL_ROLES), protocol)
    py = python_peers(client_url(hub, user_id="py", roles=ALL_ROLES), protocol)
    js.request("joinGroup", group="lab")
    py.client.join_group("lab")

    send_all_three(js, "lab")
    from_js = [py.events.next("group-message", where=lambda m: m.from_user_id == "js") for _ in range(3)]
    by_type = {m.data_type: m.data for m in from_js}
    assert by_type["json"] == JSON_VALUE
    assert by_type["text"] == TEXT_VALUE
    assert bytes(by_type["binary"]) == BINARY_VALUE
    assert {m.group for m in from_js} == {"lab"}

    py.client.send_to_group("lab", JSON_VALUE, WebPubSubDataType.JSON, no_echo=True)
    py.client.send_to_group("lab", TEXT_VALUE, WebPubSubDataType.TEXT, no_echo=True)
    py.client.send_to_group("lab", memoryview(BINARY_VALUE), WebPubSubDataType.BINARY, no_echo=True)
    js.take_events("group-message", 3)  # its own three echoes
    assert_js_got_all_three(js, "lab", from_user_id="py")
    assert py.events.pending("group-message") == []  # noEcho: py got nothing of its own


def test_forbidden_ack_surfaces_as_the_js_sdks_send_message_error(
    client_url: Callable[..., str], hub: str, protocol: str, js_peers: JsPeers
) -> None:
    roles = ["webpubsub.joinLeaveGroup.lab", "webpubsub.sendToGroup.lab"]
    peer = started(js_peers, client_url(hub, user_id="mallory", roles=roles), protocol)

    peer.request("joinGroup", group="lab")
    with pytest.raises(JsPeerError) as joining:
        peer.request("joinGroup", group="ops")
    with pytest.raises(JsPeerError) as sending:
        peer.request("sendToGroup", group="ops", data="nope", dataType="text")

    for error in (joining.value, sending.value):
        assert error.name == "SendMessageError"
        assert error.error_detail["name"] == "Forbidden"
    assert [a["success"] for a in peer.received("ack")] == [True, False, False]


def test_a_repeated_ack_id_is_reported_as_duplicated_by_the_js_sdk(
    client_url: Callable[..., str], hub: str, protocol: str, js_peers: JsPeers
) -> None:
    peer = started(js_peers, client_url(hub, user_id="ann", roles=ALL_ROLES), protocol)

    first = peer.request("joinGroup", group="lab", ackId=7)
    second = peer.request("joinGroup", group="lab", ackId=7)

    assert first == {"ackId": 7, "isDuplicated": False}
    assert second == {"ackId": 7, "isDuplicated": True}


def test_an_event_without_an_upstream_is_answered_internal_server_error(
    client_url: Callable[..., str], hub: str, protocol: str, js_peers: JsPeers
) -> None:
    peer = started(js_peers, client_url(hub, user_id="ann"), protocol)

    with pytest.raises(JsPeerError) as raised:
        peer.request("sendEvent", event="train", data={"epoch": 1}, dataType="json")

    assert raised.value.error_detail["name"] == "InternalServerError"


def test_pings_from_the_js_client_are_answered_with_pong(
    client_url: Callable[..., str], hub: str, protocol: str, js_peers: JsPeers
) -> None:
    # The JS SDK pings every 20 s and closes after 120 s without any frame; a faster ping shows the
    # same exchange quickly.
    peer = started(js_peers, client_url(hub, user_id="ann"), protocol, keepAliveIntervalInMs=50)

    peer.wait_until(lambda: len(peer.received("pong")) >= 3, "three pongs")

    assert len(peer.received("pong")) >= 3
    assert sum(json.loads(f)["type"] == "ping" for f in peer.sent_frames) >= 3
    assert peer.pending("disconnected") == []


def test_tokens_minted_by_the_js_server_sdk_are_accepted(
    local_service: LocalService,
    hub: str,
    protocol: str,
    js_peers: JsPeers,
    python_peers: PythonPeers,
    client_url: Callable[..., str],
) -> None:
    peer = js_peers(connection_string=local_service.connection_string, hub=hub, protocol=protocol)
    token = peer.request("server.getClientAccessToken", userId="carol")
    assert token["url"].startswith(f"ws://127.0.0.1:{local_service.port}/client/hubs/{hub}?access_token=")

    # The client's own URL is minted by the JS server SDK with a user, roles and an initial group.
    connected = peer.start(userId="carol", roles=["webpubsub.sendToGroup.lab"], groups=["lab"])
    assert connected["userId"] == "carol"
    py = python_peers(client_url(hub, user_id="py", roles=ALL_ROLES), protocol)
    py.client.join_group("lab")

    py.client.send_to_group("lab", "to carol", WebPubSubDataType.TEXT)
    peer.request("sendToGroup", group="lab", data="from carol", dataType="text", noEcho=True)

    assert peer.next_event("group-message")["data"] == "to carol"  # joined through the token's group
    assert py.events.next("group-message", where=lambda m: m.from_user_id == "carol").data == "from carol"
    with pytest.raises(JsPeerError) as raised:
        peer.request("joinGroup", group="other")  # the token granted sendToGroup.lab only
    assert raised.value.error_detail["name"] == "Forbidden"


def test_reliable_js_client_recovers_a_dropped_connection_without_loss_or_duplicates(
    client_url: Callable[..., str], hub: str, js_peers: JsPeers, python_peers: PythonPeers, sessions: SessionProbe
) -> None:
    js = js_peers(url=client_url(hub, user_id="js", roles=ALL_ROLES), protocol=RELIABLE_PROTOCOL)
    cid = js.start()["connectionId"]
    py = python_peers(client_url(hub, user_id="py", roles=ALL_ROLES), RELIABLE_PROTOCOL)
    js.request("joinGroup", group="lab")
    py.client.join_group("lab")
    count = 50

    first_socket = sessions.socket_of(hub, cid)
    sessions.drop(hub, cid)
    for number in range(count):
        py.client.send_to_group("lab", number, WebPubSubDataType.JSON)

    received = [m["data"] for m in js.take_events("group-message", count)]
    assert received == list(range(count))  # in order, each once
    assert js.pending("disconnected") == []  # recovered, not reconnected
    assert sessions.socket_of(hub, cid) not in (None, first_socket)
    by_sequence: dict[int, object] = {}
    for frame in group_message_frames(js):
        assert by_sequence.setdefault(frame["sequenceId"], frame["data"]) == frame["data"]
    assert sorted(by_sequence) == list(range(1, count + 1))
    js.request("sendToGroup", group="lab", data="after recovery", dataType="text")
    assert py.events.next("group-message", where=lambda m: m.data == "after recovery").from_user_id == "js"


def test_refused_recovery_makes_the_js_sdk_reconnect_and_rejoin_its_groups(
    client_url: Callable[..., str], hub: str, js_peers: JsPeers, python_peers: PythonPeers, sessions: SessionProbe
) -> None:
    js = js_peers(url=client_url(hub, user_id="js", roles=ALL_ROLES), protocol=RELIABLE_PROTOCOL)
    first_id = js.start(autoReconnect=True)["connectionId"]
    js.request("joinGroup", group="lab")
    py = python_peers(client_url(hub, user_id="py", roles=ALL_ROLES), PLAIN_PROTOCOL)

    sessions.drop_and_forget(hub, first_id)

    # Only a 1008 close after the recovery upgrade makes the SDK give up at once (anything else
    # keeps it retrying recovery for 30 s); then it opens a new connection and re-joins "lab".
    assert js.next_event("disconnected", timeout=5)["connectionId"] == first_id
    second = js.next_event("connected", timeout=5)
    assert second["connectionId"] != first_id

    def sees_a_message() -> bool:
        py.client.send_to_group("lab", "are you there", WebPubSubDataType.TEXT)
        try:
            js.next_event("group-message", timeout=0.2)
        except AssertionError:
            return False
        return True

    assert any(sees_a_message() for _ in range(25))


def test_js_server_sdk_sends_to_all_group_and_user(
    local_service: LocalService, hub: str, protocol: str, js_peers: JsPeers
) -> None:
    server = js_peers(connection_string=local_service.connection_string, hub=hub, protocol=protocol)
    ann = js_peers(connection_string=local_service.connection_string, hub=hub, protocol=protocol)
    ann.start(userId="ann", groups=["lab"])
    bob = js_peers(connection_string=local_service.connection_string, hub=hub, protocol=protocol)
    bob.start(userId="bob")

    for data_type, data in JS_PAYLOADS:
        server.request("server.sendToAll", data=data, dataType=data_type)
    for peer in (ann, bob):
        got = peer.take_events("server-message", 3)
        assert [(m["dataType"], m["data"]) for m in got] == JS_PAYLOADS

    server.request("server.sendToGroup", group="lab", data=JSON_VALUE, dataType="json")
    message = ann.next_event("group-message")
    assert (message["group"], message["dataType"], message["data"]) == ("lab", "json", JSON_VALUE)
    assert message["fromUserId"] is None  # sent by the server, not by a user

    server.request("server.sendToUser", user="bob", data="just bob", dataType="text")
    server.request("server.sendToAll", data="marker", dataType="text")
    assert [m["data"] for m in bob.take_events("server-message", 2)] == ["just bob", "marker"]
    assert ann.next_event("server-message")["data"] == "marker"  # ann got nothing before the marker
    assert bob.pending("group-message") == []
