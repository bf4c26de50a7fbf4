"""Widget ingestion: messages per second a ``StreamView`` absorbs in the kernel, the comm traffic it
generates meanwhile, and whether its memory stays flat.

No browser and no kernel: ipywidgets opens its comms through ``comm.create_comm``, which is
replaced here by a comm that counts every message it would send to the page. The service runs in
its own process; a raw publisher puts 256-byte text messages into the view's group, keeping at
most ``WINDOW`` messages ahead of what the view has taken (the reliable subprotocol, the view's
default, drops a connection 1000 messages behind). Three receivers take turns, round by round:

* ``StreamView`` (the thing measured),
* a bare ``wpsnb.Client`` with a callback that only counts: the floor of the receive path,
* the naive widget: an ``ipywidgets.HTML`` whose ``value`` is set for every message, one comm
  message each: the baseline for comm traffic.

Each receiver has a group of its own, so only the one measured is busy (all wpsnb clients of a
process share one event loop). Every payload is different (it starts with its number).

Memory: the process's RSS (after garbage collection) from the end of the first measured round to
the end of the last; the warm-up fills every ring buffer (the view keeps ``limit`` records) and
journal (each client keeps its last frames) first, and round 1 lets the allocator settle.

Example::

    rows = asyncio.run(run_widget_ingest(WidgetSettings(messages=10_000, rounds=2)))
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .machine import rss_bytes, wait_for_quiet
from .results import median, metric
from .servers import ServerProcess
from .targets import BURST_PAYLOAD, PLAIN, send_to_group_frame, service_url
from .wsraw import RawSocket, open_socket

HUB = "bench_widget"
WINDOW = 400
STEP = 50
RATE_GOAL = 10_000.0
COMM_GOAL = 50.0
MEMORY_GOAL_MIB = 5.0
MIB = 1024 * 1024


@dataclass(frozen=True)
class WidgetSettings:
    """Messages per measured round, rounds, and the warm-up that fills the view's buffers."""

    messages: int = 50_000
    rounds: int = 3
    warm_up: int = 25_000
    quiet_wait: float = 20.0
    verbose: bool = True


@contextmanager
def counting_comms() -> Iterator[None]:
    """While inside, ipywidgets opens comms that count what they would send (``widget.comm.sent``)."""
    import comm
    from comm.base_comm import BaseComm

    class CountingComm(BaseComm):
        sent = 0
        sent_bytes = 0

        def publish_msg(
            self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any
        ) -> None:
            self.sent += 1
            self.sent_bytes += len(json.dumps(data, default=str))

    original = comm.create_comm
    comm.create_comm = CountingComm
    try:
        yield
    finally:
        comm.create_comm = original


def numbered_frames(group: str, messages: int) -> list[bytes]:
    """``sendToGroup`` frames of ``STEP`` distinct 256-byte text messages each."""
    frames = [send_to_group_frame(group, b"%08d " % i + BURST_PAYLOAD[9:]) for i in range(messages)]
    return [b"".join(frames[i : i + STEP]) for i in range(0, messages, STEP)]


async def ingest(
    count: Callable[[], int], publisher: RawSocket, group: str, messages: int, *, timeout: float = 120.0
) -> float:
    """Publish ``messages`` to ``group`` at the pace the receiver takes them; return messages per second."""
    steps = numbered_frames(group, messages)
    base = count()
    sent = 0
    start = time.perf_counter()
    deadline = start + timeout
    while True:
        taken = count() - base
        if taken >= messages:
            return messages / (time.perf_counter() - start)
        while sent < messages and sent - taken <= WINDOW - STEP:
            publisher.send_frames(steps[sent // STEP])
            sent += STEP
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the receiver took only {taken:,} of {messages:,} messages in {timeout:.0f} s")
        await asyncio.sleep(0.0005)


async def run_widget_ingest(settings: WidgetSettings, *, server_cpu: int | None = 0) -> list[dict[str, Any]]:
    """The three receivers, interleaved, against one service process."""
    with counting_comms():
        return await _run(settings, server_cpu)


async def _run(settings: WidgetSettings, server_cpu: int | None) -> list[dict[str, Any]]:
    import ipywidgets

    from wpsnb import Client, StreamView

    messages = settings.messages - settings.messages % STEP or STEP
    rates: dict[str, list[float]] = {"view": [], "client": [], "naive": []}
    comm_rates: dict[str, list[float]] = {"view": [], "naive": []}
    with ServerProcess("service", cpu=server_cpu) as service:
        publisher = await open_socket(service_url(service, HUB, roles=("webpubsub.sendToGroup",)), PLAIN)
        cs = service.connection_string
        view = await asyncio.to_thread(StreamView, cs, hub=HUB, groups=["view"])
        received = {"client": 0, "naive": 0}
        client = await asyncio.to_thread(lambda: Client(cs, hub=HUB, groups=["client"], message_buffer=0).connect())
        naive = await asyncio.to_thread(lambda: Client(cs, hub=HUB, groups=["naive"], message_buffer=0).connect())
        html = ipywidgets.HTML()
        widgets = {"view": view, "naive": html}

        def on_client(_message: Any) -> None:
            received["client"] += 1

        def on_naive(message: Any) -> None:
            received["naive"] += 1
            html.value = message.data

        client.on_message(on_client)
        naive.on_message(on_naive)
        counts = {"view": lambda: view.count, "client": lambda: received["client"], "naive": lambda: received["naive"]}
        try:
            # Warm-up: fill every ring buffer and journal (the view's, and the other clients' journals).
            warm_up = max(STEP, settings.warm_up - settings.warm_up % STEP)
            for who in counts:
                await ingest(counts[who], publisher, who, warm_up)
            memory = [rss_bytes()]  # after the warm-up, then after each round (garbage collected)
            for r in range(settings.rounds):
                for who in ("view", "client", "naive") if r % 2 == 0 else ("naive", "client", "view"):
                    await asyncio.to_thread(wait_for_quiet, settings.quiet_wait)
                    comm = widgets[who].comm if who in widgets else None
                    comm_before, start = comm.sent if comm else 0, time.perf_counter()
                    rate = await ingest(counts[who], publisher, who, messages)
                    if who == "view":
                        view.feed.flush()  # records converted and sent: part of absorbing them
                        rate = messages / (time.perf_counter() - start)
                    if comm is not None:
                        comm_rates[who].append((comm.sent - comm_before) / (time.perf_counter() - start))
                    rates[who].append(rate)
                    if settings.verbose:
                        comm_note = f"   comm {comm_rates[who][-1]:8,.0f} msg/s" if who in comm_rates else ""
                        print(f"    widget {who:<6} round {r + 1}: {rate:>9,.0f} msg/s{comm_note}")
                gc.collect()
                memory.append(rss_bytes())
            if settings.verbose:
                print(
                    "    process memory (MiB) after the warm-up, then after each round: "
                    + ", ".join(f"{m / MIB:.1f}" for m in memory)
                )
            # Flat = no growth once everything is full: from the end of round 1 to the end of the last.
            growth = memory[-1] - memory[min(1, len(memory) - 1)]
        finally:
            publisher.close()
            await asyncio.to_thread(view.close)
            await asyncio.to_thread(client.close)
            await asyncio.to_thread(naive.close)
    measured = 3 * messages * max(0, settings.rounds - 1)
    return [
        metric(
            "widget ingestion, StreamView",
            median(rates["view"]),
            "msg/s",
            "wpsnb.Client with a counting callback, no widget",
            median(rates["client"]),
            at_least=RATE_GOAL,
        ),
        metric(
            "widget comm messages while ingesting, StreamView",
            median(comm_rates["view"]),
            "comm msg/s",
            "ipywidgets.HTML value set per message",
            median(comm_rates["naive"]),
            at_most=COMM_GOAL,
        ),
        metric(
            f"widget memory growth over the last {measured:,} messages (StreamView process)",
            growth / MIB,
            "MiB",
            None,
            None,
            at_most=MEMORY_GOAL_MIB,
        ),
    ]
