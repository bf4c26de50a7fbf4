"""wpsnb's group stream writer (``open_group_stream``: ``write``, ``end``, ``abort``) and reader
(``on_group_stream``) against the local service: raw WebSocket subscribers see every fragment in order
and once, the end and an abort; a stream goes on across a forced reliable recovery; a brand-new
connection (plain protocol) ends the stream; the service's ``streamClosed`` (idle timeout) reaches the
writer as an error."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from client_helpers import PLAIN, RELIABLE, wait_until
from official_sdk import mint_url
from service.service_wire import open_client

from wpsnb.client import Client
from wpsnb.errors import NotConnected, RequestFailed
from wpsnb.protocol.messages import DataMessage, StreamError, StreamInfo
from wpsnb.service.local import LocalService

MakeClient = Callable[..., Client]


def raw_subscriber(local_service: LocalService, group: str, protocol: str, count: int) -> tuple[Any, threading.Event]:
    """Read ``count`` group messages with a hand-written WebSocket client in a thread; ``frames`` gets them."""
    frames: list[dict[str, Any]] = []
    ready = threading.Event()

    async def read() -> None:
        async with open_client(mint_url(local_service, "stream", groups=[group]), protocol) as subscriber:
            ready.set()
            while len(frames) < count:
                frame = await asyncio.wait_for(subscriber.recv(), 10)
                if frame["type"] == "message":
                    frames.append(frame)

    thread = threading.Thread(target=asyncio.run, args=(read(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    time.sleep(0.05)  # the subscriber's connection is in the group once connected; let it settle
    return thread, frames  # type: ignore[return-value]


@pytest.mark.parametrize("protocol", [PLAIN, RELIABLE])
def test_fragments_and_the_end_reach_raw_subscribers_in_order_and_once(
    make_client: MakeClient, local_service: LocalService, group: str, protocol: str
) -> None:
    thread, frames = raw_subscriber(local_service, group, protocol, 301)
    publisher = make_client(protocol=protocol)
    with publisher.open_group_stream(group, data_type="text") as stream:
        numbers = [stream.write(f"line {n}") for n in range(1, 301)]
    assert numbers == list(range(1, 301))
    assert stream.closed and stream.error is None
    thread.join(10)
    assert [frame["data"] for frame in frames[:300]] == [f"line {n}" for n in range(1, 301)]
    assert [frame["stream"]["streamSequenceId"] for frame in frames] == list(range(1, 302))
    assert {frame["stream"]["streamId"] for frame in frames} == {stream.stream_id}
    assert frames[-1]["stream"] == {"streamId": stream.stream_id, "streamSequenceId": 301, "endOfStream": True}
    with pytest.raises(NotConnected, match="over"):
        stream.write("too late")


def test_a_block_that_raises_aborts_the_stream_with_the_error(
    make_client: MakeClient, local_service: LocalService, group: str
) -> None:
    thread, frames = raw_subscriber(local_service, group, RELIABLE, 2)
    publisher = make_client()
    with pytest.raises(ZeroDivisionError), publisher.open_group_stream(group) as stream:
        stream.write({"step": 1})
        1 / 0  # noqa: B018
    thread.join(10)
    assert frames[0]["data"] == {"step": 1} and frames[0]["dataType"] == "json"
    assert frames[1]["stream"]["endOfStream"] is True
    assert frames[1]["stream"]["error"] == {
        "name": "UserError",
        "message": "ZeroDivisionError: division by zero",
        "userErrorCode": "Exception",
    }


def test_on_group_stream_gives_the_fragments_with_their_stream_info(make_client: MakeClient, group: str) -> None:
    reader = make_client()
    reader.join_group(group)
    seen: list[DataMessage] = []
    reader.on_group_stream(seen.append, group=group)
    publisher = make_client()
    publisher.send_to_group(group, "not a stream", no_echo=True)
    stream = publisher.open_group_stream(group, data_type="text", no_echo=True)
    stream.write("a")
    stream.abort("bad input", user_error_code="E1")
    wait_until(lambda: len(seen) == 2, what="two stream fragments")
    assert (seen[0].data, seen[0].stream) == ("a", StreamInfo(stream.stream_id, 1))
    assert seen[1].stream == StreamInfo(stream.stream_id, 2, True, StreamError("UserError", "bad input", "E1"))


def test_a_stream_goes_on_across_a_forced_reliable_recovery(
    make_client: MakeClient, local_service: LocalService, group: str
) -> None:
    thread, frames = raw_subscriber(local_service, group, RELIABLE, 401)
    publisher = make_client()
    connection_id = publisher.connection_id
    stream = publisher.open_group_stream(group, data_type="text")
    for n in range(1, 201):
        stream.write(f"before {n}")
    assert publisher.drop_connection() is True  # fragments written, acks not read: resent after recovery
    for n in range(1, 201):
        stream.write(f"after {n}")
    stream.end(timeout=20)
    thread.join(10)
    assert publisher.connection_id == connection_id and publisher.stats["recoveries"] == 1
    data = [frame["data"] for frame in frames[:400]]
    assert data == [f"before {n}" for n in range(1, 201)] + [f"after {n}" for n in range(1, 201)]
    assert frames[400]["stream"]["endOfStream"] is True and "error" not in frames[400]["stream"]


def test_a_brand_new_connection_ends_the_stream_for_the_writer(make_client: MakeClient, group: str) -> None:
    publisher = make_client(protocol=PLAIN)
    first = publisher.connection_id
    stream = publisher.open_group_stream(group, data_type="text")
    stream.write("one")
    assert publisher.drop_connection() is True
    wait_until(lambda: publisher.state == "connected" and publisher.connection_id != first, what="a new connection")
    wait_until(lambda: stream.closed, what="the stream over")
    assert stream.error is not None and stream.error.name == "Cancelled"
    with pytest.raises(RequestFailed, match="Cancelled"):
        stream.write("two")


def test_an_idle_timeout_reaches_the_writer_as_an_error(make_client: MakeClient, group: str) -> None:
    publisher = make_client()
    stream = publisher.open_group_stream(group, idle_timeout_ms=200)
    stream.write("then silence", data_type="text")
    wait_until(lambda: stream.closed, what="the service closing the stream")
    assert stream.error == StreamError("IdleTimeout", stream.error.message)
    with pytest.raises(RequestFailed, match="IdleTimeout.*idle_timeout_ms"):
        stream.end()


def test_a_start_without_permission_is_refused(make_client: MakeClient, group: str) -> None:
    publisher = make_client(roles=[])
    with pytest.raises(RequestFailed, match="Forbidden") as refused:
        publisher.open_group_stream(group)
    assert refused.value.name == "Forbidden"
    with pytest.raises(ValueError, match="idle_timeout_ms"):
        publisher.open_group_stream(group, idle_timeout_ms=0)
