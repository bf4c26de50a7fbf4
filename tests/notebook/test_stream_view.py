"""StreamView against a real local service, without a browser: what reaches the page, and when.

Outside a kernel ipywidgets gives each widget a ``DummyComm``; :class:`PageSpy` records what the
widget would have sent to the page (custom messages and trait updates) by wrapping that comm's
``send``. Page requests go in through the widget's own comm-message handler, as the kernel would
deliver them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from official_sdk import mint_url

from wpsnb.client import Client
from wpsnb.errors import WebPubSubError
from wpsnb.notebook import StreamView
from wpsnb.notebook.feed import REPLAY_CHUNK
from wpsnb.protocol.messages import PLAIN_PROTOCOL


class PageSpy:
    """Everything a widget sends to its page: ``custom`` contents and ``updates`` (trait states)."""

    def __init__(self, widget: Any):
        self.widget = widget
        self.lock = threading.Lock()
        self.custom: list[tuple[float, dict[str, Any]]] = []
        self.updates: list[tuple[float, dict[str, Any]]] = []
        original = widget.comm.send

        def send(data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
            with self.lock:
                if data.get("method") == "custom":
                    self.custom.append((time.monotonic(), data["content"]))
                elif data.get("method") == "update":
                    self.updates.append((time.monotonic(), data["state"]))
            original(data=data, metadata=metadata, buffers=buffers)

        widget.comm.send = send

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [content for _, content in self.custom if content.get("kind") == kind]

    def records(self) -> list[dict[str, Any]]:
        return [record for batch in self.of_kind("batch") for record in batch["records"]]

    def request(self, content: dict[str, Any]) -> None:
        """Deliver a message from the page, the way the kernel's comm handler does."""
        self.widget._handle_custom_msg(content, [])


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def hub() -> str:
    return "sv" + uuid.uuid4().hex[:10]


@pytest.fixture
def publisher(local_service, hub):
    """A wpsnb.Client allowed to publish to every group of the hub."""
    with Client(local_service, hub=hub, user_id="publisher", roles=["webpubsub.sendToGroup"]) as client:
        yield client


@pytest.fixture
def views():
    """Closes every view a test makes."""
    made: list[StreamView] = []
    yield made
    for view in made:
        view.close()


def test_messages_of_each_data_type_reach_the_page_as_display_records(local_service, hub, publisher, views):
    view = StreamView(local_service, hub=hub, groups=["lab"], user_id="watcher")
    views.append(view)
    page = PageSpy(view)
    assert view.state == "connected" and view.groups == ["lab"] and view.user_id == "watcher"

    publisher.send_to_group("lab", "epoch 1\n    loss 0.25", data_type="text")
    publisher.send_to_group("lab", {"step": 1, "metrics": [0.25, 0.91]}, data_type="json")
    publisher.send_to_group("lab", bytes(range(100)), data_type="binary")
    publisher.send_to_group("lab", "x" * 10_000, data_type="text")
    wait_for(lambda: len(page.records()) == 4, what="4 records in the page")

    text, data, binary, long = page.records()
    assert (text["group"], text["from"], text["dataType"], text["data"]) == (
        "lab",
        "publisher",
        "text",
        "epoch 1\n    loss 0.25",
    )
    assert data["data"] == {"step": 1, "metrics": [0.25, 0.91]} and data["seq"] is not None
    assert binary["size"] == 100 and binary["truncated"]
    assert binary["data"].startswith("00 01 02 03") and len(binary["data"].split()) == 64
    assert long["size"] == 10_000 and long["truncated"] and len(long["data"]) < 10_000
    assert [r["i"] for r in page.records()] == sorted(r["i"] for r in page.records())
    assert view.count == 4
    # Every batch carries the header the page shows.
    header = page.of_kind("batch")[-1]["header"]
    assert header["state"] == "connected" and header["groups"] == ["lab"] and header["count"] == 4
    assert header["connectionId"] == view.connection_id


def test_system_events_are_records_too(local_service, hub, views):
    view = StreamView(local_service, hub=hub, groups=["a", "b"])
    views.append(view)
    events = [r["event"] for r in view.records() if r["kind"] == "system"]
    assert events[:2] == ["connecting", "connected"]
    assert events.count("joined") == 2


def test_groups_are_joined_by_request_when_the_token_cannot_carry_them(local_service, hub, publisher, views):
    allowed = mint_url(local_service, hub, roles=["webpubsub.joinLeaveGroup.lab"])
    view = StreamView(allowed, groups=["lab", "ops"])
    views.append(view)
    assert view.groups == ["lab"]  # joined with joinGroup; "ops" was refused
    refused = [r for r in view.records() if r.get("level") == "error"]
    assert len(refused) == 1 and "ops" in refused[0]["text"] and "Forbidden" in refused[0]["text"]
    publisher.send_to_group("lab", "via joinGroup", data_type="text")
    wait_for(lambda: view.count == 1, what="the message")


def test_publish_reports_the_services_reason_to_python_and_to_the_page(local_service, hub, views):
    view = StreamView(local_service, hub=hub, groups=["lab"], roles=["webpubsub.sendToGroup.lab"])
    views.append(view)
    page = PageSpy(view)
    view.publish({"ok": True})
    with pytest.raises(WebPubSubError) as refused:
        view.publish("no", group="ops")
    assert refused.value.name == "Forbidden" and "webpubsub.sendToGroup.ops" in str(refused.value)

    page.request({"kind": "publish", "id": "p1", "group": "lab", "dataType": "text", "data": "from the page"})
    page.request({"kind": "publish", "id": "p2", "group": "ops", "dataType": "json", "data": {"a": 1}})
    results = wait_for(lambda: len(page.of_kind("publish-result")) == 2 and page.of_kind("publish-result"))
    by_id = {r["id"]: r for r in results}
    assert by_id["p1"]["ok"] is True
    assert by_id["p2"]["ok"] is False and by_id["p2"]["error"]["name"] == "Forbidden"
    assert "webpubsub.sendToGroup" in by_id["p2"]["error"]["message"]
    wait_for(lambda: any(r.get("data") == "from the page" for r in page.records()), what="the echo")


def test_a_flood_is_batched_bounded_and_replayable(local_service, hub, views):
    limit = 2_000
    # Plain protocol: on the reliable one the service drops a receiver 1,000 messages behind, which a
    # full-speed publisher in the same process can make it (docs/protocol.md; see test_stream_view_load).
    view = StreamView(
        local_service, hub=hub, groups=["flood"], limit=limit, history=100, max_rate=20, protocol=PLAIN_PROTOCOL
    )
    views.append(view)
    page = PageSpy(view)
    sender = Client(local_service, hub=hub, roles=["webpubsub.sendToGroup"]).connect()
    try:
        for n in range(10_000):
            sender.send_to_group("flood", n, data_type="json", ack=False)
        sender.flush(timeout=60)
    finally:
        sender.close()
    wait_for(lambda: view.count == 10_000, timeout=60, what=f"10,000 messages ({view.count}, {view.client.stats})")
    wait_for(lambda: page.records() and page.records()[-1].get("data") == 9_999, what="the last record")

    batches = [t for t, content in page.custom if content["kind"] == "batch"]
    assert len(batches) < 10_000 / 5  # batched, not one comm message per message
    for start in batches:  # at most max_rate batches in any one-second window (+1 for the window edge)
        assert sum(1 for t in batches if start <= t < start + 1.0) <= 21
    received = [r["data"] for r in page.records() if r["kind"] == "message"]
    assert received == sorted(received) and len(set(received)) == len(received)  # in order, no duplicates
    assert received[-1] == 9_999
    assert len(view.records()) == limit  # the kernel keeps the last `limit`

    # A page that (re)loads asks for a replay: the whole ring, in chunks, tagged with its request.
    page.request({"kind": "replay", "request": "reload-1"})
    replay = [c for c in page.of_kind("replay") if c["request"] == "reload-1"]
    assert replay[0]["first"] and replay[-1]["last"]
    assert len(replay) == -(-limit // REPLAY_CHUNK)
    assert [r["i"] for c in replay for r in c["records"]] == [r["i"] for r in view.records()]
    # And the history trait (what a saved notebook keeps) settles on the last `history` records.
    wait_for(lambda: view.history and view.history[-1]["data"] == 9_999, what="the history trait")
    assert len(view.history) == 100
    assert view.header["count"] == 10_000


def test_clear_empties_kernel_and_page_but_keeps_counting(local_service, hub, publisher, views):
    view = StreamView(local_service, hub=hub, groups=["lab"])
    views.append(view)
    page = PageSpy(view)
    publisher.send_to_group("lab", "before", data_type="text")
    wait_for(lambda: any(r.get("data") == "before" for r in page.records()), what="the message in the page")
    page.request({"kind": "clear"})
    assert view.records() == []
    cleared = page.of_kind("clear")[-1]
    assert cleared["through"] >= max(r["i"] for r in page.records())
    publisher.send_to_group("lab", "after", data_type="text")
    wait_for(lambda: any(r.get("data") == "after" for r in view.records()), what="the next message")
    assert view.count == 2 and [r["data"] for r in view.records() if r["kind"] == "message"] == ["after"]


def test_pause_is_a_trait_the_page_and_python_share(local_service, hub, views):
    view = StreamView(local_service, hub=hub, groups=["lab"])
    views.append(view)
    page = PageSpy(view)
    view.pause()
    assert view.paused and page.updates[-1][1] == {"paused": True}
    view.resume()
    assert not view.paused


def test_close_disconnects_a_client_the_view_created(local_service, hub, views):
    view = StreamView(local_service, hub=hub, groups=["lab"])
    connection_id = view.connection_id
    rest = WebPubSubServiceClient.from_connection_string(local_service.connection_string, hub=hub)
    assert rest.connection_exists(connection_id)
    view.close()
    assert view.closed and view.state == "closed"
    wait_for(lambda: not rest.connection_exists(connection_id), what="the service to see the connection gone")
    view.close()  # twice is fine


def test_a_client_passed_in_stays_open_and_is_no_longer_listened_to(local_service, hub, publisher, views):
    client = Client(local_service, hub=hub, roles=["webpubsub.joinLeaveGroup"]).connect()
    try:
        view = StreamView(client, groups=["lab"])
        views.append(view)
        assert client.groups == ("lab",)
        publisher.send_to_group("lab", "one", data_type="text")
        wait_for(lambda: view.count == 1)
        view.close()
        assert client.state == "connected"
        publisher.send_to_group("lab", "two", data_type="text")
        time.sleep(0.3)
        assert view.count == 1
    finally:
        client.close()


def test_a_view_with_the_same_key_replaces_the_previous_one(local_service, hub, views):
    first = StreamView(local_service, hub=hub, groups=["lab"], key=f"{hub}-panel")
    second = StreamView(local_service, hub=hub, groups=["lab"], key=f"{hub}-panel")
    other = StreamView(local_service, hub=hub, groups=["lab"], key=f"{hub}-other")
    views.extend([first, second, other])
    assert first.closed and first.state == "closed"
    assert not second.closed and second.state == "connected" and not other.closed


def test_text_summary_without_a_widget_front_end(local_service, hub, publisher, views):
    view = StreamView(local_service, hub=hub, groups=["lab"], user_id="ann")
    views.append(view)
    publisher.send_to_group("lab", "hello\nworld", data_type="text")
    publisher.send_to_group("lab", {"loss": 0.5}, data_type="json")
    wait_for(lambda: len([r for r in view.records() if r["kind"] == "message"]) == 2)
    summary = repr(view)
    assert summary.splitlines()[0] == f"StreamView · hub {hub} · connected (connection {view.connection_id}, user ann)"
    assert "groups: lab · 2 messages" in summary
    assert "[lab] publisher: hello⏎ world" in summary and '[lab] publisher: {"loss": 0.5}' in summary
    bundle, _ = view._repr_mimebundle_()
    assert bundle["text/plain"].splitlines()[0] == summary.splitlines()[0]


def test_no_source_means_the_same_default_as_publish(monkeypatch, hub, views):
    from wpsnb.notebook.default_source import source_or_default
    from wpsnb.source import ENV_VARIABLES

    for variable in ENV_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    view = StreamView(hub=hub, groups=["train"])
    views.append(view)
    shared = source_or_default()
    with Client(shared, hub=hub, roles=["webpubsub.sendToGroup"]) as publisher:
        publisher.send_to_group("train", "epoch 1", data_type="text")
    wait_for(lambda: view.count == 1, what="the message through the shared local service")


def test_bad_arguments_say_what_to_do(local_service, hub):
    with pytest.raises(TypeError, match=r"groups=\['lab'\]"):
        StreamView(local_service, hub=hub, groups="lab")
    client = Client(local_service, hub=hub)
    with pytest.raises(ValueError, match="roles only apply when StreamView creates the client"):
        StreamView(client, roles=["webpubsub.joinLeaveGroup"])
    client.close()
    with pytest.raises(WebPubSubError):
        StreamView("Endpoint=http://127.0.0.1:1;AccessKey=" + "a" * 44 + ";Version=1.0;", hub=hub, timeout=2)
