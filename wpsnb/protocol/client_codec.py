"""The client's side of the JSON codec: frames a client writes, and reading what the service sends.

What the official SDKs send and expect, on ``json.webpubsub.azure.v1`` and
``json.reliable.webpubsub.azure.v1``. Stream and invoke frames are in ``stream_codec``; the service's
side (reading client frames, the fan-out :class:`~.envelope.Envelope`) in ``json_codec``.

Example::

    >>> encode_client_message(JoinGroup("lab", ack_id=1))
    '{"type":"joinGroup","group":"lab","ackId":1}'
    >>> parse_service_message('{"type":"message","from":"server","dataType":"text","data":"hi"}').data
    'hi'
"""

from __future__ import annotations

import json
from typing import Any

from .frame_fields import InvalidMessage, data_type_field, decode_data, encode_data, is_uint64, load_object, required
from .messages import (
    Ack,
    AckError,
    ClientMessage,
    Connected,
    DataMessage,
    Disconnected,
    JoinGroup,
    LeaveGroup,
    Pong,
    SendEvent,
    SendToGroup,
    SequenceAck,
    ServiceMessage,
)
from .stream_codec import parse_service_reply, parse_stream_info

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def encode_client_message(message: ClientMessage) -> str:
    """Encode a client message as one JSON text frame (what the official SDKs send).

    >>> encode_client_message(SendToGroup("lab", b"\\x00", data_type="binary", ack_id=2))
    '{"type":"sendToGroup","group":"lab","ackId":2,"dataType":"binary","data":"AA==","noEcho":false}'
    """
    frame: dict[str, Any] = {"type": message.type}
    if isinstance(message, (JoinGroup, LeaveGroup)):
        frame["group"] = message.group
        _put_ack_id(frame, message.ack_id)
    elif isinstance(message, SendToGroup):
        frame["group"] = message.group
        _put_ack_id(frame, message.ack_id)
        frame["dataType"] = message.data_type
        frame["data"] = encode_data(message.data_type, message.data)
        frame["noEcho"] = message.no_echo
        if message.metadata:
            frame["metadata"] = message.metadata
        if message.ttl_seconds is not None:
            frame["ttlSeconds"] = message.ttl_seconds
    elif isinstance(message, SendEvent):
        frame["event"] = message.event
        _put_ack_id(frame, message.ack_id)
        frame["dataType"] = message.data_type
        frame["data"] = encode_data(message.data_type, message.data)
        if message.metadata:
            frame["metadata"] = message.metadata
    elif isinstance(message, SequenceAck):
        frame["sequenceId"] = message.sequence_id
    return _dumps(frame)


def _put_ack_id(frame: dict[str, Any], ack_id: int | None) -> None:
    if ack_id is not None:
        frame["ackId"] = ack_id


def parse_service_message(text: str | bytes) -> ServiceMessage:
    """Parse one frame the service sent (the client's side of the codec).

    >>> parse_service_message('{"type":"ack","ackId":3,"success":false,'
    ...                       '"error":{"name":"Forbidden","message":"no"}}').error.name
    'Forbidden'
    """
    frame = load_object(text)
    kind = frame.get("type")
    if kind == "message":
        source = frame.get("from")
        if source not in ("group", "server"):
            raise InvalidMessage(f"message: 'from' must be 'group' or 'server', got {source!r}", field="from")
        data_type = data_type_field(frame, "message")
        data = decode_data(data_type, required(frame, "data", "message"), where="message")
        group = frame.get("group")
        if source == "group" and not isinstance(group, str):
            raise InvalidMessage("message from a group has no string 'group'", field="group")
        sequence_id = frame.get("sequenceId")
        if sequence_id is not None and not is_uint64(sequence_id):
            raise InvalidMessage(
                f"message: 'sequenceId' must be a non-negative integer, got {sequence_id!r}", field="sequenceId"
            )
        from_user_id = frame.get("fromUserId")
        metadata = frame.get("metadata")
        return DataMessage(
            source=source,
            data=data,
            data_type=data_type,
            group=group,
            from_user_id=from_user_id if isinstance(from_user_id, str) else None,
            sequence_id=sequence_id,
            metadata=metadata if isinstance(metadata, dict) else None,
            stream=parse_stream_info(frame.get("stream")),
        )
    if kind == "ack":
        ack_id = required(frame, "ackId", "ack")
        success = required(frame, "success", "ack")
        if not is_uint64(ack_id) or not isinstance(success, bool):
            raise InvalidMessage("ack: 'ackId' must be an integer and 'success' a boolean", field="ackId")
        error = frame.get("error")
        ack_error = None
        if isinstance(error, dict):
            ack_error = AckError(name=str(error.get("name", "")), message=str(error.get("message", "")))
        return Ack(ack_id=ack_id, success=success, error=ack_error)
    if kind == "system":
        event = frame.get("event")
        if event == "connected":
            connection_id = required(frame, "connectionId", "connected")
            if not isinstance(connection_id, str):
                raise InvalidMessage("connected: 'connectionId' must be a string", field="connectionId")
            user_id = frame.get("userId")
            token = frame.get("reconnectionToken")
            return Connected(
                connection_id=connection_id,
                user_id=user_id if isinstance(user_id, str) else None,
                reconnection_token=token if isinstance(token, str) else None,
            )
        if event == "disconnected":
            return Disconnected(message=str(frame.get("message") or ""))
        raise InvalidMessage(f"system: unknown event {event!r}; expected 'connected' or 'disconnected'", field="event")
    if kind == "pong":
        return Pong()
    if kind in ("streamAck", "streamNack", "streamClosed", "invokeResponse"):
        return parse_service_reply(frame)
    raise InvalidMessage(f"unknown service message type {kind!r}", field="type")


__all__ = ["encode_client_message", "parse_service_message"]
