"""The field rules every JSON frame of the client protocol shares, and :class:`InvalidMessage`.

Each reader takes the decoded frame (a dict) and ``where`` (the message's name, for the error) and
returns the field's value, or raises :class:`InvalidMessage` naming the field and how to fix it.
The codecs (``json_codec``, ``stream_codec``, ``client_codec``) build their parsers from these.

Example::

    >>> frame = load_object('{"group":"lab","ackId":3,"dataType":"TEXT"}')
    >>> group_field(frame, "joinGroup"), ack_id_field(frame, "joinGroup"), data_type_field(frame, "x")
    ('lab', 3, 'text')
    >>> ack_id_field({"ackId": -1}, "joinGroup")
    Traceback (most recent call last):
    ...
    wpsnb.protocol.frame_fields.InvalidMessage: joinGroup: 'ackId' must be a non-negative integer, got -1
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from .limits import MAX_TTL_SECONDS, MAX_UINT64, CloseCode
from .messages import BYTES_TYPES, DATA_TYPES, payload_type
from .metadata import check_metadata
from .names import group_name_problem

EVENT_NAME = re.compile(r"^[a-z][a-z0-9_.\-]{0,127}$", re.IGNORECASE)
"""A user event name: a letter, then letters, digits, ``_``, ``.``, ``-``; up to 128 characters."""


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
                f"{where}: dataType 'text' needs a string 'data', got {kind_of(raw)}; "
                "send a JSON string or use dataType 'json'",
                field="data",
            )
        return raw
    if data_type in BYTES_TYPES:
        if not isinstance(raw, str):
            raise InvalidMessage(
                f"{where}: dataType '{data_type}' needs base64 text in 'data', got {kind_of(raw)}", field="data"
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


# ---- the frame as a whole ------------------------------------------------------------------------


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


# Python's json accepts NaN/Infinity; JSON (RFC 8259) does not, nor can they be re-encoded. One
# decoder serves every frame: json.loads(text, parse_constant=...) would build a new one per call.
decode_json = json.JSONDecoder(parse_constant=_reject_constant).decode
"""Parse JSON text as RFC 8259 defines it (no ``NaN`` or ``Infinity``); ``ValueError`` otherwise."""


def load_object(text: str | bytes) -> dict[str, Any]:
    """Decode one frame, which must be a JSON object."""
    try:
        if isinstance(text, (bytes, bytearray)):
            text = text.decode(json.detect_encoding(text), "surrogatepass")  # what json.loads does
        frame = decode_json(text)
    except RecursionError:
        raise InvalidMessage("frame is nested too deeply to parse; send flatter JSON") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMessage(f"frame is not valid JSON ({exc}); send one JSON object per text frame") from None
    if not isinstance(frame, dict):
        raise InvalidMessage(f"frame is a JSON {kind_of(frame)}, not an object; send one JSON object per frame")
    return frame


def _keep_pairs(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return pairs


# Only for frames with metadata: a dict hides a repeated key, which the emulator refuses.
_decode_pairs = json.JSONDecoder(object_pairs_hook=_keep_pairs, parse_constant=_reject_constant).decode


def refuse_repeated_metadata_keys(text: str | bytes) -> None:
    """Raise :class:`InvalidMessage` if the frame's ``metadata`` names a key twice."""
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


# ---- one field each ------------------------------------------------------------------------------


def required(frame: dict[str, Any], field: str, where: str) -> Any:
    """The value of ``field``, which must be present."""
    if field not in frame:
        raise InvalidMessage(f"{where}: required field '{field}' is missing", field=field)
    return frame[field]


_VALID_GROUPS: dict[str, None] = {}  # names that passed the check lately: a publisher repeats its groups
_VALID_GROUPS_LIMIT = 4096


def group_field(frame: dict[str, Any], where: str) -> str:
    """``group``: a valid group name."""
    group = required(frame, "group", where)
    if type(group) is str and group in _VALID_GROUPS:
        return group
    problem = group_name_problem(group)
    if problem:
        raise InvalidMessage(f"{where}: {problem}", field="group")
    if len(_VALID_GROUPS) >= _VALID_GROUPS_LIMIT:
        _VALID_GROUPS.clear()
    _VALID_GROUPS[group] = None
    return group


def ack_id_field(frame: dict[str, Any], where: str) -> int | None:
    """``ackId``: absent, or a non-negative integer."""
    ack_id = frame.get("ackId")
    if ack_id is None:
        return None
    if not is_uint64(ack_id):
        raise InvalidMessage(f"{where}: 'ackId' must be a non-negative integer, got {ack_id!r}", field="ackId")
    return ack_id


def stream_id_field(frame: dict[str, Any], where: str) -> str:
    """``streamId``: a non-empty string."""
    stream_id = frame.get("streamId")
    if not isinstance(stream_id, str) or not stream_id:
        raise InvalidMessage(
            f"{where}: 'streamId' must be a non-empty string (a UUID), got {stream_id!r}", field="streamId"
        )
    return stream_id


def data_type_field(frame: dict[str, Any], where: str) -> str:
    """``dataType``, lower-cased; ``json`` when absent."""
    data_type = frame.get("dataType")
    if data_type is None:
        return "json"
    if not isinstance(data_type, str) or data_type.lower() not in DATA_TYPES:
        raise InvalidMessage(
            f"{where}: unknown dataType {data_type!r}; use one of {', '.join(DATA_TYPES)}", field="dataType"
        )
    return data_type.lower()


def ttl_seconds_field(frame: dict[str, Any], where: str) -> int | None:
    """``ttlSeconds``: 0 to 300; ``None`` when absent or 0 (the message never expires)."""
    ttl = frame.get("ttlSeconds")
    if ttl is not None and not (isinstance(ttl, int) and not isinstance(ttl, bool) and 0 <= ttl <= MAX_TTL_SECONDS):
        raise InvalidMessage(
            f"{where}: 'ttlSeconds' must be an integer from 0 to {MAX_TTL_SECONDS}, got {ttl!r}", field="ttlSeconds"
        )
    return ttl or None


def metadata_field(frame: dict[str, Any], where: str) -> dict[str, str] | None:
    """``metadata``: an object of string values by the emulator's rules, or ``None``."""
    metadata = frame.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidMessage(f"{where}: 'metadata' must be an object of string values", field="metadata")
    try:
        return check_metadata(metadata.items())
    except ValueError as exc:
        raise InvalidMessage(f"{where}: {exc}", field="metadata") from None


def is_uint64(value: Any) -> bool:
    """Whether ``value`` is an integer (not a bool) in 0 … 2**64 - 1."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_UINT64


def kind_of(value: Any) -> str:
    """The JSON name of ``value``'s type, for error messages."""
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


__all__ = [
    "EVENT_NAME",
    "InvalidMessage",
    "ack_id_field",
    "data_type_field",
    "decode_data",
    "decode_json",
    "encode_data",
    "group_field",
    "is_uint64",
    "kind_of",
    "load_object",
    "metadata_field",
    "refuse_repeated_metadata_keys",
    "required",
    "stream_id_field",
    "ttl_seconds_field",
]
