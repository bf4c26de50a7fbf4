"""``%%publish GROUP --stream`` in a real kernel (nbclient): a raw WebSocket subscriber sees each run as a
group stream: its start fragment, its lines, and its end; the end of a failing cell carries the error."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from official_sdk import mint_url
from service.service_wire import PLAIN, open_client

from wpsnb.service.local import LocalService

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import clean_env

pytestmark = pytest.mark.slow


@pytest.fixture
def service() -> Iterator[LocalService]:
    with LocalService() as running:
        yield running


def read_streams(service: LocalService, ends: int) -> tuple[threading.Thread, list[dict[str, Any]], threading.Event]:
    """Collect the group messages of ``run`` that carry ``stream`` until ``ends`` streams ended."""
    frames: list[dict[str, Any]] = []
    ready = threading.Event()

    async def read() -> None:
        async with open_client(mint_url(service, "stream", groups=["run"]), PLAIN) as subscriber:
            ready.set()
            while sum(1 for f in frames if f["stream"].get("endOfStream")) < ends:
                frame = await asyncio.wait_for(subscriber.recv(), 60)
                if frame["type"] == "message" and "stream" in frame:
                    frames.append(frame)

    thread = threading.Thread(target=asyncio.run, args=(read(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    return thread, frames, ready


def test_each_run_is_a_group_stream_and_a_failing_one_ends_with_its_error(
    service: LocalService, tmp_path: Path
) -> None:
    thread, frames, _ = read_streams(service, ends=2)
    cells = [
        "%load_ext wpsnb",
        "%%publish run --stream\nfor epoch in range(3):\n    print(f'epoch {epoch}')",
        "%%publish run --stream\nprint('about to fail')\nraise ValueError('loss is nan')",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    notebook.cells[-1].metadata["tags"] = ["raises-exception"]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    runner = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    with runner.setup_kernel(env=clean_env(WebPubSubConnectionString=service.connection_string)):
        for index in range(3):
            runner.execute_cell(notebook.cells[index], index)
        thread.join(30)
    assert not thread.is_alive(), frames

    by_stream: dict[str, list[dict[str, Any]]] = {}
    for frame in frames:
        by_stream.setdefault(frame["stream"]["streamId"], []).append(frame)
    good, bad = by_stream.values()
    for run in (good, bad):
        assert [f["stream"]["streamSequenceId"] for f in run] == list(range(1, len(run) + 1))
        assert run[0]["data"]["run"] == "start" and run[0]["data"]["group"] == "run"
        assert run[-1]["stream"]["endOfStream"] is True
    assert "".join(f["data"]["text"] for f in good[1:-1]) == "epoch 0\nepoch 1\nepoch 2\n"
    assert "error" not in good[-1]["stream"]
    assert "".join(f["data"]["text"] for f in bad[1:-1]) == "about to fail\n"
    assert bad[-1]["stream"]["error"] == {
        "name": "UserError",
        "message": "ValueError: loss is nan",
        "userErrorCode": "CellFailed",
    }
    assert "about to fail" in "".join(o.get("text", "") for o in notebook.cells[2].outputs)
