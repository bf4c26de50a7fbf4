"""Per-connection outbound queue: coalesced socket writes with a bound.

Writing one WebSocket frame per delivered message spends most of the CPU in the kernel's send
path (docs/send-path.md). Instead every connection queues the frames it is given and
writes them all with one ``transport.writelines()`` per event-loop tick. The frames are built here
(server-to-client frames are unmasked and uncompressed), so this bypasses aiohttp's own writer;
aiohttp still writes pongs and close frames itself, which is safe because neither side yields
to the event loop in the middle of a frame.

The bound: a subscriber that does not read makes its transport buffer grow. When, at a flush,
the bytes earlier flushes left unsent pass ``limit``, the writer stops writing, drops what it
holds and calls ``on_overflow`` (the service then aborts that one connection; reliable clients
recover and get their unacknowledged messages replayed). Frames queued within one tick do not
count: a burst, or a recovery replay (bounded by the reliable outbox, possibly larger than
``limit``), is written whole to a client that is keeping up. Nobody else waits for a slow
subscriber.

Example (over a real socket pair; in the service the transport is the WebSocket's TCP connection)::

    >>> import asyncio, socket
    >>> async def two_pongs() -> bytes:
    ...     ours, theirs = socket.socketpair()
    ...     transport, _ = await asyncio.get_running_loop().connect_accepted_socket(asyncio.Protocol, ours)
    ...     writer = FrameWriter(transport, limit=8 * 1024 * 1024, on_overflow=transport.abort)
    ...     writer.send_text(b'{"type":"pong"}')
    ...     writer.send_text(b'{"type":"pong"}')  # queued with the first: one write on the next tick
    ...     await asyncio.sleep(0)
    ...     transport.close()
    ...     with theirs:
    ...         return theirs.recv(100)
    >>> asyncio.run(two_pongs())
    b'\\x81\\x0f{"type":"pong"}\\x81\\x0f{"type":"pong"}'
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from struct import Struct

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
DEFAULT_LIMIT = 8 * 1024 * 1024

_LEN16 = Struct("!BBH")
_LEN64 = Struct("!BBQ")


def frame_header(opcode: int, length: int) -> bytes:
    """The header of a final, unmasked server-to-client frame of ``length`` payload bytes.

    >>> frame_header(OPCODE_TEXT, 5)
    b'\\x81\\x05'
    """
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length))
    if length < 65536:
        return _LEN16.pack(first, 126, length)
    return _LEN64.pack(first, 127, length)


_TEXT_HEADERS: dict[int, bytes] = {}
_MEMO_BELOW = 8192  # payload lengths whose text-frame header is memoised (at most this many entries)


def _text_header(length: int) -> bytes:
    header = frame_header(OPCODE_TEXT, length)
    if length < _MEMO_BELOW:
        _TEXT_HEADERS[length] = header
    return header


class FrameWriter:
    """Queues frames for one WebSocket and flushes them once per event-loop tick."""

    __slots__ = (
        "_transport",
        "_loop",
        "_queue",
        "_queued_bytes",
        "_queued_frames",
        "_scheduled",
        "limit",
        "closed",
        "_on_overflow",
        "frames_sent",
        "bytes_sent",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        *,
        limit: int = DEFAULT_LIMIT,
        on_overflow: Callable[[], None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ):
        self._transport = transport
        self._loop = loop or asyncio.get_running_loop()
        self._queue: list[bytes] = []
        self._queued_bytes = 0
        self._queued_frames = 0
        self._scheduled = False
        self.limit = limit
        self.closed = False
        self._on_overflow = on_overflow
        self.frames_sent = 0
        self.bytes_sent = 0

    def send_text(self, payload: bytes) -> None:
        """Queue one text frame (``payload`` is UTF-8 already)."""
        # The fan-out hot path (once per recipient): _enqueue and frame_header inlined, headers memoised.
        if self.closed:
            return
        length = len(payload)
        header = _TEXT_HEADERS.get(length)
        if header is None:
            header = _text_header(length)
        queue = self._queue
        queue.append(header)
        queue.append(payload)
        self._queued_bytes += length
        self._queued_frames += 1
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def send_text_pieces(self, head: bytes, tail: bytes) -> None:
        """Queue one text frame whose payload is ``head + tail``, without joining them.

        The reliable fan-out sends each recipient the message's shared bytes (``head``) and its
        own few bytes (``tail``, the sequenceId): no per-recipient copy of the message.
        """
        if self.closed:
            return
        length = len(head) + len(tail)
        header = _TEXT_HEADERS.get(length)
        if header is None:
            header = _text_header(length)
        queue = self._queue
        queue.append(header)
        queue.append(head)
        queue.append(tail)
        self._queued_bytes += length
        self._queued_frames += 1
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def send_binary(self, payload: bytes) -> None:
        """Queue one binary frame."""
        self._enqueue(OPCODE_BINARY, payload)

    def _enqueue(self, opcode: int, payload: bytes) -> None:
        if self.closed:
            return
        length = len(payload)
        queue = self._queue
        queue.append(frame_header(opcode, length))
        queue.append(payload)
        self._queued_bytes += length
        self._queued_frames += 1
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write everything queued with one system call (normally called by the loop)."""
        self._scheduled = False
        if self.closed or not self._queue:
            return
        transport = self._transport
        if transport.is_closing():
            self._drop()
            return
        if transport.get_write_buffer_size() > self.limit:
            self._overflow()
            return
        queue = self._queue
        self.frames_sent += self._queued_frames
        self.bytes_sent += self._queued_bytes
        self._queue = []
        self._queued_bytes = 0
        self._queued_frames = 0
        transport.writelines(queue)

    @property
    def backlog(self) -> int:
        """Bytes queued here plus bytes the transport has not yet handed to the kernel."""
        return self._queued_bytes + self._transport.get_write_buffer_size()

    def stop(self) -> None:
        """Flush what is queued, then accept nothing more (before a close frame is written)."""
        self.flush()
        self.closed = True

    def _drop(self) -> None:
        self._queue = []
        self._queued_bytes = 0
        self._queued_frames = 0
        self.closed = True

    def _overflow(self) -> None:
        self._drop()
        if self._on_overflow is not None:
            self._on_overflow()
