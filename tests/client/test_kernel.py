"""In a real Jupyter kernel (nbclient), the client keeps receiving and publishing while a cell is busy.

The kernel runs a Client with an echo callback; one cell then spins in a pure-Python loop for three
seconds (holding the kernel's main thread, as a training loop does). Meanwhile this test pings the
kernel every 0.1 s and must get echoes whose timestamps fall inside the busy window.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import nbformat
import pytest
from client_helpers import ROLES
from nbclient import NotebookClient

from wpsnb.client import Client
from wpsnb.service.local import LocalService

pytestmark = pytest.mark.slow

BUSY_SECONDS = 3.0

SETUP = """
import json, time
import wpsnb
client = wpsnb.Client({source!r}, user_id="kernel", roles={roles!r})
client.connect()
client.join_group({inbox!r})
received = []

def echo(message):
    received.append(time.time())
    client.send_to_group({outbox!r}, {{"echo": message.data, "at": time.time()}}, ack=False)

client.on_group_message(echo, group={inbox!r})
client.send_to_group({outbox!r}, "ready")
"""

BUSY = """
start = time.time()
spins, step = 0, 0
next_log = start + 0.5
while time.time() - start < {seconds}:   # pure Python: holds the GIL and the kernel's main thread
    spins += 1
    if time.time() >= next_log:          # a training loop publishing its progress
        step += 1
        client.send_to_group({outbox!r}, {{"step": step, "at": time.time()}}, ack=False)
        next_log += 0.5
end = time.time()
print(json.dumps({{"start": start, "end": end, "spins": spins,
                  "received_while_busy": sum(start <= t <= end for t in received)}}))
"""

CLOSE = "client.close()\nprint(client.state)"


def test_client_in_a_kernel_keeps_working_during_a_busy_cell(local_service: LocalService) -> None:
    inbox, outbox = f"in-{uuid.uuid4().hex[:8]}", f"out-{uuid.uuid4().hex[:8]}"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            SETUP.format(source=local_service.connection_string, roles=ROLES, inbox=inbox, outbox=outbox)
        ),
        nbformat.v4.new_code_cell(BUSY.format(seconds=BUSY_SECONDS, outbox=outbox)),
        nbformat.v4.new_code_cell(CLOSE),
    ]
    tester = Client(local_service, user_id="tester", roles=ROLES).connect()
    arrivals: list[tuple[float, object]] = []
    tester.on_group_message(lambda message: arrivals.append((time.time(), message.data)), group=outbox)
    tester.join_group(outbox)

    errors: list[BaseException] = []

    def execute() -> None:
        try:
            NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=execute)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while not any(data == "ready" for _, data in arrivals):
            assert time.monotonic() < deadline and runner.is_alive(), f"the kernel never said ready: {errors}"
            time.sleep(0.05)
        pings = 0
        while runner.is_alive():
            tester.send_to_group(inbox, pings, ack=False)
            pings += 1
            time.sleep(0.1)
        runner.join()
    finally:
        tester.close()
    assert not errors, errors

    busy = json.loads(notebook.cells[1].outputs[0]["text"])
    assert busy["end"] - busy["start"] >= BUSY_SECONDS and busy["spins"] > 100_000
    inside = [(t, data) for t, data in arrivals if busy["start"] + 0.2 <= t <= busy["end"] - 0.2]
    echoes = [data for _, data in inside if isinstance(data, dict) and "echo" in data]
    progress = [data for _, data in inside if isinstance(data, dict) and "step" in data]
    # Pings go out every 0.1 s: about 26 fall in the 2.6 s window; a few may be lost to scheduling.
    assert len(echoes) >= 15, f"only {len(echoes)} echoes arrived while the cell was busy"
    assert [e["echo"] for e in echoes] == sorted(e["echo"] for e in echoes)
    assert all(busy["start"] <= e["at"] <= busy["end"] for e in echoes)  # sent by the kernel mid-loop
    assert busy["received_while_busy"] >= 15
    assert len(progress) >= 4  # the busy cell's own fire-and-forget publishes went out live
    assert notebook.cells[2].outputs[0]["text"].strip() == "closed"
