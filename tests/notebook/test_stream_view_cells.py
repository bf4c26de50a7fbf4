"""Re-running a notebook cell does not leak connections: in a real kernel, with JupyterLab's ``cellId``.

JupyterLab and Notebook 7 put the cell's id in each execute request's metadata; nbclient does not,
so this test talks to the kernel with jupyter_client and sets it the way the front ends do. The
service (in the test process) is asked through the official REST SDK which connections still exist.
"""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from jupyter_client.manager import start_new_kernel


@pytest.fixture
def kernel() -> Iterator[Any]:
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run_cell(client: Any, code: str, cell_id: str, timeout: float = 30) -> str:
    """Execute ``code`` as the front ends do (``cellId`` in the metadata); return its stdout, raise on error."""
    content = {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }
    request = client.session.msg("execute_request", content, metadata={"cellId": cell_id})
    client.shell_channel.send(request)
    output, error = [], None
    while True:
        try:
            message = client.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer from the kernel within {timeout} s") from None
        if message["parent_header"].get("msg_id") != request["header"]["msg_id"]:
            continue
        kind, body = message["msg_type"], message["content"]
        if kind == "stream":
            output.append(body["text"])
        elif kind == "error":
            error = "\n".join(body["traceback"])
        elif kind == "status" and body["execution_state"] == "idle":
            break
    if error:
        raise AssertionError(f"the cell failed:\n{error}")
    return "".join(output).strip()


def test_rerunning_a_cell_closes_the_views_it_made_before(kernel, local_service):
    hub = "cells" + uuid.uuid4().hex[:8]
    rest = WebPubSubServiceClient.from_connection_string(local_service.connection_string, hub=hub)
    make_two = (
        "from wpsnb.notebook import StreamView, FrameInspector\n"
        f"a = StreamView({local_service.connection_string!r}, hub={hub!r}, groups=['lab'])\n"
        f"b = StreamView({local_service.connection_string!r}, hub={hub!r}, groups=['ops'])\n"
        "inspector = FrameInspector(a)\n"
        "print(a.connection_id, b.connection_id)"
    )
    first = run_cell(kernel, make_two, cell_id="cell-1").split()
    other = run_cell(kernel, make_two, cell_id="cell-2").split()
    # Both views of one execution stay: a cell may show several.
    assert all(rest.connection_exists(c) for c in first + other)

    again = run_cell(kernel, make_two, cell_id="cell-1").split()
    assert all(rest.connection_exists(c) for c in again + other)
    assert not any(rest.connection_exists(c) for c in first)  # closed, not left to linger
    states = run_cell(kernel, "print(inspector.closed, a.closed)", cell_id="cell-3")
    assert states == "False False"
