"""The official Python client (``azure-messaging-webpubsubclient``) with its traffic recorded.

``PythonPeer`` wraps one SDK client, sync (``WebPubSubClient``) or aio, and records:

* every callback the SDK fires (``connected``, ``disconnected``, ``stopped``, ``group-message``,
  ``server-message``) in an ``EventLog`` the test can wait on;
* every WebSocket frame the SDK receives and sends. Each received frame is checked against the
  spec's message shapes (``tests/frame_shapes.py``) as it arrives.

The SDK has no public hook for raw frames, so the recorder wraps the ``parse_messages`` /
``write_message`` of the client's protocol object (``client._protocol``, the same object the SDK
calls for every frame); if a new SDK version renames it, ``tap_frames`` fails with a message
saying so rather than silently checking nothing.

Example::

    peer = PythonPeer.sync(url, PLAIN_PROTOCOL)
    with peer:
        peer.client.join_group("lab")
        peer.client.send_to_group("lab", "hi", WebPubSubDataType.TEXT)
        assert peer.events.next("group-message").data == "hi"
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.aio import WebPubSubClient as AsyncWebPubSubClient
from azure.messaging.webpubsubclient.aio import WebPubSubClientCredential as AsyncWebPubSubClientCredential
from azure.messaging.webpubsubclient.models import CallbackType, WebPubSubProtocolType
from frame_shapes import assert_service_frame

TIMEOUT = 10.0  # seconds an expected event may take on loopback
EVENTS = (
    CallbackType.CONNECTED,
    CallbackType.DISCONNECTED,
    CallbackType.STOPPED,
    CallbackType.GROUP_MESSAGE,
    CallbackType.SERVER_MESSAGE,
)

# Fail fast: the tests check what the service answers, not the SDK's retry back-off (≈ 5.6 s).
#
# The sync SDK (1.1.0) has a lost-wakeup race: it sends a frame and only then starts waiting on a
# Condition for the ack (_client.py, _send_message_with_ack_id), and waits for on_open the same way
# in _connect. On loopback the ack often arrives first (about 1 call in 8 here); the notify is lost
# and the call sits out the whole ack_timeout / start_timeout (30 s by default) before succeeding.
# Short timeouts bound that stall (a really missing ack still fails), and the frame tap holds each
# ack back for ACK_HOLD seconds so the waiter is almost always waiting when it is processed.
ACK_HOLD = 0.005
SDK_OPTIONS = {"message_retry_total": 0, "reconnect_retry_total": 0, "ack_timeout": 1.0, "start_timeout": 1.0}


class EventLog:
    """Events recorded from SDK callbacks (any thread); a test takes them out in arrival order.

    The sync SDK runs every callback in a thread of its own, so arrival order between two
    messages is not guaranteed: compare sets, or sort by ``sequence_id``.
    """

    def __init__(self) -> None:
        self._events: list[tuple[str, Any]] = []
        self._changed = threading.Condition()

    def record(self, name: str, args: Any) -> None:
        """Append one event (called by the SDK's callback)."""
        with self._changed:
            self._events.append((name, args))
            self._changed.notify_all()

    def _take(self, name: str, where: Callable[[Any], bool]) -> tuple[bool, Any]:
        for index, (event_name, args) in enumerate(self._events):
            if event_name == name and where(args):
                del self._events[index]
                return True, args
        return False, None

    def next(self, name: str, timeout: float = TIMEOUT, where: Callable[[Any], bool] = lambda args: True) -> Any:
        """Consume and return the oldest ``name`` event matching ``where`` (blocks; sync SDK)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found, args = self._take(name, where)
                if found:
                    return args
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {name!r} event within {timeout} s; unconsumed: {self.names()}")
                self._changed.wait(remaining)

    async def next_async(
        self, name: str, timeout: float = TIMEOUT, where: Callable[[Any], bool] = lambda args: True
    ) -> Any:
        """Like ``next`` without blocking the event loop the aio SDK's callbacks run on."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                found, args = self._take(name, where)
            if found:
                return args
            if time.monotonic() > deadline:
                raise AssertionError(f"no {name!r} event within {timeout} s; unconsumed: {self.names()}")
            await asyncio.sleep(0.01)

    def take_all(self, name: str, count: int, timeout: float = TIMEOUT) -> list[Any]:
        """The next ``count`` ``name`` events (sync SDK)."""
        return [self.next(name, timeout) for _ in range(count)]

    def pending(self, name: str) -> list[Any]:
        """Unconsumed ``name`` events so far (not consumed by this call)."""
        with self._changed:
            return [args for event_name, args in self._events if event_name == name]

    def names(self) -> list[str]:
        """Names of the unconsumed events, for error messages."""
        with self._changed:
            return [name for name, _ in self._events]


class FrameLog:
    """Frames one SDK client received and sent; received ones are shape-checked on arrival."""

    def __init__(self, protocol: str):
        self.protocol = protocol
        self.received: list[str] = []
        self.sent: list[str] = []
        self.bad: list[str] = []
        self._lock = threading.Lock()

    def on_received(self, frame: Any) -> str | None:
        """Record (and check) one frame from the service; return its ``type`` if it has a valid shape."""
        with self._lock:
            self.received.append(frame if isinstance(frame, str) else repr(frame))
            try:
                return assert_service_frame(frame, self.protocol)["type"]
            except AssertionError as error:
                self.bad.append(str(error))
                return None

    def on_sent(self, frame: str) -> None:
        """Record one frame the SDK sent."""
        with self._lock:
            self.sent.append(frame)

    def of_type(self, frame_type: str) -> list[dict[str, Any]]:
        """Received frames whose ``type`` is ``frame_type``, parsed, in arrival order."""
        with self._lock:
            return [message for message in map(json.loads, self.received) if message.get("type") == frame_type]

    def assert_all_valid(self) -> None:
        """Fail with every received frame that broke the spec's message shapes."""
        with self._lock:
            if self.bad:
                raise AssertionError(
                    "the official Python client received frames that break the spec's "
                    "message shapes:\n" + "\n".join(self.bad)
                )


def tap_frames(client: WebPubSubClient | AsyncWebPubSubClient, protocol: str) -> FrameLog:
    """Record every frame ``client`` parses and writes (see the module docstring for how)."""
    sdk_protocol = getattr(client, "_protocol", None)
    if sdk_protocol is None or not hasattr(sdk_protocol, "parse_messages"):
        raise RuntimeError(
            "azure-messaging-webpubsubclient changed: the client has no _protocol.parse_messages "
            "to record frames from; update tests/interop/python_peer.py:tap_frames."
        )
    log = FrameLog(protocol)
    parse, write = sdk_protocol.parse_messages, sdk_protocol.write_message

    def parse_and_record(raw_message: Any) -> Any:
        if log.on_received(raw_message) == "ack":
            time.sleep(ACK_HOLD)  # see ACK_HOLD: works around the SDK's lost-wakeup race
        return parse(raw_message)

    def write_and_record(message: Any) -> str:
        frame = write(message)
        log.on_sent(frame)
        return frame

    sdk_protocol.parse_messages = parse_and_record
    sdk_protocol.write_message = write_and_record
    return log


class PythonPeer:
    """One official Python SDK client plus its ``events`` and ``frames``; build with ``sync``/``aio``."""

    def __init__(self, client: Any, protocol: str, events: EventLog):
        self.client = client
        self.protocol = protocol
        self.events = events
        self.frames = tap_frames(client, protocol)
        self.connected: Any = None  # the ``connected`` event args once open

    @classmethod
    def sync(cls, url: str | Callable[[], str], protocol: str, **options: Any) -> PythonPeer:
        """A sync ``WebPubSubClient`` on ``protocol``; ``url`` may be a provider (called on each connect)."""
        provider = url if callable(url) else (lambda: url)
        client = WebPubSubClient(
            WebPubSubClientCredential(provider),
            protocol_type=WebPubSubProtocolType(protocol),
            **{**SDK_OPTIONS, **options},
        )
        events = EventLog()
        for name in EVENTS:
            client.subscribe(name, lambda args=None, name=name: events.record(name, args))
        return cls(client, protocol, events)

    @classmethod
    async def aio(cls, url: str, protocol: str, **options: Any) -> PythonPeer:
        """An aio ``WebPubSubClient`` on ``protocol`` (callbacks run on the current loop)."""

        async def provider() -> str:
            return url

        client = AsyncWebPubSubClient(
            AsyncWebPubSubClientCredential(provider),
            protocol_type=WebPubSubProtocolType(protocol),
            **{**SDK_OPTIONS, **options},
        )
        events = EventLog()
        for name in EVENTS:

            async def record(args: Any = None, name: str = name) -> None:
                events.record(name, args)

            await client.subscribe(name, record)
        return cls(client, protocol, events)

    def open(self) -> Any:
        """Open the sync client; return the ``connected`` event args (connection_id, user_id)."""
        self.client.open()
        self.connected = self.events.next(CallbackType.CONNECTED)
        return self.connected

    def close(self) -> None:
        """Close the sync client; fail if any received frame broke the message shapes."""
        self.client.close()
        self.frames.assert_all_valid()

    def __enter__(self) -> PythonPeer:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
