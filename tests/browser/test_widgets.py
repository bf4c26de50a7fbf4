"""StreamView and FrameInspector in a real JupyterLab, driven by Playwright in Debian's Chromium.

The local service runs in the test process; the notebook's kernel connects to it by connection
string, publishes from the kernel, and a second client (the official Python SDK, in this process)
publishes too. Everything is checked in the page's DOM. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from azure.messaging.webpubsubclient import WebPubSubClient
from azure.messaging.webpubsubclient.models import WebPubSubDataType
from nbclient import NotebookClient
from playwright.sync_api import expect

HUB = "browser"


def setup_cell(connection_string: str, group: str, **view_args: str) -> str:
    arguments = "".join(f", {name}={value}" for name, value in view_args.items())
    return (
        "from wpsnb.notebook import StreamView, FrameInspector\n"
        f"CONNECTION = {connection_string!r}\n"
        f"view = StreamView(CONNECTION, hub={HUB!r}, groups=[{group!r}], roles=['webpubsub.sendToGroup.{group}'], "
        f"user_id='kernel'{arguments})\n"
        "view"
    )


def test_messages_from_kernel_and_second_client_appear_and_frames_decode(
    local_service, client_url, open_notebook, run_all_cells, make_notebook, artifact_path, request
):
    notebook = make_notebook(
        setup_cell(local_service.connection_string, "lab", title="'StreamView · group lab'"),
        "inspector = FrameInspector(view)\ninspector",
        "view.publish('epoch 1\\n    loss 0.2500   acc 0.910')\n"
        "view.publish({'step': 1, 'metrics': {'loss': 0.25, 'acc': 0.91}})\n"
        "view.publish(bytes(range(48)))",
    )
    page = open_notebook("widgets.ipynb", notebook)
    run_all_cells(page)

    stream = page.locator(".wpsnb-stream").first
    expect(stream).to_have_attribute("data-state", "connected")
    expect(stream).to_have_attribute("data-connection-id", re.compile(r".+"))
    expect(stream).to_have_attribute("data-count", "3")
    expect(stream.locator(".wpsnb-header")).to_contain_text("kernel")

    # A second client, the official Python SDK in this process, publishes to the same group. Without
    # waiting for acks: its send waits on a condition without a predicate, so an ack that arrives
    # before the wait starts (easy on loopback) costs the full 30 s ack timeout.
    peer = WebPubSubClient(client_url(hub=HUB, user_id="sdk-peer", roles=["webpubsub.sendToGroup.lab"]))
    peer.open()
    request.addfinalizer(peer.close)
    peer.send_to_group("lab", "hello from the official Python client", WebPubSubDataType.TEXT, ack=False)
    peer.send_to_group("lab", {"from": "sdk", "n": 2}, WebPubSubDataType.JSON, ack=False)
    expect(stream).to_have_attribute("data-count", "5")
    peer_row = stream.locator(".wpsnb-message", has_text="hello from the official Python client")
    expect(peer_row).to_have_count(1)
    expect(peer_row.locator(".wpsnb-from")).to_have_text("sdk-peer")
    expect(peer_row.locator(".wpsnb-group")).to_have_text("lab")

    # Text keeps its whitespace; JSON is collapsed, pretty when opened; binary shows size and hex.
    text = stream.locator(".wpsnb-message[data-type='text'] .wpsnb-text").first
    assert text.inner_text() == "epoch 1\n    loss 0.2500   acc 0.910"
    json_row = stream.locator(".wpsnb-message[data-type='json']").first
    json_row.locator("summary").click()
    expect(json_row.locator(".wpsnb-json-pretty")).to_contain_text('"loss": 0.25')
    binary = stream.locator(".wpsnb-message[data-type='binary']").first
    expect(binary.locator(".wpsnb-badge")).to_have_text("binary · 48 B")
    expect(binary.locator(".wpsnb-hex")).to_contain_text("00 01 02 03")
    expect(stream.locator(".wpsnb-system").first).to_be_visible()

    # The publish box: allowed to "lab", refused (Forbidden, with the service's reason) for "ops".
    stream.locator(".wpsnb-publish-data").fill("typed in the page")
    stream.locator(".wpsnb-publish-send").click()
    expect(stream.locator(".wpsnb-publish-status")).to_have_attribute("data-status", "ok")
    expect(stream.locator(".wpsnb-message", has_text="typed in the page")).to_have_count(1)
    stream.locator(".wpsnb-publish-group").fill("ops")
    stream.locator(".wpsnb-publish-data").fill("not allowed here")
    stream.locator(".wpsnb-publish-send").click()
    status = stream.locator(".wpsnb-publish-status")
    expect(status).to_have_attribute("data-error-name", "Forbidden")
    expect(status).to_contain_text("webpubsub.sendToGroup")
    stream.screenshot(path=artifact_path("streamview.png"))  # the README's picture

    # Filters: text, then group.
    stream.locator(".wpsnb-filter-text").fill("official")
    expect(stream.locator(".wpsnb-message")).to_have_count(1)
    stream.locator(".wpsnb-filter-text").fill("")
    expect(stream.locator(".wpsnb-message")).to_have_count(6)

    # Pause: the count goes on, the rows wait; resume shows them.
    stream.locator(".wpsnb-pause").click()
    expect(stream).to_have_attribute("data-paused", "true")
    peer.send_to_group("lab", "sent while paused", WebPubSubDataType.TEXT, ack=False)
    expect(stream).to_have_attribute("data-count", "7")
    expect(stream.locator(".wpsnb-pause")).to_have_text("Resume (1 new)")
    assert stream.locator(".wpsnb-message", has_text="sent while paused").count() == 0
    stream.locator(".wpsnb-pause").click()
    expect(stream.locator(".wpsnb-message", has_text="sent while paused")).to_have_count(1)

    # Follow-tail: scrolled up, new rows wait behind "Jump to latest"; at the bottom they follow.
    for n in range(30):
        peer.send_to_group("lab", f"filler {n}", WebPubSubDataType.TEXT, ack=False)
    expect(stream.locator(".wpsnb-message", has_text="filler 29")).to_have_count(1)
    stream.locator(".wpsnb-log").evaluate("log => { log.scrollTop = 0; }")
    peer.send_to_group("lab", "arrived while scrolled up", WebPubSubDataType.TEXT, ack=False)
    expect(stream.locator(".wpsnb-jump")).to_have_text("Jump to latest (1 new)")
    stream.locator(".wpsnb-jump").click()
    expect(stream.locator(".wpsnb-message", has_text="arrived while scrolled up")).to_be_in_viewport()
    expect(stream.locator(".wpsnb-jump")).to_be_hidden()
    page.screenshot(path=artifact_path("streamview-page.png"), full_page=True)

    # The inspector: a click on a request shows it raw and decoded, and highlights its ack.
    inspector = page.locator(".wpsnb-frames").first
    # 1 history request on joining (docs/history.md) + 3 kernel + 2 page
    expect(inspector.locator("tr.wpsnb-frame[data-type='sendToGroup']")).to_have_count(6)
    refused = inspector.locator("tr.wpsnb-frame[data-type='sendToGroup']").last
    refused.click()
    detail = inspector.locator(".wpsnb-detail")
    expect(detail.locator(".wpsnb-pretty")).to_contain_text('"group": "ops"')
    expect(detail.locator(".wpsnb-decoded")).to_contain_text("SendToGroup(group='ops'")
    ack_row = inspector.locator("tr.wpsnb-linked")
    expect(ack_row).to_have_attribute("data-type", "ack")
    expect(ack_row.locator(".wpsnb-type")).to_contain_text("Forbidden")
    ack_index = ack_row.get_attribute("data-i")
    detail.locator(".wpsnb-link").click()
    expect(inspector).to_have_attribute("data-selected", ack_index)
    expect(detail.locator(".wpsnb-decoded")).to_contain_text("Forbidden")

    # Filter by direction, then export: the kernel's JSONL arrives as a download.
    inspector.locator(".wpsnb-filter-dir").select_option("sent")
    expect(inspector.locator("tr.wpsnb-frame[data-dir='received']")).to_have_count(0)
    inspector.locator(".wpsnb-filter-dir").select_option("")
    with page.expect_download() as download:
        inspector.locator(".wpsnb-export").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert '"format": "wpsnb.journal"' in lines[0]
    assert any('"direction": "sent"' in line and "typed in the page" in line for line in lines)
    inspector.locator(f"tr.wpsnb-frame[data-i='{ack_index}']").click()
    inspector.screenshot(path=artifact_path("frameinspector.png"))


def test_a_flood_stays_bounded_and_a_reloaded_page_replays_it(
    local_service, open_notebook, run_all_cells, make_notebook, artifact_path
):
    count = 5_000
    notebook = make_notebook(
        setup_cell(local_service.connection_string, "flood", rows="500", title="'StreamView · flood'"),
        "import time\n"
        "started = time.perf_counter()\n"
        f"for n in range({count}):\n"
        "    view.publish(f'message {n} ' + 'x' * 40, ack=False)\n"
        "view.client.flush()\n"
        "print(f'published in {time.perf_counter() - started:.2f} s')",
        "print('PONG')",
    )
    page = open_notebook("flood.ipynb", notebook)
    started = time.monotonic()
    run_all_cells(page)
    stream = page.locator(".wpsnb-stream").first
    expect(stream).to_have_attribute("data-count", str(count), timeout=30_000)
    print(f"\n{count} messages published and shown {time.monotonic() - started:.1f} s after Run All")
    expect(stream.locator(".wpsnb-message").last).to_contain_text(f"message {count - 1} ")
    rows = int(stream.get_attribute("data-rows"))
    assert rows <= 500 + 10  # the DOM stays bounded (500 message rows plus a few system rows at most)
    assert page.get_by_text("PONG", exact=True).count() == 1
    assert "IOPub message rate exceeded" not in page.content()

    # A reloaded page (notebook saved, kernel still running) asks the kernel to replay its ring buffer.
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    page.reload()
    stream = page.locator(".wpsnb-stream").first
    expect(stream).to_have_attribute("data-count", str(count), timeout=30_000)  # the header trait, at once
    # Then the replay: every message (plus the system records), not only the last `history` saved ones.
    page.wait_for_function("n => +document.querySelector('.wpsnb-stream').dataset.stored >= n", arg=count)
    expect(stream.locator(".wpsnb-message").last).to_contain_text(f"message {count - 1} ")
    stream.screenshot(path=artifact_path("streamview-flood.png"))

    # Clear empties the page and the kernel's ring; the count goes on.
    stream.locator(".wpsnb-clear").click()
    expect(stream).to_have_attribute("data-stored", "0")
    expect(stream.locator(".wpsnb-row")).to_have_count(0)
    expect(stream).to_have_attribute("data-count", str(count))


def test_a_saved_notebook_shows_the_last_records_without_its_kernel(
    local_service, jupyter, open_notebook, make_notebook, artifact_path
):
    notebook = make_notebook(
        setup_cell(local_service.connection_string, "saved", history="50", title="'StreamView · saved'"),
        "for n in range(120):\n"
        "    view.publish(f'line {n}', ack=False)\n"
        "view.client.flush()\n"
        "import time; time.sleep(2)  # the history trait is re-assigned at most once a second",
    )
    # Executed headless, as CI or nbconvert would: the widget state is saved in the notebook.
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()

    # Untrusted (someone else's notebook): JupyterLab shows the text summary instead of the widget.
    page = open_notebook("saved-untrusted.ipynb", notebook)
    expect(page.locator(".jp-OutputArea-output").first).to_contain_text("StreamView · hub browser · connected")
    assert page.locator(".wpsnb-stream").count() == 0

    # Trusted: the widget comes back from the saved state, with the last `history` records.
    page = open_notebook("saved.ipynb", notebook, trusted=True)
    stream = page.locator(".wpsnb-stream").first
    expect(stream).to_have_attribute("data-count", "120")
    expect(stream).to_have_attribute("data-stored", "50")
    expect(stream.locator(".wpsnb-message").last).to_contain_text("line 119")
    # Its kernel is gone: nobody answers the replay request, and the header says so.
    expect(stream).to_have_attribute("data-state", "offline", timeout=15_000)
    stream.screenshot(path=artifact_path("streamview-saved.png"))
