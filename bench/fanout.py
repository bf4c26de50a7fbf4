"""Service fan-out: frames delivered per second from one publisher to many subscribers.

The publisher writes a burst of 256-byte text messages back to back; the rate is
``deliveries / (last frame received - first frame sent)``. Three topologies (1 → 100, 1 → 1000,
10 groups × 10) each run three targets interleaved round by round: the bare aiohttp baseline
server, the wpsnb service on ``json.webpubsub.azure.v1`` and on the reliable subprotocol. The
server runs on CPU 0, this load generator on CPU 1. A round during which other processes used
more than a fifth of a core is repeated (up to ``retries`` times); the median of the rounds is
reported.

Example::

    rows = asyncio.run(run_fanout(FanoutSettings(rounds=3, deliveries=100_000)))
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from .machine import CpuUse, CpuWatch, describe_cpu, wait_for_quiet
from .results import median, metric
from .servers import ServerProcess
from .targets import PLAIN, RELIABLE, Target
from .wsraw import Tally

BASELINE_NAME = "bare aiohttp, send_str per subscriber"
GOALS = {"plain": 3.0, "reliable": 2.0}
# The reliable subprotocol closes a connection with 1000 unacknowledged messages, so its publisher
# keeps at most RELIABLE_WINDOW messages per group in flight (sent, not yet received by every
# subscriber): each subscriber then has at most that many unacknowledged.
RELIABLE_WINDOW = 300
WINDOW_STEP = 50


@dataclass(frozen=True)
class Topology:
    """Who subscribes: ``subscribers`` spread evenly over ``groups``."""

    name: str
    subscribers: int
    groups: int


TOPOLOGIES = (Topology("1 -> 100", 100, 1), Topology("1 -> 1000", 1000, 1), Topology("10 groups x 10", 100, 10))


@dataclass(frozen=True)
class FanoutSettings:
    """How much to measure: rounds per target and deliveries per round."""

    rounds: int = 5
    deliveries: int = 1_000_000
    retries: int = 2
    quiet_wait: float = 20.0
    topologies: tuple[Topology, ...] = TOPOLOGIES
    verbose: bool = True


class WindowedPublisher:
    """Publishes a burst in steps, keeping at most ``window`` messages in flight.

    >>> publisher = WindowedPublisher(target, 20_000, window=500)   # doctest: +SKIP
    >>> tally = Tally(20_000 * 100, on_progress=publisher.progress); publisher.start()
    """

    def __init__(self, target: Target, messages: int, *, window: int, step: int = WINDOW_STEP):
        self._target = target
        self._steps = [target.burst(min(step, messages - first), first=first) for first in range(0, messages, step)]
        self._step = step
        self._window = window
        self._next = 0
        self._sent = 0
        self._messages = messages

    def start(self) -> None:
        self.progress(0)

    def progress(self, delivered: int) -> None:
        """Send more while fewer than ``window - step`` messages are in flight."""
        done = delivered // self._target.per_group
        while self._next < len(self._steps) and self._sent - done <= self._window - self._step:
            self._target.publish(self._steps[self._next])
            self._next += 1
            self._sent = min(self._messages, self._sent + self._step)


@dataclass(frozen=True)
class Round:
    """One burst: delivery rate and who used the CPU meanwhile (in cores)."""

    rate: float
    cpu: CpuUse

    def describe(self) -> str:
        return f"{self.rate:>11,.0f} frames/s   {describe_cpu(self.cpu)}"


async def burst(target: Target, messages: int, server: ServerProcess, *, settings: FanoutSettings) -> Round:
    """Publish ``messages`` back to back (windowed on the reliable subprotocol) and wait until
    every subscriber has them all."""
    expected = messages * target.per_group
    for attempt in range(settings.retries + 1):
        groups = len(target.groups)
        windowed = (
            WindowedPublisher(target, messages, window=RELIABLE_WINDOW * groups, step=WINDOW_STEP * groups)
            if target.label == "reliable"
            else None
        )
        blobs = target.burst(messages) if windowed is None else {}
        await asyncio.to_thread(wait_for_quiet, settings.quiet_wait)
        tally = Tally(expected, on_progress=windowed.progress if windowed is not None else None)
        for subscriber in target.subscribers:
            subscriber.tally = tally
        watch = CpuWatch(server.pid)
        start = time.perf_counter()
        if windowed is not None:
            windowed.start()
        else:
            target.publish(blobs)
        try:
            await tally.wait(timeout=30 + expected / 20_000)
        finally:
            for subscriber in target.subscribers:
                subscriber.tally = None
        elapsed = tally.finished_at - start
        use = watch.stop(elapsed)
        result = Round(expected / elapsed, use)
        if use.clean or attempt == settings.retries:
            return result
        if settings.verbose:
            print(f"      (repeating a round: other processes used {use.foreign:.0%} of a core)")
    raise AssertionError("unreachable")


async def run_topology(
    topology: Topology, servers: dict[str, ServerProcess], settings: FanoutSettings
) -> list[dict[str, Any]]:
    """Measure the baseline and both subprotocols on one topology, interleaved."""
    baseline_server, service = servers["baseline"], servers["service"]
    targets = [
        (
            await Target.baseline(baseline_server, groups=topology.groups, subscribers=topology.subscribers),
            baseline_server,
        ),
        (await Target.service(service, PLAIN, groups=topology.groups, subscribers=topology.subscribers), service),
        (await Target.service(service, RELIABLE, groups=topology.groups, subscribers=topology.subscribers), service),
    ]
    messages = max(1, settings.deliveries // (topology.subscribers // topology.groups))
    rounds: dict[str, list[Round]] = {target.label: [] for target, _ in targets}
    try:
        for target, server in targets:  # warm-up: first connections, caches, code paths
            await burst(target, max(1, messages // 10), server, settings=settings)
        for r in range(settings.rounds):
            order = targets if r % 2 == 0 else targets[::-1]
            for target, server in order:
                result = await burst(target, messages, server, settings=settings)
                rounds[target.label].append(result)
                if settings.verbose:
                    note = "" if result.cpu.clean else "   (not clean: left out of the median)"
                    print(f"    {topology.name:<15} {target.label:<9} round {r + 1}: {result.describe()}{note}")
    finally:
        for target, _ in targets:
            await target.close()
    baseline = clean_median(rounds["baseline"])
    rows = []
    for label, protocol in (("plain", PLAIN), ("reliable", RELIABLE)):
        rows.append(
            metric(
                f"fan-out {topology.name}, {protocol}",
                clean_median(rounds[label]),
                "frames/s",
                BASELINE_NAME,
                baseline,
                at_least_ratio=GOALS[label],
            )
        )
    return rows


def clean_median(rounds: list[Round]) -> float:
    """The median rate of the rounds other processes left alone (of all rounds if none was)."""
    clean = [r.rate for r in rounds if r.cpu.clean]
    return median(clean or [r.rate for r in rounds])


async def run_fanout(settings: FanoutSettings, *, server_cpu: int | None = 0) -> list[dict[str, Any]]:
    """Every topology against fresh servers pinned to ``server_cpu``."""
    rows: list[dict[str, Any]] = []
    with ServerProcess("baseline", cpu=server_cpu) as baseline, ServerProcess("service", cpu=server_cpu) as service:
        servers = {"baseline": baseline, "service": service}
        for topology in settings.topologies:
            if settings.verbose:
                print(f"  fan-out {topology.name}: {settings.rounds} rounds of {settings.deliveries:,} deliveries")
            rows += await run_topology(topology, servers, settings)
            await asyncio.sleep(0.5)  # let the servers forget the closed connections
    return rows
