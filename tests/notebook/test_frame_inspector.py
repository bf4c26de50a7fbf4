"""FrameInspector on a live client, a StreamView, a Journal and a recording (no browser).

What the page would receive is captured with ``PageSpy`` (see test_stream_view.py).
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from test_stream_view import PageSpy, wait_for

from wpsnb.client import Client, Journal
from wpsnb.client.journal import decode_frame
from wpsnb.errors import WebPubSubError
from wpsnb.notebook import FrameInspector, StreamView


@pytest.fixture
def hub() -> str:
    return "fi" + uuid.uuid4().hex[:10]


@pytest.fixture
def client(local_service, hub):
    roles = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup.lab"]
    with Client(local_service, hub=hub, user_id="ann", roles=roles) as client:
        yield client


def test_live_frames_become_rows_with_types_ids_and_ack_links(client):
    inspector = FrameInspector(client)
    page = PageSpy(inspector)
    try:
        client.join_group("lab")
        client.send_to_group("lab", {"x": 1}, data_type="json")
        with pytest.raises(WebPubSubError):
            client.send_to_group("ops", "no", data_type="text")
        wait_for(lambda: any(r["type"] == "ack" and not r["success"] for r in page.records()), what="the refusal")
        rows = inspector.records()
        assert rows[0]["type"] == "system.connected" and rows[0]["dir"] == "received"  # from before it existed
        by_type = {}
        for row in rows:
            by_type.setdefault(row["type"], []).append(row)
        join, send_ok, send_refused = by_type["joinGroup"][0], *by_type["sendToGroup"]
        assert (join["dir"], join["group"], join["ackId"]) == ("sent", "lab", 1)
        assert send_refused["group"] == "ops" and send_refused["dataType"] == "text"
        acks = {row["ackId"]: row for row in by_type["ack"]}
        assert acks[join["ackId"]]["link"] == join["i"] and acks[join["ackId"]]["success"]
        assert acks[send_ok["ackId"]]["link"] == send_ok["i"]
        refused = acks[send_refused["ackId"]]
        assert refused["link"] == send_refused["i"] and refused["ackError"] == "Forbidden"
        echo = by_type["message"][0]
        assert echo["dir"] == "received" and echo["group"] == "lab" and echo["seq"] == 1
        assert all(row["size"] == len(row["raw"].encode()) for row in rows if not row["rawTruncated"])
        header = page.of_kind("batch")[-1]["header"]
        assert header["count"] == len(client.frames) and header["sent"] >= 3 and header["errors"] == 0
    finally:
        inspector.close()


def test_a_click_fetches_the_whole_frame_and_its_decoding(client):
    inspector = FrameInspector(client, rows=100)
    page = PageSpy(inspector)
    try:
        client.join_group("lab")
        big = "y" * 5_000
        client.send_to_group("lab", big, data_type="text")
        row = wait_for(lambda: next((r for r in inspector.records() if r["type"] == "sendToGroup"), None))
        assert row["rawTruncated"] and len(row["raw"]) < 5_000  # the row carries a preview only
        page.request({"kind": "frame", "i": row["i"], "request": "r1"})
        detail = page.of_kind("frame")[-1]
        assert detail["request"] == "r1" and json.loads(detail["raw"])["data"] == big
        assert detail["decoded"].startswith("SendToGroup(group='lab'") and detail["error"] is None
        page.request({"kind": "frame", "i": 10**9, "request": "r2"})
        assert page.of_kind("frame")[-1] == {"kind": "frame", "request": "r2", "i": 10**9, "missing": True}
    finally:
        inspector.close()


def test_malformed_frames_are_marked_with_the_parse_error():
    journal = Journal(size=10)
    for direction, raw in [
        ("received", '{"type":"ack","ackId":"one","success":true}'),
        ("received", "{not json"),
        ("sent", '{"type":"joinGroup","group":"lab","ackId":7}'),
    ]:
        journal.record(direction, raw, *decode_frame(direction, raw))
    inspector = FrameInspector(journal)
    try:
        bad_type, not_json, good = inspector.records()
        assert bad_type["type"] == "ack" and "ackId" in bad_type["error"]
        assert not_json["type"] == "invalid" and not_json["error"]
        assert "error" not in good and good["ackId"] == 7
        assert inspector._header()["errors"] == 2
        assert "MALFORMED" in repr(inspector)
    finally:
        inspector.close()


def test_export_then_open_the_recording_offline(client, tmp_path):
    inspector = FrameInspector(client)
    page = PageSpy(inspector)
    try:
        client.join_group("lab")
        client.send_to_group("lab", "hello", data_type="text")
        wait_for(lambda: sum(r["type"] == "ack" for r in inspector.records()) == 2)
        path = inspector.export(tmp_path / "frames.jsonl")
        page.request({"kind": "export", "request": "e1"})
        from_page = page.of_kind("export")[-1]
    finally:
        inspector.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["format"] == "wpsnb.journal"
    assert [json.loads(line)["raw"] for line in lines[1:]] == [
        json.loads(line)["raw"] for line in from_page["text"].splitlines()[1:]
    ]
    assert from_page["name"].endswith(".jsonl")

    offline = FrameInspector(str(path))
    try:
        assert offline._header()["state"] == "recording"
        assert [r["raw"] for r in offline.records()] == [r["raw"] for r in inspector.records()]
        assert [r.get("link") for r in offline.records()] == [r.get("link") for r in inspector.records()]
    finally:
        offline.close()


def test_a_stream_view_is_inspected_through_its_client(local_service, hub):
    view = StreamView(local_service, hub=hub, groups=["lab"], roles=["webpubsub.sendToGroup.lab"])
    inspector = FrameInspector(view)
    try:
        view.publish("via the view")
        wait_for(lambda: any(r["type"] == "message" for r in inspector.records()), what="the echo frame")
        assert inspector.count == len(view.client.frames)
        assert f"connection {view.connection_id}" in repr(inspector).splitlines()[0]
    finally:
        inspector.close()
        view.close()


def test_frames_arriving_while_it_subscribes_are_neither_lost_nor_doubled(client):
    client.join_group("lab")

    def traffic() -> None:
        for n in range(2_000):
            client.send_to_group("lab", n, data_type="json", ack=False)

    sender = threading.Thread(target=traffic)
    sender.start()
    inspector = FrameInspector(client)  # subscribes while frames flow
    try:
        sender.join()
        client.flush()
        wait_for(lambda: sum(r["type"] == "message" for r in inspector.records()) == 2_000, what="every echo")
        snapshot = list(client.frames)
        wait_for(lambda: len(inspector.frames()) >= len(snapshot), what="the inspector to catch up")
        seen = inspector.frames()
        assert all(a is b for a, b in zip(seen, snapshot, strict=False))  # same frames, same order
        assert len({id(frame) for frame in seen}) == len(seen)  # none twice
    finally:
        inspector.close()


def test_unusable_sources_say_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="JSONL file written by record_to="):
        FrameInspector(tmp_path / "missing.jsonl")
    with pytest.raises(TypeError, match=r"needs a wpsnb\.Client, a StreamView, a Journal or a path"):
        FrameInspector(42)
