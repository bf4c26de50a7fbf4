"""Publishing fails soft: an unreachable service costs counted lines, not the run; it resumes once reachable."""

from __future__ import annotations

import io
import socket
import time
from contextlib import redirect_stderr, redirect_stdout

from wpsnb.client import Client
from wpsnb.notebook.output_capture import publish_output
from wpsnb.service.local import LocalService

KEY = "k" * 44


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_blocks_run_while_the_service_is_away_and_publish_again_once_it_is_back() -> None:
    port = free_port()
    source = f"Endpoint=http://127.0.0.1:{port};AccessKey={KEY};Version=1.0;"
    shown, warned = io.StringIO(), io.StringIO()
    with redirect_stdout(shown), redirect_stderr(warned), publish_output("resume", source=source) as first:
        print("while away")
    assert first.stats is not None and (first.stats.lines, first.stats.failed) == (0, 1)
    assert warned.getvalue().count("\n") == 1 and "cannot publish to group resume" in warned.getvalue()
    with LocalService(port=port, access_key=KEY) as service:
        listener = Client(service, roles=["webpubsub.joinLeaveGroup.resume"]).connect()
        listener.join_group("resume")
        deadline = time.monotonic() + 15
        published = 0
        while time.monotonic() < deadline:  # the publisher retries in the background (1 s, then doubling)
            with (
                redirect_stdout(io.StringIO()),
                redirect_stderr(io.StringIO()),
                publish_output("resume", source=source) as block,
            ):
                print("back")
            published = block.stats.lines if block.stats is not None else 0
            if published:
                break
            time.sleep(0.5)
        assert published == 1
        received = "".join(m.data for m in listener.messages(timeout=1) if m.data_type == "text")
        listener.close()
    assert "back\n" in received and "while away" not in received
