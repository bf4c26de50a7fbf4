"""Typed messages of the Web PubSub JSON subprotocols, in both directions.

These are plain values: no I/O, no encoding. ``json_codec`` turns frames into them and back.
Payloads are held *decoded*: ``json`` data is any JSON value, ``text`` a ``str``, ``binary`` and
``protobuf`` ``bytes``.

Example::

    >>> JoinGroup(group="lab", ack_id=1)
    JoinGroup(group='lab', ack_id=1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

PLAIN_PROTOCOL = "json.webpubsub.azure.v1"
RELIABLE_PROTOCOL = "json.reliable.webpubsub.azure.v1"
JSON_PROTOCOLS = (PLAIN_PROTOCOL, RELIABLE_PROTOCOL)

DataType = Literal["json", "text", "binary", "protobuf"]
DATA_TYPES: tuple[str, ...] = ("json", "text", "binary", "protobuf")
BYTES_TYPES = ("binary", "protobuf")  # held as bytes, base64 in JSON frames


def payload_type(data: Any, data_type: str | None = None, *, name: str = "dataType") -> str:
    """The ``dataType`` of ``data``: ``data_type`` once checked against ``data``, or else inferred.

    ``None`` infers ``text`` for a ``str``, ``binary`` for bytes and ``json`` for anything else. ``name`` is
    what the caller's users call the parameter in error messages.

    >>> payload_type(b"\x01"), payload_type("hi"), payload_type({"a": 1}), payload_type(b"\x01", "protobuf")
    ('binary', 'text', 'json', 'protobuf')
    >>> payload_type(1, "text")
    Traceback (most recent call last):
    TypeError: dataType 'text' needs a str, got int; use dataType 'json' or 'binary'
    """
    if data_type is None:
        if isinstance(data, str):
            return "text"
        return "binary" if isinstance(data, (bytes, bytearray, memoryview)) else "json"
    if data_type == "json" or (data_type in DATA_TYPES and (data_type == "text") == isinstance(data, str)):
        return data_type
    raise payload_error(data_type, data, name=name)


def payload_error(data_type: str, data: Any, *, name: str = "dataType") -> Exception:
    """The error for ``data`` that cannot be sent as ``data_type`` (call after a failed check).

    >>> payload_error("xml", "x", name="data_type")
    ValueError("unknown data_type 'xml'; use one of json, text, binary, protobuf")
    """
    if data_type not in DATA_TYPES:
        return ValueError(f"unknown {name} {data_type!r}; use one of {', '.join(DATA_TYPES)}")
    if data_type == "text":
        return TypeError(f"dataType 'text' needs a str, got {type(data).__name__}; use dataType 'json' or 'binary'")
    return TypeError(f"dataType '{data_type}' needs bytes, got str; encode it first (e.g. s.encode())")


def is_reliable(protocol: str | None) -> bool:
    """Whether a negotiated subprotocol is a reliable one (sequenceIds, recovery).

    >>> is_reliable("json.reliable.webpubsub.azure.v1")
    True
    """
    return protocol is not None and ".reliable." in protocol.lower()


# ---- client -> service -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JoinGroup:
    """Ask to join ``group``; an ``ack`` answers when ``ack_id`` is set."""

    type: ClassVar[str] = "joinGroup"
    group: str
    ack_id: int | None = None


@dataclass(frozen=True, slots=True)
class LeaveGroup:
    """Ask to leave ``group``."""

    type: ClassVar[str] = "leaveGroup"
    group: str
    ack_id: int | None = None


@dataclass(frozen=True, slots=True)
class SendToGroup:
    """Publish ``data`` to every member of ``group`` (the sender too, unless ``no_echo``)."""

    type: ClassVar[str] = "sendToGroup"
    group: str
    data: Any
    data_type: str = "json"
    ack_id: int | None = None
    no_echo: bool = False


@dataclass(frozen=True, slots=True)
class SendEvent:
    """A user event for the upstream event handler."""

    type: ClassVar[str] = "event"
    event: str
    data: Any
    data_type: str = "json"
    ack_id: int | None = None


@dataclass(frozen=True, slots=True)
class SequenceAck:
    """Reliable protocol: everything up to and including ``sequence_id`` arrived."""

    type: ClassVar[str] = "sequenceAck"
    sequence_id: int


@dataclass(frozen=True, slots=True)
class Ping:
    """Keep-alive; the service answers ``Pong``."""

    type: ClassVar[str] = "ping"


ClientMessage = JoinGroup | LeaveGroup | SendToGroup | SendEvent | SequenceAck | Ping


# ---- service -> client -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AckError:
    """Why a request failed: ``name`` is e.g. ``Forbidden``, ``Duplicate``, ``InternalServerError``."""

    name: str
    message: str


@dataclass(frozen=True, slots=True)
class Ack:
    """The answer to a request that carried an ``ackId``."""

    type: ClassVar[str] = "ack"
    ack_id: int
    success: bool
    error: AckError | None = None


@dataclass(frozen=True, slots=True)
class DataMessage:
    """A message delivered to the client: ``source`` is ``"group"`` or ``"server"``.

    >>> DataMessage(source="group", group="lab", data="hi", data_type="text").data
    'hi'
    """

    type: ClassVar[str] = "message"
    source: str
    data: Any
    data_type: str = "json"
    group: str | None = None
    from_user_id: str | None = None
    sequence_id: int | None = None


@dataclass(frozen=True, slots=True)
class Connected:
    """First frame on a subprotocol connection."""

    type: ClassVar[str] = "system"
    event: ClassVar[str] = "connected"
    connection_id: str
    user_id: str | None = None
    reconnection_token: str | None = None


@dataclass(frozen=True, slots=True)
class Disconnected:
    """Sent just before the service closes the connection; ``message`` is the reason."""

    type: ClassVar[str] = "system"
    event: ClassVar[str] = "disconnected"
    message: str = ""


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer to ``Ping``."""

    type: ClassVar[str] = "pong"


ServiceMessage = Ack | DataMessage | Connected | Disconnected | Pong
