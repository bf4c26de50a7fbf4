"""The frame-shape checker (``tests/frame_shapes.py``) itself: the spec's examples pass, each documented
fix to the stale upstream schemas is needed and works, and malformed frames fail with a message that
says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from frame_shapes import (
    PLAIN_PROTOCOL,
    RELIABLE_PROTOCOL,
    RESPONSE_SCHEMA,
    assert_client_frame,
    assert_service_frame,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "schemas" / "examples"
PLAIN, RELIABLE = PLAIN_PROTOCOL, RELIABLE_PROTOCOL

# docs/protocol.md, one per message kind, with the subprotocol each belongs to.
SPEC_EXAMPLES = [
    (PLAIN, '{"type":"system","event":"connected","connectionId":"3b8c0f","userId":"alice"}'),
    (RELIABLE, '{"type":"system","event":"connected","connectionId":"3b8c0f","userId":null,"reconnectionToken":"e"}'),
    (PLAIN, '{"type":"system","event":"disconnected","message":"Closed by REST API."}'),
    (PLAIN, '{"type":"ack","ackId":7,"success":true}'),
    (PLAIN, '{"type":"ack","ackId":8,"success":false,"error":{"name":"Forbidden","message":"No permission."}}'),
    (PLAIN, '{"type":"ack","ackId":7,"success":false,"error":{"name":"Duplicate","message":"Message with ack-id: 7"}}'),
    (PLAIN, '{"type":"message","from":"group","group":"lab","fromUserId":"bob","dataType":"json","data":{"x":[1,2]}}'),
    (
        RELIABLE,
        '{"type":"message","from":"group","group":"lab","fromUserId":"bob","dataType":"text","data":"hi",'
        '"sequenceId":12}',
    ),
    (PLAIN, '{"type":"message","from":"server","dataType":"binary","data":"AAEC"}'),
    (PLAIN, '{"type":"message","from":"server","dataType":"json","data":"plain string sent as application/json"}'),
    (PLAIN, '{"type":"pong"}'),
    (RELIABLE, '{"type":"pong"}'),
    (PLAIN, '{"type":"streamAck","streamId":"5f0c","expectedSequenceId":1}'),
    (PLAIN, '{"type":"streamClosed","streamId":"5f0c","error":{"name":"IdleTimeout","message":"idle"}}'),
    (
        PLAIN,
        '{"type":"message","from":"group","group":"lab","fromUserId":"bob","dataType":"text","data":"",'
        '"stream":{"streamId":"5f0c","streamSequenceId":2,"endOfStream":true,'
        '"error":{"name":"UserError","message":"aborted","userErrorCode":"E42"}}}',
    ),
]

# Frames the stale upstream schema rejects although the service must send them (§11).
NEEDS_A_FIX = [
    '{"type":"ack","ackId":1,"success":true}',
    '{"type":"message","from":"server","dataType":"json","data":[1,2]}',
    '{"type":"message","from":"server","dataType":"json","data":"text"}',
    '{"type":"ack","ackId":1,"success":false,"error":{"name":"Duplicate","message":"done"}}',
    '{"type":"ack","ackId":1,"success":false,"error":{"name":"BadRequest","message":"bad"}}',
    '{"type":"system","event":"connected","connectionId":"c","userId":null}',
    '{"type":"pong"}',
]

# (protocol, frame, part of the explanation)
MALFORMED = [
    (PLAIN, '{"type":"ack","ackId":1}', "'success' is a required property"),
    (PLAIN, '{"type":"ack","ackId":1,"success":false}', "'error' is a required property"),
    (PLAIN, '{"type":"ack","ackId":1,"success":false,"error":{"name":"Forbidden"}}', "'message' is a required"),
    (PLAIN, '{"type":"ack","ackId":1,"success":true,"error":{"name":"Forbidden","message":"m"}}', "at error"),
    (PLAIN, '{"type":"ack","ackId":1,"success":false,"error":{"name":"Oops","message":"m"}}', "'Oops' is not one of"),
    (PLAIN, '{"type":"ack","ackId":"1","success":true}', "'1' is not of type 'integer'"),
    (PLAIN, '{"type":"message","from":"server","data":{"a":1}}', "'dataType' is a required property"),
    (PLAIN, '{"type":"message","from":"server","dataType":"text","data":5}', "5 is not of type 'string'"),
    (PLAIN, '{"type":"message","from":"server","dataType":"text"}', "'data' is a required property"),
    (PLAIN, '{"type":"message","from":"group","dataType":"text","data":"x"}', "'group' is a required property"),
    (PLAIN, '{"type":"message","from":"group","group":"g","fromUserId":5,"dataType":"text","data":"x"}', "fromUserId"),
    (PLAIN, '{"type":"message","from":"server","dataType":"text","data":"x","sequenceId":1}', "sequenceId"),
    (RELIABLE, '{"type":"message","from":"server","dataType":"text","data":"x"}', "'sequenceId' is a required"),
    (RELIABLE, '{"type":"message","from":"server","dataType":"text","data":"x","sequenceId":0}', "minimum of 1"),
    (RELIABLE, '{"type":"system","event":"connected","connectionId":"c","userId":"u"}', "'reconnectionToken' is"),
    (PLAIN, '{"type":"system","event":"connected","connectionId":"c","reconnectionToken":"t"}', "reconnectionToken"),
    (PLAIN, '{"type":"system","event":"connected"}', "'connectionId' is a required property"),
    (PLAIN, '{"type":"Ack","ackId":1,"success":true}', "unknown type 'Ack'"),
    (PLAIN, '{"ackId":1,"success":true}', "unknown type None"),
    (PLAIN, "[1,2]", "not a JSON object"),
    (PLAIN, "{not json", "not JSON"),
    (PLAIN, b'{"type":"pong"}', "binary frame"),
]


@pytest.mark.parametrize(("protocol", "frame"), SPEC_EXAMPLES)
def test_every_spec_example_has_a_valid_shape(protocol: str, frame: str) -> None:
    assert assert_service_frame(frame, protocol) == json.loads(frame)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("response-*.json")), ids=lambda p: p.stem)
def test_upstream_response_examples_have_a_valid_shape(path: Path) -> None:
    example = json.loads(path.read_text(encoding="utf-8"))
    example.pop("$schema")
    assert_service_frame(json.dumps(example), PLAIN)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("request-*.json")), ids=lambda p: p.stem)
def test_upstream_request_examples_have_a_valid_shape(path: Path) -> None:
    example = json.loads(path.read_text(encoding="utf-8"))
    example.pop("$schema")
    assert_client_frame(json.dumps(example), PLAIN)


@pytest.mark.parametrize("frame", NEEDS_A_FIX)
def test_each_documented_fix_is_needed_and_applied(frame: str) -> None:
    upstream = jsonschema.Draft7Validator(json.loads(RESPONSE_SCHEMA.read_text(encoding="utf-8")))
    assert not upstream.is_valid(json.loads(frame)), "the upstream schema accepts this already: drop the fix"
    assert_service_frame(frame, PLAIN)


@pytest.mark.parametrize(("protocol", "frame", "explanation"), MALFORMED)
def test_malformed_service_frames_fail_with_an_explanation(protocol: str, frame: str | bytes, explanation: str) -> None:
    with pytest.raises(AssertionError) as raised:
        assert_service_frame(frame, protocol)
    assert explanation in str(raised.value)


def test_what_the_sdks_send_is_a_valid_client_frame() -> None:
    # docs/protocol.md (client → service), captured from the official clients.
    for frame in [
        '{"type": "joinGroup", "group": "g", "ackId": 1}',
        '{"type": "leaveGroup", "group": "g", "ackId": 4}',
        '{"type": "sendToGroup", "group": "g", "ackId": 2, "dataType": "json", "data": {"a": 1}, "noEcho": false}',
        '{"type": "sendToGroup", "group": "g", "dataType": "text", "data": "txt", "noEcho": true}',
        '{"type": "sendToGroup", "group": "g", "dataType": "json", "data": [1, "two"]}',
        '{"type": "event", "event": "ev", "ackId": 3, "dataType": "binary", "data": "AQI="}',
        '{"type": "sequenceAck", "sequenceId": 2}',
        '{"type": "ping"}',
    ]:
        assert_client_frame(frame, PLAIN)


def test_malformed_client_frames_fail() -> None:
    for frame in [
        '{"type": "joinGroup"}',
        '{"type": "sendToGroup", "group": "g", "dataType": "text", "data": 1}',
        '{"type": "sequenceAck"}',
        '{"type": "hello"}',
    ]:
        with pytest.raises(AssertionError):
            assert_client_frame(frame, PLAIN)


def test_an_unknown_subprotocol_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="unknown subprotocol"):
        assert_service_frame('{"type":"pong"}', "protobuf.webpubsub.azure.v1")
