"""End-to-end latency: ``print()`` in a kernel's ``%%publish`` cell to the line in a watch page's DOM.

The path measured is the whole one a user sees: the kernel's tee and publisher, ``wpsnb serve``
(another process) fanning out to the watch server's Watcher, the server's Feed batching (at most 20
messages a second to a page), the page's WebSocket, store and log, and its next animation frame.
The kernel prints ``R<run>L<n> <time.time()>`` at a steady rate; a MutationObserver in the page
(headless Chromium, Playwright) stamps each line when its row enters the DOM
(``performance.timeOrigin + performance.now()``; one machine, one clock). Rates 100 and 1,000
lines/s, p50 and p99. Bounded: every step has a timeout and the runs end by themselves.

Example::

    python -m bench --quick --only watch
    python bench/watch_latency.py --quick
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from .bench_publish import served
from .results import metric, print_table

GROUP = "bench-watch"
CHROMIUM = os.environ.get("WPSNB_CHROMIUM", "/usr/bin/chromium")
RATES = (100, 1_000)

OBSERVER = """([run, count]) => {
  window.__lat = window.__lat || {};
  const seen = new Set(), latencies = [];
  window.__lat[run] = latencies;
  const pattern = new RegExp(`R${run}L(\\\\d+) (\\\\d+\\\\.\\\\d+)`, "g");
  new MutationObserver((mutations) => {
    const now = performance.timeOrigin + performance.now();
    for (const mutation of mutations) for (const node of mutation.addedNodes) {
      if (node.nodeType !== 1) continue;
      for (const match of (node.textContent || "").matchAll(pattern)) {
        if (seen.has(match[1])) continue;  // a row re-rendered (filter, reset): counted once
        seen.add(match[1]);
        latencies.push(now - parseFloat(match[2]) * 1000);
      }
    }
  }).observe(document.querySelector(".wpsnb-rows"), { childList: true, subtree: true });
}"""

PRINT_CELL = """%%publish {group}
import time
started = time.perf_counter()
for n in range({count}):
    due = started + n / {rate}
    while (now := time.perf_counter()) < due:
        time.sleep(min(due - now, 0.002))
    print(f"R{run}L{{n}} {{time.time():.6f}}")
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def execute(client: Any, code: str, timeout: float) -> None:
    """Run ``code`` in the kernel and wait for its reply (errors raise)."""
    msg_id = client.execute(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"the kernel failed: {reply['content'].get('evalue')}")
            return
    raise TimeoutError(f"the kernel did not finish within {timeout} s")


def measure(duration: float) -> dict[int, list[float]]:
    """Latencies (ms) of every line at each rate, ``duration`` seconds of printing per rate."""
    from jupyter_client import KernelManager
    from playwright.sync_api import sync_playwright

    from wpsnb.watch import WatchServer

    results: dict[int, list[float]] = {}
    with served() as connection_string:
        env = {
            k: v for k, v in os.environ.items() if k not in ("WebPubSubConnectionString", "WEBPUBSUB_CONNECTION_STRING")
        }
        env["WebPubSubConnectionString"] = connection_string
        kernel = KernelManager(kernel_name="python3")
        kernel.start_kernel(env=env)
        client = kernel.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            execute(client, "%load_ext wpsnb", 60)
            with WatchServer(connection_string, GROUP, history=0) as server, sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(server.url)
                page.wait_for_selector(".wpsnb-watch[data-state='live']", timeout=30_000)
                for run, rate in enumerate(RATES):
                    count = int(rate * duration)
                    page.evaluate(OBSERVER, [run, count])
                    execute(client, PRINT_CELL.format(group=GROUP, count=count, rate=rate, run=run), duration + 60)
                    page.wait_for_function(
                        "([run, count]) => window.__lat[run].length >= count", arg=[run, count], timeout=60_000
                    )
                    results[rate] = page.evaluate("run => window.__lat[run]", run)
                browser.close()
        finally:
            client.stop_channels()
            kernel.shutdown_kernel(now=True)
    return results


def run(quick: bool) -> list[dict[str, Any]]:
    """The benchmark's rows (``quick``: 2 s of printing per rate, else 10 s)."""
    pinned = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if pinned is not None:  # the kernel, service and browser started here must not share one CPU
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    try:
        latencies = measure(2.0 if quick else 10.0)
    finally:
        if pinned is not None:
            os.sched_setaffinity(0, pinned)
    rows = []
    for rate, values in latencies.items():
        for name, q in (("p50", 0.50), ("p99", 0.99)):
            rows.append(
                metric(
                    f"watch page: print() in a kernel to the DOM, {name} at {rate:,} lines/s ({len(values):,} lines)",
                    round(percentile(values, q), 1),
                    "ms",
                    None,
                    None,
                )
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s of printing per rate instead of 10 s")
    rows = run(parser.parse_args(argv).quick)
    print_table(rows, title="watch page latency")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
