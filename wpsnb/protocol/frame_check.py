"""Checks on the frame headers of a client's byte stream that the WebSocket library does not make.

RFC 6455 §5.1: a server must fail the connection (1002) when a client frame is not masked; §5.2: the
most significant bit of a 64-bit payload length must be 0. aiohttp executes unmasked frames and treats
a huge length as "too big" (1009), so the service runs every byte it receives through
:class:`ClientFrameCheck` first. The check reads only headers and skips payloads by counting, so it
costs a few operations per frame, whatever the frames' size. Sans-I/O: bytes in, a problem (or
``None``) out; a stream may be fed in pieces split anywhere.

Example::

    >>> check = ClientFrameCheck()
    >>> check.feed(b"\\x81\\x85" + b"mask" + b"hello") is None      # masked text frame "hello"
    True
    >>> check.feed(b"\\x81\\x05hello")
    'client frames must be masked (RFC 6455 §5.1); this one is not'
"""

from __future__ import annotations

from struct import Struct

UNMASKED = "client frames must be masked (RFC 6455 §5.1); this one is not"
LENGTH_TOP_BIT = "the frame's 64-bit payload length has its most significant bit set (RFC 6455 §5.2)"
_U16 = Struct("!H").unpack_from
_U64 = Struct("!Q").unpack_from


class ClientFrameCheck:
    """Follows frame boundaries in a client-to-server byte stream and reports the first violation."""

    __slots__ = ("_skip", "_partial", "problem", "clean")

    def __init__(self) -> None:
        self._skip = 0  # payload bytes of the current frame still to come
        self._partial = b""  # the start of a header split across two feeds
        self.problem: str | None = None
        self.clean = 0  # after a problem: how many bytes of the last chunk came before the offending frame

    def feed(self, data: bytes) -> str | None:
        """Take the next bytes of the stream; the first problem found (sticky), or ``None``."""
        if self.problem is not None:
            self.clean = 0
            return self.problem
        size = len(data)
        position = self._skip
        if position >= size:  # the common case for large frames: all payload
            self._skip = position - size
            return None
        carried = len(self._partial)
        if carried:
            data = self._partial + data
            self._partial = b""
            size = len(data)
            position = 0
        # Where a header (at most 14 bytes) starts this far from the end it is whole: the loop that runs
        # once per frame of a publisher's burst needs no bounds checks. It is the service's hot read path.
        whole = size - 14
        while position < whole:
            second = data[position + 1]
            if second < 0x80:
                return self._fail(UNMASKED, position - carried)
            if second < 0xFE:  # a 7-bit length: 2 header bytes, 4 of mask, (second - 0x80) of payload
                position += second - 0x7A
            elif second == 0xFE:
                position += 8 + _U16(data, position + 2)[0]
            else:
                length = _U64(data, position + 2)[0]
                if length >> 63:
                    return self._fail(LENGTH_TOP_BIT, position - carried)
                position += 14 + length
        while position < size:  # the last frames of the chunk: a header may be cut
            if size - position < 2:
                self._partial = data[position:]
                self._skip = 0
                return None
            second = data[position + 1]
            if not second & 0x80:
                return self._fail(UNMASKED, position - carried)
            length = second & 0x7F
            header = 6 if length < 126 else 8 if length == 126 else 14
            if size - position < header:
                self._partial = data[position:]
                self._skip = 0
                return None
            if length == 126:
                length = _U16(data, position + 2)[0]
            elif length == 127:
                length = _U64(data, position + 2)[0]
                if length >> 63:
                    return self._fail(LENGTH_TOP_BIT, position - carried)
            position += header + length
        self._skip = position - size
        return None

    def _fail(self, problem: str, frame_start: int) -> str:
        self.problem = problem
        self.clean = max(0, frame_start)
        return problem
