"""JSON frames of group streams and message metadata that ``json_codec`` does not build itself.

The service answers a publisher with ``streamAck`` / ``streamNack`` / ``streamClosed``; subscribers get
ordinary group messages whose ``stream`` (and ``metadata``) members are encoded here once per message and
spliced into the :class:`~.json_codec.Envelope` (its ``extra``). The client's side builds the publisher
frames and reads the service's answers.

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

from .json_codec import InvalidMessage, decode_data, encode_data
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
