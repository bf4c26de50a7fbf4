"""Feed: batching, bounds, numbering, replay, clear, the history/header traits, closing, many threads.

The widget is a small recorder with the three things a Feed uses (``send``, ``history``, ``header``);
the feed's own thread, locks and timing are the real ones.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any

import pytest

from wpsnb.notebook.feed import REPLAY_CHUNK, Feed, RateMeter


class Page:
    """Records what a Feed sends, and what the history/header traits were set to, with the time."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.history: list[dict[str, Any]] = []
        self.header: dict[str, Any] = {}
        self.history_sets = 0
        self.lock = threading.Lock()

    def send(self, content: dict[str, Any]) -> None:
        with self.lock:
            self.sent.append((time.monotonic(), content))

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "history" and "history" in self.__dict__:
            self.__dict__["history_sets"] = self.history_sets + 1
        super().__setattr__(name, value)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [content for _, content in self.sent if content["kind"] == kind]

    def batched(self) -> list[dict[str, Any]]:
        return [record for batch in self.of_kind("batch") for record in batch["records"]]


def text_record(item: Any, wall_time: float, index: int) -> dict[str, Any]:
    return {"t": wall_time, "text": str(item)}


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@pytest.fixture
def spy() -> Page:
    return Page()


def make_feed(spy: Page, **options: Any) -> Feed:
    options.setdefault("convert", text_record)
    return Feed(spy, header=lambda: {"count": 0}, **options)


def test_a_burst_arrives_complete_in_order_in_few_batches(spy: Page) -> None:
    feed = make_feed(spy, max_rate=20.0)
    for n in range(5_000):
        feed.push(n)
    wait_for(lambda: len(spy.batched()) == 5_000)
    feed.close()
    records = spy.batched()
    assert [r["text"] for r in records] == [str(n) for n in range(5_000)]
    assert [r["i"] for r in records] == list(range(5_000))
    # 5,000 pushes as fast as a loop goes: a handful of comm messages, not thousands.
    assert len(spy.of_kind("batch")) <= 20


def test_batches_are_at_most_max_rate_per_second(spy: Page) -> None:
    feed = make_feed(spy, max_rate=10.0)
    stop = time.monotonic() + 1.0
    n = 0
    while time.monotonic() < stop:  # a steady stream for a second
        feed.push(n)
        n += 1
        time.sleep(0.0005)
    feed.close()
    times = [t for t, content in spy.sent if content["kind"] == "batch"]
    gaps = [b - a for a, b in itertools.pairwise(times[:-1])]  # the last one is close()'s flush: at once
    assert len(times) >= 3  # about ten on a quiet machine; a loaded one may starve the flusher
    assert min(gaps) >= 0.09  # 1 / max_rate, less timer slack
    assert len(spy.batched()) == n


def test_a_producer_faster_than_the_page_keeps_the_newest_limit_items(spy: Page) -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow_first(item: Any, wall_time: float, index: int) -> dict[str, Any]:
        if item == 0:
            entered.set()
            release.wait(5)
        return {"text": str(item)}

    feed = make_feed(spy, convert=slow_first, limit=10)
    feed.push(0)
    assert entered.wait(5)  # the flusher holds item 0; everything else waits in the bounded queue
    for n in range(1, 26):
        feed.push(n)
    release.set()
    wait_for(lambda: len(spy.batched()) == 11)
    feed.close()
    assert [r["text"] for r in spy.batched()] == ["0", *map(str, range(16, 26))]
    assert [r["i"] for r in spy.batched()] == list(range(11))  # numbered as shown: no gaps
    assert [r["text"] for r in feed.records()] == [str(n) for n in range(16, 26)]  # the ring holds `limit`


def test_convert_returning_none_drops_the_item_without_using_an_index(spy: Page) -> None:
    feed = make_feed(spy, convert=lambda item, t, i: None if item % 2 else {"n": item})
    for n in range(10):
        feed.push(n)
    feed.close()
    assert [(r["n"], r["i"]) for r in spy.batched()] == [(0, 0), (2, 1), (4, 2), (6, 3), (8, 4)]


def test_a_failing_convert_is_logged_and_the_feed_goes_on(spy: Page, caplog: pytest.LogCaptureFixture) -> None:
    def convert(item: Any, wall_time: float, index: int) -> dict[str, Any]:
        if item == "bad":
            raise RuntimeError("cannot show this")
        return {"text": item}

    feed = make_feed(spy, convert=convert)
    with caplog.at_level(logging.ERROR, logger="wpsnb.notebook"):
        feed.push("bad")
        wait_for(lambda: "failed to flush" in caplog.text)
    feed.push("good")
    wait_for(lambda: spy.batched())
    feed.close()
    assert [r["text"] for r in spy.batched()] == ["good"]


def test_replay_sends_the_whole_ring_in_chunks_tagged_with_the_request(spy: Page) -> None:
    total = REPLAY_CHUNK * 2 + 5
    feed = make_feed(spy, limit=total)
    for n in range(total):
        feed.push(n)
    feed.flush()
    feed.replay("spy-1")
    feed.close()
    replies = spy.of_kind("replay")
    assert [len(r["records"]) for r in replies] == [REPLAY_CHUNK, REPLAY_CHUNK, 5]
    assert [(r["first"], r["last"]) for r in replies] == [(True, False), (False, False), (False, True)]
    assert {r["request"] for r in replies} == {"spy-1"}
    assert [rec["i"] for r in replies for rec in r["records"]] == list(range(total))
    assert all(r["header"] == {"count": 0} for r in replies)


def test_replay_of_an_empty_feed_is_one_empty_answer(spy: Page) -> None:
    feed = make_feed(spy)
    feed.replay(7)
    feed.close()
    assert spy.of_kind("replay") == [
        {"kind": "replay", "request": 7, "records": [], "first": True, "last": True, "header": {"count": 0}}
    ]


def test_a_replay_during_a_stream_leaves_no_gap_for_the_page(spy: Page) -> None:
    """What a spy sees: a replay snapshot, then batches; together they cover every record once."""
    feed = make_feed(spy, limit=100_000, max_rate=50.0)
    producing = threading.Event()

    def produce() -> None:
        for n in range(20_000):
            feed.push(n)
            if n == 5_000:
                producing.set()

    producer = threading.Thread(target=produce)
    producer.start()
    assert producing.wait(5)
    feed.replay("late-spy")
    producer.join()
    feed.close()
    # The spy keeps what follows its replay answer, and drops indices it already has.
    seen: list[int] = []
    last = -1
    answered = False
    for _, content in spy.sent:
        if content["kind"] == "replay":
            answered = True
            records = content["records"]
        elif content["kind"] == "batch" and answered:
            records = content["records"]
        else:
            continue
        for record in records:
            if record["i"] > last:
                seen.append(record["i"])
                last = record["i"]
    assert seen == list(range(20_000))


def test_clear_forgets_everything_and_tells_the_page_through_which_index(spy: Page) -> None:
    feed = make_feed(spy, history_interval=0.05)
    for n in range(5):
        feed.push(n)
    feed.flush()
    feed.clear()
    assert feed.records() == []
    assert spy.of_kind("clear") == [{"kind": "clear", "through": 4, "header": {"count": 0}}]
    feed.push("after")
    feed.close()
    assert feed.records()[-1]["i"] == 5  # numbering goes on: the spy ignores nothing new
    assert spy.history == feed.records()


def test_the_history_trait_holds_the_last_records_and_is_rewritten_at_most_once_per_interval(spy: Page) -> None:
    started = time.monotonic()
    feed = make_feed(spy, history=3, history_interval=0.2)
    for n in range(200):
        feed.push(n)
        time.sleep(0.005)  # about a second of steady traffic (longer on a loaded machine)
    wait_for(lambda: [r["text"] for r in spy.history] == ["197", "198", "199"], timeout=2)
    feed.close()
    elapsed = time.monotonic() - started
    assert spy.history_sets <= elapsed / 0.2 + 3  # one rewrite per interval (plus the forced one), not per record


def test_the_header_trait_follows_the_header_function(spy: Page) -> None:
    count = {"n": 0}
    feed = Feed(spy, text_record, lambda: {"count": count["n"]}, history_interval=0.05)
    count["n"] = 42
    wait_for(lambda: spy.header == {"count": 42})
    feed.close()


def test_close_flushes_what_is_pending_and_ignores_later_pushes(spy: Page) -> None:
    feed = make_feed(spy, max_rate=0.5, history_interval=10.0)  # one batch per 2 s, traits rarely
    feed.push("first")
    wait_for(lambda: spy.batched())
    feed.push("pending")  # the next batch is 2 s away
    feed.close()
    assert [r["text"] for r in spy.batched()] == ["first", "pending"]
    assert [r["text"] for r in spy.history] == ["first", "pending"]  # forced on close
    assert feed.closed
    feed.push("late")
    feed.close()  # twice is fine
    assert len(spy.batched()) == 2


def test_many_producer_threads_lose_nothing_and_keep_each_threads_order(spy: Page) -> None:
    feed = make_feed(spy, limit=100_000, convert=lambda item, t, i: {"who": item[0], "n": item[1]})
    threads = [threading.Thread(target=lambda w=w: [feed.push((w, n)) for n in range(5_000)]) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    feed.close()
    records = spy.batched()
    assert len(records) == 20_000
    for who in range(4):
        assert [r["n"] for r in records if r["who"] == who] == list(range(5_000))


@pytest.mark.parametrize(("option", "value", "words"), [("limit", 0, "limit"), ("max_rate", 0, "max_rate")])
def test_bad_bounds_are_refused_with_what_to_pass(spy: Page, option: str, value: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        make_feed(spy, **{option: value})


def test_rate_meter_measures_over_its_window() -> None:
    meter = RateMeter(window=1.0)
    assert meter.rate(0, now=0.0) == 0.0
    assert meter.rate(100, now=1.0) == 100.0
    for step in range(2, 12):  # 10 s later, 10/s: the first burst has left the window
        rate = meter.rate(100 + (step - 1) * 10, now=float(step))
    assert rate == pytest.approx(10.0)
    assert meter.rate(200, now=11.0) == pytest.approx(10.0)  # no time passed: the last rate holds
