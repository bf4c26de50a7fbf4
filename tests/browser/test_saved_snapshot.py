"""A saved notebook still shows the run: a StreamView cell's static snapshot (wpsnb/notebook/snapshot.py).

The notebook is executed headless (nbclient, as CI would), so its StreamView output is followed by a
snapshot output that every cell run rewrote. Then:

- nbconvert's HTML holds the last lines and a chart per metric, and in Chromium (offline: the HTML
  manager nbconvert points at a CDN cannot load) the snapshot shows and the dead widget output does not;
- JupyterLab, trusted, without the saved widget state (its default) and with a new kernel — the case
  that otherwise prints "Error displaying widget: model not found" — shows the snapshot instead;
- untrusted, JupyterLab shows the text summary and the (sanitized) snapshot.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
HUB = "snapshot"


@pytest.fixture
def executed(local_service, make_notebook):
    notebook = make_notebook(
        "import time\n"
        "from wpsnb import StreamView\n"
        "from wpsnb.publishing import Publisher\n"
        f"CONNECTION = {local_service.connection_string!r}\n"
        f"view = StreamView(CONNECTION, hub={HUB!r}, groups=['train'], title='training run')\n"
        "view",
        f"run = Publisher('train', CONNECTION, hub={HUB!r}, user_id='trainer').start()\n"
        "for n in range(60):\n"
        "    run.put_chunk(0, f'line {n}\\n')\n"
        "for step in range(1, 6):\n"
        "    run.put_json({'step': step, 'loss': 1 / step})\n"
        "run.flush()\n"
        "time.sleep(1)",
        "run.put_chunk(0, 'the last line of the run\\n')\nrun.flush()\ntime.sleep(0.5)",
    )
    NotebookClient(notebook, timeout=90, kernel_name="python3").execute()
    return notebook


def test_nbconvert_html_of_an_executed_notebook_shows_the_last_lines_and_the_metrics(executed, page, tmp_path):
    outputs = executed.cells[0].outputs
    assert [sorted(o["data"]) for o in outputs] == [
        ["application/vnd.jupyter.widget-view+json", "text/plain"],
        ["text/html", "text/plain"],
    ]
    assert "the last line of the run" in outputs[1]["data"]["text/plain"]
    body, _ = HTMLExporter().from_notebook_node(executed)
    assert "the last line of the run" in body and "line 59" in body
    assert "history-request" not in body  # control messages are not part of the log

    path = Path(tmp_path, "executed.html")
    path.write_text(body, encoding="utf-8")
    page.goto(path.as_uri())
    snapshot = page.locator(".wpsnb-snapshot")
    expect(snapshot).to_be_visible()
    expect(snapshot.locator("pre")).to_contain_text("the last line of the run")
    expect(snapshot.locator("figure[data-metric='loss'] svg")).to_be_visible()
    expect(snapshot.locator("figure[data-metric='loss']")).to_contain_text("last 0.2")
    widget_output = page.locator(".jp-OutputArea-child").first
    assert not widget_output.locator(".jp-OutputArea-output").is_visible()


def test_jupyterlab_shows_the_snapshot_where_the_widget_model_is_gone(executed, open_notebook, artifact_path):
    saved = copy.deepcopy(executed)
    saved.metadata.pop("widgets", None)  # JupyterLab saves no widget state unless asked to
    page = open_notebook("snapshot-trusted.ipynb", saved, trusted=True)
    snapshot = page.locator(".wpsnb-snapshot")
    expect(snapshot).to_be_visible(timeout=20_000)
    expect(snapshot.locator("pre")).to_contain_text("the last line of the run")
    page.wait_for_timeout(3_000)  # the widget manager gives up on the model after ~2 s
    expect(page.get_by_text("Error displaying widget")).to_be_hidden()
    expect(snapshot).to_be_visible()
    snapshot.screenshot(path=artifact_path("streamview-snapshot.png"))

    # Someone else's copy (trust is by content: a changed notebook is not the one signed above).
    theirs = nbformat.from_dict(copy.deepcopy(saved))
    theirs.cells.append(nbformat.v4.new_markdown_cell("a copy"))
    untrusted = open_notebook("snapshot-untrusted.ipynb", theirs)
    expect(untrusted.locator(".jp-OutputArea-output").first).to_contain_text("StreamView · hub snapshot")
    expect(untrusted.locator(".wpsnb-snapshot pre")).to_contain_text("the last line of the run")
