"""History for late watchers through the real local service: a Publisher answers, a Watcher merges."""

from __future__ import annotations

import time
from typing import Any

from wpsnb.client import Client
from wpsnb.protocol.history import Entry
from wpsnb.publishing.publisher import Publisher
from wpsnb.publishing.watcher import StatusChange, Watcher
from wpsnb.source import negotiate

_groups = iter(range(1_000_000))


def group() -> str:
    return f"hist-{next(_groups)}-{time.monotonic_ns() % 1_000_000}"


def collect(watcher: Watcher, until: Any, timeout: float = 15.0) -> list[Entry]:
    entries: list[Entry] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(entries):
        for event in watcher.events(timeout=0.1):
            if isinstance(event, Entry):
                entries.append(event)
            if until(entries):
                break
    return entries


def text(entries: list[Entry]) -> str:
    return "".join(e.data for e in entries if e.data_type == "text")


def lines(first: int, last: int) -> str:
    return "".join(f"line {n}\n" for n in range(first, last))


def test_a_late_watcher_gets_the_history_then_live_lines_once(local_service: Any) -> None:
    name = group()
    with Publisher(name, local_service) as publisher:
        for n in range(100):
            publisher.put_text(f"line {n}\n")
        assert publisher.flush()
        with Watcher(local_service, name) as watcher:
            for n in range(100, 110):
                publisher.put_text(f"line {n}\n")
            entries = collect(watcher, lambda got: text(got).endswith("line 109\n"))
            assert text(entries) == lines(0, 110)
            assert {e.kind for e in entries if e.data.startswith("line 0")} == {"history"}
            assert entries[-1].kind == "live"
            assert all(e.data_type == "text" for e in entries)  # control messages never handed out


def test_history_is_bounded_by_the_publishers_limit_and_the_watchers(local_service: Any) -> None:
    name = group()
    with Publisher(name, local_service, history=50, max_message_chars=0) as publisher:
        for n in range(200):
            publisher.put_text(f"line {n}\n")
        assert publisher.flush()
        with Watcher(local_service, name, wait=0.5) as watcher:
            assert text(collect(watcher, lambda got: "line 199" in text(got))) == lines(150, 200)
        with Watcher(local_service, name, history=10, wait=0.5) as watcher:
            assert text(collect(watcher, lambda got: "line 199" in text(got))) == lines(190, 200)


def test_watchers_opening_together_each_get_the_history_once(local_service: Any) -> None:
    name = group()
    with Publisher(name, local_service) as publisher:
        for n in range(30):
            publisher.put_text(f"line {n}\n")
        assert publisher.flush()
        watchers = [Watcher(local_service, name) for _ in range(4)]
        for watcher in watchers:
            watcher.start()
        publisher.put_text("line 30\n")
        try:
            for watcher in watchers:
                assert text(collect(watcher, lambda got: "line 30\n" in text(got))) == lines(0, 31)
        finally:
            for watcher in watchers:
                watcher.close()
        assert publisher.responder is not None
        assert 1 <= publisher.responder.answers <= 4


def test_after_a_new_connection_the_watcher_shows_what_it_missed_in_order(local_service: Any) -> None:
    name = group()
    with (
        Publisher(name, local_service) as publisher,
        Watcher(local_service, name, protocol="json.webpubsub.azure.v1", wait=0.5) as watcher,
    ):
        for n in range(20):
            publisher.put_text(f"line {n}\n")
        collect(watcher, lambda got: "line 19\n" in text(got))
        watcher.client.drop_connection()  # plain protocol: the session is gone, a new connection follows
        for n in range(20, 40):
            publisher.put_text(f"line {n}\n")
            time.sleep(0.01)
        statuses: list[StatusChange] = []
        entries: list[Entry] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not text(entries).endswith("line 44\n"):
            for event in watcher.events(timeout=0.1):
                (entries if isinstance(event, Entry) else statuses).append(event)  # type: ignore[arg-type]
            if any(s.state == "reconnected" for s in statuses) and "line 40" not in text(entries):
                for n in range(40, 45):
                    publisher.put_text(f"line {n}\n")
        assert [s.state for s in statuses][:1] == ["disconnected"]
        assert "reconnected" in [s.state for s in statuses]
        before = lines(0, 20)
        assert before + text(entries) == lines(0, 45)


def test_a_watcher_that_may_not_send_sees_live_lines_only(local_service: Any) -> None:
    name = group()
    url = negotiate(local_service, roles=[f"webpubsub.joinLeaveGroup.{name}"])
    with Publisher(name, local_service) as publisher:
        publisher.put_text("before\n")
        assert publisher.flush()
        with Watcher(url, name, wait=0.3) as watcher:
            publisher.put_text("after\n")
            assert text(collect(watcher, lambda got: "after\n" in text(got))) == "after\n"


def test_a_publisher_that_may_not_join_publishes_without_history(local_service: Any) -> None:
    name = group()
    url = negotiate(local_service, roles=[f"webpubsub.sendToGroup.{name}"])
    listener = Client(local_service, roles=[f"webpubsub.joinLeaveGroup.{name}"]).connect()
    listener.join_group(name)
    with Publisher(name, url) as publisher:
        assert publisher.responder is not None and not publisher.responder.listening
        publisher.put_text("still published\n")
        assert publisher.flush()
    got = [m.data for m in listener.messages(timeout=1)]
    listener.close()
    assert got == ["still published\n"]
