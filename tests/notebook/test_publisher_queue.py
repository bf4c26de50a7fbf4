"""The publishing engine against a real local service and a real subscriber: order, batching, the
full-queue policies (block briefly / drop, counted and reported in the stream), refusals, flush."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from official_sdk import mint_url
from publisher_helpers import Subscriber, unique_group

from wpsnb.errors import Forbidden
from wpsnb.publishing.publisher import Publisher, PublishStats
from wpsnb.service.local import LocalService


@pytest.fixture
def group() -> str:
    return unique_group()


@pytest.fixture
def subscriber(local_service: LocalService, group: str):
    sub = Subscriber(local_service, group)
    yield sub
    sub.close()


def numbered(count: int) -> list[str]:
    return [f"line {n}\n" for n in range(count)]


def test_every_line_arrives_once_in_order_and_a_flood_is_batched(
    local_service: LocalService, group: str, subscriber: Subscriber
) -> None:
    with Publisher(group, local_service) as publisher:
        for text in numbered(5000):
            assert publisher.put_text(text)
    stats = publisher.stats
    assert (stats.lines, stats.dropped, stats.failed, stats.unconfirmed) == (5000, 0, 0, 0)
    assert stats.summary() == f"published 5000 lines to group {group} (0 dropped)"
    text = subscriber.text(ending="line 4999\n")
    assert text == "".join(numbered(5000))
    assert 1 <= stats.messages < 1000  # lines queued together travel together
    assert len(subscriber.received) == stats.messages


def test_one_message_per_line_when_batching_is_off(
    local_service: LocalService, group: str, subscriber: Subscriber
) -> None:
    with Publisher(group, local_service, max_message_chars=0) as publisher:
        for text in numbered(300):
            publisher.put_text(text)
    subscriber.collect(lambda got: len(got) >= 300)
    assert [m.data for m in subscriber.received] == numbered(300)
    assert publisher.stats.messages == 300


def test_a_burst_of_output_is_cut_into_messages_at_line_ends(
    local_service: LocalService, group: str, subscriber: Subscriber
) -> None:
    burst = "".join(numbered(3000))
    with Publisher(group, local_service, max_message_chars=500) as publisher:
        publisher.put_chunk(0, burst)  # one write of 3000 lines, as a worker sees a flood
    assert publisher.stats.lines == 3000
    text = subscriber.text(ending="line 2999\n")
    assert text == burst
    assert all(len(m.data) <= 500 and m.data.endswith("\n") for m in subscriber.received)


def test_one_message_per_line_even_for_a_burst(local_service: LocalService, group: str, subscriber: Subscriber) -> None:
    with Publisher(group, local_service, max_message_chars=0) as publisher:
        publisher.put_chunk(0, "".join(numbered(500)) + "no end")
        publisher.put_chunk(0, " yet\n")
    subscriber.collect(lambda got: len(got) >= 501)
    assert [m.data for m in subscriber.received] == [*numbered(500), "no end yet\n"]
    assert (publisher.stats.lines, publisher.stats.messages) == (501, 501)


def test_stdout_and_stderr_lines_keep_their_order(
    local_service: LocalService, group: str, subscriber: Subscriber
) -> None:
    with Publisher(group, local_service) as publisher:
        for n in range(100):
            publisher.put_chunk(n % 2, f"line {n}")
            publisher.put_chunk(n % 2, "\n")
    assert subscriber.text(ending="line 99\n") == "".join(numbered(100))


def test_dropped_connections_lose_and_repeat_nothing(
    local_service: LocalService, group: str, subscriber: Subscriber
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client"))
    from loopback_proxy import LoopbackProxy

    with LoopbackProxy(local_service.port) as proxy:
        through_proxy = f"Endpoint=http://127.0.0.1:{proxy.port};AccessKey={local_service.access_key};Version=1.0;"
        with Publisher(group, through_proxy, max_message_chars=0, linger=0) as publisher:
            for n, text in enumerate(numbered(3000)):
                publisher.put_text(text)
                if n % 700 == 350:
                    time.sleep(0.05)  # let some lines be in flight, then cut the connection under them
                    # (only once the previous cut is recovered: a cut with no connection proves nothing)
                    deadline = time.monotonic() + 10
                    while proxy.open_connections < 1 and time.monotonic() < deadline:
                        time.sleep(0.01)
                    assert proxy.sever() >= 1
        stats = publisher.stats
        assert publisher.client.stats["recoveries"] >= 1
    assert (stats.lines, stats.dropped, stats.failed, stats.unconfirmed) == (3000, 0, 0, 0)
    subscriber.collect(lambda got: len(got) >= 3000)
    time.sleep(0.2)  # a duplicate would arrive right behind
    subscriber.collect(lambda got: False, timeout=0.3)
    assert [m.data for m in subscriber.received] == numbered(3000)


def test_json_items_are_json_messages(local_service: LocalService, group: str, subscriber: Subscriber) -> None:
    with Publisher(group, local_service) as publisher:
        publisher.put_text("before\n")
        publisher.put_json({"step": 1, "loss": 0.5})
        publisher.put_text("after\n")
    subscriber.collect(lambda got: len(got) >= 3)
    assert [(m.data_type, m.data) for m in subscriber.received] == [
        ("text", "before\n"),
        ("json", {"step": 1, "loss": 0.5}),
        ("text", "after\n"),
    ]


def test_drop_policy_counts_the_loss_and_tells_viewers_where_it_happened(
    local_service: LocalService, group: str, subscriber: Subscriber
) -> None:
    # The worker starts only after the producer has overfilled the queue: the drops are certain.
    publisher = Publisher(group, local_service, when_full="drop", max_queued=3)
    accepted = [publisher.put_text(text) for text in numbered(5)]
    assert accepted == [True, True, True, False, False]
    publisher.put_text("line 5\n")  # still full: dropped too
    publisher.start()
    publisher.flush(10)
    assert publisher.put_text("line 6\n")
    stats = publisher.close()
    assert (stats.lines, stats.dropped, stats.failed) == (4, 3, 0)
    assert stats.summary() == f"published 4 lines to group {group} (3 dropped)"
    text = subscriber.text(ending="line 6\n")
    assert text == ("line 0\nline 1\nline 2\n[wpsnb: 3 lines dropped here: the publish queue was full]\nline 6\n")


def test_a_line_is_dropped_whole(local_service: LocalService, group: str, subscriber: Subscriber) -> None:
    publisher = Publisher(group, local_service, when_full="drop", max_queued=2)
    publisher.put_chunk(0, "line 0\n")
    publisher.put_chunk(0, "line 1 begins")  # queued: the queue is now full
    publisher.put_chunk(0, " and ends\n")  # dropped: line 1 is damaged, counted once
    publisher.put_chunk(0, "line 2 begins")  # dropped: a new line, cut from its start...
    publisher.start()
    assert publisher.flush(10)  # (the worker has emptied the queue meanwhile)
    publisher.put_chunk(0, " and ends\n")  # ...so its rest goes too, though there is room now
    publisher.put_chunk(0, "line 3\n")
    stats = publisher.close()
    assert (stats.lines, stats.dropped) == (2, 2)
    notice = "[wpsnb: {} dropped here: the publish queue was full]\n"
    assert subscriber.text(ending="line 3\n") == ("line 0\nline 1 begins\n" + notice.format("2 lines") + "line 3\n")


def test_block_policy_waits_once_then_drops_until_the_queue_empties(local_service: LocalService, group: str) -> None:
    publisher = Publisher(group, local_service, when_full="block", block_timeout=0.3, max_queued=2)
    publisher.put_text("a\n")
    publisher.put_text("b\n")
    started = time.monotonic()
    assert publisher.put_text("c\n") is False  # waited for room that never came
    waited = time.monotonic() - started
    started = time.monotonic()
    assert not any(publisher.put_text("d\n") for _ in range(1000))  # no waiting again: a stalled link costs once
    assert time.monotonic() - started < waited
    assert waited >= 0.25
    publisher.start()
    assert publisher.flush(10)
    assert publisher.put_text("e\n")  # the worker emptied the queue: accepted (and waiting allowed) again
    stats = publisher.close()
    assert (stats.lines, stats.dropped) == (3, 1001)


def test_blocking_without_timeout_never_drops(local_service: LocalService, group: str, subscriber: Subscriber) -> None:
    publisher = Publisher(group, local_service, block_timeout=None, max_queued=5)
    threading.Timer(0.3, publisher.start).start()  # room comes only once the worker runs
    started = time.monotonic()
    for text in numbered(200):
        assert publisher.put_text(text)
    assert time.monotonic() - started >= 0.25  # the producer really waited for the worker
    stats = publisher.close()
    assert (stats.lines, stats.dropped) == (200, 0)
    assert subscriber.text(ending="line 199\n") == "".join(numbered(200))


def test_a_forbidden_group_fails_every_line_and_says_why(local_service: LocalService, group: str) -> None:
    url = mint_url(local_service, "stream", roles=["webpubsub.sendToGroup.somewhere-else"])
    with Publisher(group, url) as publisher:
        publisher.put_text("one\n")
        publisher.flush(10)
        assert publisher.failure is not None and publisher.failure.name == "Forbidden"
        assert publisher.put_text("two\n") is False  # nothing more is queued once publishing is refused
    stats = publisher.stats
    assert (stats.lines, stats.failed) == (0, 2)
    assert "Forbidden" in stats.summary() and "2 lines failed" in stats.summary()


def test_the_minted_token_grants_sending_to_the_group_only(local_service: LocalService, group: str) -> None:
    with Publisher(group, local_service) as publisher, pytest.raises(Forbidden):
        publisher.client.send_to_group(group + "-other", "x")


def test_cannot_start_without_a_service() -> None:
    with pytest.raises(Exception, match="cannot reach"):
        Publisher("g", "Endpoint=http://127.0.0.1:9;AccessKey=" + "k" * 44 + ";Version=1.0;", connect_timeout=3).start()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"when_full": "wait"}, "when_full"),
        ({"block_timeout": -1}, "block_timeout"),
        ({"max_queued": 0}, "at least 1"),
    ],
)
def test_bad_options_are_explained(local_service: LocalService, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Publisher("g", local_service, **options)


def test_a_bad_group_name_is_explained(local_service: LocalService) -> None:
    with pytest.raises(ValueError, match="group"):
        Publisher("", local_service)


def test_summary_wording() -> None:
    assert PublishStats("g", lines=1).summary() == "published 1 line to group g (0 dropped)"
    stats = PublishStats("g", lines=2, failed=3, error="Forbidden: no role", unconfirmed=4)
    assert stats.summary() == (
        "published 2 lines to group g (0 dropped); 3 lines failed: Forbidden: no role; "
        "4 lines not yet acknowledged when the flush timed out"
    )
