"""Check frames of the JSON subprotocols against the upstream message schemas.

The schemas in ``tests/schemas/`` are verbatim copies of the JSON schemas published in
Azure/azure-webpubsub (``protocols/json.webpubsub.azure.v1``). They are stale in known places
(docs/protocol.md, the upstream JSON schemas); this module loads them unchanged and applies each documented fix in
code, one named function per fix, so the difference from upstream stays visible and reviewable.
Where the spec and the official SDKs disagree the SDKs win, and some fixes tighten the schema
to what the SDKs actually need (for example ``dataType`` is required because the Python SDK
reads ``message["dataType"]`` and the JS SDK drops messages without it).

Example::

    >>> assert_service_frame('{"type":"pong"}', PLAIN_PROTOCOL)
    {'type': 'pong'}
    >>> assert_service_frame('{"type":"ack","ackId":1}', PLAIN_PROTOCOL)
    Traceback (most recent call last):
    AssertionError: service frame does not match the json.webpubsub.azure.v1 message shapes:
      frame: {"type":"ack","ackId":1}
      at (top level): 'success' is a required property
      at (top level): 'error' is a required property
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

PLAIN_PROTOCOL = "json.webpubsub.azure.v1"
RELIABLE_PROTOCOL = "json.reliable.webpubsub.azure.v1"
PROTOCOLS = (PLAIN_PROTOCOL, RELIABLE_PROTOCOL)

SCHEMA_DIR = Path(__file__).parent / "schemas"
RESPONSE_SCHEMA = SCHEMA_DIR / "webpubsub.v1.response.json"
REQUEST_SCHEMA = SCHEMA_DIR / "webpubsub.v1.request.json"

# Every error name the service may put in an ack (docs/protocol.md, acks): the upstream enum
# plus Duplicate and BadRequest.
ACK_ERROR_NAMES = ["NotFound", "Forbidden", "Timeout", "InternalServerError", "Duplicate", "BadRequest"]

Schema = dict[str, Any]

# A property that must not appear. (Not the `false` schema: jsonschema reports that without its path.)
ABSENT: Schema = {"not": {}}

# ---- public API ----------------------------------------------------------------------------------


def assert_service_frame(frame: str | bytes, protocol: str) -> dict[str, Any]:
    """Assert that ``frame``, sent by the service on ``protocol``, is a valid message; return it parsed.

    ``protocol`` is the negotiated subprotocol, ``json.webpubsub.azure.v1`` or
    ``json.reliable.webpubsub.azure.v1`` (the reliable one requires ``sequenceId`` on every data
    message and ``reconnectionToken`` on ``connected``; the plain one forbids both).

    >>> assert_service_frame('{"type":"ack","ackId":7,"success":true}', PLAIN_PROTOCOL)["success"]
    True
    """
    message = _parse(frame, protocol, "service")
    _validate(message, _service_validator(_protocol_key(protocol)), frame, protocol, "service")
    return message


def assert_client_frame(frame: str | bytes, protocol: str) -> dict[str, Any]:
    """Assert that ``frame``, sent by a client on ``protocol``, is a valid request; return it parsed.

    Useful to check that hand-written frames in tests are what a real client would send.

    >>> assert_client_frame('{"type":"joinGroup","group":"lab","ackId":1}', PLAIN_PROTOCOL)["group"]
    'lab'
    """
    message = _parse(frame, protocol, "client")
    _validate(message, _client_validator(), frame, protocol, "client")
    return message


# ---- parsing and reporting -----------------------------------------------------------------------


def _protocol_key(protocol: str) -> str:
    key = protocol.lower()
    if key not in PROTOCOLS:
        raise ValueError(f"unknown subprotocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    return key


def _parse(frame: str | bytes, protocol: str, sender: str) -> dict[str, Any]:
    _protocol_key(protocol)
    if not isinstance(frame, str):
        raise AssertionError(
            f"{sender} sent a binary frame on {protocol} (JSON subprotocols use text frames only): {frame[:200]!r}"
        )
    try:
        message = json.loads(frame)
    except json.JSONDecodeError as error:
        raise AssertionError(f"{sender} frame on {protocol} is not JSON ({error}): {frame[:500]}") from None
    if not isinstance(message, dict):
        raise AssertionError(f"{sender} frame on {protocol} is not a JSON object: {frame[:500]}")
    return message


def _validate(
    message: dict[str, Any], validator: jsonschema.protocols.Validator, frame: str | bytes, protocol: str, sender: str
) -> None:
    if validator.is_valid(message):
        return
    text = frame if isinstance(frame, str) else repr(frame)
    raise AssertionError(
        f"{sender} frame does not match the {protocol} message shapes:\n  frame: {text[:1000]}\n"
        + "\n".join(f"  {line}" for line in _explain(message, validator))
    )


# Fields whose const/enum only say which alternative of a oneOf a frame is; a mismatch there
# means "a different kind of message", not what is wrong with this one.
_DISCRIMINATORS = {"type", "from", "event", "dataType", "success"}


def _explain(message: dict[str, Any], validator: jsonschema.protocols.Validator) -> list[str]:
    """Say what is wrong, for the kind of message the frame claims to be (its ``type``)."""
    schema = validator.schema
    refs_by_kind: dict[Any, list[str]] = {}
    for branch in schema["oneOf"]:
        for kind_name in _kinds_of(branch["$ref"], schema):
            refs_by_kind.setdefault(kind_name, []).append(branch["$ref"])
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in refs_by_kind:
        return [f"unknown type {kind!r}; expected one of {sorted(refs_by_kind)}"]
    alternatives = []
    for ref in refs_by_kind[kind]:
        branch = type(validator)({"allOf": [{"$ref": ref}], "$defs": schema["$defs"]})
        alternatives.append([leaf for error in branch.iter_errors(message) for leaf in _leaf_errors(error)])
    lines = []
    for leaf in _matching_alternatives(alternatives):
        line = _describe(leaf)
        if line not in lines:
            lines.append(line)
    return lines or ["matches more than one message shape"]


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "not" and error.validator_value == {}:
        return f"at {where}: must not be present in this kind of message"
    return f"at {where}: {error.message}"


def _kinds_of(ref: str, schema: Schema) -> list[str]:
    """The ``type`` values the definition behind ``ref`` accepts (e.g. ["ack"] for ackResponse)."""
    definition = schema["$defs"][ref.rsplit("/", 1)[-1]]
    properties = definition.get("properties") or definition["allOf"][0]["properties"]
    type_schema = properties["type"]
    return [type_schema["const"]] if "const" in type_schema else list(type_schema["enum"])


def _leaf_errors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """The innermost errors, skipping ``oneOf`` alternatives meant for other kinds of message."""
    if not error.context:
        return [error]
    alternatives: dict[Any, list[jsonschema.ValidationError]] = {}
    for child in error.context:
        alternatives.setdefault(child.relative_schema_path[0], []).extend(_leaf_errors(child))
    return _matching_alternatives(list(alternatives.values()))


def _matching_alternatives(alternatives: list[list[jsonschema.ValidationError]]) -> list[jsonschema.ValidationError]:
    # An alternative whose type/from/event/dataType/success differs from the frame's describes a
    # different kind of message: its errors would only distract. If none matches, show them all.
    matching = [leaves for leaves in alternatives if not any(_is_discriminator(leaf) for leaf in leaves)]
    return [leaf for leaves in (matching or alternatives) for leaf in leaves]


def _is_discriminator(error: jsonschema.ValidationError) -> bool:
    path = list(error.absolute_path)
    return error.validator in ("const", "enum") and len(path) == 1 and path[0] in _DISCRIMINATORS


# ---- fixes to the upstream response schema (docs/protocol.md) -------------------


def _allow_success_acks(defs: Schema) -> None:
    """``successAck`` had additionalProperties:false, rejecting every real ack (type, ackId are siblings).

    A success ack carries no ``error``.
    """
    success = defs["successAck"]
    del success["additionalProperties"]
    success["properties"]["error"] = ABSENT


def _require_ack_error_detail(defs: Schema) -> None:
    """A failed ack carries ``error`` {name, message}; the Python SDK reads ``error["message"]``."""
    failure = defs["errorAck"]
    failure["required"] = ["success", "error"]
    failure["properties"]["error"]["required"] = ["name", "message"]


def _add_ack_error_names(defs: Schema) -> None:
    """The upstream enum lacks ``Duplicate`` (ackId already processed) and ``BadRequest``."""
    defs["errorAck"]["properties"]["error"]["properties"]["name"]["enum"] = list(ACK_ERROR_NAMES)


def _allow_any_json_data(defs: Schema) -> None:
    """``json`` data may be any JSON value (REST bodies: "any JSON value"), not only an object."""
    defs["jsonPayload"]["properties"]["data"] = {"title": "The data payload (any JSON value)"}


def _require_data_type(defs: Schema) -> None:
    """``dataType`` is optional upstream for json, but the Python SDK indexes ``message["dataType"]``
    and the JS SDK drops group messages without it, so the service must always send it."""
    defs["jsonPayload"]["required"] = ["data", "dataType"]


def _allow_anonymous_users(defs: Schema) -> None:
    """``userId`` / ``fromUserId`` are null (or absent) for connections without a user."""
    defs["connectedResponse"]["properties"]["userId"]["type"] = ["string", "null"]
    group_fields = defs["groupMessageResponse"]["allOf"][0]["properties"]
    group_fields["fromUserId"]["type"] = ["string", "null"]


def _add_pong(defs: Schema) -> None:
    """``{"type":"pong"}`` answers a ping on both JSON subprotocols; upstream has no shape for it."""
    defs["pongResponse"] = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"const": "pong"}},
    }


def _add_stream_frames(defs: Schema) -> None:
    """Group streams (docs/protocol.md): streamAck/streamNack/streamClosed and the ``stream``
    object on group messages. Upstream schemas predate streaming."""
    stream_id = {"type": "string", "minLength": 1}
    positive = {"type": "integer", "minimum": 1}
    error = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "message": {"type": "string"}},
    }
    defs["streamAckResponse"] = {
        "type": "object",
        "required": ["type", "streamId", "expectedSequenceId"],
        "properties": {"type": {"const": "streamAck"}, "streamId": stream_id, "expectedSequenceId": positive},
    }
    defs["streamNackResponse"] = {
        "type": "object",
        "required": ["type", "streamId", "expectedSequenceId", "name"],
        "properties": {
            "type": {"const": "streamNack"},
            "streamId": stream_id,
            "expectedSequenceId": positive,
            "name": {"enum": ["InvalidSequenceId", "TransientError"]},
            "message": {"type": "string"},
        },
    }
    defs["streamClosedResponse"] = {
        "type": "object",
        "required": ["type", "streamId"],
        "properties": {
            "type": {"const": "streamClosed"},
            "streamId": stream_id,
            "error": {
                **error,
                "properties": {
                    "name": {
                        "enum": ["StreamNotFound", "Forbidden", "BadRequest", "InternalServerError", "IdleTimeout"]
                    },
                    "message": {"type": "string"},
                },
            },
        },
    }
    group_fields = defs["groupMessageResponse"]["allOf"][0]["properties"]
    group_fields["stream"] = {
        "type": "object",
        "required": ["streamId", "streamSequenceId"],
        "properties": {
            "streamId": stream_id,
            "streamSequenceId": positive,
            "endOfStream": {"type": "boolean"},
            "error": {
                **error,
                "properties": {
                    "name": {"enum": ["IdleTimeout", "InternalServerError", "Forbidden", "Cancelled", "UserError"]},
                    "message": {"type": "string"},
                    "userErrorCode": {"type": "string"},
                },
            },
        },
    }


def _add_invoke_response(defs: Schema) -> None:
    """``invokeResponse`` answers an ``invoke`` (the JS client 1.1.0's ``invokeEvent``); upstream predates it."""
    defs["invokeResponse"] = {
        "type": "object",
        "required": ["type", "invocationId", "success"],
        "properties": {
            "type": {"const": "invokeResponse"},
            "invocationId": {"type": "string", "minLength": 1},
            "success": {"type": "boolean"},
            "dataType": {"enum": ["json", "text", "binary", "protobuf"]},
            "error": {
                "type": "object",
                "required": ["name", "message"],
                "properties": {"name": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    }


def _sequence_rules(reliable: bool) -> Callable[[Schema], None]:
    """Reliable: every data message has ``sequenceId`` (uint64 from 1) and ``connected`` has a
    ``reconnectionToken``. Plain: neither appears (§8)."""

    def apply(defs: Schema) -> None:
        for name in ("groupMessageResponse", "serverMessageResponse"):
            fields = defs[name]["allOf"][0]["properties"]
            if reliable:
                fields["sequenceId"] = {"type": "integer", "minimum": 1}
                defs[name]["required"] = [*defs[name]["required"], "sequenceId"]
            else:
                fields["sequenceId"] = ABSENT
        connected = defs["connectedResponse"]
        if reliable:
            connected["properties"]["reconnectionToken"] = {"type": "string", "minLength": 1}
            connected["required"] = [*connected["required"], "reconnectionToken"]
        else:
            connected["properties"]["reconnectionToken"] = ABSENT

    apply.__name__ = f"_sequence_rules(reliable={reliable})"
    return apply


RESPONSE_FIXES: tuple[Callable[[Schema], None], ...] = (
    _allow_success_acks,
    _require_ack_error_detail,
    _add_ack_error_names,
    _allow_any_json_data,
    _require_data_type,
    _allow_anonymous_users,
    _add_pong,
    _add_stream_frames,
    _add_invoke_response,
)

NEW_RESPONSE_KINDS = (
    "pongResponse",
    "streamAckResponse",
    "streamNackResponse",
    "streamClosedResponse",
    "invokeResponse",
)


def service_schema(protocol: str) -> Schema:
    """The upstream response schema with every fix applied, for ``protocol``.

    >>> "pongResponse" in service_schema(PLAIN_PROTOCOL)["$defs"]
    True
    """
    key = _protocol_key(protocol)
    schema = copy.deepcopy(_load(RESPONSE_SCHEMA))
    defs = schema["$defs"]
    for fix in (*RESPONSE_FIXES, _sequence_rules(reliable=key == RELIABLE_PROTOCOL)):
        fix(defs)
    schema["oneOf"] = [*schema["oneOf"], *({"$ref": f"#/$defs/{kind}"} for kind in NEW_RESPONSE_KINDS)]
    return schema


# ---- fixes to the upstream request schema --------------------------------------------------------


def client_schema() -> Schema:
    """The upstream request schema with json data widened and sequenceAck/ping added (§3)."""
    schema = copy.deepcopy(_load(REQUEST_SCHEMA))
    defs = schema["$defs"]
    defs["jsonPayload"]["properties"]["data"] = {"not": {"type": "null"}}
    defs["sequenceAckRequest"] = {
        "type": "object",
        "required": ["type", "sequenceId"],
        "properties": {"type": {"const": "sequenceAck"}, "sequenceId": {"type": "integer", "minimum": 0}},
    }
    defs["pingRequest"] = {"type": "object", "required": ["type"], "properties": {"type": {"const": "ping"}}}
    schema["oneOf"] = [*schema["oneOf"], {"$ref": "#/$defs/sequenceAckRequest"}, {"$ref": "#/$defs/pingRequest"}]
    return schema


# ---- caches --------------------------------------------------------------------------------------


@cache
def _load(path: Path) -> Schema:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _service_validator(protocol_key: str) -> jsonschema.protocols.Validator:
    schema = service_schema(protocol_key)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@cache
def _client_validator() -> jsonschema.protocols.Validator:
    schema = client_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)
