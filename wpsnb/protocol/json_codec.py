"""Parse and encode frames of ``json.webpubsub.azure.v1`` and ``json.reliable.webpubsub.azure.v1``.

Parsing is strict where the service is strict (an invalid frame closes the connection with 1007)
and every error names the field and says how to fix it. Encoding of data messages for fan-out goes
through :class:`Envelope`, which serialises a message once and splices the per-recipient
``sequenceId`` into pre-encoded bytes.

Example::

    >>> parse_client_message('{"type":"joinGroup","group":"lab","ackId":1}')
    JoinGroup(group='lab', ack_id=1)
    >>> Envelope.build("group", "text", "hi", group="lab").frame(None)
    b'{"type":"message","from":"group","group":"lab","dataType":"text","data":"hi"}'
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from .limits import MAX_TTL_SECONDS, MAX_UINT64, CloseCode
from .messages import (
    BYTES_TYPES,
    DATA_TYPES,
    Ack,
    AckError,
    CancelInvocation,
    ClientMessage,
    Connected,
    DataMessage,
    Disconnected,
    Invoke,
    JoinGroup,
    LeaveGroup,
    Ping,
    Pong,
    SendEvent,
    SendToGroup,
    SequenceAck,
    ServiceMessage,
    StreamData,
    StreamEnd,
    StreamError,
    StreamInfo,
    StreamStart,
    payload_error,
    payload_type,
)
from .metadata import check_metadata
from .names import group_name_problem

_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_.\-]{0,127}$", re.IGNORECASE)
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_encode_string = json.encoder.encode_basestring  # what _dumps does for a str, without its call overhead


class InvalidMessage(ValueError):
    """A frame that is not a valid protocol message.

    ``close_code`` is what the service closes the connection with; ``field`` names the offending
    field (``None`` when the frame as a whole is wrong).
    """

    def __init__(self, message: str, *, field: str | None = None, close_code: int = CloseCode.INVALID_DATA):
        super().__init__(message)
        self.field = field
        self.close_code = close_code


# ---- data payloads -----------------------------------------------------------------------------


def encode_data(data_type: str, data: Any) -> Any:
    """Turn a decoded payload into its JSON-frame form (bytes become base64).

    >>> encode_data("binary", b"\\x01\\x02")
    'AQI='
    """
    if payload_type(data, data_type) in BYTES_TYPES:
        return base64.b64encode(bytes(data)).decode("ascii")
    return data


def decode_data(data_type: str, raw: Any, *, where: str = "message") -> Any:
    """Turn the ``data`` of a JSON frame into a Python value according to ``dataType``.

    >>> decode_data("binary", "AQI=")
    b'\\x01\\x02'
    """
    if data_type == "json":
        if raw is None:
            raise InvalidMessage(f"{where}: 'data' is null; send a JSON value or use dataType 'text'", field="data")
        return raw
    if data_type == "text":
        if not isinstance(raw, str):
            raise InvalidMessage(
                f"{where}: dataType 'text' needs a string 'data', got {_kind(raw)}; "
                "send a JSON string or use dataType 'json'",
                field="data",
            )
        return raw
    if data_type in BYTES_TYPES:
        if not isinstance(raw, str):
            raise InvalidMessage(
                f"{where}: dataType '{data_type}' needs base64 text in 'data', got {_kind(raw)}", field="data"
            )
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidMessage(
                f"{where}: 'data' is not valid base64 for dataType '{data_type}'", field="data"
            ) from None
    raise InvalidMessage(
        f"{where}: unknown dataType {data_type!r}; use one of {', '.join(DATA_TYPES)}", field="dataType"
    )


# ---- client -> service -------------------------------------------------------------------------


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Parse one client frame; raise :class:`InvalidMessage` if it is not a valid message.

    >>> parse_client_message('{"type":"sequenceAck","sequenceId":"7"}')
    SequenceAck(sequence_id=7)
    """
    frame = _load_object(text)
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
        _refuse_repeated_metadata_keys(text)
    return parser(frame)


def _parse_join(frame: dict[str, Any]) -> JoinGroup:
    return JoinGroup(group=_group(frame, "joinGroup"), ack_id=_ack_id(frame, "joinGroup"))


def _parse_leave(frame: dict[str, Any]) -> LeaveGroup:
    return LeaveGroup(group=_group(frame, "leaveGroup"), ack_id=_ack_id(frame, "leaveGroup"))


def _parse_send_to_group(frame: dict[str, Any]) -> SendToGroup | StreamStart:
    where = "sendToGroup"
    group = _group(frame, where)
    no_echo = frame.get("noEcho", False)
    if no_echo is None:
        no_echo = False
    if not isinstance(no_echo, bool):
        raise InvalidMessage(f"{where}: 'noEcho' must be true or false, got {_kind(no_echo)}", field="noEcho")
    if "stream" in frame:
        return _parse_stream_start(frame, group, no_echo)
    ack_id = _ack_id(frame, where)
    ttl = _ttl_seconds(frame, where)
    metadata = _metadata(frame, where)
    if "data" not in frame and metadata is not None:
        # A metadata-only message: the emulator sends it on as empty text.
        return SendToGroup(group, "", "text", ack_id, no_echo, metadata, ttl)
    data_type = _data_type(frame, where)
    data = decode_data(data_type, _required(frame, "data", where), where=where)
    return SendToGroup(group, data, data_type, ack_id, no_echo, metadata, ttl)


def _parse_event(frame: dict[str, Any]) -> SendEvent:
    where = "event"
    name = frame.get("event")
    if not isinstance(name, str) or not _EVENT_NAME.match(name):
        raise InvalidMessage(
            f"event: 'event' must be a name like 'message' or 'chat.send' (a letter, then letters, digits, "
            f"'_', '.', '-'; up to 128 chars), got {name!r}",
            field="event",
        )
    ack_id = _ack_id(frame, where)
    metadata = _metadata(frame, where)
    if "data" not in frame and metadata is not None:
        return SendEvent(name, "", "text", ack_id, metadata)
    data_type = _data_type(frame, where)
    data = decode_data(data_type, _required(frame, "data", where), where=where)
    return SendEvent(name, data, data_type, ack_id, metadata)


def _parse_stream_start(frame: dict[str, Any], group: str, no_echo: bool) -> StreamStart:
    where = "sendToGroup with 'stream'"
    stream = frame["stream"]
    if not isinstance(stream, dict):
        raise InvalidMessage(
            f'{where}: \'stream\' must be an object like {{"streamId": "<uuid>"}}, got {_kind(stream)}', field="stream"
        )
    stream_id = _stream_id(stream, where)
    if "data" in frame or "dataType" in frame:
        raise InvalidMessage(
            f"{where}: a stream start carries no 'data' or 'dataType'; send the payload in streamData fragments",
            field="data",
        )
    timeout = stream.get("idleTimeoutMs")
    if timeout is not None and not (isinstance(timeout, int) and not isinstance(timeout, bool)):
        raise InvalidMessage(
            f"{where}: 'idleTimeoutMs' must be a positive integer (milliseconds), got {timeout!r}",
            field="idleTimeoutMs",
        )
    return StreamStart(group, stream_id, timeout, no_echo)


def _parse_stream_data(frame: dict[str, Any]) -> StreamData:
    where = "streamData"
    stream_id = _stream_id(frame, where)
    present = [name for name in ("streamSequenceId", "dataType", "data") if frame.get(name) is not None]
    if not present:
        return StreamData(stream_id)  # a keepalive
    if len(present) < 3:
        missing = [name for name in ("streamSequenceId", "dataType", "data") if name not in present]
        raise InvalidMessage(
            f"{where}: a fragment needs streamSequenceId, dataType and data together (missing "
            f"{', '.join(missing)}); send none of them for a keepalive",
            field=missing[0],
        )
    sequence_id = frame["streamSequenceId"]
    if not _is_uint64(sequence_id) or sequence_id == 0:
        raise InvalidMessage(
            f"{where}: 'streamSequenceId' must be a positive integer (1 for the first fragment), got {sequence_id!r}",
            field="streamSequenceId",
        )
    data_type = _data_type(frame, where)
    return StreamData(stream_id, sequence_id, decode_data(data_type, frame["data"], where=where), data_type)


def _parse_stream_end(frame: dict[str, Any]) -> StreamEnd:
    where = "streamEnd"
    stream_id = _stream_id(frame, where)
    error = frame.get("error")
    if error is None:
        return StreamEnd(stream_id)
    if not isinstance(error, dict) or "name" in error:
        raise InvalidMessage(
            f'{where}: \'error\' must be an object like {{"message": "...", "userErrorCode": "..."}} '
            "(without 'name': the service names it UserError)",
            field="error",
        )
    message, code = error.get("message"), error.get("userErrorCode")
    if not isinstance(message, (str, type(None))) or not isinstance(code, (str, type(None))):
        raise InvalidMessage(f"{where}: 'error.message' and 'error.userErrorCode' must be strings", field="error")
    return StreamEnd(stream_id, "" if message is None else message, code)


def _parse_invoke(frame: dict[str, Any]) -> Invoke:
    where = "invoke"
    invocation_id = _invocation_id(frame, where)
    if frame.get("target", "event") != "event":
        raise InvalidMessage(f"{where}: 'target' must be \"event\", got {frame['target']!r}", field="target")
    name = frame.get("event")
    if not isinstance(name, str) or not _EVENT_NAME.match(name):
        raise InvalidMessage(f"{where}: 'event' must be a user event name like 'chat.ask', got {name!r}", field="event")
    if frame.get("data") is None and frame.get("dataType") is None:
        return Invoke(invocation_id, name)
    data_type = _data_type(frame, where)
    return Invoke(invocation_id, name, decode_data(data_type, _required(frame, "data", where), where=where), data_type)


def _parse_cancel_invocation(frame: dict[str, Any]) -> CancelInvocation:
    return CancelInvocation(_invocation_id(frame, "cancelInvocation"))


def _invocation_id(frame: dict[str, Any], where: str) -> str:
    invocation_id = frame.get("invocationId")
    if not isinstance(invocation_id, str) or not invocation_id or len(invocation_id) > 1024:
        raise InvalidMessage(
            f"{where}: 'invocationId' must be a string of 1 to 1024 characters, got {invocation_id!r}",
            field="invocationId",
        )
    return invocation_id


def _parse_sequence_ack(frame: dict[str, Any]) -> SequenceAck:
    raw = _required(frame, "sequenceId", "sequenceAck")
    # Docs show the value as a string, SDKs send a number: accept both.
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if not _is_uint64(raw):
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
    "streamdata": _parse_stream_data,
    "streamend": _parse_stream_end,
    "invoke": _parse_invoke,
    "cancelinvocation": _parse_cancel_invocation,
}


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


# ---- service -> client -------------------------------------------------------------------------


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


def parse_service_message(text: str | bytes) -> ServiceMessage:
    """Parse one frame the service sent (the client's side of the codec).

    >>> parse_service_message('{"type":"ack","ackId":3,"success":false,'
    ...                       '"error":{"name":"Forbidden","message":"no"}}').error.name
    'Forbidden'
    """
    frame = _load_object(text)
    kind = frame.get("type")
    if kind == "message":
        source = frame.get("from")
        if source not in ("group", "server"):
            raise InvalidMessage(f"message: 'from' must be 'group' or 'server', got {source!r}", field="from")
        data_type = _data_type(frame, "message")
        data = decode_data(data_type, _required(frame, "data", "message"), where="message")
        group = frame.get("group")
        if source == "group" and not isinstance(group, str):
            raise InvalidMessage("message from a group has no string 'group'", field="group")
        sequence_id = frame.get("sequenceId")
        if sequence_id is not None and not _is_uint64(sequence_id):
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
            stream=_stream_info(frame.get("stream")),
        )
    if kind == "ack":
        ack_id = _required(frame, "ackId", "ack")
        success = _required(frame, "success", "ack")
        if not _is_uint64(ack_id) or not isinstance(success, bool):
            raise InvalidMessage("ack: 'ackId' must be an integer and 'success' a boolean", field="ackId")
        error = frame.get("error")
        ack_error = None
        if isinstance(error, dict):
            ack_error = AckError(name=str(error.get("name", "")), message=str(error.get("message", "")))
        return Ack(ack_id=ack_id, success=success, error=ack_error)
    if kind == "system":
        event = frame.get("event")
        if event == "connected":
            connection_id = _required(frame, "connectionId", "connected")
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
        # Imported here: stream_codec builds on this module (its frames share the field rules).
        from .stream_codec import parse_service_reply

        return parse_service_reply(frame)
    raise InvalidMessage(f"unknown service message type {kind!r}", field="type")


class Envelope:
    """A data message serialised once, sent to many recipients.

    ``frame(None)`` is the bytes for plain-protocol recipients (identical for all of them);
    ``frame(seq)`` splices a reliable recipient's ``sequenceId`` without re-serialising. It equals
    ``prefix + tail(seq)``: a writer that sends those two pieces shares the message's bytes among
    all reliable recipients and builds only the short tail per recipient. ``raw`` and
    ``raw_is_binary`` are what a simple (no-subprotocol) WebSocket client receives.

    >>> e = Envelope.build("server", "json", {"a": 1})
    >>> e.frame(7)
    b'{"type":"message","from":"server","dataType":"json","data":{"a":1},"sequenceId":7}'
    >>> e.tail(7)
    b',"sequenceId":7}'
    >>> e.raw, e.raw_is_binary
    (b'{"a":1}', False)
    """

    __slots__ = ("prefix", "raw", "raw_is_binary", "data_type", "size", "expires_at")

    # What follows ``prefix`` in a plain-protocol frame. Writers send ``prefix`` and this as two
    # pieces, so plain and reliable recipients alike share the one copy of the message's bytes.
    PLAIN_TAIL = b"}"

    def __init__(self, prefix: bytes, raw: bytes, raw_is_binary: bool, data_type: str):
        self.prefix = prefix
        self.raw = raw
        self.raw_is_binary = raw_is_binary
        self.data_type = data_type
        self.size = len(prefix) + 1
        self.expires_at: float | None = None  # monotonic time after which a recovery no longer replays it (TTL)

    @classmethod
    def build(
        cls,
        source: str,
        data_type: str,
        data: Any,
        *,
        group: str | None = None,
        from_user_id: str | None = None,
        extra: str = "",
    ) -> Envelope:
        """Encode ``data`` (decoded form: JSON value, str or bytes) once for every recipient.

        ``extra`` is pre-encoded members that follow ``data`` (``,"metadata":{...}``, ``,"stream":{...}``).
        """
        if data_type == "json":
            data_json = _dumps(data)
            raw, raw_is_binary = data_json.encode("utf-8"), False
        elif data_type == "text" and isinstance(data, str):
            data_json = _encode_string(data)
            raw, raw_is_binary = data.encode("utf-8"), False
        elif data_type in BYTES_TYPES and not isinstance(data, str):
            raw = bytes(data)
            data_json = '"' + base64.b64encode(raw).decode("ascii") + '"'
            raw_is_binary = True
        else:  # checked here, off the common path: the send loop builds an envelope per message
            raise payload_error(data_type, data)
        head = '{"type":"message","from":"' + source + '"'
        if group is not None:
            head += ',"group":' + _encode_string(group)
            if from_user_id is not None:
                head += ',"fromUserId":' + _encode_string(from_user_id)
        head += ',"dataType":"' + data_type + '","data":' + data_json + extra
        return cls(head.encode("utf-8"), raw, raw_is_binary, data_type)

    @property
    def plain(self) -> bytes:
        """The whole plain-protocol frame, joined (a copy; the send path uses the two pieces)."""
        return self.prefix + self.PLAIN_TAIL

    def frame(self, sequence_id: int | None) -> bytes:
        """The JSON frame for one recipient; ``sequence_id`` only on reliable connections."""
        if sequence_id is None:
            return self.plain
        return self.prefix + self.tail(sequence_id)

    def tail(self, sequence_id: int) -> bytes:
        """What follows ``prefix`` in the frame of a reliable recipient with this ``sequence_id``."""
        return b',"sequenceId":%d}' % sequence_id


# ---- field helpers -----------------------------------------------------------------------------


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


# Python's json accepts NaN/Infinity; JSON (RFC 8259) does not, nor can they be re-encoded. One
# decoder serves every frame: json.loads(text, parse_constant=...) would build a new one per call.
decode_json = json.JSONDecoder(parse_constant=_reject_constant).decode
"""Parse JSON text as RFC 8259 defines it (no ``NaN`` or ``Infinity``); ``ValueError`` otherwise."""


def _load_object(text: str | bytes) -> dict[str, Any]:
    try:
        if isinstance(text, (bytes, bytearray)):
            text = text.decode(json.detect_encoding(text), "surrogatepass")  # what json.loads does
        frame = decode_json(text)
    except RecursionError:
        raise InvalidMessage("frame is nested too deeply to parse; send flatter JSON") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMessage(f"frame is not valid JSON ({exc}); send one JSON object per text frame") from None
    if not isinstance(frame, dict):
        raise InvalidMessage(f"frame is a JSON {_kind(frame)}, not an object; send one JSON object per frame")
    return frame


def _required(frame: dict[str, Any], field: str, where: str) -> Any:
    if field not in frame:
        raise InvalidMessage(f"{where}: required field '{field}' is missing", field=field)
    return frame[field]


_VALID_GROUPS: dict[str, None] = {}  # names that passed the check lately: a publisher repeats its groups
_VALID_GROUPS_LIMIT = 4096


def _group(frame: dict[str, Any], where: str) -> str:
    group = _required(frame, "group", where)
    if type(group) is str and group in _VALID_GROUPS:
        return group
    problem = group_name_problem(group)
    if problem:
        raise InvalidMessage(f"{where}: {problem}", field="group")
    if len(_VALID_GROUPS) >= _VALID_GROUPS_LIMIT:
        _VALID_GROUPS.clear()
    _VALID_GROUPS[group] = None
    return group


def _ack_id(frame: dict[str, Any], where: str) -> int | None:
    ack_id = frame.get("ackId")
    if ack_id is None:
        return None
    if not _is_uint64(ack_id):
        raise InvalidMessage(f"{where}: 'ackId' must be a non-negative integer, got {ack_id!r}", field="ackId")
    return ack_id


def _stream_id(frame: dict[str, Any], where: str) -> str:
    stream_id = frame.get("streamId")
    if not isinstance(stream_id, str) or not stream_id:
        raise InvalidMessage(
            f"{where}: 'streamId' must be a non-empty string (a UUID), got {stream_id!r}", field="streamId"
        )
    return stream_id


def _put_ack_id(frame: dict[str, Any], ack_id: int | None) -> None:
    if ack_id is not None:
        frame["ackId"] = ack_id


def _data_type(frame: dict[str, Any], where: str) -> str:
    data_type = frame.get("dataType")
    if data_type is None:
        return "json"
    if not isinstance(data_type, str) or data_type.lower() not in DATA_TYPES:
        raise InvalidMessage(
            f"{where}: unknown dataType {data_type!r}; use one of {', '.join(DATA_TYPES)}", field="dataType"
        )
    return data_type.lower()


def _ttl_seconds(frame: dict[str, Any], where: str) -> int | None:
    ttl = frame.get("ttlSeconds")
    if ttl is not None and not (isinstance(ttl, int) and not isinstance(ttl, bool) and 0 <= ttl <= MAX_TTL_SECONDS):
        raise InvalidMessage(
            f"{where}: 'ttlSeconds' must be an integer from 0 to {MAX_TTL_SECONDS}, got {ttl!r}", field="ttlSeconds"
        )
    return ttl or None  # 0 means the message never expires


def _keep_pairs(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return pairs


# Only for frames with metadata: a dict hides a repeated key, which the emulator refuses.
_decode_pairs = json.JSONDecoder(object_pairs_hook=_keep_pairs, parse_constant=_reject_constant).decode


def _refuse_repeated_metadata_keys(text: str | bytes) -> None:
    if isinstance(text, (bytes, bytearray)):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    for key, value in _decode_pairs(text):
        if key == "metadata" and isinstance(value, list):
            keys = [name for name, _ in value]
            repeated = sorted({name for name in keys if keys.count(name) > 1})
            if repeated:
                raise InvalidMessage(
                    f"'metadata' repeats the key {repeated[0]!r}; give each key once", field="metadata"
                )


def _metadata(frame: dict[str, Any], where: str) -> dict[str, str] | None:
    metadata = frame.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidMessage(f"{where}: 'metadata' must be an object of string values", field="metadata")
    try:
        return check_metadata(metadata.items())
    except ValueError as exc:
        raise InvalidMessage(f"{where}: {exc}", field="metadata") from None


def _stream_info(stream: Any) -> StreamInfo | None:
    """The ``stream`` of a received group message (a fragment of a group stream), or ``None``."""
    if not isinstance(stream, dict) or not isinstance(stream.get("streamId"), str):
        return None
    number, error = stream.get("streamSequenceId"), stream.get("error")
    if not _is_uint64(number):
        return None
    if isinstance(error, dict):
        code = error.get("userErrorCode")
        error = StreamError(
            str(error.get("name") or ""), str(error.get("message") or ""), code if isinstance(code, str) else None
        )
    return StreamInfo(
        stream["streamId"], number, stream.get("endOfStream") is True, error if isinstance(error, StreamError) else None
    )


def _is_uint64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_UINT64


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )
