"""The synchronous Client against a real local service: every call, its answers and its errors."""

from __future__ import annotations

import asyncio
import json
import math
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from client_helpers import PLAIN, RELIABLE, ROLES, wait_until

from wpsnb.client import Client
from wpsnb.errors import (
    ConnectionRejected,
    Forbidden,
    InvalidSource,
    NotConnected,
    RequestFailed,
    ServiceUnreachable,
    WebPubSubError,
    WrongThread,
)
from wpsnb.protocol.messages import Connected, DataMessage, Disconnected, JoinGroup, SendToGroup, SequenceAck
from wpsnb.service.local import LocalService
from wpsnb.source import negotiate

MakeClient = Callable[..., Client]


# ---- connecting ----------------------------------------------------------------------------------


def test_connect_reports_connection_user_and_state(make_client: MakeClient, local_service: LocalService) -> None:
    client = make_client(user_id="ann", connect=False)
    assert client.state == "idle" and client.connection_id is None
    assert client.connect() is client
    assert client.state == "connected" and client.user_id == "ann"
    assert client.connection_id and client.protocol == RELIABLE
    first = next(iter(client.frames))
    assert first.direction == "received" and first.message == Connected(
        client.connection_id, "ann", first.message.reconnection_token
    )
    assert first.message.reconnection_token  # reliable connections get one
    sessions = local_service.call(lambda: list(local_service.service.hub("stream").sessions))
    assert client.connection_id in sessions


@pytest.mark.parametrize("source_kind", ["connection_string", "client_url", "service"])
def test_every_kind_of_source_connects(make_client: MakeClient, local_service: LocalService, source_kind: str) -> None:
    source = {
        "connection_string": local_service.connection_string,
        "client_url": negotiate(local_service, user_id="url-user"),
        "service": local_service,
    }[source_kind]
    user_id = None if source_kind == "client_url" else "src-user"
    client = make_client(source, user_id=user_id, roles=None)
    assert client.user_id == ("url-user" if source_kind == "client_url" else "src-user")


def test_context_manager_connects_and_closes(local_service: LocalService) -> None:
    with Client(local_service) as client:
        assert client.state == "connected"
    assert client.state == "closed"
    client.close()  # closing twice is fine


def test_service_down_raises_service_unreachable() -> None:
    with LocalService() as service:
        connection_string = service.connection_string
    client = Client(connection_string)
    with pytest.raises(ServiceUnreachable, match="is the service running"):
        client.connect(timeout=3)
    assert client.state == "idle"


def test_expired_token_is_rejected_with_the_services_reason(local_service: LocalService) -> None:
    url = negotiate(local_service, minutes_to_expire=-30)  # past the service's 5 min clock leeway
    client = Client(url)
    with pytest.raises(ConnectionRejected) as caught:
        client.connect()
    error = caught.value
    assert error.status == 401 and error.name == "Unauthorized"
    assert "expired" in error.body and "expired" in str(error)
    assert "connection string or a LocalService" in str(error)  # what to do
    assert "access_token=..." in str(error) and url.split("access_token=")[1] not in str(error)
    assert client.state == "idle"


def test_token_for_another_hub_or_key_is_rejected(local_service: LocalService) -> None:
    other_hub = negotiate(local_service, hub="other").replace("/hubs/other", "/hubs/stream")
    with pytest.raises(ConnectionRejected, match="not for hub 'stream'") as caught:
        Client(other_hub).connect()
    assert caught.value.status == 401
    wrong_key = local_service.connection_string.replace(local_service.access_key, "x" * 44)
    with pytest.raises(ConnectionRejected, match=r"(?i)signature") as caught:
        Client(wrong_key).connect()
    assert caught.value.status == 401


def test_bad_arguments_fail_before_anything_is_sent(make_client: MakeClient, group: str) -> None:
    with pytest.raises(ValueError, match=r"protocol 'json\.v2' is not supported"):
        Client("Endpoint=http://h;AccessKey=k", protocol="json.v2")
    with pytest.raises(InvalidSource):
        Client(12345)
    client = make_client()
    frames_before = len(client.frames)
    with pytest.raises(ValueError, match="group name is empty"):
        client.join_group("")
    with pytest.raises(ValueError, match="1 MB"):
        client.send_to_group(group, "x" * (1024 * 1024))
    with pytest.raises(ValueError, match="null JSON"):
        client.send_to_group(group, None)
    with pytest.raises(ValueError, match="NaN"):
        client.send_to_group(group, {"loss": math.nan})
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        client.send_to_group(group, {1, 2})
    with pytest.raises(ValueError, match="unknown data_type 'xml'"):
        client.send_to_group(group, "<a/>", data_type="xml")
    with pytest.raises(TypeError, match="needs a str"):
        client.send_to_group(group, b"\x00", data_type="text")
    with pytest.raises(ValueError, match="'event' must be a name"):
        client.send_event("no spaces allowed", {})
    assert client.state == "connected" and len(client.frames) == frames_before


def test_calls_before_connect_and_after_close_raise_not_connected(make_client: MakeClient, group: str) -> None:
    client = make_client(connect=False)
    with pytest.raises(NotConnected, match="call connect"):
        client.send_to_group(group, "x", ack=False)
    client.connect()
    client.close()
    with pytest.raises(NotConnected, match="closed"):
        client.join_group(group)
    with pytest.raises(NotConnected, match="create a new client"):
        client.connect()


# ---- groups and messages -------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [RELIABLE, PLAIN])
def test_group_messages_of_all_three_data_types(make_client: MakeClient, group: str, protocol: str) -> None:
    sender = make_client(user_id="ann", protocol=protocol)
    receiver = make_client(user_id="bob", protocol=protocol)
    receiver.join_group(group)
    assert receiver.groups == (group,)
    sender.send_to_group(group, {"loss": 0.25, "step": [1, 2]})
    sender.send_to_group(group, "plain text")
    sender.send_to_group(group, b"\x00\x01\xff")
    sender.send_to_group(group, "a JSON string", data_type="json")
    got = list(receiver.messages(timeout=0.5))
    assert [(m.data_type, m.data) for m in got] == [
        ("json", {"loss": 0.25, "step": [1, 2]}),
        ("text", "plain text"),
        ("binary", b"\x00\x01\xff"),
        ("json", "a JSON string"),
    ]
    assert {(m.source, m.group, m.from_user_id) for m in got} == {("group", group, "ann")}
    expected_ids = [1, 2, 3, 4] if protocol == RELIABLE else [None] * 4
    assert [m.sequence_id for m in got] == expected_ids


def test_messages_iterator_stops_after_its_timeout(make_client: MakeClient) -> None:
    client = make_client()
    started = time.monotonic()
    assert list(client.messages(timeout=0.3)) == []
    assert 0.25 <= time.monotonic() - started < 2


def test_no_echo_skips_only_the_sender(make_client: MakeClient, group: str) -> None:
    sender, other = make_client(), make_client()
    sender.join_group(group)
    other.join_group(group)
    sender.send_to_group(group, "quiet", no_echo=True)
    sender.send_to_group(group, "loud")
    assert [m.data for m in other.messages(timeout=0.5)] == ["quiet", "loud"]
    assert [m.data for m in sender.messages(timeout=0.5)] == ["loud"]


def test_leave_group_stops_messages(make_client: MakeClient, group: str) -> None:
    sender, receiver = make_client(), make_client()
    receiver.join_group(group)
    sender.send_to_group(group, "one")
    receiver.leave_group(group)
    assert receiver.groups == ()
    sender.send_to_group(group, "two")
    assert [m.data for m in receiver.messages(timeout=0.5)] == ["one"]


def test_forbidden_names_the_missing_role(make_client: MakeClient, group: str) -> None:
    client = make_client(roles=[f"webpubsub.sendToGroup.{group}"])
    client.send_to_group(group, "allowed")
    with pytest.raises(Forbidden) as caught:
        client.join_group(group)
    error = caught.value
    assert isinstance(error, WebPubSubError) and error.name == "Forbidden"
    assert "'webpubsub.joinLeaveGroup'" in str(error) and f"joinGroup {group!r}" in str(error)
    assert client.groups == ()  # a refused join is not remembered for re-joining
    with pytest.raises(Forbidden, match=r"'webpubsub\.sendToGroup'"):
        client.send_to_group(f"{group}-other", "refused")
    assert client.state == "connected"


def test_event_without_upstream_raises_the_services_error(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(RequestFailed) as caught:
        client.send_event("chat.send", {"text": "hi"})
    assert caught.value.name == "InternalServerError" and "No event handler" in str(caught.value)
    assert not isinstance(caught.value, Forbidden)


def test_fire_and_forget_returns_at_once_and_flush_waits(make_client: MakeClient, group: str) -> None:
    sender, receiver = make_client(), make_client(protocol=PLAIN)
    receiver.join_group(group)
    ack_ids = [sender.send_to_group(group, n, ack=False) for n in range(300)]
    assert ack_ids == sorted(ack_ids) and None not in ack_ids  # reliable: tracked even without waiting
    sender.flush(timeout=10)
    assert sender.stats["pending"] == 0
    assert [m.data for m in receiver.messages(timeout=0.5)] == list(range(300))
    assert receiver.send_to_group(group, "plain", ack=False) is None  # plain: no ackId


def test_failed_fire_and_forget_is_counted_and_logged(
    make_client: MakeClient, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(roles=[])
    client.send_to_group(group, "refused", ack=False)
    client.flush()
    assert client.stats["failed"] == 1
    assert "fire-and-forget request failed" in caplog.text and "Forbidden" in caplog.text


def test_close_sends_what_is_queued(make_client: MakeClient, group: str) -> None:
    sender, receiver = make_client(), make_client()
    receiver.join_group(group)
    for n in range(500):
        sender.send_to_group(group, n, ack=False)
    sender.close()
    assert sender.state == "closed"
    assert [m.data for m in receiver.messages(timeout=0.5)] == list(range(500))


def test_reliable_receiver_sends_cumulative_sequence_acks(make_client: MakeClient, group: str) -> None:
    sender, receiver = make_client(), make_client()
    receiver.join_group(group)
    for n in range(250):
        sender.send_to_group(group, n, ack=False)
    sender.flush()
    wait_until(
        lambda: any(isinstance(f.message, SequenceAck) and f.message.sequence_id == 250 for f in receiver.frames),
        timeout=3,
        what="sequenceAck 250",
    )
    acks = [f.message.sequence_id for f in receiver.frames if isinstance(f.message, SequenceAck)]
    assert acks == sorted(acks) and acks[0] >= 100  # batched: not one per message
    assert len(acks) <= 5


def test_plain_protocol_sends_no_sequence_acks(make_client: MakeClient, group: str) -> None:
    client = make_client(protocol=PLAIN)
    client.join_group(group)
    client.send_to_group(group, "x")
    assert [m.sequence_id for m in client.messages(timeout=0.3)] == [None]
    time.sleep(0.6)
    assert not any(isinstance(f.message, SequenceAck) for f in client.frames)


def test_many_threads_share_one_client(make_client: MakeClient, group: str) -> None:
    sender, receiver = make_client(), make_client(message_buffer=10_000)
    receiver.join_group(group)

    def publish(thread: int) -> None:
        for n in range(200):
            sender.send_to_group(group, [thread, n], ack=n % 20 == 0)

    threads = [threading.Thread(target=publish, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sender.flush()
    got = [m.data for m in receiver.messages(timeout=0.5)]
    assert len(got) == 800
    for t in range(4):
        assert [n for thread, n in got if thread == t] == list(range(200))  # each thread's order kept


async def test_sync_client_works_inside_a_running_event_loop(local_service: LocalService, group: str) -> None:
    assert asyncio.get_running_loop().is_running()  # like a Jupyter cell
    with Client(local_service, roles=ROLES) as client:
        client.join_group(group)
        client.send_to_group(group, "from a coroutine")
        assert [m.data for m in client.messages(timeout=0.5)] == ["from a coroutine"]


# ---- callbacks -----------------------------------------------------------------------------------


def test_callbacks_run_on_the_client_thread_in_order(
    make_client: MakeClient, group: str, local_service: LocalService
) -> None:
    client = make_client(connect=False)
    seen: list[tuple[str, object]] = []
    threads: set[str] = set()

    def remember(kind: str) -> Callable[[object], None]:
        def callback(value: object) -> None:
            threads.add(threading.current_thread().name)
            seen.append((kind, value))

        return callback

    client.on_state(remember("state"))
    client.on_connected(remember("connected"))
    client.on_disconnected(remember("disconnected"))
    client.on_message(remember("message"))
    client.on_group_message(remember("group"))
    client.on_group_message(remember("this group"), group=group)
    client.on_server_message(remember("server"))
    client.connect()
    client.join_group(group)
    client.join_group(f"{group}-2")
    client.send_to_group(group, "to the group")
    client.send_to_group(f"{group}-2", "to the other group")
    server = WebPubSubServiceClient.from_connection_string(local_service.connection_string, hub="stream")
    server.send_to_connection(client.connection_id, "from the server", content_type="text/plain")
    wait_until(lambda: sum(kind == "message" for kind, _ in seen) == 3, what="3 messages")
    client.close()
    kinds = [kind for kind, _ in seen]
    assert kinds[:3] == ["state", "state", "connected"]
    assert [value for kind, value in seen if kind == "state"] == ["connecting", "connected", "closed"]
    assert [v.data for k, v in seen if k == "group"] == ["to the group", "to the other group"]
    assert [v.data for k, v in seen if k == "this group"] == ["to the group"]
    assert [v.data for k, v in seen if k == "server"] == ["from the server"]
    assert [v for k, v in seen if k == "disconnected"] == [Disconnected("closed by the client")]
    assert threads == {"wpsnb-client-loop"}


def test_unsubscribe_stops_a_callback(make_client: MakeClient, group: str) -> None:
    client = make_client()
    client.join_group(group)
    seen: list[object] = []
    unsubscribe = client.on_message(seen.append)
    client.send_to_group(group, 1)
    wait_until(lambda: len(seen) == 1)
    unsubscribe()
    client.send_to_group(group, 2)
    assert [m.data for m in client.messages(timeout=0.3)] == [1, 2]
    assert [m.data for m in seen] == [1]


def test_failing_callback_is_logged_and_delivery_goes_on(
    make_client: MakeClient, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    client.join_group(group)
    client.on_message(lambda message: 1 / 0)
    client.send_to_group(group, "a")
    client.send_to_group(group, "b")
    assert [m.data for m in client.messages(timeout=0.3)] == ["a", "b"]
    wait_until(lambda: "ZeroDivisionError" in caplog.text, what="the logged exception")
    assert client.state == "connected"


def test_slow_async_callback_does_not_stall_the_socket(make_client: MakeClient, group: str) -> None:
    client = make_client(callback_buffer=5)
    client.join_group(group)
    handled: list[int] = []

    async def slow(message: DataMessage) -> None:
        await asyncio.sleep(0.5)
        handled.append(message.data)

    client.on_message(slow)
    started = time.monotonic()
    for n in range(40):
        client.send_to_group(group, n, ack=False)
    got = [m.data for m in client.messages(timeout=0.5)]
    assert got == list(range(40)) and time.monotonic() - started < 3  # 40 callbacks would take 20 s
    assert len(handled) <= 2
    assert client.stats["callbacks_dropped"] >= 40 - 5 - 2  # the queue keeps the newest 5


def test_blocking_calls_inside_callbacks_are_refused_but_fire_and_forget_works(
    make_client: MakeClient, group: str
) -> None:
    client = make_client()
    client.join_group(group)
    errors: list[BaseException] = []

    def echo(message: DataMessage) -> None:
        if message.data == "ping":
            client.send_to_group(group, "pong", ack=False)
            try:
                client.send_to_group(group, "blocked")
            except WrongThread as exc:
                errors.append(exc)

    client.on_message(echo)
    client.send_to_group(group, "ping")
    assert [m.data for m in client.messages(timeout=0.5)] == ["ping", "pong"]
    assert len(errors) == 1 and "ack=False" in str(errors[0])


# ---- the journal ---------------------------------------------------------------------------------


def test_journal_holds_every_frame_and_records_to_jsonl(make_client: MakeClient, group: str, tmp_path: Path) -> None:
    path = tmp_path / "frames.jsonl"
    client = make_client(record_to=path, journal_size=100)
    client.join_group(group)
    client.send_to_group(group, "hi")
    list(client.messages(timeout=0.3))
    client.close()
    frames = list(client.frames)
    kinds = [(f.direction, type(f.message).__name__) for f in frames if f.kind == "text"]
    assert kinds[:5] == [
        ("received", "Connected"),
        ("sent", "JoinGroup"),
        ("received", "Ack"),
        ("sent", "SendToGroup"),
        ("received", "DataMessage"),
    ] or kinds[:5] == [
        ("received", "Connected"),
        ("sent", "JoinGroup"),
        ("received", "Ack"),
        ("sent", "SendToGroup"),
        ("received", "Ack"),
    ]
    sent = [f for f in frames if f.direction == "sent" and f.kind == "text"]
    assert isinstance(sent[0].message, JoinGroup) and json.loads(sent[0].raw)["group"] == group
    assert isinstance(sent[1].message, SendToGroup) and sent[1].size == len(sent[1].raw)
    assert {f.connection_id for f in frames} == {client.connection_id}
    assert frames[-1].kind == "close" and frames[-1].code == 1000 and frames[-1].direction == "sent"
    recorded = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["raw"] for r in recorded if "format" not in r] == [
        f.raw if isinstance(f.raw, str) else None for f in frames
    ]


def test_journal_size_bounds_memory(make_client: MakeClient, group: str) -> None:
    client = make_client(journal_size=10)
    client.join_group(group)
    for n in range(30):
        client.send_to_group(group, n, ack=False)
    client.flush()
    assert len(client.frames) == 10


def test_a_script_that_exits_without_close_still_delivers_and_says_goodbye(
    make_client: MakeClient, group: str, local_service: LocalService
) -> None:
    receiver = make_client()
    receiver.join_group(group)
    script = (
        f"import wpsnb\n"
        f"client = wpsnb.Client({local_service.connection_string!r}, user_id='script', roles={ROLES!r})\n"
        f"client.connect()\n"
        f"for n in range(200):\n"
        f"    client.send_to_group({group!r}, n, ack=False)\n"
    )  # no flush, no close: atexit does both
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert [m.data for m in receiver.messages(timeout=0.5)] == list(range(200))
    users = local_service.call(lambda: list(local_service.service.hub("stream").users))
    assert "script" not in users  # closed for good, not kept waiting for a recovery


def test_reconnect_jitter_leaves_the_global_random_sequence_alone() -> None:
    from wpsnb.client.opening import backoff

    random.seed(1234)
    expected = [random.random() for _ in range(3)]
    random.seed(1234)
    delays = backoff(5.0)
    for _ in range(10):
        next(delays)
    assert [random.random() for _ in range(3)] == expected
