"""The official ``@azure/web-pubsub-express`` handler as an upstream, run under node (``tests/js/upstream.mjs``).

Every HTTP request the app server received and every handler callback comes back as a dict, so a
test can check what the official handler saw as well as what the client got.

Example::

    with ExpressUpstream("chat") as upstream:
        service = LocalService(event_handlers={"chat": [upstream.setting()]})
        ...
        connected = upstream.next("connected")
"""

from __future__ import annotations

import base64
import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).resolve().parent.parent / "js"
SCRIPT = JS_DIR / "upstream.mjs"
TIMEOUT = 10.0


def express_setup_problem() -> str | None:
    """Why the express upstream cannot run here, or ``None``."""
    if shutil.which("node") is None:
        return "node is not on PATH; install Node.js >= 20, then run `npm ci --prefix tests/js`."
    if not (JS_DIR / "node_modules" / "@azure" / "web-pubsub-express" / "package.json").exists():
        return "@azure/web-pubsub-express is not installed; run `npm ci --prefix tests/js`."
    return None


class ExpressUpstream:
    """One node process serving ``WebPubSubEventHandler(hub, options)`` on 127.0.0.1."""

    def __init__(self, hub: str = "chat", **options: Any):
        self.hub = hub
        self.options = {"hub": hub, **options}
        self.port = 0
        self.path = ""
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self._seen: list[dict[str, Any]] = []
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ExpressUpstream:
        self._process = subprocess.Popen(
            ["node", str(SCRIPT), json.dumps(self.options)],
            cwd=JS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        first = self._lines.get(timeout=TIMEOUT)
        self.port, self.path = first["port"], first["path"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        process = self._process
        if process is not None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(json.loads(line))

    def setting(self, **extra: Any) -> dict[str, Any]:
        """An event handler setting pointing at this handler's path (every system event, every user event)."""
        return {
            "url_template": f"http://127.0.0.1:{self.port}/api/webpubsub/hubs/{{hub}}/",
            "user_event_pattern": "*",
            "system_events": ["connect", "connected", "disconnected"],
            **extra,
        }

    def next(self, kind: str, timeout: float = TIMEOUT, where: Any = None, **match: Any) -> dict[str, Any]:
        """The next line of ``kind`` (``request``, ``connect``, ``connected``, ``user``, ...) whose fields match
        (and for which ``where(line)`` holds, if given)."""

        def wanted(line: dict[str, Any]) -> bool:
            if line.get("kind") != kind or any(line.get(k) != v for k, v in match.items()):
                return False
            return where is None or bool(where(line))

        for index, line in enumerate(self._seen):
            if wanted(line):
                return self._seen.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the express handler reported no {kind} {match or ''}; it saw {self._seen}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if wanted(line):
                return line
            self._seen.append(line)

    def request(self, event: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next POST whose ``ce-eventname`` is ``event``, with its body decoded to bytes."""
        line = self.next("request", timeout, where=lambda r: r["headers"].get("ce-eventname") == event, method="POST")
        line["body"] = base64.b64decode(line["body"])
        return line

    def drain(self, settle: float = 0.3) -> list[dict[str, Any]]:
        """Everything reported so far (waiting ``settle`` seconds for stragglers)."""
        time.sleep(settle)
        while True:
            try:
                self._seen.append(self._lines.get_nowait())
            except queue.Empty:
                break
        seen, self._seen = self._seen, []
        return seen
