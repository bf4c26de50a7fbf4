"""Keepalive (issue 16, item 8): the service pings a connection that has been silent for
``keepalive_interval`` seconds and drops it when the pong does not come within half of that — a peer
that vanished without a FIN is not held forever. A client that answers pings stays."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from official_sdk import mint_url
from service_wire import PLAIN, RELIABLE, open_client

from wpsnb.service.local import LocalService

INTERVAL = 0.4


@pytest.fixture
def pinging_service() -> Iterator[LocalService]:
    with LocalService(keepalive_interval=INTERVAL, recovery_window=5.0) as service:
        yield service


async def silent_peer(url: str, protocol: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Complete the upgrade by hand, then never read a frame nor answer a ping (a vanished peer)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def session_states(service: LocalService, hub: str) -> list[str]:
    return await asyncio.to_thread(
        service.call, lambda: [str(s.state) for s in service.service.hub(hub).sessions.values()]
    )


@pytest.mark.parametrize("protocol", [PLAIN, RELIABLE])
async def test_a_peer_that_does_not_answer_pings_is_dropped(pinging_service: LocalService, protocol: str) -> None:
    hub = "keepalive" + protocol[5:9]
    _, writer = await silent_peer(mint_url(pinging_service, hub), protocol)
    assert len(await session_states(pinging_service, hub)) == 1
    await asyncio.sleep(INTERVAL * 1.5 + 1.0)  # one interval of silence, half of one for the pong, slack
    states = await session_states(pinging_service, hub)
    if protocol == PLAIN:
        assert states == [], "the dead plain connection was not removed"
    else:
        assert len(states) == 1 and "detached" in states[0].lower(), states  # kept for recovery, as on a drop
    writer.close()


async def test_a_client_that_answers_pings_stays_connected(pinging_service: LocalService) -> None:
    hub = "keepalive_alive"
    async with open_client(mint_url(pinging_service, hub), PLAIN) as client:  # websockets answers pings itself
        await asyncio.sleep(INTERVAL * 5)
        await client.send({"type": "ping"})
        assert (await client.recv())["type"] == "pong"
        assert len(await session_states(pinging_service, hub)) == 1


async def test_keepalive_can_be_turned_off() -> None:
    with LocalService(keepalive_interval=None) as service:
        _, writer = await silent_peer(mint_url(service, "quiet"), PLAIN)
        await asyncio.sleep(1.0)
        assert len(await session_states(service, "quiet")) == 1
        writer.close()
