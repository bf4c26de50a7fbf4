"""50,000 messages at full speed into a StreamView in a real Jupyter kernel (nbclient).

The local service and the publisher run in the test process; the kernel only receives, as a
notebook watching a busy group would. While a flood runs, the test keeps executing a small cell and
times it: the kernel must answer promptly. The widget's comm ``send`` is wrapped in the kernel to
count every message to the front end.

Two floods of 50,000 messages each, published as fast as the publisher can (~15-30k msg/s here):

1. plain: every message must reach the view, cells stay prompt, the page gets a few batched comm
   messages a second;
2. with tracemalloc on: memory must stop growing once the ring buffers are full. tracemalloc slows
   the kernel several-fold, so the client may fall 10,000 callbacks behind and drop the oldest
   (its documented policy); the view must account for every message (shown + dropped).

The view uses ``json.webpubsub.azure.v1``: on the reliable protocol the service drops a receiver that
falls 1,000 messages behind (docs/protocol.md), which any full-speed publisher makes it do.

Run with ``-s`` to see the measurements.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from wpsnb.client import Client
from wpsnb.protocol.messages import PLAIN_PROTOCOL

MESSAGES = 50_000

SETUP = """
import json, time, tracemalloc
from wpsnb.notebook import StreamView
view = StreamView({connection_string!r}, hub={hub!r}, groups=["load"], protocol={protocol!r})
comm_sends = []
_comm_send = view.comm.send
def _counting_send(*args, **kwargs):
    comm_sends.append(time.monotonic())
    return _comm_send(*args, **kwargs)
view.comm.send = _counting_send
def traced(which=0):
    return tracemalloc.get_traced_memory()[which] - baseline if tracemalloc.is_tracing() else 0
print(view.state)
"""

PROBE = "print(json.dumps([view.count + view.header.get('dropped', 0), traced()]))"

SETTLE = """
deadline = time.monotonic() + 120
while view.count + view.client.stats["callbacks_dropped"] < {expected} and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(1.5)  # the feed flushes, the header and history traits settle
window = max(sum(1 for t in comm_sends if start <= t < start + 1.0) for start in comm_sends)
print(json.dumps({{
    "count": view.count, "dropped": view.client.stats["callbacks_dropped"], "kept": len(view.records()),
    "history": len(view.history), "comm_messages": len(comm_sends), "comm_max_per_second": window,
    "comm_span": comm_sends[-1] - comm_sends[0], "last_record": view.records()[-1].get("data"),
    "memory_now": traced(), "memory_peak": traced(1),
}}))
"""

TRACE = "tracemalloc.start()\nbaseline = tracemalloc.get_traced_memory()[0]"


def output_of(cell: nbformat.NotebookNode) -> str:
    return "".join(output.get("text", "") for output in cell.outputs if output.get("output_type") == "stream")


def run(runner: NotebookClient, notebook: nbformat.NotebookNode, index: int) -> str:
    notebook.cells[index].outputs = []
    runner.execute_cell(notebook.cells[index], index)
    return output_of(notebook.cells[index]).strip()


def flood_while_probing(
    runner: NotebookClient, notebook: nbformat.NotebookNode, service: Any, hub: str, first: int
) -> dict[str, Any]:
    """Publish MESSAGES at full speed from a thread; meanwhile run the probe cell again and again."""
    publish_seconds: list[float] = []

    def flood() -> None:
        with Client(service, hub=hub, roles=["webpubsub.sendToGroup"]) as sender:
            started = time.perf_counter()
            for n in range(first, first + MESSAGES):
                sender.send_to_group("load", f"step {n} loss {1 / (n + 1):.6f}", data_type="text", ack=False)
            sender.flush(timeout=120)
            publish_seconds.append(time.perf_counter() - started)

    publisher = threading.Thread(target=flood, daemon=True)
    started = time.perf_counter()
    publisher.start()
    samples: list[tuple[int, int, float]] = []  # (messages accounted for, traced bytes, cell latency)
    last_progress = started
    while True:
        asked = time.perf_counter()
        count, memory = json.loads(run(runner, notebook, 1))
        samples.append((count, memory, time.perf_counter() - asked))
        if len(samples) > 1 and count > samples[-2][0]:
            last_progress = time.perf_counter()
        if count >= first + MESSAGES or time.perf_counter() - last_progress > 10:
            break
        time.sleep(0.1)
    absorbed = time.perf_counter() - started
    publisher.join(130)
    return {"samples": samples, "absorbed": absorbed, "published": publish_seconds[0] if publish_seconds else None}


@pytest.mark.slow
def test_fifty_thousand_messages_keep_the_kernel_responsive_and_memory_bounded(local_service):
    hub = "load" + uuid.uuid4().hex[:8]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            SETUP.format(connection_string=local_service.connection_string, hub=hub, protocol=PLAIN_PROTOCOL)
        ),
        nbformat.v4.new_code_cell(PROBE),
        nbformat.v4.new_code_cell(SETTLE.format(expected=MESSAGES)),
        nbformat.v4.new_code_cell(TRACE),
        nbformat.v4.new_code_cell(SETTLE.format(expected=2 * MESSAGES)),
        nbformat.v4.new_code_cell("view.close(); print(view.state)"),
    ]
    runner = NotebookClient(notebook, timeout=180, kernel_name="python3")
    with runner.setup_kernel():
        assert run(runner, notebook, 0) == "connected"
        speed = flood_while_probing(runner, notebook, local_service, hub, first=0)
        settled = json.loads(run(runner, notebook, 2))
        run(runner, notebook, 3)
        memory = flood_while_probing(runner, notebook, local_service, hub, first=MESSAGES)
        traced = json.loads(run(runner, notebook, 4))
        assert run(runner, notebook, 5) == "closed"

    during = [latency for count, _, latency in speed["samples"] if count < MESSAGES]
    after_20k = next(m for c, m, _ in memory["samples"] if c >= MESSAGES + 20_000)
    print(
        f"\nflood 1: {MESSAGES:,} messages published in {speed['published']:.2f} s, all in the view after "
        f"{speed['absorbed']:.2f} s ({MESSAGES / speed['absorbed']:,.0f} msg/s absorbed)\n"
        f"  cells run during the flood: {len(during)}, latency max {max(during, default=0) * 1000:.0f} ms\n"
        f"  comm messages to the page: {settled['comm_messages']} in {settled['comm_span']:.1f} s, "
        f"at most {settled['comm_max_per_second']} in any second; kept {settled['kept']:,} records, "
        f"history trait {settled['history']}\n"
        f"flood 2 (tracemalloc on): absorbed in {memory['absorbed']:.2f} s, {traced['count'] - MESSAGES:,} shown + "
        f"{traced['dropped']:,} dropped by the client\n"
        f"  traced memory: {after_20k / 1e6:.1f} MB after 20k messages, {traced['memory_now'] / 1e6:.1f} MB after "
        f"50k, peak {traced['memory_peak'] / 1e6:.1f} MB"
    )

    # Flood 1: nothing lost, the kernel answered cells throughout, the page got batches.
    assert settled["count"] == MESSAGES and settled["dropped"] == 0
    assert settled["last_record"] == f"step {MESSAGES - 1} loss {1 / MESSAGES:.6f}"
    assert settled["kept"] == 10_000  # the ring buffer's default limit
    assert len(during) >= 2 and max(during) < 2.0
    assert settled["comm_max_per_second"] <= 50
    assert settled["comm_messages"] < MESSAGES / 100
    # Flood 2: every message accounted for; memory flat once the ring buffers are full.
    assert traced["count"] + traced["dropped"] == 2 * MESSAGES
    assert traced["kept"] == 10_000
    assert traced["memory_now"] - after_20k < 5e6
    assert traced["memory_peak"] < 100e6
