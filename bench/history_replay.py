"""History replay: how long a late watcher waits for a publisher's last 1,000 lines.

A :class:`~wpsnb.publishing.Publisher` publishes 1,000 lines to a group on ``wpsnb serve`` (another
process), then a :class:`~wpsnb.publishing.Watcher` opens: joined, it sends a history request, the
publisher answers on the group (chunks under the frame limit), and the watcher merges the answer and
hands the lines out. Measured from ``Watcher.start()`` returning (connected and joined) to the last
history line handed out, two ways: lines sent one message each (the worst case: 1,000 items) and
batched as ``%%publish`` sends a burst; with ``settle=0`` (the watcher hands out as soon as the
answer is merged) and with the default wait for other publishers' answers (0.25 s).

Example::

    python -m bench --quick --only history
"""

from __future__ import annotations

import time
from statistics import median
from typing import Any

from .bench_publish import served
from .results import metric

LINES = 1_000


def replay_seconds(source: str, group: str, *, one_per_line: bool, settle: float, rounds: int) -> float:
    """The median time from a watcher's start to its last history line, over ``rounds`` watchers."""
    from wpsnb.protocol.history import Entry
    from wpsnb.publishing.publisher import Publisher
    from wpsnb.publishing.watcher import Watcher

    times = []
    with Publisher(group, source, max_message_chars=0 if one_per_line else 16_384) as publisher:
        for n in range(LINES):
            publisher.put_text(f"step {n:5d} loss {1 / (n + 1):.6f}\n")
        assert publisher.flush(60), "the publisher's lines were not acknowledged"
        for _ in range(rounds):
            watcher = Watcher(source, group, settle=settle, wait=5.0)
            watcher.start()
            started = time.perf_counter()
            seen = 0
            for event in watcher.events(timeout=10):
                if isinstance(event, Entry) and event.kind == "history":
                    seen += event.data.count("\n")
                    if seen >= LINES:
                        break
            times.append(time.perf_counter() - started)
            watcher.close()
            assert seen >= LINES, f"the watcher got {seen} of {LINES} history lines"
    return median(times)


def run(quick: bool) -> list[dict[str, Any]]:
    rounds = 3 if quick else 10
    rows = []
    with served() as source:
        for one_per_line, label in ((True, "one message per line"), (False, "batched as %%publish sends them")):
            for settle, wait_label in ((0.0, "settle=0"), (0.25, "default settle 0.25 s")):
                seconds = replay_seconds(
                    source,
                    f"history-{int(one_per_line)}-{settle}",
                    one_per_line=one_per_line,
                    settle=settle,
                    rounds=rounds,
                )
                rows.append(
                    metric(f"history replay, {LINES:,} lines, {label}, {wait_label}", seconds * 1e3, "ms", None, None)
                )
    return rows


__all__ = ["replay_seconds", "run"]
