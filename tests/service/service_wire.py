"""A raw ``websockets`` client for the service tests: every frame it receives is checked against the
spec's message shapes (``tests/frame_shapes.py``) before a test looks at it.

Nothing here knows the service's internals: it speaks the wire protocol as a hand-written client
would, so the tests prove what any client sees.

Example::

    async with open_client(url, PLAIN) as client:
        assert client.connected["userId"] == "ann"
        await client.send({"type": "joinGroup", "group": "lab", "ackId": 1})
        assert (await client.recv())["success"] is True
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from frame_shapes import assert_service_frame
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

PLAIN = "json.webpubsub.azure.v1"
RELIABLE = "json.reliable.webpubsub.azure.v1"
ALL_ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]
TIMEOUT = 5.0  # seconds any single expected frame may take on loopback


class WireClient:
    """One WebSocket to the service; ``recv`` returns shape-checked frames as dicts.

    ``connected`` holds the ``connected`` system message (``None`` for simple clients and recoveries).
    """

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.protocol = ws.subprotocol
        self.connected: dict[str, Any] | None = None
        self._skipped: deque[dict[str, Any]] = deque()  # frames ``request`` read past, for ``recv``

    async def handshake(self) -> WireClient:
        """Read the ``connected`` system message a subprotocol connection starts with."""
        frame = await self.recv()
        assert frame["type"] == "system" and frame["event"] == "connected", frame
        self.connected = frame
        return self

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        """Send a dict as one JSON text frame; str/bytes go out verbatim (text/binary frames)."""
        await self.ws.send(json.dumps(message) if isinstance(message, dict) else message)

    async def recv_raw(self, timeout: float = TIMEOUT) -> str | bytes:
        """The next frame exactly as it arrived (no shape check)."""
        return await asyncio.wait_for(self.ws.recv(), timeout)

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame, asserted to match the negotiated protocol's message shapes."""
        assert self.protocol is not None, "simple clients get bare frames; use recv_raw"
        if self._skipped:
            return self._skipped.popleft()
        return assert_service_frame(await self.recv_raw(timeout), self.protocol)

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a message carrying an ackId and return its ack; frames that came first stay for ``recv``."""
        await self.send(message)
        skipped = []
        while True:
            frame = await self.recv()
            if frame["type"] == "ack" and frame["ackId"] == message["ackId"]:
                self._skipped.extendleft(reversed(skipped))
                return frame
            skipped.append(frame)

    async def until_pong(self) -> list[dict[str, Any]]:
        """Ping, and return every frame that arrives before the pong.

        The service answers a connection's messages in order, so once the pong is here every answer
        to what was sent before it has arrived too: this is how a test proves an *absence* (no ack).
        """
        await self.send({"type": "ping"})
        frames = []
        while True:
            frame = await self.recv()
            if frame["type"] == "pong":
                return frames
            frames.append(frame)

    async def expect_close(self, code: int, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """Read until the service closes the connection; assert its close code; return the frames before."""
        frames = []
        try:
            while True:
                frame = await asyncio.wait_for(self.ws.recv(), timeout)
                if self.protocol is not None:
                    frames.append(assert_service_frame(frame, self.protocol))
        except ConnectionClosed as closed:
            received = closed.rcvd
            assert received is not None, f"connection ended without a close frame (expected {code})"
            assert received.code == code, f"closed with {received.code} ({received.reason!r}), expected {code}"
        return frames

    def drop(self) -> None:
        """Cut the TCP connection without a closing handshake (what a network failure looks like)."""
        self.ws.transport.abort()


def connect_to(url: str, protocols: list[str] | None = None, **options: Any) -> connect:
    """``websockets`` connect with the settings every test wants (no proxy, no compression)."""
    return connect(
        url, subprotocols=protocols, proxy=None, compression=None, open_timeout=TIMEOUT, ping_interval=None, **options
    )


@asynccontextmanager
async def open_client(url: str, *protocols: str, handshake: bool = True, **options: Any) -> AsyncIterator[WireClient]:
    """Connect, offering ``protocols`` in order; with a subprotocol, read the ``connected`` message first."""
    async with connect_to(url, list(protocols) or None, **options) as ws:
        client = WireClient(ws)
        if handshake and client.protocol is not None:
            await client.handshake()
        yield client


def data_frames(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the ``message`` frames."""
    return [frame for frame in frames if frame["type"] == "message"]
