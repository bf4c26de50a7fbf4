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

UNMASKED = "client frames must be masked (RFC 6455 §5.1); this one is not"
LENGTH_TOP_BIT = "the frame's 64-bit payload length has its most significant bit set (RFC 6455 §5.2)"


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
        skip = self._skip
        if skip >= size:  # the common case for large frames: all payload
            self._skip = skip - size
            return None
        carried = len(self._partial)
        if carried:
            data = self._partial + data
            self._partial = b""
            size = len(data)
            position = 0
        else:
            position = skip
        while position < size:
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
                length = int.from_bytes(data[position + 2 : position + 4], "big")
            elif length == 127:
                length = int.from_bytes(data[position + 2 : position + 10], "big")
                if length >> 63:
                    return self._fail(LENGTH_TOP_BIT, position - carried)
            position += header + length
        self._skip = position - size
        return None

    def _fail(self, problem: str, frame_start: int) -> str:
        self.problem = problem
        self.clean = max(0, frame_start)
        return problem
