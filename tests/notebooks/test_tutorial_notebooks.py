"""Execute every tutorial notebook top to bottom in a real kernel (nbclient), on the local service.

The notebooks' own cells assert what they teach (acks, Forbidden, Duplicate, sequence ids, recovery...),
so a notebook whose text stops being true fails here. The kernel runs without
``WebPubSubConnectionString``, so every notebook takes its local-service branch, offline.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
TUTORIAL = [
    "01-start-a-service",
    "02-negotiate",
    "03-connect-with-the-subprotocol",
    "04-join-a-group",
    "05-publish-between-clients",
    "06-publish-cell-output",
    "07-inspect-raw-frames",
    "08-reliable-delivery",
    "09-going-to-azure",
    "10-handle-events",
]
AZURE_VARIABLES = ("WebPubSubConnectionString", "WEBPUBSUB_CONNECTION_STRING")
CELL_TIMEOUT = 90  # seconds per cell; a notebook whole takes a few seconds


@pytest.mark.slow
@pytest.mark.parametrize("name", TUTORIAL)
def test_notebook_runs_top_to_bottom(name: str, tmp_path: Path, record_property: pytest.RecordProperty) -> None:
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    kernel_env = {key: value for key, value in os.environ.items() if key not in AZURE_VARIABLES}
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    started = time.monotonic()
    try:
        client.execute(env=kernel_env)
    except CellExecutionError as error:
        pytest.fail(f"{name}.ipynb stopped teaching the truth:\n{error}", pytrace=False)
    finally:
        record_property("seconds", round(time.monotonic() - started, 1))
    # Every code cell ran, and none printed an error output (a failing cell would have raised above).
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code_cells), "some code cell did not run"
    assert not [o for cell in code_cells for o in cell.outputs if o.output_type == "error"]
