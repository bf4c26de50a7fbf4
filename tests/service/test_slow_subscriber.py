"""A subscriber that stops reading must not stall anyone else (issue 2; writer.py).

What happens, and what these tests hold the service to: each connection has a bounded send
backlog (``send_buffer_limit``: bytes queued in the service plus bytes the transport could not hand
to the kernel). Delivery to a connection never waits for it. When a connection's backlog passes
the bound, the service aborts that one TCP connection (no close frame: there is no room to send
one). A plain session then ends; a reliable session is detached and its client recovers with every
unacknowledged message replayed.

The stuck subscriber is a hand-made WebSocket client on a raw TCP socket with a tiny receive
buffer that does the handshake, reads the ``connected`` frame and then never reads again.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from frame_shapes import assert_service_frame
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, RELIABLE, WireClient, connect_to, open_client

from wpsnb.service.local import LocalService

LIMIT = 256 * 1024  # a small bound so the tests push little data; the default is writer.DEFAULT_LIMIT


@pytest.fixture
def bounded_service() -> Iterator[LocalService]:
    with LocalService(send_buffer_limit=LIMIT, recovery_window=5.0) as service:
        yield service


class StuckClient:
    """A WebSocket client that reads the handshake and first frame, then stops reading for good."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first_frame: str | None):
        self.reader = reader
        self.writer = writer
        self.first_frame = first_frame

    @classmethod
    async def connect(cls, url: str, protocol: str | None) -> StuckClient:
        parts = urlsplit(url)
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Set before connecting so the kernel buffers almost nothing for us once we stop reading.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.setblocking(False)
        await asyncio.get_running_loop().sock_connect(raw, (parts.hostname, parts.port))
        # A tiny StreamReader limit: asyncio stops reading the socket once ~2 KB are buffered.
        reader, writer = await asyncio.open_connection(sock=raw, limit=1024)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        )
        if protocol:
            request += f"Sec-WebSocket-Protocol: {protocol}\r\n"
        writer.write((request + "\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        first = await asyncio.wait_for(cls._read_text_frame(reader), 5) if protocol else None
        return cls(reader, writer, first)

    @staticmethod
    async def _read_text_frame(reader: asyncio.StreamReader) -> str:
        first, second = await reader.readexactly(2)
        assert first == 0x81, f"expected a final text frame, got first byte {first:#x}"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        return (await reader.readexactly(length)).decode()

    async def wait_until_cut(self) -> None:
        """Start reading again: the connection must end (EOF or reset) with no close frame in it."""
        received = b""
        try:
            while chunk := await asyncio.wait_for(self.reader.read(65536), 5):
                received += chunk
        except ConnectionResetError:
            pass
        # Whatever made it out before the abort is whole data frames, then at most a cut-off one:
        # never a close frame.
        assert 0x8 not in frame_opcodes(received)

    def close(self) -> None:
        self.writer.transport.abort()


def frame_opcodes(stream: bytes) -> list[int]:
    """Opcodes of the complete server frames at the start of ``stream`` (unmasked, as servers send)."""
    opcodes, offset = [], 0
    while offset + 2 <= len(stream):
        length, start = stream[offset + 1] & 0x7F, offset + 2
        extended = {126: "!H", 127: "!Q"}.get(length)
        if extended is not None:
            start += struct.calcsize(extended)
            if start > len(stream):
                break
            (length,) = struct.unpack_from(extended, stream, offset + 2)
        if start + length > len(stream):
            break
        opcodes.append(stream[offset] & 0x0F)
        offset = start + length
    return opcodes


async def session_state(service: LocalService, hub: str, connection_id: str) -> str | None:
    def state() -> str | None:
        session = service.service.hub(hub).sessions.get(connection_id)
        return None if session is None else session.state

    return await asyncio.to_thread(service.call, state)


async def hub_connection_ids(service: LocalService, hub: str) -> set[str]:
    return set(await asyncio.to_thread(service.call, lambda: list(service.service.hub(hub).sessions)))


def text_message(group: str, data: str) -> dict[str, Any]:
    return {"type": "sendToGroup", "group": group, "dataType": "text", "data": data}


async def publish_in_lockstep(publisher: WireClient, healthy: WireClient, data: str) -> None:
    """Publish one message and require the healthy subscriber to have it within the usual timeout."""
    await publisher.send(text_message("lab", data))
    frame = await healthy.recv()
    assert (frame["type"], frame["data"]) == ("message", data)


async def test_stuck_subscriber_does_not_stall_others_and_is_aborted(bounded_service: LocalService) -> None:
    hub = "slow"
    stuck = await StuckClient.connect(mint_url(bounded_service, hub, groups=["lab"]), PLAIN)
    stuck_id = assert_service_frame(stuck.first_frame, PLAIN)["connectionId"]
    chunk = "s" * 16_000
    async with (
        open_client(mint_url(bounded_service, hub, groups=["lab"]), PLAIN) as healthy,
        open_client(mint_url(bounded_service, hub, roles=ALL_ROLES), PLAIN) as publisher,
    ):
        published = 0
        while published < LIMIT // 2:
            await publish_in_lockstep(publisher, healthy, chunk)
            published += len(chunk)
        # Less than the bound was ever sent to it: the stuck subscriber is still connected.
        assert await session_state(bounded_service, hub, stuck_id) == "connected"
        # Keep publishing; nobody waits for the stuck one, which is cut once its backlog passes the bound
        # (plus whatever the kernel buffers: up to a few MB of socket send buffer on loopback).
        for sent in range(2000):
            await publish_in_lockstep(publisher, healthy, chunk)
            if sent % 20 == 0 and await session_state(bounded_service, hub, stuck_id) is None:
                break
        assert await session_state(bounded_service, hub, stuck_id) is None, "the stuck subscriber was never cut"
        await stuck.wait_until_cut()
        assert await hub_connection_ids(bounded_service, hub) == {
            healthy.connected["connectionId"],
            publisher.connected["connectionId"],
        }
        await publish_in_lockstep(publisher, healthy, "after")


async def test_stuck_reliable_subscriber_is_cut_and_recovers_every_message(bounded_service: LocalService) -> None:
    hub = "slowreliable"
    url = mint_url(bounded_service, hub, groups=["lab"])
    stuck = await StuckClient.connect(url, RELIABLE)
    connected = assert_service_frame(stuck.first_frame, RELIABLE)
    connection_id = connected["connectionId"]
    published: list[str] = []
    async with (
        open_client(mint_url(bounded_service, hub, groups=["lab"]), PLAIN) as healthy,
        open_client(mint_url(bounded_service, hub, roles=ALL_ROLES), PLAIN) as publisher,
    ):
        for number in range(900):
            data = f"{number:05d}" + "r" * 12_000
            await publish_in_lockstep(publisher, healthy, data)
            published.append(data)
            if number % 10 == 0 and await session_state(bounded_service, hub, connection_id) == "detached":
                break
        assert await session_state(bounded_service, hub, connection_id) == "detached"
        for number in range(3):  # the detached session keeps collecting
            data = f"away-{number}"
            await publish_in_lockstep(publisher, healthy, data)
            published.append(data)
        await stuck.wait_until_cut()
        recovery = f"{url}&awps_connection_id={connection_id}&awps_reconnection_token={connected['reconnectionToken']}"
        async with connect_to(recovery, [RELIABLE]) as ws:
            recovered = WireClient(ws)
            assert (await recovered.recv())["event"] == "connected"  # the recovery announces the connection again
            replay = [await recovered.recv() for _ in published]
            assert [(f["sequenceId"], f["data"]) for f in replay] == list(enumerate(published, start=1))
            assert await recovered.until_pong() == []


async def test_slow_reader_under_the_bound_gets_everything(bounded_service: LocalService) -> None:
    hub = "slowreader"
    async with (
        open_client(mint_url(bounded_service, hub, groups=["lab"]), PLAIN) as slow,
        open_client(mint_url(bounded_service, hub, roles=ALL_ROLES), PLAIN) as publisher,
    ):
        payloads = [f"{i:03d}" + "q" * 4000 for i in range(40)]  # 160 KB in all, under the 256 KiB bound
        for data in payloads:
            await publisher.send(text_message("lab", data))
        await publisher.until_pong()
        await asyncio.sleep(0.2)  # the slow reader takes its time
        assert [(await slow.recv())["data"] for _ in payloads] == payloads
