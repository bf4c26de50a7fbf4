"""Small helpers shared by the client tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from wpsnb.service.local import LocalService

ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]
PLAIN = "json.webpubsub.azure.v1"
RELIABLE = "json.reliable.webpubsub.azure.v1"


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``condition`` until it is true; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def connection_string_for(service: LocalService, port: int) -> str:
    """The service's connection string with another port (a proxy's), same key."""
    return f"Endpoint=http://127.0.0.1:{port};AccessKey={service.access_key};Version=1.0;"
