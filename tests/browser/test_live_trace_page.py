"""LiveTrace in a real JupyterLab: the kernel traces a ``wpsnb serve`` running in another process and
shows the frames of two clients of that service (opened by this test process, not by the kernel), a
REST call made with the official SDK and a close; a click explains a frame's fields."""

from __future__ import annotations

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from cli.cli_helpers import Background
from playwright.sync_api import expect

import wpsnb

HUB = "traced"
ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]


@pytest.fixture
def serve() -> tuple[Background, str]:
    running = Background("serve", "--port", "0")
    try:
        yield running, running.wait_for(r"Endpoint=http://127\.0\.0\.1:\d+;AccessKey=[^;\s]+;Version=1\.0;").group(0)
    finally:
        running.interrupt()


def test_live_trace_of_another_process_shows_two_clients_a_rest_call_and_a_close(
    serve, open_notebook, run_all_cells, make_notebook, artifact_path
):
    _, connection_string = serve
    notebook = make_notebook(
        f"from wpsnb.notebook import LiveTrace\ntrace = LiveTrace({connection_string!r}, hub={HUB!r})\ntrace"
    )
    page = open_notebook("live_trace.ipynb", notebook)
    run_all_cells(page)
    trace = page.locator(".wpsnb-trace").first
    expect(trace).to_have_attribute("data-state", "live")

    ann = wpsnb.Client(connection_string, hub=HUB, user_id="ann", roles=ROLES)
    bob = wpsnb.Client(connection_string, hub=HUB, user_id="bob", roles=ROLES, protocol="json.webpubsub.azure.v1")
    try:
        ann.connect()
        bob.connect()
        ann.join_group("lab")
        bob.join_group("lab")
        ann.send_to_group("lab", {"epoch": 1, "loss": 0.25})
        rest = WebPubSubServiceClient.from_connection_string(connection_string, hub=HUB)
        rest.send_to_group("lab", "from the server", content_type="text/plain")
        bob_id = bob.connection_id
        bob.close()

        rows = trace.locator("tr.wpsnb-trace-row")
        expect(rows.filter(has_text="sendToGroup")).to_have_count(1)
        expect(trace.locator(f"tr[data-kind='frame'][data-conn='{ann.connection_id}']").first).to_be_visible()
        expect(trace.locator(f"tr[data-kind='frame'][data-conn='{bob_id}']").first).to_be_visible()
        expect(trace.locator("tr[data-kind='rest']")).to_have_count(1)
        expect(trace.locator("tr[data-kind='rest']")).to_contain_text("202")
        expect(trace.locator(f"tr[data-kind='close'][data-conn='{bob_id}']")).to_contain_text("by client")

        # Click the delivery of ann's message: fields explained, and the request it came from linked.
        delivery = trace.locator("tr[data-kind='delivery']", has_text="2 recipient").first
        delivery.click()
        detail = trace.locator(".wpsnb-detail")
        expect(detail.locator("tr[data-field='fromUserId'] .wpsnb-field-value")).to_have_text("ann")
        expect(detail.locator("tr[data-field='fromUserId'] .wpsnb-field-meaning")).to_contain_text("sub claim")
        expect(detail.locator(".wpsnb-trace-links")).to_contain_text("sendToGroup")
        expect(detail.locator(".wpsnb-trace-recipients")).to_contain_text(bob_id)

        # The sendToGroup itself: ackId and what it caused (the delivery and the ack).
        trace.locator("tr[data-kind='frame'][data-type='sendToGroup']").click()
        expect(detail.locator("tr[data-field='ackId'] .wpsnb-field-meaning")).to_contain_text("Chosen by the client")
        expect(detail.locator(".wpsnb-trace-caused")).to_contain_text("caused 2")

        # Filters: one connection only, then the REST calls only.
        trace.locator(".wpsnb-filter-conn").select_option(bob_id)
        expect(trace.locator(f"tr.wpsnb-trace-row:not([data-conn='{bob_id}'])")).to_have_count(
            trace.locator("tr[data-kind='delivery']").count()
        )
        trace.locator(".wpsnb-filter-conn").select_option("")
        trace.locator(".wpsnb-filter-kind").select_option("rest")
        expect(rows).to_have_count(1)
        page.screenshot(path=artifact_path("live_trace.png"), full_page=True)
    finally:
        ann.close()
        bob.close()
