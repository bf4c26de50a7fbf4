"""``%%publish`` in a real Jupyter kernel (nbclient), watched from another process.

The kernel finds the service through ``WebPubSubConnectionString`` (a LocalService started by the test);
the subscriber is ``wpsnb tail --json`` in its own process, writing what it receives to a file that the
cell itself reads — so "received before the cell finished" is checked by the cell, not guessed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from publisher_helpers import Subscriber, final_lines

from wpsnb.service.local import LocalService

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import WPSNB, clean_env

pytestmark = pytest.mark.slow

LINES = 10_000
CHECKPOINT_EVERY = 1_000
BAR_STEPS = 60

TRAIN_CELL = rf"""%%publish train
import logging, os, pathlib, time
from tqdm import tqdm

log = logging.getLogger("train")
for step in tqdm(range({BAR_STEPS}), ascii=True, mininterval=0.02):   # a progress bar on stderr
    time.sleep(0.01)
for n in range({LINES}):
    print(f"line {{n}}")
    if n % {CHECKPOINT_EVERY} == {CHECKPOINT_EVERY - 1}:
        log.info("checkpoint after line %d", n)

# Still inside the cell: the other process must already have the last line.
received = pathlib.Path(os.environ["WPSNB_TEST_RECEIVED"])
deadline = time.monotonic() + 60
while r"line {LINES - 1}\n" not in received.read_text() and time.monotonic() < deadline:
    time.sleep(0.02)
assert r"line {LINES - 1}\n" in received.read_text(), "the subscriber did not get the last line while the cell ran"
print("the subscriber had every line before the cell finished")
"""


def code(source: str, *tags: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def execute(cells: list[nbformat.NotebookNode], env: dict[str, str], cwd: Path) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute(
        env=env
    )
    return notebook


def stream_text(cell: nbformat.NotebookNode, name: str) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == name)


@pytest.fixture
def service() -> Iterator[LocalService]:
    with LocalService() as running:
        yield running


def test_a_training_cell_is_received_live_by_another_process_line_by_line(
    service: LocalService, tmp_path: Path
) -> None:
    received_file = tmp_path / "received.jsonl"
    with received_file.open("w") as received:
        tail = subprocess.Popen(
            [*WPSNB, "tail", "train", "--json", "--connection-string", service.connection_string],
            stdout=received,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
    try:
        assert tail.stderr is not None and "listening to group" in tail.stderr.readline()
        env = clean_env(WebPubSubConnectionString=service.connection_string, WPSNB_TEST_RECEIVED=str(received_file))
        notebook = execute(
            [
                code("%load_ext wpsnb"),
                code(
                    "import logging\n"
                    "logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s', "
                    "force=True)  # its handler holds the kernel's stderr, from before %%publish"
                ),
                code(TRAIN_CELL),
            ],
            env,
            tmp_path,
        )
        cell = notebook.cells[2]
        summary = re.search(r"published (\d+) lines to group train \((\d+) dropped\)", stream_text(cell, "stdout"))
        assert summary, stream_text(cell, "stdout")[-500:]
        deadline = time.monotonic() + 30
        while summary.group(0) not in received_file.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        tail.send_signal(signal.SIGINT)
        assert tail.wait(20) == 0

    # What the notebook showed: the lines (teed), the bar on stderr, the check, the summary.
    shown = stream_text(cell, "stdout")
    assert f"line {LINES - 1}\n" in shown and "the subscriber had every line before the cell finished" in shown
    assert f"{BAR_STEPS}/{BAR_STEPS}" in stream_text(cell, "stderr")

    frames = [json.loads(line) for line in received_file.read_text().splitlines()]
    assert {(f["type"], f["group"], f["dataType"]) for f in frames} == {("message", "train", "text")}
    shown_by_subscriber = final_lines("".join(f["data"] for f in frames))
    numbered = [int(line.split()[1]) for line in shown_by_subscriber if re.fullmatch(r"line \d+", line)]
    assert numbered == list(range(LINES))  # every line exactly once, in order
    checkpoints = [line for line in shown_by_subscriber if line.startswith("INFO train: checkpoint")]
    assert checkpoints == [
        f"INFO train: checkpoint after line {n}" for n in range(CHECKPOINT_EVERY - 1, LINES, CHECKPOINT_EVERY)
    ]
    position = {line: index for index, line in enumerate(shown_by_subscriber)}
    assert position["INFO train: checkpoint after line 999"] == position["line 999"] + 1  # interleaved in order
    bar_lines = [line for line in shown_by_subscriber if f"{BAR_STEPS}/{BAR_STEPS}" in line]
    assert len(bar_lines) == 1 and "100%" in bar_lines[0]
    bar_messages = [f for f in frames if f["data"].startswith("\r")]
    assert len(bar_messages) < BAR_STEPS // 2  # a few updates of one line, not one line per redraw
    assert shown_by_subscriber[-1] == summary.group(0)  # the summary comes last
    published, dropped = int(summary.group(1)), int(summary.group(2))
    assert dropped == 0
    assert published == LINES + LINES // CHECKPOINT_EVERY + 2  # + the bar's line + the check line
    assert len(frames) < LINES // 10  # lines that waited together shared messages


def test_options_failures_and_tracebacks_in_a_kernel(service: LocalService, tmp_path: Path) -> None:
    subscriber = Subscriber(service, "quiet")
    env = clean_env(WPSNB_TEST_CS=service.connection_string)
    try:
        notebook = execute(
            [
                code("%load_ext wpsnb"),
                code("import os\ncs = os.environ['WPSNB_TEST_CS']"),
                code("%%publish quiet --source cs --no-tee\nprint('only published')"),
                code(
                    "%%publish quiet --source cs\nprint('about to fail')\nraise ValueError('bad batch')",
                    "raises-exception",
                ),
                code("%%publish quiet --source cs\nimport asyncio\nawait asyncio.sleep(0)", "raises-exception"),
                code("print('the notebook went on')"),
            ],
            env,
            tmp_path,
        )
        subscriber.collect(lambda got: "".join(m.data for m in got).count(" dropped)\n") == 2)
        text = "".join(m.data for m in subscriber.received)
    finally:
        subscriber.close()
    quiet, failing, awaiting, after = notebook.cells[2:]
    assert stream_text(quiet, "stdout") == "published 1 line to group quiet (0 dropped)\n"  # --no-tee
    errors = [o for o in failing.outputs if o.output_type == "error"]
    assert [e.ename for e in errors] == ["ValueError", "CellFailed"]  # shown once by IPython, then marked failed
    assert "bad batch" in errors[1].evalue and "quiet" in errors[1].evalue
    lines = final_lines(text)
    assert lines[:3] == ["only published", "published 1 line to group quiet (0 dropped)", "about to fail"]
    assert lines[3] == "Traceback (most recent call last):"
    assert "ValueError: bad batch" in lines
    assert "interactiveshell" not in text  # the published traceback starts in the cell
    assert re.fullmatch(r"published \d+ lines to group quiet \(0 dropped\)", lines[-1])
    usage = [o for o in awaiting.outputs if o.output_type == "stream" and "UsageError" in o.text]
    assert usage and "publish_output" in usage[0].text
    assert stream_text(after, "stdout") == "the notebook went on\n"


HISTORY_CHECK = """import json
history = getattr(get_ipython().history_manager, "outputs", None)
recorded = None if history is None else {
    count: "".join("".join(o.bundle["stream"]) for o in outputs if o.output_type == "out_stream")
    for count, outputs in list(history.items())
}
print(json.dumps(recorded))
"""


def test_ipython_records_a_publish_cells_output_once(service: LocalService, tmp_path: Path) -> None:
    # IPython 9 keeps each cell's output in its history; the nested run_cell of %%publish must not
    # record every write a second time (it did, under the next cell's execution count).
    env = clean_env(WPSNB_TEST_CS=service.connection_string)
    notebook = execute(
        [
            code("%load_ext wpsnb"),
            code("import os\ncs = os.environ['WPSNB_TEST_CS']"),
            code("%%publish recorded --source cs\nprint('one')\nprint('two', end='')\nprint()"),
            code(HISTORY_CHECK),
        ],
        env,
        tmp_path,
    )
    shown = stream_text(notebook.cells[2], "stdout")
    assert shown == "one\ntwo\npublished 2 lines to group recorded (0 dropped)\n"
    recorded = json.loads(stream_text(notebook.cells[3], "stdout"))
    if recorded is None:
        pytest.skip("this IPython keeps no output history")
    # Without the fix the nested run_cell recorded the writes again, under the next cell's number.
    assert recorded == {str(notebook.cells[2].execution_count): shown}


def test_the_extension_loads_from_the_package(tmp_path: Path) -> None:
    # `%load_ext wpsnb` goes through wpsnb.load_ipython_extension; the magic is then known.
    notebook = execute(
        [code("%load_ext wpsnb"), code("'publish' in get_ipython().magics_manager.magics['cell']")],
        {**os.environ},
        tmp_path,
    )
    assert notebook.cells[1].outputs[0]["data"]["text/plain"] == "True"
