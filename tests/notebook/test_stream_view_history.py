"""StreamView asks a group's publishers for history on joining: their last lines first, then live ones,
none twice; wpsnb's control messages are neither shown nor counted; the snapshot shows the log."""

from __future__ import annotations

import time
import uuid
from typing import Any

from wpsnb.notebook import StreamView
from wpsnb.notebook.snapshot import snapshot_html, snapshot_lines
from wpsnb.publishing import Publisher


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def shown(view: StreamView) -> list[tuple[Any, Any]]:
    return [(r.get("history", False), r["data"]) for r in view.records() if r["kind"] == "message"]


def test_a_late_view_shows_history_then_live_lines_once(local_service) -> None:
    hub = "svh" + uuid.uuid4().hex[:8]
    with Publisher("train", local_service, hub=hub, user_id="trainer") as run:
        run.put_text("epoch 1\n")
        run.put_json({"step": 1, "loss": 0.5})
        assert run.flush(10)
        view = StreamView(local_service, hub=hub, groups=["train"])
        try:
            run.put_text("epoch 2\n")  # live, while the view still waits for the answer: held, then after it
            assert run.flush(10)
            wait_for(lambda: len(shown(view)) == 3)
            time.sleep(0.5)  # nothing else arrives (no duplicate of the live line from the history)
            assert shown(view) == [(True, "epoch 1\n"), (True, {"step": 1, "loss": 0.5}), (False, "epoch 2\n")]
            assert view.count == 3  # the request and the answer are not messages to the user
            assert all("wpsnb" not in str(r.get("data")) for r in view.records())
            html = snapshot_html("k", "t", "s", view.records())
            assert "epoch 2" in html and 'data-metric="loss"' in html
            assert snapshot_lines(view.records())[-2:] == ['{"step": 1, "loss": 0.5}', "epoch 2"]
        finally:
            view.close()


def test_group_history_0_shows_only_live_messages_at_once(local_service) -> None:
    hub = "svh" + uuid.uuid4().hex[:8]
    with Publisher("train", local_service, hub=hub, user_id="trainer") as run:
        run.put_text("before\n")
        assert run.flush(10)
        view = StreamView(local_service, hub=hub, groups=["train"], group_history=0)
        try:
            run.put_text("after\n")
            assert run.flush(10)
            wait_for(lambda: shown(view))
            time.sleep(0.3)
            assert shown(view) == [(False, "after\n")]
        finally:
            view.close()
