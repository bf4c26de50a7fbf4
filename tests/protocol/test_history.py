"""The history protocol without sockets: the publisher's log and answers, the watcher's merge."""

from __future__ import annotations

import json

import pytest

from wpsnb.protocol.history import (
    MAX_CHUNK_CHARS,
    Entry,
    HistoryAnswer,
    HistoryLog,
    HistoryMerger,
    HistoryRequest,
    is_control,
    parse_control,
)


def shown(entries: list[Entry]) -> list[tuple[str, object]]:
    return [(e.kind, e.data) for e in entries]


def publish(log: HistoryLog, merger: HistoryMerger | None, text: str, user: str, now: float) -> list[Entry]:
    log.record("text", text, 1)
    return merger.receive("text", text, user, now) if merger is not None else []


def answer(log: HistoryLog, merger: HistoryMerger, request: HistoryRequest, user: str, now: float) -> list[Entry]:
    out: list[Entry] = []
    for chunk in log.answer([request.request], request.limit):
        out += merger.receive("json", json.loads(json.dumps(chunk)), user, now)
    return out


# ---- the publisher's log --------------------------------------------------------------------------


def test_log_keeps_at_least_the_last_max_lines_lines_and_numbers_every_message() -> None:
    log = HistoryLog(max_lines=10)
    for n in range(30):
        assert log.record("text", f"{n}\n", 1) == n + 1
    assert [item.data for item in log.items()] == [f"{n}\n" for n in range(20, 30)]
    assert [item.seq for item in log.items(limit=3)] == [28, 29, 30]
    assert log.last_seq == 30


def test_log_counts_lines_of_batched_messages_and_bounds_progress_updates() -> None:
    log = HistoryLog(max_lines=5)
    log.record("text", "a\nb\nc\n", 3)
    log.record("text", "d\ne\nf\n", 3)
    assert len(log.items()) == 2  # 6 lines: the older message still holds needed lines
    for _ in range(100):
        log.record("text", "\r 50%", 0)  # updates of a line in progress count no line
    assert len(log._kept) <= 2 * 5 + 16


def test_log_with_zero_lines_keeps_nothing_but_still_numbers() -> None:
    log = HistoryLog(max_lines=0)
    assert log.record("text", "a\n", 1) == 1
    assert log.items() == []


def test_answer_chunks_stay_under_the_frame_limit_and_parse_back() -> None:
    log = HistoryLog(max_lines=1000)
    line = "x" * 2000 + "\n"
    for _ in range(1000):
        log.record("text", line, 1)
    chunks = log.answer(["r1", "r2"])
    assert len(chunks) > 1
    for index, chunk in enumerate(chunks):
        assert len(json.dumps(chunk)) < MAX_CHUNK_CHARS + 10_000 < 1024 * 1024
        parsed = parse_control(chunk)
        assert isinstance(parsed, HistoryAnswer)
        assert (parsed.chunk, parsed.chunks, parsed.requests, parsed.through) == (
            index,
            len(chunks),
            ("r1", "r2"),
            1000,
        )
    assert sum(len(c["items"]) for c in chunks) == 1000


def test_an_empty_log_answers_one_empty_chunk() -> None:
    chunks = HistoryLog().answer(["r"])
    assert len(chunks) == 1 and chunks[0]["items"] == [] and chunks[0]["through"] == 0


def test_control_messages_are_recognised_and_malformed_ones_ignored() -> None:
    assert is_control("json", HistoryRequest("r").to_json())
    assert not is_control("text", '{"wpsnb": 1}')
    assert not is_control("json", {"loss": 0.1})
    assert parse_control({"wpsnb": "history-request", "request": 5}) is None
    assert parse_control({"wpsnb": "history-request", "request": "r", "limit": -1}) is None
    assert parse_control({"wpsnb": "history", "publisher": "p"}) is None
    assert parse_control({"wpsnb": "something-newer"}) is None


# ---- the watcher's merge --------------------------------------------------------------------------


def test_history_then_live_none_twice_when_live_arrives_before_the_answer() -> None:
    log, merger = HistoryLog(), HistoryMerger(wait=1.0, settle=0.2)
    for n in range(5):
        publish(log, None, f"old {n}\n", "pub", 0.0)
    request = merger.request(now=0.0)
    assert publish(log, merger, "during 1\n", "pub", 0.1) == []  # held back
    assert answer(log, merger, request, "pub", 0.2) == []
    assert publish(log, merger, "after 1\n", "pub", 0.3) == []
    assert merger.tick(0.35) == []  # settle not over yet
    out = merger.tick(0.41)
    assert shown(out) == [("history", f"old {n}\n") for n in range(5)] + [
        ("live", "during 1\n"),
        ("live", "after 1\n"),
    ]
    assert shown(publish(log, merger, "later\n", "pub", 1.0)) == [("live", "later\n")]


def test_without_any_publisher_live_messages_come_after_the_wait() -> None:
    merger = HistoryMerger(wait=1.0)
    merger.request(now=0.0)
    assert merger.receive("text", "a\n", "x", 0.5) == []
    assert merger.tick(0.9) == []
    assert shown(merger.tick(1.0)) == [("live", "a\n")]
    assert not merger.waiting


def test_control_messages_are_never_shown() -> None:
    merger = HistoryMerger()
    assert merger.receive("json", HistoryRequest("other").to_json(), "w2", 0.0) == []
    assert merger.receive("json", {"wpsnb": "future-thing"}, "w2", 0.0) == []
    assert shown(merger.receive("json", {"step": 1}, "p", 0.0)) == [("live", {"step": 1})]


def test_answers_to_other_watchers_requests_add_nothing_already_seen() -> None:
    log, merger = HistoryLog(), HistoryMerger(wait=0.5, settle=0.1)
    publish(log, None, "a\n", "pub", 0.0)
    request = merger.request(0.0)
    answer(log, merger, request, "pub", 0.1)
    assert shown(merger.tick(1.0)) == [("history", "a\n")]
    publish(log, merger, "b\n", "pub", 1.1)
    # Another watcher asks; the answer reaches us too: it holds a (already shown) and b (seen live).
    out = []
    for chunk in log.answer(["someone-else"]):
        out += merger.receive("json", chunk, "pub", 1.2)
    assert out == []


def test_several_publishers_each_contribute_their_history_once() -> None:
    one, two = HistoryLog(), HistoryLog()
    merger = HistoryMerger(wait=1.0, settle=0.2)
    publish(one, None, "one-a\n", "u1", 0.0)
    publish(two, None, "two-a\n", "u2", 0.0)
    request = merger.request(0.0)
    publish(one, merger, "one-b\n", "u1", 0.05)
    answer(one, merger, request, "u1", 0.1)
    publish(two, merger, "two-b\n", "u2", 0.15)
    answer(two, merger, request, "u2", 0.2)
    assert shown(merger.tick(0.5)) == [
        ("history", "one-a\n"),
        ("history", "two-a\n"),
        ("live", "one-b\n"),
        ("live", "two-b\n"),
    ]


def test_several_publishers_sharing_no_user_id_are_told_apart_by_content() -> None:
    one, two = HistoryLog(), HistoryLog()
    merger = HistoryMerger(wait=1.0, settle=0.2)
    publish(one, None, "one-a\n", None, 0.0)  # type: ignore[arg-type]
    publish(two, None, "two-a\n", None, 0.0)  # type: ignore[arg-type]
    request = merger.request(0.0)
    publish(one, merger, "one-b\n", None, 0.05)  # type: ignore[arg-type]
    publish(two, merger, "two-b\n", None, 0.06)  # type: ignore[arg-type]
    answer(one, merger, request, None, 0.1)  # type: ignore[arg-type]
    answer(two, merger, request, None, 0.1)  # type: ignore[arg-type]
    out = shown(merger.tick(0.5))
    assert out == [("history", "one-a\n"), ("history", "two-a\n"), ("live", "one-b\n"), ("live", "two-b\n")]


def test_after_a_new_connection_only_the_gap_is_shown_in_order() -> None:
    log, merger = HistoryLog(), HistoryMerger(wait=1.0, settle=0.1)
    publish(log, None, "before\n", "pub", 0.0)
    request = merger.request(0.0)
    answer(log, merger, request, "pub", 0.1)
    assert shown(merger.tick(0.3)) == [("history", "before\n")]
    publish(log, merger, "live 1\n", "pub", 1.0)
    publish(log, merger, "live 2\n", "pub", 1.1)
    publish(log, None, "lost 1\n", "pub", 2.0)  # the connection was down: never received
    publish(log, None, "lost 2\n", "pub", 2.1)
    request = merger.request(3.0)  # new connection: ask again
    publish(log, merger, "live 3\n", "pub", 3.1)
    answer(log, merger, request, "pub", 3.2)
    publish(log, merger, "live 4\n", "pub", 3.3)
    assert shown(merger.tick(4.0)) == [
        ("history", "lost 1\n"),
        ("history", "lost 2\n"),
        ("live", "live 3\n"),
        ("live", "live 4\n"),
    ]


def test_a_restarted_publisher_is_a_new_publisher() -> None:
    old, merger = HistoryLog(), HistoryMerger(wait=1.0, settle=0.1)
    publish(old, None, "old run\n", "pub", 0.0)
    answer(old, merger, merger.request(0.0), "pub", 0.1)
    assert shown(merger.tick(0.5)) == [("history", "old run\n")]
    new = HistoryLog()  # the kernel restarted: numbering starts again, under a new id
    publish(new, merger, "new run 1\n", "pub", 1.0)
    publish(new, None, "new run 2\n", "pub", 1.5)  # missed during a drop
    answer(new, merger, merger.request(2.0), "pub", 2.1)
    assert shown(merger.tick(3.0)) == [("history", "new run 2\n")]


def test_a_late_answer_after_the_wait_shows_its_news_at_once() -> None:
    log, merger = HistoryLog(), HistoryMerger(wait=0.5)
    publish(log, None, "a\n", "pub", 0.0)
    request = merger.request(0.0)
    assert merger.tick(0.6) == []
    assert shown(answer(log, merger, request, "pub", 1.0)) == [("history", "a\n")]


def test_answer_chunks_are_merged_only_when_all_arrived() -> None:
    log, merger = HistoryLog(), HistoryMerger(wait=5.0, settle=0.1)
    for n in range(300):
        log.record("text", f"{n:04d}" + "y" * 3000 + "\n", 1)
    request = merger.request(0.0)
    chunks = log.answer([request.request])
    assert len(chunks) >= 3
    for chunk in reversed(chunks[1:]):  # out of order, first one last
        merger.receive("json", chunk, "pub", 0.1)
        assert merger.deadline == 5.0
    merger.receive("json", chunks[0], "pub", 0.2)
    out = merger.tick(0.4)
    assert [e.seq for e in out] == list(range(1, 301))


@pytest.mark.parametrize("limit", [None, 3])
def test_requests_carry_the_limit(limit: int | None) -> None:
    merger = HistoryMerger(limit=limit)
    request = merger.request(0.0)
    assert parse_control(request.to_json()) == request
