"""A realistic training cell in a real kernel (nbclient): tqdm.auto, logging, prints; history; quiet wpsnb logs.

Watched from other processes: a raw subscriber (``wpsnb tail --json``: every frame as it came), and a
``wpsnb tail`` started after the cell ended, which must print the cell's lines (history) and then a later
cell's line exactly once. The kernel stays up between the cells, as a notebook's does.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from wpsnb.service.local import LocalService

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import WPSNB, Background, clean_env

pytestmark = pytest.mark.slow

TRAINING_CELL = r"""%%publish train
import logging, time
from tqdm.auto import tqdm

log = logging.getLogger("train")
for epoch in range(2):
    print(f"epoch {epoch} starts")
    for step in tqdm(range(30), desc=f"epoch {epoch}", mininterval=0.01):
        time.sleep(0.01)
    log.info("epoch %d done, loss %.3f", epoch, 1 / (epoch + 1))
print("training done")
"""
DEAD = "Endpoint=http://127.0.0.1:9;AccessKey=" + "k" * 44 + ";Version=1.0;"


@pytest.fixture
def service() -> Iterator[LocalService]:
    with LocalService() as running:
        yield running


def wait_for_text(path: Path, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text()
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not received within {timeout} s:\n{path.read_text()[-2000:]}")


def outputs(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") + o.get("evalue", "") for o in cell.outputs)


def test_a_training_cell_reaches_watchers_with_bars_history_and_quiet_wpsnb_logs(
    service: LocalService, tmp_path: Path
) -> None:
    received = tmp_path / "raw.jsonl"
    with received.open("w") as sink:
        raw = subprocess.Popen(
            [*WPSNB, "tail", "train", "--json", "--connection-string", service.connection_string],
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
    assert raw.stderr is not None and "listening to group" in raw.stderr.readline()
    cells = [
        "%load_ext wpsnb",
        "import logging\nlogging.basicConfig(level=logging.INFO, force=True)",
        TRAINING_CELL,
        "%%publish train\nprint('a later cell')",
        f"%%publish elsewhere --source '{DEAD}'\nprint('the cell ran anyway')",
        "import re, wpsnb\n"
        "wrong = re.sub(r'AccessKey=[^;]+', 'AccessKey=' + 'w' * 44, os.environ['WebPubSubConnectionString'])\n"
        "wpsnb.Client(wrong).connect()",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    notebook.cells[-1].metadata["tags"] = ["raises-exception"]
    notebook.cells[-1].source = "import os\n" + notebook.cells[-1].source
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    runner = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    tail: Background | None = None
    try:
        with runner.setup_kernel(env=clean_env(WebPubSubConnectionString=service.connection_string)):
            for index in range(3):
                runner.execute_cell(notebook.cells[index], index)
            # The raw subscriber got every line, the tqdm.auto bar as updates of one line included.
            frames_text = wait_for_text(received, "training done")
            # A watcher that opens after the cell ended gets its lines from the kernel (history) ...
            tail = Background("tail", "train", "--connection-string", service.connection_string)
            tail.wait_for(r"training done\n")
            # ... and then a later cell's line, live, once.
            runner.execute_cell(notebook.cells[3], 3)
            tail.wait_for(r"a later cell\n")
            runner.execute_cell(notebook.cells[4], 4)
            runner.execute_cell(notebook.cells[5], 5)
            time.sleep(0.5)  # anything printed twice would arrive by now
    finally:
        raw.terminate()
        raw.wait(10)
        if tail is not None:
            tail.interrupt()

    frames = [json.loads(line) for line in frames_text.splitlines()]
    data = "".join(f["data"] for f in frames if f["dataType"] == "text")
    assert "epoch 0 starts\n" in data and "training done\n" in data
    assert "INFO:train:epoch 1 done, loss 0.500\n" in data  # the logging record, as the cell's handler wrote it
    bar_updates = [f["data"] for f in frames if f["dataType"] == "text" and f["data"].startswith("\repoch 0")]
    assert bar_updates and any("30/30" in update for update in bar_updates)  # tqdm.auto reached the group
    assert len(bar_updates) < 30  # rate-limited: a few updates of one line, not one per step

    shown = tail.output() if tail is not None else ""
    assert shown.count("training done\n") == 1 and shown.count("a later cell\n") == 1
    assert shown.index("epoch 0 starts") < shown.index("training done") < shown.index("a later cell")
    assert "30/30" in shown  # the bar's last state, from history
    assert "wpsnb" not in shown.replace("published", "")  # no control message printed

    for cell in notebook.cells[2:5]:  # under basicConfig(level=INFO, force=True): no wpsnb.* log line in any cell
        # basicConfig's format is LEVEL:logger:message; wpsnb's loggers are wpsnb.client, wpsnb.service, ...
        assert not re.search(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL):wpsnb", outputs(cell)), outputs(cell)
    training, later, dead, refused = notebook.cells[2:]
    assert "published" in outputs(training) and "a later cell" in outputs(later)
    shown_dead = outputs(dead)
    assert "the cell ran anyway" in shown_dead
    assert shown_dead.count("cannot publish to group elsewhere") == 1
    assert "1 line failed: the service was unreachable" in shown_dead

    # A wrong AccessKey, raised to the notebook: one line that says so (wpsnb's frames hidden), and the hint.
    (error,) = [o for o in refused.outputs if o.output_type == "error"]
    assert len(error.traceback) == 2, error.traceback
    assert error.traceback[0].startswith("Unauthorized: this AccessKey does not match the service at http://127.0.0.1:")
    assert "full_traceback()" in error.traceback[1]


def test_with_the_kernels_own_service_the_hint_names_both_watch_commands(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("%load_ext wpsnb"), nbformat.v4.new_code_cell("%%publish hint\nprint(1)")]
    )
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute(env=clean_env())
    shown = outputs(notebook.cells[1])
    assert re.search(r"wpsnb tail hint --hub stream --connection-string 'Endpoint=http://127\.0\.0\.1:\d+;", shown)
    assert re.search(r"wpsnb watch hint --hub stream --connection-string 'Endpoint=http://127\.0\.0\.1:\d+;", shown)
