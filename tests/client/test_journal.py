"""The frame journal on its own: ring buffer, subscribers, JSONL recording, export and load."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from wpsnb.client.journal import FORMAT, VERSION, Journal, decode_frame
from wpsnb.protocol.messages import Ack, DataMessage, JoinGroup

ACK = '{"type":"ack","ackId":1,"success":true}'
JOIN = '{"type":"joinGroup","group":"lab","ackId":1}'
MESSAGE = '{"type":"message","from":"group","group":"lab","dataType":"text","data":"héllo","sequenceId":3}'


def record_text(journal: Journal, direction: str, raw: str, connection_id: str | None = "c1") -> None:
    journal.record(direction, raw, *decode_frame(direction, raw), connection_id=connection_id)


def test_frames_carry_direction_raw_decoded_message_and_utf8_size() -> None:
    journal = Journal(size=10)
    record_text(journal, "sent", JOIN)
    record_text(journal, "received", MESSAGE)
    sent, received = list(journal)
    assert (sent.direction, sent.message, sent.error, sent.kind) == ("sent", JoinGroup("lab", 1), None, "text")
    assert received.message == DataMessage("group", "héllo", "text", "lab", None, 3)
    assert received.size == len(MESSAGE.encode("utf-8")) == len(MESSAGE) + 1  # é is two bytes
    assert sent.time <= received.time and received.wall_time > 1_600_000_000
    assert received.connection_id == "c1"


def test_a_frame_that_does_not_parse_keeps_the_error() -> None:
    journal = Journal()
    record_text(journal, "received", '{"type":"nonsense"}')
    (frame,) = journal
    assert frame.message is None and "unknown service message type 'nonsense'" in frame.error


def test_ring_buffer_keeps_the_newest_frames() -> None:
    journal = Journal(size=3)
    for n in range(1, 8):
        record_text(journal, "received", f'{{"type":"ack","ackId":{n},"success":true}}')
    assert [frame.message.ack_id for frame in journal] == [5, 6, 7]
    assert len(journal) == 3


def test_size_zero_keeps_nothing_but_still_tells_subscribers(tmp_path: Path) -> None:
    seen = []
    journal = Journal(size=0, record_to=tmp_path / "f.jsonl")
    journal.subscribe(seen.append)
    record_text(journal, "received", ACK)
    journal.close()
    assert len(journal) == 0 and len(seen) == 1
    assert len(Journal.load(tmp_path / "f.jsonl")) == 1


def test_subscribe_and_unsubscribe() -> None:
    journal = Journal()
    seen_a, seen_b = [], []
    stop_a = journal.subscribe(seen_a.append)
    journal.subscribe(seen_b.append)
    record_text(journal, "received", ACK)
    stop_a()
    record_text(journal, "sent", JOIN)
    assert [f.direction for f in seen_a] == ["received"]
    assert [f.direction for f in seen_b] == ["received", "sent"]


def test_a_failing_subscriber_does_not_stop_recording(caplog: pytest.LogCaptureFixture) -> None:
    journal = Journal()
    journal.subscribe(lambda frame: 1 / 0)
    record_text(journal, "received", ACK)
    assert len(journal) == 1
    assert "journal subscriber" in caplog.text


def test_record_to_appends_jsonl_with_a_header_per_session(tmp_path: Path) -> None:
    path = tmp_path / "frames.jsonl"
    for _ in range(2):
        journal = Journal(record_to=path)
        record_text(journal, "sent", JOIN)
        journal.record("received", b"\x00\xff", None, "binary frame")
        journal.record("received", "bye", kind="close", code=1008)
        journal.close()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    headers = [line for line in lines if "format" in line]
    assert [(h["format"], h["version"]) for h in headers] == [(FORMAT, VERSION)] * 2
    frames = [line for line in lines if "format" not in line]
    assert len(frames) == 6
    assert frames[0]["raw"] == JOIN and frames[0]["direction"] == "sent" and frames[0]["connection_id"] == "c1"
    assert frames[1]["kind"] == "binary" and frames[1]["raw"] == "AP8=" and frames[1]["error"] == "binary frame"
    assert frames[2]["kind"] == "close" and frames[2]["code"] == 1008 and frames[2]["raw"] == "bye"
    assert set(frames[0]) == {"time", "wall_time", "direction", "kind", "raw", "size", "connection_id", "error", "code"}


def test_export_then_load_gives_back_equal_frames(tmp_path: Path) -> None:
    journal = Journal()
    record_text(journal, "sent", JOIN)
    record_text(journal, "received", MESSAGE)
    record_text(journal, "received", '{"type":"ack"}')  # invalid: error kept
    journal.record("received", b"\x01\x02", None, "binary frame")
    journal.record("sent", "closed by the client", kind="close", code=1000)
    path = journal.export(tmp_path / "export.jsonl")
    loaded = Journal.load(path)
    assert list(loaded) == list(journal)
    assert isinstance(list(loaded)[1].message, DataMessage)


def test_load_skips_broken_lines_and_keeps_the_last_size_frames(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal()
    for n in range(1, 6):
        record_text(journal, "received", f'{{"type":"ack","ackId":{n},"success":true}}')
    path = journal.export(tmp_path / "j.jsonl")
    with path.open("a", encoding="utf-8") as file:
        file.write('{"time": 1, "direction": "rece')  # a crash mid-line
    loaded = Journal.load(path, size=2)
    assert [frame.message for frame in loaded] == [Ack(4, True), Ack(5, True)]
    assert "skipped 1 unreadable line" in caplog.text


def test_iterating_while_another_thread_records_is_safe() -> None:
    journal = Journal(size=1000)
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            journal.record("received", ACK)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(200):
            frames = list(journal)
            assert all(frame.raw == ACK for frame in frames)
    finally:
        stop.set()
        thread.join()


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        Journal(size=-1)
