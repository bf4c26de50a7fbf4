"""A trace watcher for tests: reads a local service's trace in a thread, as ``wpsnb trace`` does.

Example::

    watcher = Watcher(service, hub="chat")
    record = await watcher.wait_for(lambda r: r["kind"] == "rest")
    watcher.close()
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from wpsnb.trace_reader import TraceReader


class Watcher:
    """Collects a trace in a thread until closed."""

    def __init__(self, source: Any, **options: Any):
        self.reader = TraceReader(source, **options)
        self.records: list[dict[str, Any]] = []
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for record in self.reader.records():
                self.records.append(record)
        except Exception as exc:  # reported by the test
            self.error = exc

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in list(self.records):
                if predicate(record):
                    return record
            await asyncio.sleep(0.02)
        kinds = [(r["kind"], r.get("type")) for r in self.records]
        raise AssertionError(f"no such record within {timeout} s (error={self.error}); saw {kinds}")

    def close(self) -> None:
        self.reader.close()
        self._thread.join(5)
