"""Run the official JavaScript SDKs (``tests/js/peer.mjs`` under node) from Python tests.

``JsPeer`` starts one node process that drives ``@azure/web-pubsub-client`` (and, given a
connection string, ``@azure/web-pubsub``'s ``WebPubSubServiceClient``). Commands and results
travel as JSON lines (the protocol is described at the top of ``peer.mjs``). Every frame the
JS client receives is reported by the peer and checked against the spec's message shapes as
it arrives; a bad frame fails the next call with the frame and what is wrong with it.

Example::

    with JsPeer(url=client_access_url, protocol=PLAIN) as peer:
        peer.start()
        peer.request("joinGroup", group="lab")
        peer.request("sendToGroup", group="lab", data="hi", dataType="text")
        assert peer.next_event("group-message")["data"] == "hi"
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from frame_shapes import PLAIN_PROTOCOL, RELIABLE_PROTOCOL, assert_service_frame

JS_DIR = Path(__file__).resolve().parent.parent / "js"
PEER_SCRIPT = JS_DIR / "peer.mjs"
TIMEOUT = 10.0  # seconds a command or an expected event may take on loopback

# peer.mjs names the subprotocols by a short word.
PROTOCOL_FLAGS = {PLAIN_PROTOCOL: "json", RELIABLE_PROTOCOL: "reliable"}

Event = dict[str, Any]


def node_setup_problem() -> str | None:
    """Why the JS interop tests cannot run here, or ``None`` when node and the SDKs are installed."""
    if shutil.which("node") is None:
        return "node is not on PATH; install Node.js >= 20, then run `npm ci --prefix tests/js`."
    for package in ("@azure/web-pubsub-client", "@azure/web-pubsub"):
        if not (JS_DIR / "node_modules" / package / "package.json").exists():
            return f"{package} is not installed in tests/js/node_modules; run `npm ci --prefix tests/js`."
    return None


class JsPeerError(Exception):
    """A command failed inside the JS SDK; ``name``/``error_detail`` are what the SDK reported.

    ``error_detail`` is the ack error (``{"name": "Forbidden", "message": ...}``) for a
    ``SendMessageError``, else ``None``.
    """

    def __init__(self, command: str, error: dict[str, Any]):
        self.name: str = error.get("name", "")
        self.error_detail: dict[str, Any] | None = error.get("errorDetail")
        self.ack_id: int | None = error.get("ackId")
        self.status_code: int | None = error.get("statusCode")
        super().__init__(
            f"{command} failed in the JS SDK: {self.name}: {error.get('message')}"
            + (f" (ack error {self.error_detail})" if self.error_detail else "")
        )


class JsPeer:
    """One node process running ``peer.mjs``; a context manager.

    ``url``: the client access URL for ``@azure/web-pubsub-client``. ``connection_string`` +
    ``hub``: enable the server SDK; without ``url`` the client's URL is minted by it on ``start``.
    ``protocol``: the subprotocol name (plain or reliable).
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        connection_string: str | None = None,
        hub: str | None = None,
        protocol: str = RELIABLE_PROTOCOL,
        timeout: float = TIMEOUT,
    ):
        problem = node_setup_problem()
        if problem:
            raise RuntimeError(problem)
        if protocol not in PROTOCOL_FLAGS:
            raise ValueError(f"protocol must be one of {list(PROTOCOL_FLAGS)}, got {protocol!r}")
        self.protocol = protocol
        self.timeout = timeout
        self.frames: list[str] = []  # every frame the JS client received, in order
        self.sent_frames: list[str] = []  # every frame it sent
        self._events: list[Event] = []  # unconsumed events, in arrival order
        self._results: dict[int, Event] = {}
        self._bad_frames: list[str] = []
        self._stderr: list[str] = []
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._closed = False
        args = ["node", str(PEER_SCRIPT), "--protocol", PROTOCOL_FLAGS[protocol]]
        if url is not None:
            args += ["--url", url]
        if connection_string is not None:
            args += ["--connection-string", connection_string, "--hub", hub or "stream"]
        self._process = subprocess.Popen(
            args,
            cwd=JS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.next_event("ready")

    # -- commands --

    def request(self, cmd: str, timeout: float | None = None, **fields: Any) -> Any:
        """Run one command in the peer and return its value; raise ``JsPeerError`` if the SDK failed."""
        command_id = next(self._ids)
        self._write({"cmd": cmd, "id": command_id, **fields})
        result = self._wait(lambda: self._results.pop(command_id, None), timeout, f"the result of {cmd}")
        if not result["ok"]:
            raise JsPeerError(cmd, result["error"])
        return result["value"]

    def start(self, **fields: Any) -> dict[str, Any]:
        """Start the JS client (``userId``/``roles``/``groups`` when minting); returns connectionId, userId.

        The ``connected`` event of this start is consumed, so a later ``next_event("connected")``
        means a new connection.
        """
        connected = self.request("start", **fields)
        self.next_event("connected", where=lambda event: event["connectionId"] == connected["connectionId"])
        return connected

    def stop(self) -> None:
        """Stop the JS client and wait for its ``stopped`` event."""
        self.request("stop")

    # -- events --

    def next_event(
        self, name: str, timeout: float | None = None, where: Callable[[Event], bool] = lambda event: True
    ) -> Event:
        """Consume and return the oldest unconsumed ``name`` event matching ``where``."""

        def take() -> Event | None:
            for index, event in enumerate(self._events):
                if event["event"] == name and where(event):
                    return self._events.pop(index)
            return None

        return self._wait(take, timeout, f"a {name!r} event")

    def take_events(self, name: str, count: int, timeout: float | None = None) -> list[Event]:
        """The next ``count`` ``name`` events, in arrival order."""
        return [self.next_event(name, timeout) for _ in range(count)]

    def pending(self, name: str) -> list[Event]:
        """Unconsumed ``name`` events received so far (not consumed by this call)."""
        with self._changed:
            self._raise_if_bad_frames()
            return [event for event in self._events if event["event"] == name]

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        """Block until ``condition()`` holds; it is re-checked whenever the peer reports something."""
        self._wait(lambda: True if condition() else None, timeout, what)

    def received(self, frame_type: str) -> list[dict[str, Any]]:
        """Every received frame of ``type`` == ``frame_type``, parsed, in arrival order."""
        with self._changed:
            return [message for message in map(json.loads, self.frames) if message.get("type") == frame_type]

    # -- lifecycle --

    def close(self) -> None:
        """Stop the client, end the process, and fail if any received frame broke the message shapes."""
        if not self._closed:
            self._closed = True
            try:
                self._write({"cmd": "exit"})
                self._process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait(5)
            for reader in self._readers:
                reader.join(5)
        with self._changed:
            self._raise_if_bad_frames()

    def __enter__(self) -> JsPeer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing --

    def _write(self, command: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()

    def _wait(self, take: Callable[[], Any], timeout: float | None, what: str) -> Any:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._changed:
            while True:
                self._raise_if_bad_frames()
                found = take()
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._process.poll() is not None and not self._readers[0].is_alive()):
                    state = "waited" if remaining <= 0 else f"node exited with {self._process.returncode}"
                    raise AssertionError(
                        f"JS peer: no {what} ({state}). Unconsumed events: "
                        f"{[e['event'] for e in self._events]}. node stderr:\n" + "".join(self._stderr[-30:])
                    )
                self._changed.wait(remaining)

    def _read_stdout(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            event = json.loads(line)
            with self._changed:
                self._record(event)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _record(self, event: Event) -> None:
        if event["event"] == "result":
            self._results[event["id"]] = event
        elif event["event"] == "frame":
            if event["direction"] == "sent":
                self.sent_frames.append(event["text"])
                return
            if event.get("binary"):
                self._bad_frames.append("the service sent a binary frame on a JSON subprotocol")
                return
            self.frames.append(event["text"])
            try:
                assert_service_frame(event["text"], self.protocol)
            except AssertionError as error:
                self._bad_frames.append(str(error))
        else:
            self._events.append(event)

    def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line)

    def _raise_if_bad_frames(self) -> None:
        if self._bad_frames:
            raise AssertionError(
                "the JS client received frames that break the spec's message shapes:\n" + "\n".join(self._bad_frames)
            )
