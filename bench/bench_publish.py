"""What ``%%publish`` costs a print-heavy loop: the same loop with and without the publishing engine.

In this process, each round runs the loop twice, alternating: once printing to a sink file (the
baseline), once inside ``wpsnb.publish_output`` printing to the same sink (the tee) while every line
is published to a group on a local service running in another process (``wpsnb serve``, standing in
for Azure) and watched by ``wpsnb tail`` in a third. The "with" time includes the flush at the end (until every line is
acknowledged); the viewer must then have every line, or the benchmark fails.

Two loops: ``print`` alone (the worst case: nothing but output; timed with the whole block, flush
included), and a training-like step (about 40 µs of pure-Python arithmetic, then one ``print``; the
loop timed inside the block, the block's fixed cost reported apart).

In a real Jupyter kernel (nbclient), the same print-only loop in plain cells and ``%%publish`` cells,
alternating (medians of each): once with the service in another
process (``WebPubSubConnectionString`` set, as with Azure) and once with the default, a local service
inside the kernel itself, sharing its interpreter. Times are measured inside the cells (the loop, not
the connection or the final flush).

Example::

    python -m bench.bench_publish            # full
    python -m bench.bench_publish --quick
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import wait_for_quiet
from bench.results import median, metric, print_table

GROUP = "bench-publish"
_SCRIPT = Path(sys.executable).with_name("wpsnb")
WPSNB = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "wpsnb.cli"]
STEP_WORK = 600  # inner iterations of the training-like step (~40 µs of Python here)
Loop = Callable[[int], None]


def print_loop(lines: int) -> None:
    """Nothing but output."""
    for step in range(lines):
        print(f"step {step:7d}  loss {1.0 / (step + 1):.6f}")


def training_loop(lines: int) -> None:
    """A pure-Python step, then one line of progress."""
    weight = 0.5
    for step in range(lines):
        gradient = 0.0
        for sample in range(STEP_WORK):
            gradient += (weight * sample - 3.0) * sample * 1e-6
        weight -= 0.01 * gradient
        print(f"step {step:7d}  weight {weight:.6f}")


@contextmanager
def served() -> Iterator[str]:
    """``wpsnb serve --port 0`` in another process; yields its connection string."""
    process = subprocess.Popen(
        [*WPSNB, "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "Endpoint=" in line:
                yield line.strip()
                return
        raise RuntimeError("wpsnb serve did not print its connection string")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(20)


class Viewer:
    """``wpsnb tail GROUP --json`` in another process, its frames written to a file."""

    def __init__(self, connection_string: str, directory: Path):
        self.path = directory / "received.jsonl"
        with self.path.open("w") as out:
            self.process = subprocess.Popen(
                [*WPSNB, "tail", GROUP, "--json", "--connection-string", connection_string],
                stdout=out,
                stderr=subprocess.PIPE,
                text=True,
            )
        assert self.process.stderr is not None
        ready = self.process.stderr.readline()
        if "listening" not in ready:
            raise RuntimeError(f"wpsnb tail did not start: {ready}")

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        needle = text.replace("\n", "\\n")
        while needle not in self.path.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the viewer did not receive {text!r} within {timeout} s")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(20)


@dataclass
class Timing:
    """Medians over the rounds: the loop alone (``plain``), the loop inside publish_output (``loop``), the
    whole block (``block``: connect, loop, final flush, close), in seconds; CPU seconds of the loop alone
    (``plain_cpu``) and, with publishing, of the loop's thread plus wpsnb's threads (``loop_cpu``);
    lines dropped over all rounds."""

    plain: float
    loop: float
    block: float
    plain_cpu: float
    loop_cpu: float
    dropped: int


@dataclass
class Run:
    seconds: float
    block: float
    cpu: float
    stats: Any


def wpsnb_threads_cpu() -> float:
    """CPU seconds used so far by this process's wpsnb threads (publisher worker, client loop): Linux /proc."""
    total = 0.0
    for thread in threading.enumerate():
        if not thread.name.startswith("wpsnb-") or thread.native_id is None:
            continue
        try:
            with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def timed(loop: Loop, lines: int, sink: Any, service: Any = None, **options: Any) -> Run:
    """The loop printing to ``sink`` (with ``service``: inside publish_output): wall and CPU seconds."""
    from wpsnb.notebook.output_capture import publish_output

    with redirect_stdout(sink):
        started = time.perf_counter()
        if service is None:
            cpu = time.thread_time()
            loop(lines)
            seconds = time.perf_counter() - started
            return Run(seconds, seconds, time.thread_time() - cpu, None)
        with publish_output(GROUP, source=service, **options) as published:
            loop_started, cpu, helpers = time.perf_counter(), time.thread_time(), wpsnb_threads_cpu()
            loop(lines)
            seconds = time.perf_counter() - loop_started
            cpu = time.thread_time() - cpu + wpsnb_threads_cpu() - helpers
        return Run(seconds, time.perf_counter() - started, cpu, published.stats)


def measure(
    name: str,
    loop: Loop,
    lines: int,
    rounds: int,
    service: Any,
    viewer: Viewer,
    sink: Any,
    quiet_wait: float = 0.0,
    **options: Any,
) -> Timing:
    """Alternating rounds without and with publishing; every line must reach the viewer."""
    plain: list[Run] = []
    published: list[Run] = []
    for _ in range(rounds):
        wait_for_quiet(quiet_wait)  # other work on the machine distorts a GIL-bound loop badly
        plain.append(timed(loop, lines, sink))
        run = timed(loop, lines, sink, service, **options)
        published.append(run)
        viewer.wait_for(run.stats.summary() + "\n")  # every line reached the other process
        if run.stats.lines != lines or run.stats.failed or run.stats.unconfirmed:
            raise RuntimeError(f"{name}: {run.stats.summary()}")
    return Timing(
        median([r.seconds for r in plain]),
        median([r.seconds for r in published]),
        median([r.block for r in published]),
        median([r.cpu for r in plain]),
        median([r.cpu for r in published]),
        sum(r.stats.dropped for r in published),
    )


KERNEL_SETUP = [
    "%load_ext wpsnb",
    """import json, sys, time
plain, published = [], []
def print_loop(lines):
    for step in range(lines):
        print(f"step {step:7d}  loss {1.0 / (step + 1):.6f}")""",
]
KERNEL_ROUND = [
    """started = time.perf_counter(); print_loop(LINES); plain.append(time.perf_counter() - started)""",
    """%%publish bench-kernel
started = time.perf_counter(); print_loop(LINES); published.append(time.perf_counter() - started)""",
]
KERNEL_REPORT = """plain.append(plain[0]); print(json.dumps([plain, published]), file=sys.stderr)"""


def in_kernel(lines: int, connection_string: str | None, rounds: int) -> tuple[float, float]:
    """Median seconds of the print loop in a plain cell and in a ``%%publish`` cell, ``rounds`` of each."""
    import json as json_module

    import nbformat
    from nbclient import NotebookClient

    sources = [*KERNEL_SETUP, *(KERNEL_ROUND * rounds), KERNEL_ROUND[0], KERNEL_REPORT]
    cells = [nbformat.v4.new_code_cell(source.replace("LINES", str(lines))) for source in sources]
    notebook = nbformat.v4.new_notebook(cells=cells)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("WebPubSubConnectionString", "WEBPUBSUB_CONNECTION_STRING")
    }
    if connection_string:
        env["WebPubSubConnectionString"] = connection_string
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute(env=env)
    plain, published = json_module.loads(notebook.cells[-1].outputs[0]["text"])
    for cell in notebook.cells:
        if cell.source.startswith("%%publish"):
            shown = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            summary = shown.rstrip().rsplit("\n", 1)[-1]
            if not summary.startswith(f"published {lines} lines"):
                raise RuntimeError(f"a %%publish cell did not publish every line: {summary!r}")
    # Each %%publish round sits between two plain rounds; compare like with like.
    return median(plain), median(published)


def run(quick: bool) -> list[dict[str, Any]]:
    """The benchmark's result rows (``quick``: fewer lines and rounds, several seconds)."""
    # `python -m bench` pins itself to one CPU; the service, viewer and kernel started here must not share it.
    pinned = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if pinned is not None:
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    try:
        return _run(quick)
    finally:
        if pinned is not None:
            os.sched_setaffinity(0, pinned)


def _run(quick: bool) -> list[dict[str, Any]]:
    lines = 20_000 if quick else 200_000
    train_lines = 2_000 if quick else 20_000
    kernel_lines = 20_000 if quick else 100_000
    rounds = 3 if quick else 5
    kernel_rounds = 1 if quick else 3
    quiet = 0.0 if quick else 20.0
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as directory, served() as service, open(os.devnull, "w") as sink:
        viewer = Viewer(service, Path(directory))
        try:
            timed(print_loop, 2_000, sink, service)  # warm up: imports, first connection
            flood = measure("print loop", print_loop, lines, rounds, service, viewer, sink, quiet)
            rows.append(
                metric(
                    f"print-only loop, {lines:,} lines, whole publish_output block",
                    flood.block,
                    "s",
                    "same loop, no publishing",
                    flood.plain,
                )
            )
            rows.append(
                metric(
                    "publishing cost per printed line (print-only loop, in-process, flush included)",
                    (flood.block - flood.plain) / lines * 1e6,
                    "us",
                    None,
                    None,
                    at_most=3.0,
                )
            )
            rows.append(
                metric(
                    "lines dropped by the full-queue policy (print-only loop)",
                    flood.dropped,
                    "lines",
                    None,
                    None,
                    at_most=0,
                )
            )
            train = measure("training loop", training_loop, train_lines, rounds, service, viewer, sink, quiet)
            rows.append(
                metric(
                    f"training-like loop (~40 us/step), {train_lines:,} steps, inside publish_output: "
                    "CPU of the loop's thread + wpsnb's threads",
                    train.loop_cpu,
                    "s cpu",
                    "same loop, no publishing",
                    train.plain_cpu,
                    at_most_ratio=1.10,
                )
            )
            rows.append(
                metric(
                    f"training-like loop, {train_lines:,} steps, inside publish_output: wall clock",
                    train.loop,
                    "s",
                    "same loop, no publishing",
                    train.plain,
                )
            )
            rows.append(
                metric(
                    "publish_output fixed cost per block (connect, final flush, close)",
                    (train.block - train.loop) * 1e3,
                    "ms",
                    None,
                    None,
                )
            )
            one_per_line = min(lines, 20_000)
            single = measure(
                "one message per line",
                print_loop,
                one_per_line,
                rounds,
                service,
                viewer,
                sink,
                quiet,
                max_message_chars=0,
                block_timeout=None,
            )
            rows.append(
                metric(
                    f"print-only loop, {one_per_line:,} lines, one message per line (not the default)",
                    single.block,
                    "s",
                    "same loop, no publishing",
                    single.plain,
                )
            )
        finally:
            viewer.stop()
        wait_for_quiet(quiet)
        base, pub = in_kernel(kernel_lines, service, kernel_rounds)
        rows.append(
            metric(
                f"Jupyter kernel: %%publish cell, {kernel_lines:,} prints, service in another process",
                pub,
                "s",
                "same loop in a plain cell",
                base,
                at_most_ratio=1.3,
            )
        )  # issue 8's goal
        rows.append(
            metric(
                "%%publish cost per printed line in a kernel (service in another process)",
                (pub - base) / kernel_lines * 1e6,
                "us",
                None,
                None,
            )
        )
    wait_for_quiet(quiet)
    base, pub = in_kernel(kernel_lines, None, kernel_rounds)
    rows.append(
        metric(
            f"Jupyter kernel: %%publish cell, {kernel_lines:,} prints, default local service in the kernel",
            pub,
            "s",
            "same loop in a plain cell",
            base,
            at_most_ratio=1.3,
        )
    )
    rows.append(
        metric(
            "%%publish cost per printed line in a kernel (local service in the kernel)",
            (pub - base) / kernel_lines * 1e6,
            "us",
            None,
            None,
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_publish", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer lines and rounds")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    print_table(rows, title="%%publish overhead")
    return 0 if all(row["met"] is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["print_loop", "run", "training_loop"]
