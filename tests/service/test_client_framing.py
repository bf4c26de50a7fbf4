"""Framing rules aiohttp does not enforce (issue 16, items 6 and 9), checked with hand-made frames on
a raw socket: an unmasked client frame fails the connection with 1002 and is not executed (RFC 6455
§5.1); a 64-bit payload length with its top bit set is 1002 too (§5.2), not 1009. A bystander in
the same group sees nothing of the offending frames and keeps working. And the control frames: a
client's close is echoed with its code (aiohttp answered 1000 to every close), pings get their pongs."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import uuid
from urllib.parse import urlsplit

import pytest
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, data_frames, open_client

from wpsnb.service.local import LocalService


def frame(payload: bytes, *, opcode: int = 0x1, masked: bool = True, length: int | None = None) -> bytes:
    """One final client frame; ``length`` overrides the encoded payload length (for malformed headers)."""
    size = len(payload) if length is None else length
    mask_bit = 0x80 if masked else 0
    if size < 126:
        head = bytes((0x80 | opcode, mask_bit | size))
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, mask_bit | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, mask_bit | 127, size)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def raw_client(url: str, first_bytes: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Upgrade by hand on ``json.webpubsub.azure.v1``; ``first_bytes`` go out with the request itself."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {PLAIN}\r\n\r\n".encode()
        + first_bytes
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def close_code(reader: asyncio.StreamReader) -> int | None:
    """Read server frames until a close frame (its code) or the end of the stream (``None``)."""
    while True:
        try:
            first, second = await asyncio.wait_for(reader.readexactly(2), 5)
        except asyncio.IncompleteReadError:
            return None
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", await reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(size)
        if first & 0x0F == 0x8:
            return int(struct.unpack("!H", payload[:2])[0])


def publish(group: str, text: str) -> bytes:
    return json.dumps({"type": "sendToGroup", "group": group, "dataType": "text", "data": text}).encode()


@pytest.mark.parametrize("with_upgrade", [False, True], ids=["after the upgrade", "sent with the upgrade"])
async def test_an_unmasked_frame_fails_the_connection_with_1002_and_is_not_executed(
    local_service: LocalService, with_upgrade: bool
) -> None:
    hub, group = "f" + uuid.uuid4().hex[:10], "lab"
    url = mint_url(local_service, hub, roles=ALL_ROLES)
    async with open_client(mint_url(local_service, hub, groups=[group]), PLAIN) as bystander:
        unmasked = frame(publish(group, "unmasked"), masked=False)
        reader, writer = await raw_client(url, unmasked if with_upgrade else b"")
        if not with_upgrade:
            writer.write(frame(publish(group, "masked")) + unmasked)
        assert await close_code(reader) == 1002
        writer.close()
        seen = [f["data"] for f in data_frames(await bystander.until_pong())]
        assert "unmasked" not in seen
        assert seen == ([] if with_upgrade else ["masked"])  # the frame before it was fine


async def test_a_64_bit_length_with_the_top_bit_set_is_1002(local_service: LocalService) -> None:
    reader, writer = await raw_client(mint_url(local_service, "f" + uuid.uuid4().hex[:10]))
    writer.write(frame(b"", length=1 << 63)[:10] + b"mask")
    assert await close_code(reader) == 1002
    writer.close()


async def test_masked_frames_split_anywhere_still_work(local_service: LocalService) -> None:
    hub, group = "f" + uuid.uuid4().hex[:10], "lab"
    async with open_client(mint_url(local_service, hub, groups=[group]), PLAIN) as bystander:
        _, writer = await raw_client(mint_url(local_service, hub, roles=ALL_ROLES))
        stream = b"".join(frame(publish(group, "x" * size)) for size in (1, 200, 70_000, 3))
        for start in range(0, len(stream), 7):  # 7-byte pieces: headers split across reads
            writer.write(stream[start : start + 7])
            if start % 700 == 0:
                await writer.drain()
        await writer.drain()
        frames = []
        while len(frames) < 4:
            frames += data_frames([await bystander.recv()])
        assert [len(f["data"]) for f in frames] == [1, 200, 70_000, 3]
        writer.close()


@pytest.mark.parametrize("code", [1000, 1001, 4000])
async def test_a_clients_close_is_answered_with_its_own_code_and_the_service_closes_tcp(
    local_service: LocalService, code: int
) -> None:
    async with open_client(mint_url(local_service, "f" + uuid.uuid4().hex[:10]), PLAIN) as client:
        await asyncio.wait_for(client.ws.close(code, "bye"), 5)  # returns once the service has closed TCP
        assert client.ws.close_code == code  # what the service sent back (RFC 6455 §5.5.1)


async def test_pings_are_answered_with_their_payload(local_service: LocalService) -> None:
    reader, writer = await raw_client(mint_url(local_service, "f" + uuid.uuid4().hex[:10]))
    writer.write(frame(b"are you there", opcode=0x9))
    while True:  # the `connected` message comes first
        first, second = await asyncio.wait_for(reader.readexactly(2), 5)
        payload = await reader.readexactly(second & 0x7F)
        if first == 0x8A:
            assert payload == b"are you there"
            break
    writer.close()
