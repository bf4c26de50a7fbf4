"""Dropped connections: reliable recovery, brand-new connections, queued sends, and what gives up.

A :class:`LoopbackProxy` sits between the client and the service so a test can cut the TCP
connection (both sides see a reset) and refuse new ones for a while.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from client_helpers import PLAIN, ROLES, connection_string_for, wait_until
from loopback_proxy import LoopbackProxy

from wpsnb.client import Client
from wpsnb.errors import AckTimeout, BufferFull, ConnectionRejected, RecoveryFailed
from wpsnb.protocol.messages import Ack, DataMessage, JoinGroup
from wpsnb.service.local import LocalService

MakeClient = Callable[..., Client]


@pytest.fixture
def proxy(local_service: LocalService) -> Iterator[LoopbackProxy]:
    with LoopbackProxy(local_service.port) as running:
        yield running


@pytest.fixture
def via_proxy(local_service: LocalService, proxy: LoopbackProxy) -> str:
    """A connection string whose Endpoint is the proxy (tokens name host:port in their audience)."""
    return connection_string_for(local_service, proxy.port)


def collect(client: Client, group: str) -> list[object]:
    """Everything ``client`` receives from ``group``, appended on the client thread."""
    got: list[object] = []
    client.on_group_message(lambda message: got.append(message.data), group=group)
    return got


def test_ten_thousand_numbered_messages_each_way_survive_repeated_cuts(
    make_client: MakeClient, via_proxy: str, proxy: LoopbackProxy, group: str
) -> None:
    total, window = 10_000, 400
    near = make_client(via_proxy, user_id="near", message_buffer=0)  # the client whose TCP link is cut
    far = make_client(user_id="far", message_buffer=0)  # straight to the service
    to_far, to_near = f"{group}-to-far", f"{group}-to-near"
    near.join_group(to_near)
    far.join_group(to_far)
    got_near, got_far = collect(near, to_near), collect(far, to_far)
    connection_id = near.connection_id
    failures: list[BaseException] = []

    def publish(sender: Client, target: str, receiver_got: list[object]) -> None:
        # The service keeps at most 1000 unacknowledged messages per reliable receiver and drops a
        # receiver that falls further behind, so the publisher stays within `window` of its reader.
        try:
            for n in range(total):
                while n - len(receiver_got) >= window:
                    time.sleep(0.001)
                sender.send_to_group(target, n, ack=False)
        except BaseException as exc:
            failures.append(exc)

    publishers = [
        threading.Thread(target=publish, args=(near, to_far, got_far)),
        threading.Thread(target=publish, args=(far, to_near, got_near)),
    ]
    for thread in publishers:
        thread.start()
    # Cut every 600 messages (up to 15 cuts mid-stream), each once the previous recovery has settled: a link
    # cut again before the service read anything from it loses our sequenceAcks too, and the service
    # drops a session 1000 messages behind — the protocol's limit, not the client's.
    cuts, next_cut = 0, 600
    deadline = time.monotonic() + 60
    while (len(got_near) < total or len(got_far) < total) and time.monotonic() < deadline and not failures:
        time.sleep(0.002)
        if min(len(got_near), len(got_far)) >= next_cut and near.state == "connected":
            time.sleep(0.05)
            drops = near.stats["drops"]
            cuts += proxy.sever()
            next_cut += 600
            wait_until(
                lambda drops=drops: near.stats["drops"] > drops and near.state == "connected",
                timeout=10,
                what="the recovery",
            )
    for thread in publishers:
        thread.join(10)
    assert not failures
    assert got_far == list(range(total)), "near -> far: lost, duplicated or reordered"
    assert got_near == list(range(total)), "far -> near: lost, duplicated or reordered"
    assert cuts >= 10
    stats = near.stats
    assert stats["recoveries"] == stats["drops"] >= 10 and stats["reconnections"] == 0
    assert near.connection_id == connection_id  # every cut was recovered, never replaced


def test_request_waiting_for_its_ack_survives_a_cut(
    make_client: MakeClient, via_proxy: str, proxy: LoopbackProxy, group: str
) -> None:
    near, far = make_client(via_proxy), make_client()
    far.join_group(group)
    states: list[str] = []
    near.on_state(states.append)
    proxy.refuse = True
    proxy.sever()
    wait_until(lambda: near.state == "recovering", what="recovering")
    threading.Timer(0.3, lambda: setattr(proxy, "refuse", False)).start()
    ack_id = near.send_to_group(group, "across the cut", timeout=10)  # waits through the recovery
    assert ack_id is not None and near.state == "connected"
    assert [m.data for m in far.messages(timeout=0.3)] == ["across the cut"]
    assert states[:2] == ["recovering", "connected"]


def test_sends_while_recovering_are_queued_in_order_and_timeouts_say_so(
    make_client: MakeClient, via_proxy: str, proxy: LoopbackProxy, group: str
) -> None:
    near, far = make_client(via_proxy), make_client()
    far.join_group(group)
    proxy.refuse = True
    proxy.sever()
    wait_until(lambda: near.state == "recovering", what="recovering")
    for n in range(100):
        near.send_to_group(group, n, ack=False)
    with pytest.raises(AckTimeout, match=r"client recovering.*stays queued"):
        near.send_to_group(group, "last", timeout=0.2)
    assert near.stats["pending"] == 101
    proxy.refuse = False
    near.flush(timeout=10)
    assert [m.data for m in far.messages(timeout=0.3)] == [*range(100), "last"]


def test_buffer_full_when_too_much_waits(
    make_client: MakeClient, via_proxy: str, proxy: LoopbackProxy, group: str
) -> None:
    near = make_client(via_proxy, max_pending=50)
    proxy.refuse = True
    proxy.sever()
    for n in range(50):
        near.send_to_group(group, n, ack=False)
    with pytest.raises(BufferFull, match="50 requests are already waiting"):
        near.send_to_group(group, 50, ack=False)
    proxy.refuse = False
    near.flush(timeout=10)


def test_plain_protocol_reconnects_as_a_new_connection_and_rejoins(
    make_client: MakeClient, via_proxy: str, proxy: LoopbackProxy, group: str
) -> None:
    near, far = make_client(via_proxy, protocol=PLAIN), make_client()
    near.join_group(group)
    events: list[object] = []
    near.on_connected(events.append)
    near.on_disconnected(events.append)
    states: list[str] = []
    near.on_state(states.append)
    first_id = near.connection_id
    proxy.sever()
    wait_until(lambda: near.state == "connected" and near.connection_id != first_id, what="a new connection")
    assert states == ["reconnecting", "connected"]  # no recovery on the plain protocol
    assert [type(e).__name__ for e in events] == ["Disconnected", "Connected"]
    assert "without a close frame" in events[0].message
    far.send_to_group(group, "after the cut")  # reaches near only if it re-joined the group
    assert [m.data for m in near.messages(timeout=0.5)] == ["after the cut"]
    assert near.groups == (group,) and near.stats["reconnections"] == 1


def test_refused_recovery_opens_a_new_connection_that_rejoins(
    make_client: MakeClient, local_service: LocalService, group: str
) -> None:
    near, far = make_client(user_id="near"), make_client()
    near.join_group(group)
    gone: list[object] = []
    near.on_disconnected(gone.append)
    first_id = near.connection_id
    server = WebPubSubServiceClient.from_connection_string(local_service.connection_string, hub="stream")
    server.close_connection(first_id, reason="maintenance")  # the session ends: recovery will get 1008
    wait_until(lambda: near.state == "connected" and near.connection_id != first_id, what="a new connection")
    frames = [f for f in near.frames if f.kind == "close"]
    assert [f.code for f in frames] == [1000, 1008]  # the REST close, then the refused recovery
    assert near.user_id == "near" and near.stats == {**near.stats, "recoveries": 1, "reconnections": 1}
    wait_until(lambda: len(gone) == 1, what="on_disconnected")
    assert "maintenance" in gone[0].message and "could not be recovered" in gone[0].message
    far.send_to_group(group, "to the new connection")
    assert [m.data for m in near.messages(timeout=0.5)] == ["to the new connection"]


def test_without_auto_reconnect_the_client_closes_and_says_why(
    make_client: MakeClient, local_service: LocalService
) -> None:
    near = make_client(auto_reconnect=False)
    reader_done = threading.Event()
    threading.Thread(target=lambda: (list(near.messages()), reader_done.set())).start()
    server = WebPubSubServiceClient.from_connection_string(local_service.connection_string, hub="stream")
    server.close_connection(near.connection_id, reason="bye")
    wait_until(lambda: near.state == "closed", what="closed")
    assert isinstance(near.error, RecoveryFailed) and "auto_reconnect is off" in str(near.error)
    assert reader_done.wait(2)  # messages() ends when the client closes


def test_service_restart_on_the_same_port_reconnects_with_a_fresh_token(group: str) -> None:
    first = LocalService(recovery_window=2)
    port, key = first.port, first.access_key
    near = Client(first, roles=ROLES, recovery_timeout=1, max_retry_delay=0.2).connect()
    try:
        near.join_group(group)
        old_id = near.connection_id
        first.stop()
        wait_until(lambda: near.state in ("recovering", "reconnecting"), what="the drop")
        with LocalService(port=port, access_key=key) as second:
            wait_until(
                lambda: near.state == "connected" and near.connection_id != old_id,
                timeout=10,
                what="a connection to the restarted service",
            )

            def rejoined() -> bool:  # the client rejoins its groups after `connected`: wait for the service to see it
                members = second.service.hub("stream").groups.get(group, {})
                return any(session.connection_id == near.connection_id for session in members)

            wait_until(lambda: second.call(rejoined), timeout=10, what="the client to rejoin its group")
            far = Client(second, roles=ROLES).connect()
            far.send_to_group(group, "after the restart")
            assert [m.data for m in near.messages(timeout=0.5)] == ["after the restart"]
            far.close()
    finally:
        near.close(timeout=1)


def test_restart_with_another_key_gives_up_with_the_401(group: str) -> None:
    first = LocalService()
    port = first.port
    near = Client(first.connection_string, roles=ROLES, recovery_timeout=0.5, max_retry_delay=0.2).connect()
    gone: list[object] = []
    near.on_disconnected(gone.append)
    try:
        first.stop()
        with LocalService(port=port):  # a new random access key: the old connection string is wrong now
            wait_until(lambda: near.state == "closed", timeout=10, what="the client to give up")
        assert isinstance(near.error, ConnectionRejected) and near.error.status == 401
        assert "signature" in str(near.error).lower()
        with pytest.raises(Exception, match="closed"):
            near.send_to_group(group, "x")
    finally:
        near.close(timeout=1)


def test_close_while_reconnecting_is_prompt(group: str) -> None:
    service = LocalService()
    near = Client(service, roles=ROLES, protocol=PLAIN, max_retry_delay=0.2).connect()
    service.stop()
    wait_until(lambda: near.state == "reconnecting", what="reconnecting")
    started = time.monotonic()
    near.close(timeout=0.5)
    assert near.state == "closed" and time.monotonic() - started < 3


def test_received_messages_are_not_duplicated_by_a_recovery_replay(
    make_client: MakeClient, via_proxy: str, proxy: LoopbackProxy, group: str
) -> None:
    near, far = make_client(via_proxy, journal_size=5000), make_client()
    near.join_group(group)
    proxy.hold_requests = True  # near's sequenceAcks are lost: the service replays all 60 after the recovery
    for n in range(60):
        far.send_to_group(group, n, ack=False)
    far.flush()
    wait_until(lambda: near.stats["received"] == 60, what="60 messages")
    proxy.sever(release=True)
    wait_until(lambda: near.stats["recoveries"] == 1 and near.state == "connected", what="recovery")
    far.send_to_group(group, "next")
    got = [m for m in near.messages(timeout=0.5)]
    assert [m.data for m in got] == [*range(60), "next"]
    assert [m.sequence_id for m in got] == list(range(1, 62))
    replayed = [f for f in near.frames if isinstance(f.message, DataMessage) and f.direction == "received"]
    assert near.stats["duplicates_dropped"] == len(replayed) - 61 > 0


def test_duplicate_ack_counts_as_success(
    make_client: MakeClient, via_proxy: str, proxy: LoopbackProxy, group: str, local_service: LocalService
) -> None:
    # The join reaches the service but its ack is lost with the connection; after the recovery the
    # client sends it again, the service answers Duplicate, and the waiting caller gets success.
    client = make_client(via_proxy)
    connection_id = client.connection_id
    proxy.hold_replies = True
    joined = client.join_group(group, wait=False)

    def member() -> bool:
        members = local_service.call(lambda: list(local_service.service.hub("stream").groups.get(group, {})))
        return any(session.connection_id == connection_id for session in members)

    wait_until(member, what="the service to carry out the join")
    assert not joined.done()
    proxy.sever(release=True)
    ack_id = joined.result(timeout=30)
    assert client.connection_id == connection_id and client.groups == (group,)
    sent = [f.message for f in client.frames if isinstance(f.message, JoinGroup) and f.message.ack_id == ack_id]
    answers = [f.message for f in client.frames if isinstance(f.message, Ack) and f.message.ack_id == ack_id]
    assert len(sent) == 2 and [a.error.name for a in answers if a.error] == ["Duplicate"]
    assert client.stats["acked"] >= 1 and client.stats["failed"] == 0
