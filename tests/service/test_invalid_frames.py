"""Invalid frames close only the offending connection, with the documented close code
(docs/protocol.md): 1003 binary on a JSON subprotocol, 1007 not a valid message,
1009 over 1 MB. A bystander in the same hub and group keeps sending and receiving throughout."""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import quote

import pytest
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, RELIABLE, WireClient, open_client

from wpsnb.service.local import LocalService

MEGABYTE = 1024 * 1024

INVALID_MESSAGES = {
    "not JSON": "{not json",
    "JSON array": "[1, 2]",
    "NaN (not JSON)": '{"type": "sendToGroup", "group": "lab", "data": {"x": NaN}}',
    "Infinity (not JSON)": '{"type": "sendToGroup", "group": "lab", "data": -Infinity}',
    "number beyond float range": '{"type": "sendToGroup", "group": "lab", "data": [1e400], "ackId": 1}',
    "nested too deeply": '{"type": "sendToGroup", "group": "lab", "data": ' + "[" * 5000 + "]" * 5000 + "}",
    "JSON string": '"joinGroup"',
    "no type": '{"group": "lab"}',
    "type not a string": '{"type": 1, "group": "lab"}',
    "unknown type": '{"type": "subscribe", "group": "lab"}',
    "join without group": '{"type": "joinGroup", "ackId": 1}',
    "group a number": '{"type": "joinGroup", "group": 5}',
    "empty group": '{"type": "leaveGroup", "group": ""}',
    "whitespace group": '{"type": "joinGroup", "group": "   "}',
    "group over 1024 chars": json.dumps({"type": "joinGroup", "group": "g" * 1025}),
    "group with an unpaired surrogate": r'{"type": "joinGroup", "group": "a\ud800", "ackId": 1}',
    "text with an unpaired surrogate": r'{"type": "sendToGroup", "group": "lab", "dataType": "text", "data": "\udc00"}',
    "ackId a string": '{"type": "joinGroup", "group": "lab", "ackId": "1"}',
    "ackId negative": '{"type": "joinGroup", "group": "lab", "ackId": -1}',
    "ackId fractional": '{"type": "joinGroup", "group": "lab", "ackId": 1.5}',
    "ackId over uint64": json.dumps({"type": "joinGroup", "group": "lab", "ackId": 2**64}),
    "invalid base64": '{"type": "sendToGroup", "group": "lab", "dataType": "binary", "data": "not base64!"}',
    "binary data not a string": '{"type": "sendToGroup", "group": "lab", "dataType": "binary", "data": [1]}',
    "text with non-string data": '{"type": "sendToGroup", "group": "lab", "dataType": "text", "data": 5}',
    "unknown dataType": '{"type": "sendToGroup", "group": "lab", "dataType": "xml", "data": "x"}',
    "missing data": '{"type": "sendToGroup", "group": "lab", "dataType": "json"}',
    "null json data": '{"type": "sendToGroup", "group": "lab", "dataType": "json", "data": null}',
    "noEcho a string": '{"type": "sendToGroup", "group": "lab", "data": "x", "noEcho": "yes"}',
    "ttlSeconds out of range": '{"type": "sendToGroup", "group": "lab", "data": "x", "ttlSeconds": 301}',
    "stream start without streamId": '{"type": "sendToGroup", "group": "lab", "stream": {}}',
    "stream start with data": '{"type": "sendToGroup", "group": "lab", "stream": {"streamId": "s1"}, "data": "x"}',
    "stream start with a string timeout": '{"type": "sendToGroup", "group": "g", "stream": {"streamId": "s", '
    '"idleTimeoutMs": "5"}}',
    "stream fragment without data": '{"type": "streamData", "streamId": "s1", "streamSequenceId": 1}',
    "stream fragment numbered 0": '{"type": "streamData", "streamId": "s1", "streamSequenceId": 0, '
    '"dataType": "text", "data": "x"}',
    "stream end with a named error": '{"type": "streamEnd", "streamId": "s1", "error": {"name": "UserError"}}',
    "metadata with a repeated key": '{"type": "sendToGroup", "group": "lab", "data": 1, '
    '"metadata": {"a": "1", "a": "2"}}',
    "metadata with a non-ASCII value": '{"type": "sendToGroup", "group": "lab", "data": 1, '
    '"metadata": {"a": "\u00e9"}}',
    "metadata key with a space": '{"type": "event", "event": "e", "data": 1, "metadata": {"a b": "1"}}',
    "invoke without invocationId": '{"type": "invoke", "event": "ask", "dataType": "text", "data": "x"}',
    "invoke of another target": '{"type": "invoke", "invocationId": "1", "target": "method", "event": "ask"}',
    "invoke with a bad event name": '{"type": "invoke", "invocationId": "1", "event": "1st"}',
    "cancelInvocation without id": '{"type": "cancelInvocation"}',
    "event without name": '{"type": "event", "data": "x"}',
    "event with bad name": '{"type": "event", "event": "1st", "data": "x"}',
    "event invalid base64": '{"type": "event", "event": "e", "dataType": "binary", "data": "@@"}',
    "sequenceAck without id": '{"type": "sequenceAck"}',
    "sequenceAck id not a number": '{"type": "sequenceAck", "sequenceId": "abc"}',
}


async def session_ids(service: LocalService, hub: str) -> set[str]:
    return set(await asyncio.to_thread(service.call, lambda: list(service.service.hub(hub).sessions)))


async def assert_only_bystander_left(service: LocalService, hub: str, bystander: WireClient) -> None:
    """The offender's session is gone (soon after its close); the bystander still sends and receives."""
    expected = {bystander.connected["connectionId"]}
    for _ in range(100):
        if await session_ids(service, hub) == expected:
            break
        await asyncio.sleep(0.02)
    assert await session_ids(service, hub) == expected
    ack = await bystander.request(
        {"type": "sendToGroup", "group": "lab", "dataType": "text", "data": "still here", "ackId": 99}
    )
    assert ack["success"] is True
    frames = await bystander.until_pong()
    assert [f["data"] for f in frames if f["type"] == "message"] == ["still here"]


async def offend(service: LocalService, protocol: str, frame: str | bytes, code: int, **send_options: bool) -> None:
    hub = "i" + uuid.uuid4().hex[:12]
    url = mint_url(service, hub, roles=ALL_ROLES, groups=["lab"])
    async with open_client(url, PLAIN) as bystander, open_client(url, protocol) as offender:
        await offender.ws.send(frame, **send_options)
        assert await offender.expect_close(code) == []
        await assert_only_bystander_left(service, hub, bystander)


@pytest.mark.parametrize("name", list(INVALID_MESSAGES))
async def test_invalid_message_closes_1007(local_service: LocalService, name: str) -> None:
    await offend(local_service, PLAIN, INVALID_MESSAGES[name], 1007)


async def test_invalid_message_closes_1007_on_the_reliable_protocol(local_service: LocalService) -> None:
    await offend(local_service, RELIABLE, INVALID_MESSAGES["unknown type"], 1007)


async def test_text_frame_that_is_not_utf8_closes_1007(local_service: LocalService) -> None:
    await offend(local_service, PLAIN, b'{"type":"ping","x":"\xff"}', 1007, text=True)


@pytest.mark.parametrize("protocol", [PLAIN, RELIABLE])
async def test_binary_frame_on_a_json_protocol_closes_1003(local_service: LocalService, protocol: str) -> None:
    await offend(local_service, protocol, b'{"type":"ping"}', 1003)


@pytest.mark.parametrize("binary", [False, True])
async def test_frame_over_one_megabyte_closes_1009(local_service: LocalService, binary: bool) -> None:
    payload = "x" * (MEGABYTE + 1)
    await offend(local_service, PLAIN, payload.encode() if binary else payload, 1009)


async def test_frame_just_under_one_megabyte_is_delivered(local_service: LocalService) -> None:
    hub = "i" + uuid.uuid4().hex[:12]
    url = mint_url(local_service, hub, roles=ALL_ROLES, groups=["lab"])
    data = "y" * (MEGABYTE - 200)
    async with open_client(url, PLAIN, max_size=2 * MEGABYTE) as client:
        frame = json.dumps({"type": "sendToGroup", "group": "lab", "dataType": "text", "data": data, "ackId": 1})
        assert len(frame) < MEGABYTE
        await client.send(frame)
        message = await client.recv()
        assert message["data"] == data
        assert (await client.recv())["success"] is True


async def test_invalid_frame_ends_a_reliable_session_for_good(fresh_service: LocalService) -> None:
    url = mint_url(fresh_service, "stream", roles=ALL_ROLES)
    async with open_client(url, RELIABLE) as offender:
        await offender.send("{oops")
        await offender.expect_close(1007)
        connected = offender.connected
    recovery = (
        f"{url}&awps_connection_id={connected['connectionId']}"
        f"&awps_reconnection_token={quote(connected['reconnectionToken'])}"
    )
    async with open_client(recovery, RELIABLE, handshake=False) as retry:
        await retry.expect_close(1008)
