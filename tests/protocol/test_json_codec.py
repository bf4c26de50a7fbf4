"""wpsnb.protocol.json_codec against the official Python client SDK's own JSON protocol code
(``azure-messaging-webpubsubclient``): what the SDK writes we parse, what we encode the SDK parses,
and every service frame matches the spec's shapes (``tests/frame_shapes.py``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.messaging.webpubsubclient.models._models import (
    AckMessage,
    ConnectedMessage,
    DisconnectedMessage,
    GroupDataMessage,
    JoinGroupMessage,
    LeaveGroupMessage,
    SendEventMessage,
    SendToGroupMessage,
    SequenceAckMessage,
    ServerDataMessage,
    WebPubSubClientProtocol,
)
from frame_shapes import assert_client_frame, assert_service_frame

from wpsnb.protocol.json_codec import (
    Envelope,
    InvalidMessage,
    decode_data,
    encode_client_message,
    encode_data,
    encode_service_message,
    parse_client_message,
    parse_service_message,
)
from wpsnb.protocol.limits import CloseCode
from wpsnb.protocol.messages import (
    PLAIN_PROTOCOL,
    RELIABLE_PROTOCOL,
    Ack,
    AckError,
    Connected,
    DataMessage,
    Disconnected,
    InvokeResponse,
    JoinGroup,
    LeaveGroup,
    Ping,
    Pong,
    SendEvent,
    SendToGroup,
    SequenceAck,
    StreamAck,
    StreamClosed,
    StreamError,
    StreamInfo,
    is_reliable,
)

SDK = WebPubSubClientProtocol

# ---- client -> service: what the SDK writes ------------------------------------------------------

# (SDK message, the message we must parse it into)
SDK_REQUESTS = [
    (JoinGroupMessage("lab", ack_id=1), JoinGroup("lab", ack_id=1)),
    (JoinGroupMessage("lab"), JoinGroup("lab")),
    (LeaveGroupMessage("a.b c", ack_id=4), LeaveGroup("a.b c", ack_id=4)),
    (
        SendToGroupMessage("json", {"a": [1, None]}, "lab", no_echo=False, ack_id=2),
        SendToGroup("lab", {"a": [1, None]}, "json", ack_id=2),
    ),
    (
        SendToGroupMessage("json", "just a string", "lab", no_echo=True),
        SendToGroup("lab", "just a string", "json", no_echo=True),
    ),
    (
        SendToGroupMessage("text", "héllo ☃", "lab", no_echo=True, ack_id=3),
        SendToGroup("lab", "héllo ☃", "text", ack_id=3, no_echo=True),
    ),
    (
        SendToGroupMessage("binary", memoryview(b"\x00\x01\xfe"), "lab", no_echo=False),
        SendToGroup("lab", b"\x00\x01\xfe", "binary"),
    ),
    (SendEventMessage("binary", memoryview(b"\x01\x02"), "ev", ack_id=3), SendEvent("ev", b"\x01\x02", "binary", 3)),
    (SendEventMessage("json", [1, 2], "chat.send"), SendEvent("chat.send", [1, 2], "json")),
    (SequenceAckMessage(2), SequenceAck(2)),
]


@pytest.mark.parametrize(("sdk_message", "expected"), SDK_REQUESTS, ids=lambda v: type(v).__name__)
def test_parses_what_the_official_client_writes(sdk_message: Any, expected: Any) -> None:
    frame = SDK.write_message(sdk_message)
    assert parse_client_message(frame) == expected


@pytest.mark.parametrize(("sdk_message", "ours"), SDK_REQUESTS, ids=lambda v: type(v).__name__)
def test_encodes_client_messages_exactly_as_the_official_client(sdk_message: Any, ours: Any) -> None:
    encoded = encode_client_message(ours)
    assert json.loads(encoded) == json.loads(SDK.write_message(sdk_message))
    assert_client_frame(encoded, PLAIN_PROTOCOL)
    assert parse_client_message(encoded) == ours


def test_ping_encodes_and_parses() -> None:
    assert encode_client_message(Ping()) == '{"type":"ping"}'
    assert parse_client_message('{"type":"ping"}') == Ping()


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        # The frames the spec records from the SDKs (docs/protocol.md).
        ('{"type": "joinGroup", "group": "g", "ackId": 1}', JoinGroup("g", 1)),
        ('{"type": "leaveGroup", "group": "g", "ackId": 4}', LeaveGroup("g", 4)),
        (
            '{"type": "sendToGroup", "group": "g", "ackId": 2, "dataType": "json", "data": {"a": 1}, "noEcho": false}',
            SendToGroup("g", {"a": 1}, "json", 2, False),
        ),
        (
            '{"type": "sendToGroup", "group": "g", "dataType": "text", "data": "txt", "noEcho": true}',
            SendToGroup("g", "txt", "text", None, True),
        ),
        (
            '{"type": "event", "event": "ev", "ackId": 3, "dataType": "binary", "data": "AQI="}',
            SendEvent("ev", b"\x01\x02", "binary", 3),
        ),
        ('{"type": "sequenceAck", "sequenceId": 2}', SequenceAck(2)),
        ('{"type": "ping"}', Ping()),
        # Leniencies: dataType defaults to json, noEcho null, types and dataTypes case-insensitive,
        # sequenceId as a string (Docs), unknown properties ignored, bytes input.
        ('{"type":"sendToGroup","group":"g","data":[1]}', SendToGroup("g", [1])),
        ('{"type":"sendToGroup","group":"g","data":1,"noEcho":null}', SendToGroup("g", 1)),
        ('{"type":"SENDTOGROUP","group":"g","dataType":"Text","data":"x"}', SendToGroup("g", "x", "text")),
        ('{"type":"sequenceAck","sequenceId":"18446744073709551615"}', SequenceAck(2**64 - 1)),
        ('{"type":"joinGroup","group":"g","ackId":null,"extra":{"x":1}}', JoinGroup("g")),
        (
            '{"type":"sendToGroup","group":"g","data":"x","ttlSeconds":300,"metadata":{"k":"v"}}',
            SendToGroup("g", "x", metadata={"k": "v"}, ttl_seconds=300),
        ),
        ('{"type":"sendToGroup","group":"g","dataType":"binary","data":""}', SendToGroup("g", b"", "binary")),
        (b'{"type":"joinGroup","group":"\xc3\xa9"}', JoinGroup("é")),
    ],
)
def test_parses_client_frames(frame: str | bytes, expected: Any) -> None:
    assert parse_client_message(frame) == expected


@pytest.mark.parametrize(
    ("frame", "field", "says"),
    [
        ("{", None, "not valid JSON"),
        ("[]", None, "JSON array, not an object"),
        ('{"type":"x","data":NaN}', None, "NaN is not a JSON value"),
        ('{"data":1}', "type", "no string 'type'"),
        ('{"type":"subscribe"}', "type", "unknown message type 'subscribe'"),
        ('{"type":"joinGroup"}', "group", "required field 'group' is missing"),
        ('{"type":"joinGroup","group":7}', "group", "group name must be a string"),
        ('{"type":"joinGroup","group":" "}', "group", "only whitespace"),
        ('{"type":"joinGroup","group":"g","ackId":true}', "ackId", "'ackId' must be a non-negative integer"),
        ('{"type":"sendToGroup","group":"g"}', "data", "required field 'data' is missing"),
        ('{"type":"sendToGroup","group":"g","data":null}', "data", "'data' is null"),
        (
            '{"type":"sendToGroup","group":"g","dataType":"text","data":{}}',
            "data",
            "dataType 'text' needs a string 'data', got object",
        ),
        ('{"type":"sendToGroup","group":"g","dataType":"binary","data":"***"}', "data", "not valid base64"),
        ('{"type":"sendToGroup","group":"g","dataType":"yaml","data":"x"}', "dataType", "unknown dataType 'yaml'"),
        ('{"type":"sendToGroup","group":"g","data":"x","noEcho":1}', "noEcho", "'noEcho' must be true or false"),
        ('{"type":"sendToGroup","group":"g","data":"x","ttlSeconds":-1}', "ttlSeconds", "0 to 300"),
        ('{"type":"sendToGroup","group":"g","data":"x","metadata":{"k":1}}', "metadata", "must be a string"),
        ('{"type":"sendToGroup","group":"g","stream":{"streamId":""}}', "streamId", "non-empty string"),
        ('{"type":"streamData","streamId":"s","data":"x"}', "streamSequenceId", "together"),
        ('{"type":"streamEnd","streamId":"s","error":{"name":"X"}}', "error", "without 'name'"),
        ('{"type":"event","event":"has space","data":1}', "event", "'event' must be a name"),
        ('{"type":"sequenceAck","sequenceId":-1}', "sequenceId", "non-negative integer"),
    ],
)
def test_invalid_client_frames_name_the_field_and_the_fix(frame: str, field: str | None, says: str) -> None:
    with pytest.raises(InvalidMessage) as error:
        parse_client_message(frame)
    assert error.value.field == field
    assert error.value.close_code == CloseCode.INVALID_DATA
    assert says in str(error.value)


# ---- service -> client: what the SDK parses ------------------------------------------------------


SERVICE_MESSAGES = [
    Ack(1, True),
    Ack(2**64 - 1, False, AckError("Forbidden", "No permission to join group 'ops'.")),
    Ack(7, False, AckError("Duplicate", "Message with ack-id: 7 has been processed")),
    Connected("c1", "ann"),
    Connected("c2", None),
    Disconnected("Closed by REST API."),
    Pong(),
    DataMessage("group", {"x": [1, 2]}, "json", group="lab", from_user_id="bob"),
    DataMessage("group", "plain string", "json", group="lab"),
    DataMessage("group", "hi ☃", "text", group="lab", from_user_id="bob"),
    DataMessage("group", b"\x00\x01\x02", "binary", group="a.b", from_user_id="b"),
    DataMessage("server", 3.5, "json"),
    DataMessage("server", b"", "binary"),
]


@pytest.mark.parametrize("message", SERVICE_MESSAGES, ids=lambda m: type(m).__name__)
def test_service_frames_match_the_shapes_and_round_trip(message: Any) -> None:
    frame = encode_service_message(message)
    assert_service_frame(frame, PLAIN_PROTOCOL)
    assert parse_service_message(frame) == message


def test_reliable_frames_carry_sequence_id_and_reconnection_token() -> None:
    connected = encode_service_message(Connected("c1", "ann", "token"))
    assert assert_service_frame(connected, RELIABLE_PROTOCOL)["reconnectionToken"] == "token"
    message = DataMessage("group", "x", "text", group="lab", sequence_id=9)
    frame = encode_service_message(message)
    assert assert_service_frame(frame, RELIABLE_PROTOCOL)["sequenceId"] == 9
    assert parse_service_message(frame) == message
    with pytest.raises(AssertionError):
        assert_service_frame(encode_service_message(DataMessage("server", 1)), RELIABLE_PROTOCOL)


@pytest.mark.parametrize("message", SERVICE_MESSAGES, ids=lambda m: type(m).__name__)
def test_the_official_client_parses_our_service_frames(message: Any) -> None:
    parsed = SDK.parse_messages(encode_service_message(message))
    if isinstance(message, Pong):
        assert parsed is None  # the SDK logs "wrong message type: pong" and ignores it (harmless)
    elif isinstance(message, Ack):
        assert isinstance(parsed, AckMessage)
        assert (parsed.ack_id, parsed.success) == (message.ack_id, message.success)
        if message.error is None:
            assert parsed.error is None
        else:
            assert (parsed.error.name, parsed.error.message) == (message.error.name, message.error.message)
    elif isinstance(message, Connected):
        assert isinstance(parsed, ConnectedMessage)
        assert (parsed.connection_id, parsed.user_id) == (message.connection_id, message.user_id)
    elif isinstance(message, Disconnected):
        assert isinstance(parsed, DisconnectedMessage) and parsed.message == message.message
    else:
        expected_type = GroupDataMessage if message.source == "group" else ServerDataMessage
        assert isinstance(parsed, expected_type)
        assert parsed.data_type == message.data_type
        data = bytes(parsed.data) if message.data_type == "binary" else parsed.data
        assert data == message.data
        if message.source == "group":
            assert (parsed.group, parsed.from_user_id) == (message.group, message.from_user_id)


def test_the_official_client_reads_reliable_fields() -> None:
    connected = SDK.parse_messages(encode_service_message(Connected("c", None, "tok")))
    assert connected.reconnection_token == "tok"
    message = SDK.parse_messages(Envelope.build("group", "text", "x", group="g").frame(41).decode())
    assert message.sequence_id == 41


# ---- Envelope: encode once, many recipients -------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "data", "raw", "raw_is_binary"),
    [
        ("json", {"a": "é"}, '{"a":"é"}'.encode(), False),
        ("json", "hello", b'"hello"', False),
        ("json", [1, 2.5, None, True], b"[1,2.5,null,true]", False),
        ("text", "héllo", "héllo".encode(), False),
        ("binary", b"\x00\xff", b"\x00\xff", True),
        ("protobuf", b"\x0a\x01", b"\x0a\x01", True),
    ],
)
def test_envelope_frames_and_raw_payloads(data_type: str, data: Any, raw: bytes, raw_is_binary: bool) -> None:
    envelope = Envelope.build("group", data_type, data, group="lab", from_user_id="u")
    assert (envelope.raw, envelope.raw_is_binary) == (raw, raw_is_binary)
    plain = json.loads(envelope.frame(None))
    assert decode_data(plain["dataType"], plain["data"]) == data
    assert plain == {
        "type": "message",
        "from": "group",
        "group": "lab",
        "fromUserId": "u",
        "dataType": data_type,
        "data": encode_data(data_type, data),
    }
    assert json.loads(envelope.frame(12)) == {**plain, "sequenceId": 12}
    assert envelope.size == len(envelope.plain) == len(envelope.frame(None))
    # Plain and reliable recipients share the one prefix; only the short tail is theirs.
    assert envelope.frame(None) == envelope.prefix + Envelope.PLAIN_TAIL


def test_envelope_matches_encode_service_message() -> None:
    message = DataMessage("server", {"k": [1]}, "json")
    assert Envelope.build("server", "json", {"k": [1]}).frame(None).decode() == encode_service_message(message)


def test_envelope_keeps_non_ascii_and_escapes_what_json_needs() -> None:
    envelope = Envelope.build("group", "text", 'quote " and ☃', group='g"1')
    assert "☃".encode() in envelope.plain
    assert json.loads(envelope.plain)["group"] == 'g"1'


def test_envelope_refuses_wrong_payload_types() -> None:
    with pytest.raises(TypeError, match="needs a str"):
        Envelope.build("server", "text", b"bytes")
    with pytest.raises(ValueError, match="unknown dataType 'xml'"):
        Envelope.build("server", "xml", "x")
    with pytest.raises(ValueError):
        Envelope.build("server", "json", float("nan"))


# ---- data helpers -----------------------------------------------------------------------------------


def test_encode_data_errors_say_how_to_fix() -> None:
    with pytest.raises(TypeError, match="use dataType 'json' or 'binary'"):
        encode_data("text", 5)
    with pytest.raises(TypeError, match=r"encode it first"):
        encode_data("binary", "text")
    with pytest.raises(ValueError, match="use one of json, text, binary, protobuf"):
        encode_data("xml", "x")


def test_parse_service_message_rejects_what_the_sdk_could_not_read() -> None:
    with pytest.raises(InvalidMessage, match="'from' must be 'group' or 'server'"):
        parse_service_message('{"type":"message","from":"user","dataType":"json","data":1}')
    with pytest.raises(InvalidMessage, match="no string 'group'"):
        parse_service_message('{"type":"message","from":"group","dataType":"json","data":1}')
    with pytest.raises(InvalidMessage, match="unknown event"):
        parse_service_message('{"type":"system","event":"rebooted"}')
    with pytest.raises(InvalidMessage, match="unknown service message type"):
        parse_service_message('{"type":"groupStateSnapshot"}')
    with pytest.raises(InvalidMessage, match="'streamId' must be a string"):
        parse_service_message('{"type":"streamAck"}')


def test_parse_service_message_reads_stream_and_invoke_replies() -> None:
    assert parse_service_message('{"type":"streamAck","streamId":"s","expectedSequenceId":3}') == StreamAck("s", 3)
    closed = parse_service_message('{"type":"streamClosed","streamId":"s","error":{"name":"IdleTimeout"}}')
    assert closed == StreamClosed("s", StreamError("IdleTimeout"))
    reply = '{"type":"invokeResponse","invocationId":"1","success":true,"dataType":"binary","data":"AAE="}'
    assert parse_service_message(reply) == InvokeResponse("1", True, b"\x00\x01", "binary")
    message = parse_service_message(
        '{"type":"message","from":"group","group":"g","dataType":"text","data":"","metadata":{"k":"v"},'
        '"stream":{"streamId":"s","streamSequenceId":2,"endOfStream":true}}'
    )
    assert (message.metadata, message.stream) == ({"k": "v"}, StreamInfo("s", 2, True))


def test_is_reliable() -> None:
    assert is_reliable(RELIABLE_PROTOCOL) and is_reliable("JSON.RELIABLE.webpubsub.azure.v1")
    assert not is_reliable(PLAIN_PROTOCOL) and not is_reliable(None)
