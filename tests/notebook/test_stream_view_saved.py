"""A notebook executed headless (nbclient, as CI or nbconvert do) keeps what its StreamView showed.

Custom comm messages are not part of the saved widget state, so the view re-assigns its ``history``
and ``header`` traits (at most once a second): the saved notebook carries the last records, and a
page that opens it without the original kernel renders them (tests/browser/ checks that part).
"""

from __future__ import annotations

import uuid

import nbformat
from nbclient import NotebookClient

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def saved_stream_view_state(notebook: nbformat.NotebookNode) -> dict:
    states = notebook.metadata["widgets"][WIDGET_STATE]["state"].values()
    views = [s["state"] for s in states if s["state"].get("_anywidget_id") == "wpsnb.notebook.stream_view.StreamView"]
    assert len(views) == 1
    return views[0]


def test_an_executed_notebook_saves_the_views_last_records(local_service, tmp_path):
    hub = "saved" + uuid.uuid4().hex[:8]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from wpsnb.notebook import StreamView\n"
            f"view = StreamView({local_service.connection_string!r}, hub={hub!r}, groups=['lab'], "
            "roles=['webpubsub.sendToGroup.lab'], history=50)\n"
            "view"
        ),
        nbformat.v4.new_code_cell(
            "import time\n"
            "for n in range(120):\n"
            "    view.publish(f'line {n}', ack=False)\n"
            "view.client.flush()\n"
            "time.sleep(2)  # the history trait is re-assigned at most once a second"
        ),
    ]
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    nbformat.write(notebook, tmp_path / "saved.ipynb")

    state = saved_stream_view_state(nbformat.read(tmp_path / "saved.ipynb", as_version=4))
    history = state["history"]
    assert len(history) == 50  # the last `history` records, not all 120
    assert [r["data"] for r in history[-3:]] == ["line 117", "line 118", "line 119"]
    assert state["header"]["count"] == 120 and state["header"]["state"] == "connected"
    assert "wpsnb-stream" in state["_esm"] and ".wpsnb-stream" in state["_css"]
    view_output = notebook.cells[0].outputs[0]["data"]
    assert "StreamView · hub" in view_output["text/plain"]  # the text summary, for pages without widgets
