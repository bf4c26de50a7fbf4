"""``wpsnb.log_metrics``: one JSON message per call, to the running block's group or an explicit one."""

from __future__ import annotations

import io
import math
import time
from contextlib import redirect_stdout
from typing import Any

import pytest

import wpsnb
from wpsnb.client import Client


def listen(service: Any, group: str) -> Client:
    client = Client(service, roles=[f"webpubsub.joinLeaveGroup.{group}"]).connect()
    client.join_group(group)
    return client


def received_json(client: Client, count: int) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + 10
    while len(got) < count and time.monotonic() < deadline:
        got += [m.data for m in client.messages(timeout=0.2) if m.data_type == "json"]
    return got


def test_inside_a_publishing_block_metrics_go_to_its_group(local_service: Any) -> None:
    group = f"metrics-{time.monotonic_ns()}"
    listener = listen(local_service, group)
    with redirect_stdout(io.StringIO()), wpsnb.publish_output(group, source=local_service):
        for step in range(3):
            assert wpsnb.log_metrics(step=step, loss=1 / (step + 1), acc=0.5) == {
                "step": step,
                "loss": 1 / (step + 1),
                "acc": 0.5,
            }
    assert received_json(listener, 3) == [{"step": n, "loss": 1 / (n + 1), "acc": 0.5} for n in range(3)]
    listener.close()


def test_outside_a_block_it_needs_a_group_and_numbers(local_service: Any) -> None:
    with pytest.raises(ValueError, match="needs a group"):
        wpsnb.log_metrics(step=1, loss=0.1)
    with pytest.raises(ValueError, match="must be a number"):
        wpsnb.log_metrics(step=1, loss=[1], group="g", source=local_service)
    group = f"metrics-{time.monotonic_ns()}"
    listener = listen(local_service, group)
    sent = wpsnb.log_metrics(step=2, loss=math.nan, phase="eval", group=group, source=local_service)
    assert sent == {"step": 2, "loss": None, "phase": "eval"}
    assert received_json(listener, 1) == [sent]
    listener.close()
