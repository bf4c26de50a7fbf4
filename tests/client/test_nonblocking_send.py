"""Requests that do not wait (``wait=False``): futures of their acks, from Client and AsyncClient alike."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Callable

import pytest
from client_helpers import PLAIN, ROLES, wait_until

from wpsnb.client import AsyncClient, Client
from wpsnb.client.sync import mirrored_parameters
from wpsnb.errors import Forbidden, NotConnected
from wpsnb.protocol.messages import DataMessage
from wpsnb.service.local import LocalService

MakeClient = Callable[..., Client]


def test_futures_resolve_to_increasing_ack_ids_and_every_message_arrives(make_client: MakeClient, group: str) -> None:
    sender, receiver = make_client(), make_client(protocol=PLAIN)
    receiver.join_group(group)
    futures = [sender.send_to_group(group, n, wait=False) for n in range(500)]
    assert all(isinstance(f, concurrent.futures.Future) for f in futures)
    ack_ids = [f.result(timeout=10) for f in futures]
    assert ack_ids == sorted(ack_ids) and len(set(ack_ids)) == 500
    assert [m.data for m in receiver.messages(timeout=0.5)] == list(range(500))
    assert sender.stats["pending"] == 0


def test_a_refusal_arrives_in_the_future_not_at_the_call(make_client: MakeClient, group: str) -> None:
    client = make_client(roles=["webpubsub.joinLeaveGroup"])
    refused = client.send_to_group(group, "no role", wait=False)
    with pytest.raises(Forbidden, match=r"webpubsub\.sendToGroup"):
        refused.result(timeout=5)
    joined = client.join_group(group, wait=False)
    assert joined.result(timeout=5) is not None and client.groups == (group,)


def test_fire_and_forget_future_is_already_resolved(make_client: MakeClient, group: str) -> None:
    reliable, plain = make_client(), make_client(protocol=PLAIN)
    first = reliable.send_to_group(group, "x", ack=False, wait=False)
    assert first.done() and isinstance(first.result(), int)  # reliable: an ackId even without waiting
    second = plain.send_to_group(group, "x", ack=False, wait=False)
    assert second.done() and second.result() is None


def test_bad_arguments_still_fail_at_the_call(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="group name is empty"):
        client.send_to_group("", "x", wait=False)
    with pytest.raises(TypeError, match="JSON"):
        client.send_to_group("g", object(), wait=False)


def test_a_callback_may_send_without_waiting(make_client: MakeClient, group: str) -> None:
    client = make_client()
    client.join_group(group)
    answered: list[concurrent.futures.Future[int | None]] = []
    seen = threading.Event()

    def echo(message: DataMessage) -> None:
        if message.data == "ping":
            answered.append(client.send_to_group(group, "pong", wait=False))  # would deadlock with wait=True
            seen.set()

    client.on_group_message(echo, group=group)
    client.send_to_group(group, "ping")
    assert seen.wait(5)
    assert answered[0].result(timeout=5) is not None


def test_closing_fails_what_still_waits(local_service: LocalService, group: str) -> None:
    client = Client(local_service, roles=ROLES, auto_reconnect=False).connect()
    futures = [client.send_to_group(group, n, wait=False) for n in range(2000)]
    client.close(timeout=0)
    wait_until(lambda: all(f.done() for f in futures), what="every future to settle")
    errors = {type(f.exception()) for f in futures if f.exception() is not None}
    assert errors <= {NotConnected}
    assert all(f.result() is not None for f in futures if f.exception() is None)


async def test_async_client_returns_asyncio_futures(local_service: LocalService, group: str) -> None:
    async with AsyncClient(local_service, roles=ROLES) as client:
        await client.join_group(group)
        futures = [await client.send_to_group(group, n, wait=False) for n in range(50)]
        assert all(isinstance(f, asyncio.Future) for f in futures)
        assert await asyncio.gather(*futures) == sorted(await asyncio.gather(*futures))
        got = [m.data async for m in client.messages(timeout=0.3)]
        assert got == list(range(50))
        unacked = await client.send_to_group(group, "x", ack=False, wait=False)
        assert unacked.done() and isinstance(unacked.result(), int)


def test_async_client_threadsafe_view(make_client: MakeClient, group: str) -> None:
    client = make_client()
    future = client.async_client.threadsafe.join_group(group)
    assert isinstance(future.result(timeout=5), int)
    assert future.message.group == group


# ---- Client mirrors AsyncClient ------------------------------------------------------------------


def public_methods(cls: type) -> dict[str, object]:
    return {name: member for name, member in vars(cls).items() if not name.startswith("_") and callable(member)}


def test_client_has_every_public_method_of_async_client_with_its_parameters() -> None:
    async_methods = public_methods(AsyncClient)
    sync_methods = public_methods(Client)
    assert set(async_methods) == set(sync_methods)
    for name, method in async_methods.items():
        assert mirrored_parameters(getattr(Client, name)) == mirrored_parameters(method), name  # type: ignore[arg-type]
        assert getattr(Client, name).__doc__ == method.__doc__, name  # type: ignore[attr-defined]
    assert mirrored_parameters(Client.__init__) == mirrored_parameters(AsyncClient.__init__)


def test_client_has_every_public_property_of_async_client() -> None:
    async_properties = {n for n, m in vars(AsyncClient).items() if isinstance(m, property)}
    sync_properties = {n for n, m in vars(Client).items() if isinstance(m, property)}
    assert async_properties <= sync_properties
    assert {"connection_id", "user_id", "protocol"} <= sync_properties


def test_mirrored_requests_return_futures_when_not_waiting() -> None:
    returns = inspect.signature(Client.send_to_group).return_annotation
    assert "concurrent.futures.Future" in returns
