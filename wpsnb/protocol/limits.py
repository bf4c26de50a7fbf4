"""The numbers of the protocol in one place: WebSocket close codes and the limits the service enforces.

Every layer (codec, service, REST API, client) reads its limits from here, so a limit is changed once and
the service, its error messages and the client's early checks stay in step.

Example::

    >>> CloseCode.POLICY_VIOLATION, int(CloseCode.POLICY_VIOLATION)
    (<CloseCode.POLICY_VIOLATION: 1008>, 1008)
    >>> MAX_FRAME_BYTES
    1048576
    >>> frame_size_over_limit("x" * 10)
    False
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """The WebSocket close codes (RFC 6455 §7.4.1) that the service and the client use.

    The names are those of ``websockets.frames.CloseCode``.

    >>> CloseCode(1011).name
    'INTERNAL_ERROR'
    """

    NORMAL_CLOSURE = 1000  # a client or the service closing on purpose (REST close, client.close())
    GOING_AWAY = 1001  # the service shutting down, or a browser tab leaving
    PROTOCOL_ERROR = 1002  # a frame RFC 6455 forbids: unmasked, a 64-bit length with its top bit set
    UNSUPPORTED_DATA = 1003  # a binary frame on a JSON subprotocol
    INVALID_DATA = 1007  # invalid JSON, unknown message type, wrong field types
    POLICY_VIOLATION = 1008  # the session cannot continue: failed recovery, reliable backlog overflow
    MESSAGE_TOO_BIG = 1009  # a frame over MAX_FRAME_BYTES
    INTERNAL_ERROR = 1011  # a simple client's user event with no event handler (as the emulator does)
    TRY_AGAIN_LATER = 1013  # the watch page fell too far behind; it reloads


# Close codes with which a client says goodbye for good; any other (or a dropped TCP connection)
# leaves a reliable session waiting for recovery. 1001 (a page unloading, a proxy restarting) stays
# recoverable, as in the emulator.
FINAL_CLIENT_CLOSES = (CloseCode.NORMAL_CLOSURE,)

MAX_FRAME_BYTES = 1024 * 1024  # one WebSocket message; the service closes with 1009 beyond
MAX_BODY_BYTES = MAX_FRAME_BYTES  # one REST message body, like a frame (413 beyond)
MAX_RECEIVE_BYTES = 16 * 1024 * 1024  # what the client accepts in one frame from the service
MAX_CLOSE_REASON_BYTES = 123  # a close frame's payload is 125 bytes, 2 of them the code
MAX_UNACKED_MESSAGES = 1000  # a reliable session's backlog: messages the client has not acknowledged
MAX_UNACKED_BYTES = 16 * 1024 * 1024  # ... and their bytes; beyond either the session ends with 1008
MAX_TTL_SECONDS = 300  # ttlSeconds / messageTtlSeconds: 0 to 300 (docs/group-streams.md, TTL)
MAX_GROUP_LENGTH = 1024  # characters in a group name
MAX_UINT64 = 2**64 - 1  # ackId and sequenceId are unsigned 64-bit integers


def frame_size_over_limit(frame: str) -> bool:
    """Whether a text frame is more than :data:`MAX_FRAME_BYTES` bytes as UTF-8.

    Encodes only when the frame could be over the limit (a character is at most 4 bytes).

    >>> frame_size_over_limit("é" * (MAX_FRAME_BYTES // 2 + 1))
    True
    """
    return len(frame) * 4 > MAX_FRAME_BYTES and len(frame.encode("utf-8")) > MAX_FRAME_BYTES
