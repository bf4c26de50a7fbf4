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
    metadata: dict[str, str] | None = None  # passed on to receivers as ``metadata``
    ttl_seconds: int | None = None  # 0-300; how long the message may wait for a recovering receiver


@dataclass(frozen=True, slots=True)
class SendEvent:
    """A user event for the upstream event handler."""

    type: ClassVar[str] = "event"
    event: str
    data: Any
    data_type: str = "json"
    ack_id: int | None = None
    metadata: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class SequenceAck:
    """Reliable protocol: everything up to and including ``sequence_id`` arrived."""

    type: ClassVar[str] = "sequenceAck"
    sequence_id: int


@dataclass(frozen=True, slots=True)
class Ping:
    """Keep-alive; the service answers ``Pong``."""

    type: ClassVar[str] = "ping"


@dataclass(frozen=True, slots=True)
class StreamStart:
    """Open a group stream (on the wire: ``sendToGroup`` with ``stream`` and no data).

    >>> StreamStart(group="lab", stream_id="s1").idle_timeout_ms is None
    True
    """

    type: ClassVar[str] = "sendToGroup"
    group: str
    stream_id: str
    idle_timeout_ms: int | None = None  # None: the service's default, 300000
    no_echo: bool = False


@dataclass(frozen=True, slots=True)
class StreamData:
    """One fragment of a group stream; ``sequence_id`` ``None`` (and no data) is a keepalive."""

    type: ClassVar[str] = "streamData"
    stream_id: str
    sequence_id: int | None = None
    data: Any = None
    data_type: str | None = None


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """End a group stream; with ``error_message``/``user_error_code`` it is aborted (``UserError``)."""

    type: ClassVar[str] = "streamEnd"
    stream_id: str
    error_message: str | None = None
    user_error_code: str | None = None

    @property
    def aborted(self) -> bool:
        """Whether the publisher ended the stream with an error."""
        return self.error_message is not None or self.user_error_code is not None


@dataclass(frozen=True, slots=True)
class Invoke:
    """Call the upstream handler of user event ``event`` and wait for its answer (``invokeResponse``)."""

    type: ClassVar[str] = "invoke"
    invocation_id: str
    event: str
    data: Any = None
    data_type: str | None = None  # None: no payload


@dataclass(frozen=True, slots=True)
class CancelInvocation:
    """The client no longer waits for ``invocation_id``."""

    type: ClassVar[str] = "cancelInvocation"
    invocation_id: str


ClientMessage = (
    JoinGroup
    | LeaveGroup
    | SendToGroup
    | SendEvent
    | SequenceAck
    | Ping
    | StreamStart
    | StreamData
    | StreamEnd
    | Invoke
    | CancelInvocation
)


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
    metadata: dict[str, str] | None = None
    stream: StreamInfo | None = None  # set on the fragments of a group stream


@dataclass(frozen=True, slots=True)
class StreamError:
    """Why a stream ended badly: ``name`` is e.g. ``UserError``, ``IdleTimeout``, ``StreamNotFound``."""

    name: str
    message: str = ""
    user_error_code: str | None = None


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """The ``stream`` of a group message: which stream, which fragment, and whether it is the last."""

    stream_id: str
    sequence_id: int
    end_of_stream: bool = False
    error: StreamError | None = None


@dataclass(frozen=True, slots=True)
class StreamAck:
    """The service accepted every fragment below ``expected`` (``1`` right after the start)."""

    type: ClassVar[str] = "streamAck"
    stream_id: str
    expected: int


@dataclass(frozen=True, slots=True)
class StreamNack:
    """A fragment was refused (``InvalidSequenceId`` or ``TransientError``); resend from ``expected``."""

    type: ClassVar[str] = "streamNack"
    stream_id: str
    expected: int
    name: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The stream is over for the publisher; ``error`` says why when it did not end normally."""

    type: ClassVar[str] = "streamClosed"
    stream_id: str
    error: StreamError | None = None


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


@dataclass(frozen=True, slots=True)
class InvokeResponse:
    """The answer to an ``invoke``: the handler's reply (``data``/``data_type``), or why it failed."""

    type: ClassVar[str] = "invokeResponse"
    invocation_id: str
    success: bool
    data: Any = None
    data_type: str | None = None
    error: AckError | None = None


ServiceMessage = (
    Ack | DataMessage | Connected | Disconnected | Pong | StreamAck | StreamNack | StreamClosed | InvokeResponse
)
