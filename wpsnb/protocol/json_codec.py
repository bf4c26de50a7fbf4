"""The service's side of the JSON codec of ``json.webpubsub.azure.v1`` and ``json.reliable.webpubsub.azure.v1``.

Parsing is strict where the service is strict (an invalid frame closes the connection with 1007)
and every error names the field and says how to fix it (the field rules: ``frame_fields``; stream and
invoke frames: ``stream_codec``). Data messages for fan-out are encoded by
:class:`~.envelope.Envelope`; the client's side of the codec is ``client_codec``.

The names other modules used to import from here are re-exported, so ``from .json_codec import
Envelope, InvalidMessage, ...`` keeps working.

Example::

    >>> parse_client_message('{"type":"joinGroup","group":"lab","ackId":1}')
    JoinGroup(group='lab', ack_id=1)
    >>> encode_service_message(Ack(ack_id=1, success=True))
    '{"type":"ack","ackId":1,"success":true}'
"""

from __future__ import annotations

import json
from typing import Any

from .client_codec import encode_client_message, parse_service_message
from .envelope import Envelope
from .frame_fields import (
    EVENT_NAME,
    InvalidMessage,
    ack_id_field,
    data_type_field,
    decode_data,
    decode_json,
    encode_data,
    group_field,
    is_uint64,
    kind_of,
    load_object,
    metadata_field,
    refuse_repeated_metadata_keys,
    required,
    ttl_seconds_field,
)
from .messages import (
    Ack,
    ClientMessage,
    Connected,
    DataMessage,
    Disconnected,
    JoinGroup,
    LeaveGroup,
    Ping,
    SendEvent,
    SendToGroup,
    SequenceAck,
    ServiceMessage,
    StreamStart,
)
from .stream_codec import (
    parse_cancel_invocation,
    parse_invoke,
    parse_stream_data,
    parse_stream_end,
    parse_stream_start,
)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Parse one client frame; raise :class:`InvalidMessage` if it is not a valid message.

    >>> parse_client_message('{"type":"sequenceAck","sequenceId":"7"}')
    SequenceAck(sequence_id=7)
    """
    frame = load_object(text)
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise InvalidMessage(
            "frame has no string 'type'; expected one of joinGroup, leaveGroup, sendToGroup, event, sequenceAck, ping",
            field="type",
        )
    parser = _CLIENT_PARSERS.get(kind.lower())
    if parser is None:
        raise InvalidMessage(
            f"unknown message type {kind!r}; expected one of joinGroup, leaveGroup, sendToGroup, event, "
            "sequenceAck, ping, streamData, streamEnd, invoke, cancelInvocation",
            field="type",
        )
    if "metadata" in frame:
        refuse_repeated_metadata_keys(text)
    return parser(frame)


def _parse_join(frame: dict[str, Any]) -> JoinGroup:
    return JoinGroup(group=group_field(frame, "joinGroup"), ack_id=ack_id_field(frame, "joinGroup"))


def _parse_leave(frame: dict[str, Any]) -> LeaveGroup:
    return LeaveGroup(group=group_field(frame, "leaveGroup"), ack_id=ack_id_field(frame, "leaveGroup"))


def _parse_send_to_group(frame: dict[str, Any]) -> SendToGroup | StreamStart:
    where = "sendToGroup"
    group = group_field(frame, where)
    no_echo = frame.get("noEcho", False)
    if no_echo is None:
        no_echo = False
    if not isinstance(no_echo, bool):
        raise InvalidMessage(f"{where}: 'noEcho' must be true or false, got {kind_of(no_echo)}", field="noEcho")
    if "stream" in frame:
        return parse_stream_start(frame, group, no_echo)
    ack_id = ack_id_field(frame, where)
    ttl = ttl_seconds_field(frame, where)
    metadata = metadata_field(frame, where)
    if "data" not in frame and metadata is not None:
        # A metadata-only message: the emulator sends it on as empty text.
        return SendToGroup(group, "", "text", ack_id, no_echo, metadata, ttl)
    data_type = data_type_field(frame, where)
    data = decode_data(data_type, required(frame, "data", where), where=where)
    return SendToGroup(group, data, data_type, ack_id, no_echo, metadata, ttl)


def _parse_event(frame: dict[str, Any]) -> SendEvent:
    where = "event"
    name = frame.get("event")
    if not isinstance(name, str) or not EVENT_NAME.match(name):
        raise InvalidMessage(
            f"event: 'event' must be a name like 'message' or 'chat.send' (a letter, then letters, digits, "
            f"'_', '.', '-'; up to 128 chars), got {name!r}",
            field="event",
        )
    ack_id = ack_id_field(frame, where)
    metadata = metadata_field(frame, where)
    if "data" not in frame and metadata is not None:
        return SendEvent(name, "", "text", ack_id, metadata)
    data_type = data_type_field(frame, where)
    data = decode_data(data_type, required(frame, "data", where), where=where)
    return SendEvent(name, data, data_type, ack_id, metadata)


def _parse_sequence_ack(frame: dict[str, Any]) -> SequenceAck:
    raw = required(frame, "sequenceId", "sequenceAck")
    # Docs show the value as a string, SDKs send a number: accept both.
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if not is_uint64(raw):
        raise InvalidMessage(
            f"sequenceAck: 'sequenceId' must be a non-negative integer, got {raw!r}", field="sequenceId"
        )
    return SequenceAck(sequence_id=raw)


def _parse_ping(frame: dict[str, Any]) -> Ping:
    return Ping()


_CLIENT_PARSERS = {
    "joingroup": _parse_join,
    "leavegroup": _parse_leave,
    "sendtogroup": _parse_send_to_group,
    "event": _parse_event,
    "sequenceack": _parse_sequence_ack,
    "ping": _parse_ping,
    "streamdata": parse_stream_data,
    "streamend": parse_stream_end,
    "invoke": parse_invoke,
    "cancelinvocation": parse_cancel_invocation,
}


def encode_service_message(message: ServiceMessage) -> str:
    """Encode a service message as one JSON text frame.

    >>> encode_service_message(Ack(ack_id=1, success=True))
    '{"type":"ack","ackId":1,"success":true}'
    """
    if isinstance(message, DataMessage):
        return (
            Envelope.build(
                message.source, message.data_type, message.data, group=message.group, from_user_id=message.from_user_id
            )
            .frame(message.sequence_id)
            .decode("utf-8")
        )
    frame: dict[str, Any] = {"type": message.type}
    if isinstance(message, Ack):
        frame["ackId"] = message.ack_id
        frame["success"] = message.success
        if message.error is not None:
            frame["error"] = {"name": message.error.name, "message": message.error.message}
    elif isinstance(message, Connected):
        frame["event"] = "connected"
        frame["connectionId"] = message.connection_id
        frame["userId"] = message.user_id
        if message.reconnection_token is not None:
            frame["reconnectionToken"] = message.reconnection_token
    elif isinstance(message, Disconnected):
        frame["event"] = "disconnected"
        frame["message"] = message.message
    return _dumps(frame)


__all__ = [
    "Envelope",
    "InvalidMessage",
    "decode_data",
    "decode_json",
    "encode_client_message",
    "encode_data",
    "encode_service_message",
    "parse_client_message",
    "parse_service_message",
]
