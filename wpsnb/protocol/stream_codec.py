"""JSON frames of group streams and invoke, both ways, and the members they add to group messages.

The service reads a publisher's stream frames (``parse_stream_*``) and ``invoke`` / ``cancelInvocation``
(``json_codec`` dispatches them here); it answers a publisher with ``streamAck`` / ``streamNack`` /
``streamClosed``; subscribers get ordinary group messages whose ``stream`` (and ``metadata``) members
are encoded here once per message and spliced into the :class:`~.envelope.Envelope` (its ``extra``).
The client's side builds the publisher frames and reads the service's answers.

>>> encode_stream_reply(StreamAck("s1", 1))
'{"type":"streamAck","streamId":"s1","expectedSequenceId":1}'
>>> stream_member(StreamInfo("s1", 3, end_of_stream=True))
',"stream":{"streamId":"s1","streamSequenceId":3,"endOfStream":true}'
>>> metadata_member({"stage": "train"})
',"metadata":{"stage":"train"}'
"""

from __future__ import annotations

import json
from typing import Any

from .frame_fields import (
    EVENT_NAME,
    InvalidMessage,
    data_type_field,
    decode_data,
    encode_data,
    is_uint64,
    kind_of,
    required,
    stream_id_field,
)
from .messages import (
    AckError,
    CancelInvocation,
    Invoke,
    InvokeResponse,
    StreamAck,
    StreamClosed,
    StreamData,
    StreamEnd,
    StreamError,
    StreamInfo,
    StreamNack,
    StreamStart,
)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _error_object(error: StreamError) -> dict[str, Any]:
    body: dict[str, Any] = {"name": error.name, "message": error.message}
    if error.user_error_code is not None:
        body["userErrorCode"] = error.user_error_code
    return body


def encode_stream_reply(message: StreamAck | StreamNack | StreamClosed) -> str:
    """A service → publisher stream frame."""
    frame: dict[str, Any] = {"type": message.type, "streamId": message.stream_id}
    if isinstance(message, StreamAck):
        frame["expectedSequenceId"] = message.expected
    elif isinstance(message, StreamNack):
        frame["expectedSequenceId"] = message.expected
        frame["name"] = message.name
        frame["message"] = message.message
    elif message.error is not None:
        frame["error"] = _error_object(message.error)
    return _dumps(frame)


def encode_invoke_response(message: InvokeResponse) -> str:
    """An ``invokeResponse`` frame (what the JS client's ``invokeEvent`` waits for).

    >>> encode_invoke_response(InvokeResponse("7", True, {"a": 1}, "json"))
    '{"type":"invokeResponse","invocationId":"7","success":true,"dataType":"json","data":{"a":1}}'
    """
    frame: dict[str, Any] = {"type": message.type, "invocationId": message.invocation_id, "success": message.success}
    if message.data_type is not None:
        frame["dataType"] = message.data_type
        frame["data"] = encode_data(message.data_type, message.data)
    if message.error is not None:
        frame["error"] = {"name": message.error.name, "message": message.error.message}
    return _dumps(frame)


def stream_member(info: StreamInfo) -> str:
    """``,"stream":{...}``: the members a fragment adds after its ``data``."""
    stream: dict[str, Any] = {"streamId": info.stream_id, "streamSequenceId": info.sequence_id}
    if info.end_of_stream:
        stream["endOfStream"] = True
    if info.error is not None:
        stream["error"] = _error_object(info.error)
    return ',"stream":' + _dumps(stream)


def metadata_member(metadata: dict[str, str] | None) -> str:
    """``,"metadata":{...}`` for a message that carries metadata, else nothing."""
    return ',"metadata":' + _dumps(metadata) if metadata else ""


def encode_stream_request(message: StreamStart | StreamData | StreamEnd) -> str:
    """A publisher frame, as the official JS client 1.1.0 writes it.

    >>> encode_stream_request(StreamData("s1", 1, "chunk", "text"))
    '{"type":"streamData","streamId":"s1","streamSequenceId":1,"dataType":"text","data":"chunk"}'
    """
    if isinstance(message, StreamStart):
        stream: dict[str, Any] = {"streamId": message.stream_id}
        if message.idle_timeout_ms is not None:
            stream["idleTimeoutMs"] = message.idle_timeout_ms
        return _dumps({"type": "sendToGroup", "group": message.group, "noEcho": message.no_echo, "stream": stream})
    frame: dict[str, Any] = {"type": message.type, "streamId": message.stream_id}
    if isinstance(message, StreamData):
        if message.sequence_id is not None:
            frame["streamSequenceId"] = message.sequence_id
            frame["dataType"] = message.data_type
            frame["data"] = encode_data(message.data_type or "json", message.data)
    elif message.aborted:
        error: dict[str, Any] = {"message": message.error_message or ""}
        if message.user_error_code is not None:
            error["userErrorCode"] = message.user_error_code
        frame["error"] = error
    return _dumps(frame)


def parse_stream_reply(frame: dict[str, Any]) -> StreamAck | StreamNack | StreamClosed:
    """Read a ``streamAck`` / ``streamNack`` / ``streamClosed`` frame (already decoded to a dict).

    >>> parse_stream_reply({"type": "streamClosed", "streamId": "s", "error": {"name": "IdleTimeout"}}).error.name
    'IdleTimeout'
    """
    kind, stream_id = frame.get("type"), frame.get("streamId")
    if not isinstance(stream_id, str):
        raise InvalidMessage(f"{kind}: 'streamId' must be a string", field="streamId")
    expected = frame.get("expectedSequenceId")
    if kind in ("streamAck", "streamNack") and not (isinstance(expected, int) and not isinstance(expected, bool)):
        raise InvalidMessage(f"{kind}: 'expectedSequenceId' must be an integer", field="expectedSequenceId")
    if kind == "streamAck":
        return StreamAck(stream_id, expected)  # type: ignore[arg-type]
    if kind == "streamNack":
        return StreamNack(stream_id, expected, str(frame.get("name") or ""), str(frame.get("message") or ""))  # type: ignore[arg-type]
    return StreamClosed(stream_id, parse_stream_error(frame.get("error")))


def parse_stream_error(error: Any) -> StreamError | None:
    """A ``stream.error`` / ``streamClosed.error`` object, or ``None``."""
    if not isinstance(error, dict):
        return None
    code = error.get("userErrorCode")
    return StreamError(
        str(error.get("name") or ""), str(error.get("message") or ""), code if isinstance(code, str) else None
    )


def parse_stream_info(stream: Any) -> StreamInfo | None:
    """The ``stream`` of a received group message, or ``None`` when it is not a fragment.

    >>> parse_stream_info({"streamId": "s", "streamSequenceId": 2, "endOfStream": True}).end_of_stream
    True
    """
    if not isinstance(stream, dict):
        return None
    stream_id, sequence_id = stream.get("streamId"), stream.get("streamSequenceId")
    if not isinstance(stream_id, str) or not isinstance(sequence_id, int) or isinstance(sequence_id, bool):
        return None
    return StreamInfo(
        stream_id, sequence_id, stream.get("endOfStream") is True, parse_stream_error(stream.get("error"))
    )


def encode_invoke(message: Invoke | CancelInvocation) -> str:
    """An ``invoke`` or ``cancelInvocation`` frame, as the JS client 1.1.0 writes them.

    >>> encode_invoke(Invoke("1", "ask", {"q": 1}, "json"))
    '{"type":"invoke","invocationId":"1","target":"event","event":"ask","dataType":"json","data":{"q":1}}'
    """
    if isinstance(message, CancelInvocation):
        return _dumps({"type": message.type, "invocationId": message.invocation_id})
    frame: dict[str, Any] = {"type": message.type, "invocationId": message.invocation_id, "target": "event"}
    frame["event"] = message.event
    if message.data_type is not None:
        frame["dataType"] = message.data_type
        frame["data"] = encode_data(message.data_type, message.data)
    return _dumps(frame)


def parse_service_reply(frame: dict[str, Any]) -> StreamAck | StreamNack | StreamClosed | InvokeResponse:
    """A ``streamAck`` / ``streamNack`` / ``streamClosed`` / ``invokeResponse`` frame (already a dict).

    >>> parse_service_reply({"type": "invokeResponse", "invocationId": "1", "success": True, "dataType": "text",
    ...                      "data": "hi"}).data
    'hi'
    """
    if frame.get("type") != "invokeResponse":
        return parse_stream_reply(frame)
    invocation_id, success = frame.get("invocationId"), frame.get("success")
    if not isinstance(invocation_id, str) or not isinstance(success, bool):
        raise InvalidMessage("invokeResponse: 'invocationId' must be a string and 'success' a boolean")
    data_type, error = frame.get("dataType"), frame.get("error")
    data = None
    if isinstance(data_type, str):
        data = decode_data(data_type, frame.get("data"), where="invokeResponse")
    failure = None
    if isinstance(error, dict):
        failure = AckError(str(error.get("name") or ""), str(error.get("message") or ""))
    return InvokeResponse(invocation_id, success, data, data_type if isinstance(data_type, str) else None, failure)


# ---- publisher -> service (the service's side) ---------------------------------------------------


def parse_stream_start(frame: dict[str, Any], group: str, no_echo: bool) -> StreamStart:
    """A ``sendToGroup`` with ``stream`` (``group`` and ``noEcho`` already read): a stream start."""
    where = "sendToGroup with 'stream'"
    stream = frame["stream"]
    if not isinstance(stream, dict):
        raise InvalidMessage(
            f'{where}: \'stream\' must be an object like {{"streamId": "<uuid>"}}, got {kind_of(stream)}',
            field="stream",
        )
    stream_id = stream_id_field(stream, where)
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


def parse_stream_data(frame: dict[str, Any]) -> StreamData:
    """A ``streamData`` frame: a fragment, or a keepalive (only ``streamId``).

    >>> parse_stream_data({"streamId": "s", "streamSequenceId": 1, "dataType": "text", "data": "x"}).data
    'x'
    """
    where = "streamData"
    stream_id = stream_id_field(frame, where)
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
    if not is_uint64(sequence_id) or sequence_id == 0:
        raise InvalidMessage(
            f"{where}: 'streamSequenceId' must be a positive integer (1 for the first fragment), got {sequence_id!r}",
            field="streamSequenceId",
        )
    data_type = data_type_field(frame, where)
    return StreamData(stream_id, sequence_id, decode_data(data_type, frame["data"], where=where), data_type)


def parse_stream_end(frame: dict[str, Any]) -> StreamEnd:
    """A ``streamEnd`` frame, with or without ``error`` (an abort)."""
    where = "streamEnd"
    stream_id = stream_id_field(frame, where)
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


def parse_invoke(frame: dict[str, Any]) -> Invoke:
    """An ``invoke`` frame (the JS client's ``invokeEvent``)."""
    where = "invoke"
    invocation_id = invocation_id_field(frame, where)
    if frame.get("target", "event") != "event":
        raise InvalidMessage(f"{where}: 'target' must be \"event\", got {frame['target']!r}", field="target")
    name = frame.get("event")
    if not isinstance(name, str) or not EVENT_NAME.match(name):
        raise InvalidMessage(f"{where}: 'event' must be a user event name like 'chat.ask', got {name!r}", field="event")
    if frame.get("data") is None and frame.get("dataType") is None:
        return Invoke(invocation_id, name)
    data_type = data_type_field(frame, where)
    return Invoke(invocation_id, name, decode_data(data_type, required(frame, "data", where), where=where), data_type)


def parse_cancel_invocation(frame: dict[str, Any]) -> CancelInvocation:
    """A ``cancelInvocation`` frame."""
    return CancelInvocation(invocation_id_field(frame, "cancelInvocation"))


def invocation_id_field(frame: dict[str, Any], where: str) -> str:
    """``invocationId``: 1 to 1024 characters."""
    invocation_id = frame.get("invocationId")
    if not isinstance(invocation_id, str) or not invocation_id or len(invocation_id) > 1024:
        raise InvalidMessage(
            f"{where}: 'invocationId' must be a string of 1 to 1024 characters, got {invocation_id!r}",
            field="invocationId",
        )
    return invocation_id
