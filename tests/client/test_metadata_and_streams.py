"""wpsnb's client sends metadata and a TTL with its messages, refuses what the service would refuse before
sending it, and shows the metadata and the group-stream information of what it receives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from client_helpers import PLAIN, RELIABLE
from official_sdk import mint_url
from service.service_wire import open_client

from wpsnb.client import Client
from wpsnb.protocol.messages import StreamError, StreamInfo
from wpsnb.service.local import LocalService

MakeClient = Callable[..., Client]


@pytest.mark.parametrize("protocol", [PLAIN, RELIABLE])
def test_metadata_and_ttl_go_out_and_come_back(make_client: MakeClient, group: str, protocol: str) -> None:
    receiver = make_client(protocol=protocol)
    receiver.join_group(group)
    sender = make_client(protocol=protocol)
    sender.send_to_group(group, "hi", metadata={"stage": "train", "run-id": "7"}, ttl_seconds=60, no_echo=True)
    sender.send_to_group(group, {"plain": True}, no_echo=True)
    first, second = list(receiver.messages(timeout=0.5))
    assert (first.data, first.metadata) == ("hi", {"stage": "train", "run-id": "7"})
    assert (second.data, second.metadata) == ({"plain": True}, None)
    sent = [json.loads(frame.raw) for frame in sender.frames if frame.direction == "sent" and "metadata" in frame.raw]
    assert sent[0]["metadata"] == {"stage": "train", "run-id": "7"} and sent[0]["ttlSeconds"] == 60


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"metadata": {"a b": "1"}}, "characters other than"),
        ({"metadata": {"k": "é"}}, "ASCII"),
        ({"metadata": {"k": "v" * 1025}}, "at most 1024"),
        ({"ttl_seconds": 301}, "0 to 300"),
        ({"ttl_seconds": -1}, "0 to 300"),
    ],
)
def test_what_the_service_would_refuse_is_refused_before_sending(
    make_client: MakeClient, group: str, options: dict, problem: str
) -> None:
    client = make_client()
    with pytest.raises(ValueError, match=problem):
        client.send_to_group(group, "x", **options)
    assert client.state == "connected"  # nothing reached the service, so nothing closed the connection
    assert client.send_to_group(group, "still fine") is not None


def test_received_stream_fragments_carry_their_stream_info(
    make_client: MakeClient, local_service: LocalService, group: str
) -> None:
    receiver = make_client()
    receiver.join_group(group)

    async def publish() -> None:  # raw stream frames, so the reader is checked on its own
        url = mint_url(local_service, "stream", roles=["webpubsub.sendToGroup"])
        async with open_client(url, PLAIN) as publisher:
            await publisher.send({"type": "sendToGroup", "group": group, "stream": {"streamId": "s1"}})
            await publisher.send(
                {"type": "streamData", "streamId": "s1", "streamSequenceId": 1, "dataType": "text", "data": "a"}
            )
            await publisher.send(
                {"type": "streamEnd", "streamId": "s1", "error": {"message": "no", "userErrorCode": "E1"}}
            )
            await publisher.until_pong()

    asyncio.run(publish())
    fragment, terminal = list(receiver.messages(timeout=0.5))
    assert (fragment.data, fragment.stream) == ("a", StreamInfo("s1", 1))
    assert terminal.stream == StreamInfo("s1", 2, True, StreamError("UserError", "no", "E1"))
