"""Tutorial notebook 3 in a real JupyterLab: Run All, then the ``connected`` message shows in its StreamView.

The notebook is the stored one, unchanged; its first cell starts a local service in the notebook's
own kernel (the server's environment has no ``WebPubSubConnectionString`` in CI). Uses the fixtures
of ``tests/browser/conftest.py``. A screenshot goes to ``tests/artifacts/tutorial-notebook3.png``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from playwright.sync_api import expect

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03-connect-with-the-subprotocol.ipynb"


def test_notebook3_renders_the_connected_message_in_its_stream_view(open_notebook, run_all_cells, artifact_path):
    page = open_notebook(NOTEBOOK.name, nbformat.read(NOTEBOOK, as_version=4))
    try:
        run_all_cells(page, timeout=120)

        # Every code cell ran (a failing cell would stop Run All and leave the rest without a number).
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
        assert prompts and all(re.fullmatch(r"\s*\[\d+\]:\s*", prompt) for prompt in prompts), prompts
        expect(page.locator(".jp-OutputArea-output", has_text="Traceback")).to_have_count(0)

        view = page.locator(".wpsnb-stream").first
        expect(view).to_have_attribute("data-state", "connected")
        connection_id = view.get_attribute("data-connection-id")
        assert connection_id

        connected = view.locator('.wpsnb-system[data-event="connected"]')
        expect(connected).to_have_count(1)
        expect(connected).to_contain_text(f"connectionId {connection_id}")
        expect(connected).to_contain_text("userId alice")
        expect(view.locator(".wpsnb-message", has_text="hello from alice")).to_have_count(1)

        # The kernel printed the same connected frame it received on the wire.
        printed = json.dumps({"connectionId": connection_id})[1:-1]
        expect(page.locator(".jp-OutputArea-output", has_text=printed)).to_have_count(1)
    finally:
        views = page.locator(".wpsnb-stream")
        if views.count():
            views.first.scroll_into_view_if_needed()
        page.screenshot(path=str(artifact_path("tutorial-notebook3.png")))
