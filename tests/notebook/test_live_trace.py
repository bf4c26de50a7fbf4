"""LiveTrace's kernel side against a real LocalService: records arrive, a detail explains a frame and
links what it answers and what it caused, export → open a recording gives the same records."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient

import wpsnb
from wpsnb.notebook.live_trace import LiveTrace
from wpsnb.trace_reader import TraceError

ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]


def wait_for(trace: LiveTrace, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trace.feed.flush()
        for row in trace.records():
            if predicate(row):
                return row
        time.sleep(0.05)
    raise AssertionError(f"no such row; have {[(r['kind'], r.get('type')) for r in trace.records()]}")


def test_live_trace_explains_a_frame_and_links_request_ack_and_delivery(tmp_path: Path) -> None:
    with wpsnb.LocalService() as service:
        trace = LiveTrace(service, hub="chat")
        client = wpsnb.Client(service, hub="chat", user_id="ann", roles=ROLES)
        try:
            client.connect()
            client.join_group("lab")
            client.send_to_group("lab", {"n": 1})
            WebPubSubServiceClient.from_connection_string(service.connection_string, hub="chat").send_to_all("hi")
            other_hub = wpsnb.Client(service, hub="elsewhere", roles=ROLES)
            other_hub.connect()
            other_hub.close()

            send = wait_for(trace, lambda r: r.get("type") == "sendToGroup")
            detail = trace._detail(send["i"], "r1")
            fields = {row["field"]: row for row in detail["fields"]}
            assert fields["ackId"]["value"] == 2 and "Chosen by the client" in fields["ackId"]["meaning"]
            assert {row["field"] for row in detail["context"]} >= {"hub", "conn", "user"}
            caused = [line["line"] for line in detail["caused"]]
            assert any("⇉ message to group lab" in line for line in caused) and any("ack" in line for line in caused)

            ack = wait_for(trace, lambda r: r.get("type") == "ack" and r.get("ackId") == 2)
            assert trace._detail(ack["i"], "r2")["cause"]["i"] == send["i"]
            rest = wait_for(trace, lambda r: r["kind"] == "rest")
            delivery = wait_for(trace, lambda r: r["kind"] == "delivery" and r.get("to") == "all")
            assert trace._detail(delivery["i"], "r3")["cause"]["i"] == rest["i"]
            assert all(r.get("hub") == "chat" for r in trace.records())

            path = trace.export(tmp_path / "trace.jsonl")
            held = trace.trace_records()
        finally:
            client.close()
            trace.close()
    replayed = LiveTrace(path)
    try:
        assert replayed.trace_records() == held and replayed.count == len(held)
        assert "recording trace.jsonl" in repr(replayed)
    finally:
        replayed.close()


def test_live_trace_says_what_is_wrong_with_its_source(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no recording at"):
        LiveTrace(tmp_path / "missing.jsonl")
    with pytest.raises(TraceError, match="Live Trace tool"):
        LiveTrace("Endpoint=https://demo.webpubsub.azure.com;AccessKey=" + "k" * 43 + ";Version=1.0;")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(ValueError, match="bad.jsonl:1 is not a JSON line"):
        LiveTrace(bad)
