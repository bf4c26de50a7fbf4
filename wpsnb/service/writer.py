"""Per-connection outbound queue: coalesced socket writes, frames shared between connections, a bound.

Writing one WebSocket frame per delivered message spends most of the CPU in the kernel's send
path (docs/send-path.md). Instead every connection queues the frames it is given and writes them
with one ``transport.writelines()`` per event-loop tick. The frames are built here (server-to-client
frames are unmasked and uncompressed). The connection (:mod:`.client_connection`) writes pings,
pongs and close frames straight to the transport, which is safe because the writer only ever hands
the transport whole frames.

Sharing: a queued frame is its header plus references to the message's bytes (shared by every
recipient of a fan-out, see :class:`~wpsnb.protocol.envelope.Envelope`). The transport copies
what it cannot send at once into a buffer of its own. While that buffer is empty, a flush hands it
the whole tick (up to :data:`HANDOFF_EMPTY`) in one system call; once it holds anything, the
writer gives it more only while it is under :data:`HANDOFF` bytes, and the rest stays queued as
references. The writer looks again on the next tick it is given frames, or after a short poll
(2 ms, backing off to 100 ms while nothing drains). A subscriber that stops reading therefore
costs the service one tick's copy once, not one copy of every message.

The bounds: when, at a flush, the bytes earlier flushes left unsent (queued here or in the
transport) pass ``limit``, the writer drops what it holds and calls ``on_overflow`` (the service
aborts that one connection; reliable clients recover and get their unacknowledged messages
replayed). Frames queued within one tick do not count: a burst, or a recovery replay (bounded by
the reliable outbox, possibly larger than ``limit``), is written whole to a client that keeps up.
Every writer also reports what it holds to the service's :class:`~.outbound_budget.OutboundBudget`,
which closes the largest holders when the sum over all connections passes its limit.

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .outbound_budget import OutboundBudget

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
DEFAULT_LIMIT = 8 * 1024 * 1024
HANDOFF = 64 * 1024  # bytes the transport may buffer (copies) before the writer keeps frames itself
# What one flush may give a transport whose buffer is empty: a tick's frames in one system call. A reader
# that stopped costs this copy at most once; from then on its buffer is not empty and HANDOFF applies.
HANDOFF_EMPTY = 1024 * 1024
POLL_FIRST = 0.002  # seconds until a writer holding frames looks at its transport again
POLL_MAX = 0.1
_SEPARATE_WRITES = 64 * 1024  # a frame this large is written piece by piece, not joined (a copy) first
_CUT_EVERY = 16 * 1024  # payload bytes between two remembered frame boundaries (hand-off without a per-frame walk)
_EMPTY = b""

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
    """Queues frames for one WebSocket and flushes them once per event-loop tick.

    The queue holds three entries per frame — header, then the payload in two pieces (the second
    often empty) — so frames can be handed to the transport whole without parsing anything.
    """

    __slots__ = (
        "_transport",
        "_loop",
        "_queue",
        "_queued_bytes",
        "_queued_frames",
        "_scheduled",
        "_held",
        "_poll",
        "_poll_delay",
        "_last_buffered",
        "_reported",
        "_budget",
        "_cuts",
        "_next_cut",
        "draining",
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
        on_overflow: Callable[[str], None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        budget: OutboundBudget | None = None,
    ):
        self._transport = transport
        self._loop = loop or asyncio.get_running_loop()
        self._queue: list[bytes] = []
        self._queued_bytes = 0
        self._queued_frames = 0
        self._scheduled = False
        self._held = 0  # payload bytes still queued after the last flush (they count towards the bounds)
        self._poll: asyncio.TimerHandle | None = None
        self._poll_delay = POLL_FIRST
        self._last_buffered = 0
        self._reported = 0  # what the budget was last told this writer holds
        self._budget = budget
        # (queue index, payload bytes before it) at a frame boundary every _CUT_EVERY bytes, so a hand-off
        # of a large tick walks chunks, not frames (a burst to a subscriber is thousands of frames).
        self._cuts: list[tuple[int, int]] | None = None  # created by the first cut: most writers never need one
        self._next_cut = _CUT_EVERY
        self.draining = True  # False while the transport's buffer does not shrink between two looks
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
        queue.append(_EMPTY)
        queued = self._queued_bytes + length
        self._queued_bytes = queued
        self._queued_frames += 1
        if queued >= self._next_cut:
            self._cut(queued)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def send_text_pieces(self, head: bytes, tail: bytes) -> None:
        """Queue one text frame whose payload is ``head + tail``, without joining them.

        A fan-out sends each recipient the message's shared bytes (``head``) and a few bytes of its
        own or of its protocol (``tail``: the reliable sequenceId, or the plain frame's closing brace).
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
        queued = self._queued_bytes + length
        self._queued_bytes = queued
        self._queued_frames += 1
        if queued >= self._next_cut:
            self._cut(queued)
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
        queue.append(_EMPTY)
        queued = self._queued_bytes + length
        self._queued_bytes = queued
        self._queued_frames += 1
        if queued >= self._next_cut:
            self._cut(queued)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Hand queued frames to the transport (normally called by the loop)."""
        self._scheduled = False
        if self.closed:
            return
        transport = self._transport
        if transport.is_closing():
            self._drop()
            return
        buffered = transport.get_write_buffer_size()
        queue = self._queue
        if not queue:
            if self._reported:
                self._settle(buffered)
            return
        if buffered + self._held > self.limit:
            self._overflow(f"its send backlog passed {self.limit} bytes: the client is not reading")
            return
        if not buffered and not self._held and self._queued_bytes <= HANDOFF_EMPTY:
            # The common case, as cheap as it gets: everything in one writelines (one system call).
            self.frames_sent += self._queued_frames
            self.bytes_sent += self._queued_bytes
            self._queue = []
            self._queued_bytes = 0
            self._queued_frames = 0
            self._next_cut = _CUT_EVERY
            if self._cuts:
                self._cuts.clear()
            transport.writelines(queue)
            return
        self._hand_off(buffered)

    def _cut(self, queued: int) -> None:
        """Remember that a frame ends here (``queued`` payload bytes from the queue's start)."""
        if self._cuts is None:
            self._cuts = []
        self._cuts.append((len(self._queue), queued))
        self._next_cut = queued + _CUT_EVERY

    def _hand_off(self, buffered: int) -> None:
        """Give the transport whole frames while its own buffer is small; keep the rest as references."""
        transport, queue, budget, cuts = self._transport, self._queue, self._budget, self._cuts or []
        count, index, done = len(queue), 0, 0  # done: payload bytes of queue[:index]
        cut, cut_count = 0, len(cuts)
        while index < count and buffered < HANDOFF:
            start, first = index, done
            room = HANDOFF_EMPTY if not buffered else HANDOFF - buffered
            # Whole chunks between remembered boundaries while they fit: every frame in them fits too.
            while cut < cut_count and cuts[cut][1] - first <= room:
                index, done = cuts[cut]
                cut += 1
            if index == start:  # the next chunk does not fit: frame by frame, up to room
                size = 0
                while index < count:
                    length = len(queue[index + 1]) + len(queue[index + 2])
                    if index > start and size + length > room:
                        break
                    if length > room and budget is not None and budget.over:
                        break  # a large copy while the service is over budget: wait for the budget's verdict
                    size += length
                    index += 3
                if index == start:
                    break
                done += size
                while cut < cut_count and cuts[cut][0] <= index:
                    cut += 1
            size = done - first
            frames = (index - start) // 3
            if frames == 1 and size >= _SEPARATE_WRITES:
                for piece in queue[start:index]:
                    if piece:
                        transport.write(piece)
            else:
                transport.writelines(queue[start:index])
            self.frames_sent += frames
            self.bytes_sent += size
            self._queued_frames -= frames
            self._queued_bytes -= size
            buffered = transport.get_write_buffer_size()
        if index:
            self._queue = queue[index:] if index < count else []
            self._cuts = [(at - index, before - done) for at, before in cuts[cut:]] or None
            self._next_cut -= done
        self._held = self._queued_bytes
        self._settle(buffered)

    def _settle(self, buffered: int) -> None:
        """Report what is still held, and look again later while anything is."""
        self.draining = buffered < self._last_buffered or buffered == 0
        self._last_buffered = buffered
        backlog = buffered + self._held
        if self._budget is not None and (backlog or self._reported):
            self._reported = backlog
            self._budget.update(self, backlog)
        if backlog and self._poll is None:
            delay = self._poll_delay = POLL_FIRST if self.draining else min(self._poll_delay * 2, POLL_MAX)
            self._poll = self._loop.call_later(delay, self._polled)

    def _polled(self) -> None:
        self._poll = None
        if not self._scheduled:
            self.flush()

    @property
    def backlog(self) -> int:
        """Bytes queued here plus bytes the transport has not yet handed to the kernel."""
        return self._queued_bytes + self._transport.get_write_buffer_size()

    def stop(self) -> None:
        """Hand everything queued to the transport, then accept nothing more (before a close frame)."""
        if not self.closed and self._queue and not self._transport.is_closing():
            queue = self._queue
            self.frames_sent += self._queued_frames
            self.bytes_sent += self._queued_bytes
            self._transport.writelines(queue)
        self._drop()

    def discard(self) -> None:
        """Drop what is queued and accept nothing more (the connection is gone)."""
        self._drop()

    def over_budget(self, reason: str) -> None:
        """Called by the service's outbound budget: this connection is one of the largest holders."""
        self._overflow(reason)

    def _drop(self) -> None:
        self._queue = []
        self._queued_bytes = 0
        self._queued_frames = 0
        self._cuts = None
        self._next_cut = _CUT_EVERY
        self._held = 0
        self.closed = True
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        if self._reported and self._budget is not None:
            self._reported = 0
            self._budget.update(self, 0)

    def _overflow(self, reason: str) -> None:
        self._drop()
        if self._on_overflow is not None:
            self._on_overflow(reason)
