"""What the service-wide trace costs on the fan-out path: off, recording unwatched, and watched.

Three service processes take turns on CPU 0: one with the trace recorder off (``--no-trace``), one
recording with nobody watching (the default), and one recording with a watcher attached to
``GET /trace`` for the whole run (a thread of this process that reads the stream and counts lines,
so the cost measured is the service's). Each round bursts the same messages through each of them,
interleaved round by round as in :mod:`.fanout`; the median rates are compared to the trace-off
service. Goal: recording and watched both ≥ 0.95× the trace-off rate.

Example::

    rows = asyncio.run(run_trace_overhead(FanoutSettings(rounds=3, deliveries=100_000)))
"""

from __future__ import annotations

import asyncio
import http.client
import threading
from typing import Any

from wpsnb.trace_reader import TraceReader

from .fanout import FanoutSettings, Round, Topology, burst, clean_median
from .results import metric
from .servers import ServerProcess
from .targets import PLAIN, RELIABLE, Target

GOAL = 0.95
TOPOLOGIES = (Topology("1 -> 100", 100, 1), Topology("1 -> 1000", 1000, 1))


class LineCounter:
    """A trace watcher that reads the whole stream and counts its lines (records and status lines)."""

    def __init__(self, connection_string: str):
        self._reader = TraceReader(connection_string, history=False)
        self.lines = 0
        self.bytes = 0
        self._connection: http.client.HTTPConnection | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-trace-watcher", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the trace watcher could not attach to the service")

    def _run(self) -> None:
        host = self._reader.endpoint.split("://", 1)[1]
        connection = http.client.HTTPConnection(host, timeout=30)
        self._connection = connection
        connection.request("GET", self._reader.path, headers={"Authorization": f"Bearer {self._reader.token()}"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"the trace refused the bench watcher: {response.status} {response.read()!r}")
        self._ready.set()
        try:
            while chunk := response.read1(65536):
                self.lines += chunk.count(b"\n")
                self.bytes += len(chunk)
        except (OSError, http.client.HTTPException):
            pass  # closed by close()

    def close(self) -> None:
        if self._connection is not None and self._connection.sock is not None:
            self._connection.sock.close()
        self._thread.join(5)


async def run_trace_overhead(settings: FanoutSettings, *, server_cpu: int | None = 0) -> list[dict[str, Any]]:
    """Fan-out through the three services, interleaved; one row per topology and subprotocol and mode."""
    rows: list[dict[str, Any]] = []
    with (
        ServerProcess("service", cpu=server_cpu, trace=False) as off,
        ServerProcess("service", cpu=server_cpu) as recording,
        ServerProcess("service", cpu=server_cpu) as watched,
    ):
        watcher = LineCounter(watched.connection_string)  # type: ignore[arg-type]
        try:
            for topology in TOPOLOGIES:
                for protocol in (PLAIN, RELIABLE):
                    if protocol == RELIABLE and topology.subscribers > 100:
                        continue  # the reliable window makes 1 -> 1000 a test of the publisher, not the trace
                    rows += await _compare(
                        topology, protocol, {"off": off, "recording": recording, "watched": watched}, settings
                    )
        finally:
            watcher.close()
        if settings.verbose:
            print(f"    the watcher read {watcher.lines:,} lines ({watcher.bytes / 1e6:.1f} MB)")
    return rows


async def _compare(
    topology: Topology, protocol: str, servers: dict[str, ServerProcess], settings: FanoutSettings
) -> list[dict[str, Any]]:
    targets = {
        mode: await Target.service(server, protocol, groups=topology.groups, subscribers=topology.subscribers)
        for mode, server in servers.items()
    }
    messages = max(1, settings.deliveries // (topology.subscribers // topology.groups))
    rounds: dict[str, list[Round]] = {mode: [] for mode in targets}
    label = "reliable" if protocol == RELIABLE else "plain"
    try:
        for mode, target in targets.items():
            await burst(target, max(1, messages // 10), servers[mode], settings=settings)
        for r in range(settings.rounds):
            order = list(targets) if r % 2 == 0 else list(targets)[::-1]
            for mode in order:
                result = await burst(targets[mode], messages, servers[mode], settings=settings)
                rounds[mode].append(result)
                if settings.verbose:
                    print(f"    trace {topology.name:<9} {label:<8} {mode:<9} round {r + 1}: {result.describe()}")
    finally:
        for target in targets.values():
            await target.close()
        await asyncio.sleep(0.3)
    off = clean_median(rounds["off"])
    return [
        metric(
            f"fan-out {topology.name}, {label}, trace {mode}",
            clean_median(rounds[mode]),
            "frames/s",
            "same service, trace off",
            off,
            at_least_ratio=GOAL,
        )
        for mode in ("recording", "watched")
    ]
