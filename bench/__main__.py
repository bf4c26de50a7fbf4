"""``python -m bench [--quick]``: run every benchmark, print the table, write ``bench/results.json``.

The servers under test run in child processes pinned to CPU 0; this process (the load generator,
the wpsnb clients and widgets) pins itself to CPU 1 and runs on uvloop when it is installed.
``--quick`` (``make bench-quick``) measures the same things with fewer messages and rounds and no
waiting for a quiet machine, in under a minute; ``make bench`` takes several minutes.

Example::

    python -m bench --quick
    python -m bench --only fanout,latency --output /tmp/results.json
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from .client_publish import ClientSettings, run_client_publish
from .fanout import FanoutSettings, run_fanout
from .idle_memory import run_idle_memory
from .latency import LatencySettings, run_latency
from .machine import describe, pin_to_cpu, raise_open_file_limit
from .outbound_flood import FloodSettings, run_outbound_flood
from .rest_send import RestSettings, run_rest_send
from .results import print_table, write_results
from .streams import StreamSettings, run_streams
from .trace_overhead import run_trace_overhead
from .upstream import UpstreamSettings, run_upstream
from .widget_ingest import WidgetSettings, run_widget_ingest

SERVER_CPU = 0
LOAD_CPU = 1
RESULTS = Path(__file__).parent / "results.json"
Rows = list[dict[str, Any]]


def plan(quick: bool) -> dict[str, Callable[[], Coroutine[Any, Any, Rows]]]:
    """Each benchmark by name, with the settings of a quick or a full run."""
    wait, retries = (0.0, 0) if quick else (20.0, 2)
    fanout = (
        FanoutSettings(rounds=2, deliveries=100_000, quiet_wait=wait, retries=retries)
        if quick
        else FanoutSettings(rounds=5, deliveries=1_000_000, quiet_wait=wait, retries=retries)
    )
    latency = (
        LatencySettings(
            duration=2.0, rounds=1, sweep=(2_000, 4_000, 8_000), sweep_duration=1.0, quiet_wait=wait, retries=retries
        )
        if quick
        else LatencySettings(duration=10.0, rounds=3, quiet_wait=wait, retries=retries)
    )
    rest = (
        RestSettings(sequential=150, pooled=300, rounds=2, quiet_wait=wait) if quick else RestSettings(quiet_wait=wait)
    )
    client = (
        ClientSettings(messages=10_000, acked=1_000, rounds=2, quiet_wait=wait)
        if quick
        else ClientSettings(quiet_wait=wait)
    )
    widget = (
        WidgetSettings(messages=10_000, warm_up=15_000, rounds=2, quiet_wait=wait)
        if quick
        else WidgetSettings(quiet_wait=wait)
    )
    streams = (
        StreamSettings(rounds=2, deliveries=100_000, quiet_wait=wait, retries=retries)
        if quick
        else StreamSettings(rounds=5, deliveries=1_000_000, quiet_wait=wait, retries=retries)
    )
    upstream = UpstreamSettings(events=600, rounds=2, quiet_wait=wait) if quick else UpstreamSettings(quiet_wait=wait)
    return {
        "fanout": lambda: run_fanout(fanout, server_cpu=SERVER_CPU),
        "streams": lambda: run_streams(streams, server_cpu=SERVER_CPU),
        # Full: three passes of three rounds, each pass on fresh processes (see trace_overhead.py).
        "trace": lambda: run_trace_overhead(
            fanout if quick else replace(fanout, rounds=3), server_cpu=SERVER_CPU, passes=1 if quick else 3
        ),
        "latency": lambda: run_latency(latency, server_cpu=SERVER_CPU),
        "rest": lambda: run_rest_send(rest, server_cpu=SERVER_CPU),
        "upstream": lambda: run_upstream(upstream, server_cpu=SERVER_CPU),
        "client": lambda: run_client_publish(client, server_cpu=SERVER_CPU),
        "widget": lambda: run_widget_ingest(widget, server_cpu=SERVER_CPU),
        "publish": lambda: _publish_overhead(quick),
        "history": lambda: _history_replay(quick),
        "flood": lambda: run_outbound_flood(FloodSettings(), server_cpu=SERVER_CPU),
        "watch": lambda: _watch_latency(quick),
        "memory": lambda: run_idle_memory(1_000 if quick else 10_000, server_cpu=SERVER_CPU),
    }


async def _publish_overhead(quick: bool) -> Rows:
    """``%%publish`` overhead, measured by the publisher's own benchmark (``bench/bench_publish.py``)."""
    from . import bench_publish

    return await asyncio.to_thread(bench_publish.run, quick)


async def _history_replay(quick: bool) -> Rows:
    """A late watcher's wait for 1,000 lines of history (``bench/history_replay.py``)."""
    from . import history_replay

    return await asyncio.to_thread(history_replay.run, quick)


async def _watch_latency(quick: bool) -> Rows:
    """``print()`` in a kernel to the line in a watch page's DOM (``bench/watch_latency.py``)."""
    from . import watch_latency

    return await asyncio.to_thread(watch_latency.run, quick)


async def run_all(names: list[str], quick: bool) -> tuple[Rows, list[str]]:
    """Run the named benchmarks in order; a failing one is reported and the rest still run."""
    benchmarks = plan(quick)
    rows: Rows = []
    failed = []
    for name in names:
        started = time.monotonic()
        print(f"\n== {name} ==", flush=True)
        try:
            rows += await benchmarks[name]()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"   ({time.monotonic() - started:.1f} s)", flush=True)
    return rows, failed


def main(argv: list[str] | None = None) -> int:
    names = list(plan(True))
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages and rounds: under a minute")
    parser.add_argument("--only", default=",".join(names), help=f"comma-separated subset of {','.join(names)}")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the results (JSON)")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in names]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names)}")

    pin_to_cpu(LOAD_CPU)
    raise_open_file_limit()
    started = time.monotonic()
    print(f"wpsnb benchmarks ({'quick' if args.quick else 'full'}) on {describe()}")
    print(f"servers on CPU {SERVER_CPU}, load generator on CPU {LOAD_CPU}")
    rows, failed = _run(run_all(chosen, args.quick))
    print_table(rows, title=f"Results ({'quick' if args.quick else 'full'} run, {time.monotonic() - started:.0f} s)")
    write_results(rows, args.output)
    print(f"\nwrote {len(rows)} metrics to {args.output}")
    if failed:
        print(f"FAILED: {', '.join(failed)} (tracebacks above)", file=sys.stderr)
        return 1
    return 0


def _run(coroutine: Coroutine[Any, Any, tuple[Rows, list[str]]]) -> tuple[Rows, list[str]]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


if __name__ == "__main__":
    sys.exit(main())
