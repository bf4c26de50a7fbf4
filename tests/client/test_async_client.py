"""AsyncClient mirrors Client with awaitables, on the caller's own event loop."""

from __future__ import annotations

import asyncio

import pytest
from client_helpers import ROLES

from wpsnb.client import AsyncClient
from wpsnb.errors import AckTimeout, Forbidden, NotConnected, RequestFailed
from wpsnb.protocol.messages import Connected, DataMessage
from wpsnb.service.local import LocalService


async def test_connect_join_send_and_iterate(local_service: LocalService, group: str) -> None:
    async with AsyncClient(local_service, user_id="ann", roles=ROLES) as client:
        assert client.state == "connected" and client.user_id == "ann"
        assert await client.join_group(group) == 1  # ackIds count from 1
        await client.send_to_group(group, {"a": 1})
        await client.send_to_group(group, "t")
        await client.send_to_group(group, b"\x01")
        got = [m async for m in client.messages(timeout=0.3)]
        assert [(m.data_type, m.data) for m in got] == [("json", {"a": 1}), ("text", "t"), ("binary", b"\x01")]
        with pytest.raises(RequestFailed, match="InternalServerError"):
            await client.send_event("ev", [1])
    assert client.state == "closed"


async def test_async_callbacks_and_errors(local_service: LocalService, group: str) -> None:
    client = AsyncClient(local_service, roles=[f"webpubsub.joinLeaveGroup.{group}"])
    with pytest.raises(NotConnected):
        await client.join_group(group)
    connected: list[Connected] = []
    messages: list[DataMessage] = []

    async def on_message(message: DataMessage) -> None:
        await asyncio.sleep(0)
        messages.append(message)

    client.on_connected(connected.append)
    client.on_group_message(on_message, group=group)
    await client.connect()
    await client.join_group(group)
    with pytest.raises(Forbidden, match=r"webpubsub\.sendToGroup"):
        await client.send_to_group(group, "refused")
    assert await client.send_to_group(group, "refused too", ack=False) is not None
    await client.flush()
    assert client.stats["failed"] == 2
    await asyncio.sleep(0.05)
    assert [c.connection_id for c in connected] == [client.connection_id] and messages == []
    await client.close()


async def test_ack_timeout_leaves_the_request_queued(local_service: LocalService, group: str) -> None:
    client = AsyncClient(local_service, roles=ROLES)
    await client.connect()
    await client.join_group(group)
    with pytest.raises(AckTimeout, match="stays queued"):
        await client.send_to_group(group, "late", timeout=0)
    got = [m.data async for m in client.messages(timeout=0.3)]
    assert got == ["late"]  # delivered after all
    await client.close()


async def test_messages_iterator_ends_when_the_client_closes(local_service: LocalService) -> None:
    client = AsyncClient(local_service)
    await client.connect()

    async def read() -> list[DataMessage]:
        return [m async for m in client.messages()]  # no timeout: waits for the close

    reader = asyncio.ensure_future(read())
    await asyncio.sleep(0.05)
    await client.close()
    assert await asyncio.wait_for(reader, 2) == []
