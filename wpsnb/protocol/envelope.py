"""A data message serialised once for every recipient of a fan-out: the service's send path.

The service builds one :class:`Envelope` per message and splices each reliable recipient's
``sequenceId`` into its pre-encoded bytes, so a message sent to many connections is encoded once.

Example::

    >>> Envelope.build("group", "text", "hi", group="lab").frame(None)
    b'{"type":"message","from":"group","group":"lab","dataType":"text","data":"hi"}'
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .messages import BYTES_TYPES, payload_error

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_encode_string = json.encoder.encode_basestring  # what _dumps does for a str, without its call overhead


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
    >>> e.tail(7), e.tail(8), e.tail(7)  # the last one built is remembered (a group's members share it)
    (b',"sequenceId":7}', b',"sequenceId":8}', b',"sequenceId":7}')
    >>> e.raw, e.raw_is_binary
    (b'{"a":1}', False)
    """

    __slots__ = ("prefix", "raw", "raw_is_binary", "data_type", "size", "expires_at", "_tail_for", "_tail")

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
        # The last tail built: members of a group usually stand at the same sequenceId, so a fan-out
        # builds one tail per message rather than one per recipient.
        self._tail_for = 0
        self._tail = b""

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
        if sequence_id == self._tail_for:
            return self._tail
        tail = self._tail = b',"sequenceId":%d}' % sequence_id
        self._tail_for = sequence_id
        return tail


__all__ = ["Envelope"]
