"""Publish-to-receive latency at a steady rate into one 100-subscriber group, and the knee.

The publisher and the subscribers share this process and one monotonic clock: each 256-byte
payload carries ``perf_counter_ns()`` taken when it is sent, and a subscriber subtracts it from the
time its read returned, for every delivery. The publisher paces itself in 1-ms ticks (the messages
due in a tick go out in one socket write). At the top of the sweep this one process receives
hundreds of thousands of frames a second, so the load generator's CPU (printed) can be the limit. The main
measurement (``rate`` msg/s for ``duration`` s) alternates between the bare aiohttp baseline and
the wpsnb service (``json.webpubsub.azure.v1``); the sweep then raises the rate until p99 passes
the goal, to find the knee: the highest rate whose p99 stays within ``P99_GOAL_MS``.

Example::

    rows = asyncio.run(run_latency(LatencySettings(duration=2, rounds=1, sweep=())))
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from .fanout import BASELINE_NAME
from .machine import CpuUse, CpuWatch, describe_cpu, wait_for_quiet
from .results import median, metric, percentile
from .servers import ServerProcess
from .targets import PAYLOAD_SIZE, PLAIN, Target
from .wsraw import Tally, stamped_payload

P99_GOAL_MS = 3.0
OVERLOADED_MS = 50.0  # a sweep stops raising the rate for a server once its p99 passes this


@dataclass(frozen=True)
class LatencySettings:
    """The steady rate and how long and how often to measure it; the sweep's rates."""

    rate: int = 1000
    duration: float = 10.0
    rounds: int = 3
    subscribers: int = 100
    sweep: tuple[int, ...] = (1000, 2000, 3000, 4000, 6000, 8000, 10_000, 12_000, 16_000, 20_000)
    sweep_duration: float = 3.0
    quiet_wait: float = 20.0
    retries: int = 2
    verbose: bool = True


@dataclass(frozen=True)
class LatencyRun:
    """Percentiles (ms) of every delivery of one run, and CPU use (cores) meanwhile."""

    rate: int
    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    cpu: CpuUse
    complete: bool

    def describe(self) -> str:
        state = "" if self.complete else "   (fell behind: not every frame arrived in time)"
        return (
            f"{self.rate:>6,} msg/s  p50 {self.p50:6.2f}  p90 {self.p90:6.2f}  p99 {self.p99:6.2f}  "
            f"p99.9 {self.p999:6.2f}  max {self.max:6.2f} ms   {describe_cpu(self.cpu)}{state}"
        )


async def measure(
    target: Target, server: ServerProcess, rate: int, duration: float, *, settings: LatencySettings
) -> LatencyRun:
    """A paced run on a quiet machine, repeated (up to ``retries`` times) if others used the CPU."""
    for attempt in range(settings.retries + 1):
        await asyncio.to_thread(wait_for_quiet, settings.quiet_wait)
        run = await paced(target, server, rate, duration)
        if run.cpu.clean or attempt == settings.retries:
            return run
        if settings.verbose:
            print(f"      (repeating a run: other processes used {run.cpu.foreign:.0%} of a core)")
        if not run.complete:
            await _drain(target)
    raise AssertionError("unreachable")


async def paced(target: Target, server: ServerProcess, rate: int, duration: float) -> LatencyRun:
    """Send ``rate`` msg/s for ``duration`` s in 1-ms ticks; collect every delivery's latency."""
    total = max(1, int(rate * duration))
    tally = Tally(total * target.per_group, latencies=True)
    for subscriber in target.subscribers:
        subscriber.tally = tally
    watch = CpuWatch(server.pid)
    start = time.perf_counter()
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        if due > sent:  # the messages of this tick, each stamped as it is built, in one write
            target.send(sent, [stamped_payload(PAYLOAD_SIZE) for _ in range(due - sent)])
            sent = due
        await asyncio.sleep(0.001)
    complete = True
    try:
        await tally.wait(timeout=duration + 5)
    except TimeoutError:
        complete = False
    finally:
        for subscriber in target.subscribers:
            subscriber.tally = None
    use = watch.stop(time.perf_counter() - start)
    samples = sorted(tally.latencies or ())
    if not samples:
        raise RuntimeError(f"no frame arrived from the {target.label} server at {rate} msg/s")
    ms = 1e-6
    return LatencyRun(
        rate,
        percentile(samples, 0.5) * ms,
        percentile(samples, 0.9) * ms,
        percentile(samples, 0.99) * ms,
        percentile(samples, 0.999) * ms,
        samples[-1] * ms,
        use,
        complete,
    )


async def run_latency(settings: LatencySettings, *, server_cpu: int | None = 0) -> list[dict[str, Any]]:
    """The steady-rate comparison and the sweep, against fresh servers."""
    runs: dict[str, list[LatencyRun]] = {"baseline": [], "plain": []}
    knees: dict[str, int] = {"baseline": 0, "plain": 0}
    with ServerProcess("baseline", cpu=server_cpu) as baseline, ServerProcess("service", cpu=server_cpu) as service:
        targets = [
            (await Target.baseline(baseline, groups=1, subscribers=settings.subscribers), baseline),
            (await Target.service(service, PLAIN, groups=1, subscribers=settings.subscribers), service),
        ]
        try:
            for target, server in targets:  # warm-up
                await paced(target, server, settings.rate, 0.3)
            if settings.verbose:
                print(
                    f"  latency: {settings.rate:,} msg/s x {settings.subscribers} subscribers, "
                    f"{settings.rounds} rounds of {settings.duration:g} s"
                )
            for r in range(settings.rounds):
                for target, server in targets if r % 2 == 0 else targets[::-1]:
                    run = await measure(target, server, settings.rate, settings.duration, settings=settings)
                    runs[target.label].append(run)
                    if settings.verbose:
                        print(f"    {target.label:<9} round {r + 1}: {run.describe()}")
            if settings.sweep and settings.verbose:
                print(f"  latency sweep ({settings.sweep_duration:g} s per rate): where p99 passes {P99_GOAL_MS:g} ms")
            going = {target.label for target, _ in targets}
            for rate in settings.sweep:
                for target, server in targets:
                    if target.label not in going:
                        continue
                    run = await measure(target, server, rate, settings.sweep_duration, settings=settings)
                    if settings.verbose:
                        print(f"    {target.label:<9} {run.describe()}")
                    if run.complete and run.p99 <= P99_GOAL_MS:
                        knees[target.label] = max(knees[target.label], rate)
                    if not run.complete or run.p99 > OVERLOADED_MS:
                        await _drain(target)
                        if run.cpu.clean:  # a run other processes disturbed proves nothing: go on
                            going.discard(target.label)
        finally:
            for target, _ in targets:
                await target.close()
    return _rows(runs, knees, settings)


async def _drain(target: Target, quiet_for: float = 0.5, limit: float = 30.0) -> None:
    """Wait until an overloaded server has delivered its backlog (no frame for ``quiet_for`` s)."""
    deadline = time.monotonic() + limit
    last = -1
    while time.monotonic() < deadline:
        received = sum(s.received for s in target.subscribers)
        if received == last:
            return
        last = received
        await asyncio.sleep(quiet_for)


def _rows(runs: dict[str, list[LatencyRun]], knees: dict[str, int], settings: LatencySettings) -> list[dict[str, Any]]:
    where = f"{settings.rate:,} msg/s x {settings.subscribers} subscribers"
    # Runs other processes disturbed are left out when clean ones exist.
    service = [r for r in runs["plain"] if r.cpu.clean] or runs["plain"]
    baseline = [r for r in runs["baseline"] if r.cpu.clean] or runs["baseline"]
    rows = [
        metric(
            f"latency p50, {where}",
            median([r.p50 for r in service]),
            "ms",
            BASELINE_NAME,
            median([r.p50 for r in baseline]),
        ),
        metric(
            f"latency p99, {where}",
            median([r.p99 for r in service]),
            "ms",
            BASELINE_NAME,
            median([r.p99 for r in baseline]),
            at_most=P99_GOAL_MS,
        ),
        metric(
            f"latency max, {where}",
            median([r.max for r in service]),
            "ms",
            BASELINE_NAME,
            median([r.max for r in baseline]),
        ),
    ]
    if settings.sweep:
        rows.append(
            metric(
                f"latency knee: highest swept rate with p99 <= {P99_GOAL_MS:g} ms ({settings.subscribers} subscribers)",
                knees["plain"],
                "msg/s",
                BASELINE_NAME,
                knees["baseline"] or None,
            )
        )
    return rows
