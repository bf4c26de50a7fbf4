"""Shared by the publisher tests: a real subscriber on the local service that collects a group's messages."""

from __future__ import annotations

import itertools
import time
from typing import Any

from wpsnb.client import Client

_names = itertools.count()


def unique_group(prefix: str = "pub") -> str:
    return f"{prefix}-{next(_names)}-{time.monotonic_ns() % 1_000_000}"


class Subscriber:
    """A ``wpsnb.Client`` joined to ``group``; ``received`` holds every message of the group, in arrival order."""

    def __init__(self, service: Any, group: str, hub: str = "stream"):
        self.group = group
        self.client = Client(service, hub=hub, roles=[f"webpubsub.joinLeaveGroup.{group}"])
        self.client.connect()
        self.client.join_group(group)
        self.received: list[Any] = []

    def collect(self, until: Any, timeout: float = 30.0) -> list[Any]:
        """Read messages until ``until(received)`` is true (or ``timeout`` s pass); return them all."""
        deadline = time.monotonic() + timeout
        while not until(self.received) and time.monotonic() < deadline:
            for message in self.client.messages(timeout=0.1):
                if message.group == self.group:
                    self.received.append(message)
                if until(self.received):
                    break
        return self.received

    def text(self, timeout: float = 30.0, ending: str | None = None) -> str:
        """Everything received as one terminal text, once it contains ``ending`` (default: wait ``timeout``)."""
        self.collect(
            lambda got: ending is not None and ending in "".join(m.data for m in got if m.data_type == "text"), timeout
        )
        return "".join(m.data for m in self.received if m.data_type == "text")

    def close(self) -> None:
        self.client.close()


def final_lines(terminal_text: str) -> list[str]:
    """What a terminal would show: each line's text after its last carriage return."""
    lines = terminal_text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rsplit("\r", 1)[-1] for line in lines]
