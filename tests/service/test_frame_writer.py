"""FrameWriter over a real asyncio socket transport; what it writes is parsed by ``websockets``'
own frame parser (RFC 6455), so the header encoding is checked by code nobody here wrote."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from wpsnb.service.outbound_budget import OVER_BUDGET, OutboundBudget
from wpsnb.service.writer import HANDOFF, HANDOFF_EMPTY, OPCODE_BINARY, OPCODE_TEXT, FrameWriter, frame_header


def parse_frames(stream: bytes) -> list[Frame]:
    """Every frame in ``stream``, as a WebSocket client would read them (server frames are unmasked)."""
    reader = StreamReader()
    reader.feed_data(stream)
    reader.feed_eof()
    frames = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
        else:
            raise AssertionError("the stream ends in the middle of a frame")
    return frames


class RecordingTransport:
    """A real transport, with each ``writelines`` call recorded."""

    def __init__(self, transport: asyncio.Transport):
        self.transport = transport
        self.writelines_calls: list[list[bytes]] = []

    def writelines(self, chunks: Iterable[bytes]) -> None:
        chunks = list(chunks)
        self.writelines_calls.append(chunks)
        self.transport.writelines(chunks)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class SocketPair:
    """Our end is an asyncio transport; the peer is a plain non-blocking socket the test reads (or not)."""

    def __init__(self, transport: RecordingTransport, peer: socket.socket):
        self.transport = transport
        self.peer = peer

    async def received(self, size: int) -> bytes:
        loop = asyncio.get_running_loop()
        data = b""
        while len(data) < size:
            chunk = await asyncio.wait_for(loop.sock_recv(self.peer, size - len(data)), 5)
            assert chunk, "the connection ended early"
            data += chunk
        return data


@pytest.fixture
async def pair() -> AsyncIterator[SocketPair]:
    ours, peer = socket.socketpair()
    # Small kernel buffers so an unread peer backs the transport up quickly.
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    peer.setblocking(False)
    transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, sock=ours)
    yield SocketPair(RecordingTransport(transport), peer)  # type: ignore[arg-type]
    transport.abort()
    peer.close()


async def next_tick() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


# ---- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "header_size"), [(0, 2), (1, 2), (125, 2), (126, 4), (127, 4), (65535, 4), (65536, 10), (70000, 10)]
)
def test_frame_header_uses_the_shortest_length_form(length: int, header_size: int) -> None:
    payload = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    for opcode, expected in ((OPCODE_TEXT, Opcode.TEXT), (OPCODE_BINARY, Opcode.BINARY)):
        header = frame_header(opcode, length)
        assert len(header) == header_size
        (frame,) = parse_frames(header + payload)
        assert (frame.opcode, frame.fin, frame.data) == (expected, True, payload)
        assert not (frame.rsv1 or frame.rsv2 or frame.rsv3)


# ---- coalescing ----------------------------------------------------------------------------------


async def test_many_frames_go_out_in_one_writelines_per_tick(pair: SocketPair) -> None:
    writer = FrameWriter(pair.transport)  # type: ignore[arg-type]
    texts = [f'{{"n":{i}}}'.encode() for i in range(1000)]
    for text in texts:
        writer.send_text(text)
    assert pair.transport.writelines_calls == [], "nothing is written before the loop's next tick"
    await next_tick()
    assert len(pair.transport.writelines_calls) == 1
    writer.send_binary(b"\x00\x01")
    writer.send_text(b"last")
    await next_tick()
    assert len(pair.transport.writelines_calls) == 2
    assert writer.frames_sent == 1002
    size = sum(len(t) + 2 for t in texts) + 4 + 6
    frames = parse_frames(await pair.received(size))
    assert [f.data for f in frames] == [*texts, b"\x00\x01", b"last"]
    assert [f.opcode for f in frames[-2:]] == [Opcode.BINARY, Opcode.TEXT]
    assert writer.bytes_sent == sum(len(t) for t in texts) + 2 + 4


async def test_an_idle_writer_writes_nothing(pair: SocketPair) -> None:
    writer = FrameWriter(pair.transport)  # type: ignore[arg-type]
    writer.flush()
    await next_tick()
    assert pair.transport.writelines_calls == []
    assert writer.backlog == 0


async def test_stop_flushes_what_is_queued_then_refuses_more(pair: SocketPair) -> None:
    writer = FrameWriter(pair.transport)  # type: ignore[arg-type]
    writer.send_text(b"bye")
    writer.stop()
    writer.send_text(b"too late")
    await next_tick()
    assert [f.data for f in parse_frames(await pair.received(5))] == [b"bye"]
    assert len(pair.transport.writelines_calls) == 1


async def test_a_closing_transport_drops_the_queue(pair: SocketPair) -> None:
    writer = FrameWriter(pair.transport)  # type: ignore[arg-type]
    writer.send_text(b"lost")
    pair.transport.close()
    await next_tick()
    assert pair.transport.writelines_calls == []
    assert writer.closed


# ---- the bound -----------------------------------------------------------------------------------


async def test_overflow_callback_when_an_unread_backlog_passes_the_limit(pair: SocketPair) -> None:
    overflows: list[str] = []
    limit = 64 * 1024
    writer = FrameWriter(
        pair.transport,
        limit=limit,  # type: ignore[arg-type]
        on_overflow=overflows.append,
    )
    chunk = b"x" * 8192
    ticks = 0
    while not overflows and ticks < 1000:  # the peer never reads
        writer.send_text(chunk)
        await next_tick()
        ticks += 1
    assert overflows, "the writer never noticed the peer stopped reading"
    assert len(overflows) == 1 and "not reading" in overflows[0]
    assert ticks * len(chunk) > limit, "cut before the backlog reached the limit"
    # The transport never held more than the hand-off size plus one frame: the rest stayed queued.
    assert pair.transport.get_write_buffer_size() <= HANDOFF + len(chunk) + 4
    assert writer.closed
    written = len(pair.transport.writelines_calls)
    writer.send_text(chunk)
    await next_tick()
    assert len(pair.transport.writelines_calls) == written, "nothing more is written after an overflow"
    assert overflows == [overflows[0]], "the callback runs once"


async def test_frames_for_a_peer_that_does_not_read_stay_queued_not_copied(pair: SocketPair) -> None:
    writer = FrameWriter(pair.transport, limit=64 * 1024 * 1024)  # type: ignore[arg-type]
    message = bytes(range(256)) * 1024  # 256 KiB, shared by every send below
    for _ in range(40):  # 10 MiB promised to a peer that does not read
        writer.send_text_pieces(message, b"}")
        await next_tick()
    buffered = pair.transport.get_write_buffer_size()
    assert buffered <= HANDOFF + len(message) + 11, f"the transport copied {buffered} bytes"
    assert writer.backlog > 8 * 1024 * 1024, "the frames are held by the writer"
    # When the peer reads again, every frame arrives whole and in order (the writer polls its transport).
    frames = parse_frames(await pair.received(40 * (len(message) + 1 + 10)))  # 10-byte headers
    assert [f.data for f in frames] == [message + b"}"] * 40
    assert writer.backlog == 0


async def test_many_small_frames_held_over_several_ticks_arrive_whole_and_in_order(pair: SocketPair) -> None:
    """Ticks of thousands of small frames (a fan-out burst) are handed off in chunks between remembered
    frame boundaries; what is held across ticks keeps its boundaries when later ticks add more."""
    writer = FrameWriter(pair.transport, limit=64 * 1024 * 1024)  # type: ignore[arg-type]
    sent: list[bytes] = []
    first_copy = 0
    for tick in range(6):  # about 2.4 MB for a peer that does not read yet
        for n in range(2000):
            frame = f"{tick}:{n}:".encode() + b"x" * (100 + (n * 37) % 200)  # varying sizes
            sent.append(frame)
            if n % 2:
                writer.send_text(frame)
            else:
                writer.send_text_pieces(frame[:-1], frame[-1:])
        await next_tick()
        buffered = pair.transport.get_write_buffer_size()
        # The first tick went whole to the empty transport (one copy); later ticks stay queued.
        first_copy = first_copy or buffered
        assert buffered <= max(first_copy, HANDOFF) + 16 * 1024 + 400, f"the transport copied {buffered} bytes"
    assert first_copy <= HANDOFF_EMPTY
    assert writer.backlog > 1024 * 1024, "the frames are held by the writer"
    total = sum(len(f) + (2 if len(f) < 126 else 4) for f in sent)
    frames = parse_frames(await pair.received(total))
    assert [f.data for f in frames] == sent
    assert writer.frames_sent == len(sent)


async def test_the_service_budget_closes_the_largest_holders_not_a_reader(pair: SocketPair) -> None:
    loop = asyncio.get_running_loop()
    budget = OutboundBudget(1024 * 1024)
    cut: dict[str, str] = {}
    stalled = []
    for name in ("a", "b", "c"):
        ours, peer = socket.socketpair()
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
        stalled.append((transport, peer))
        writer = FrameWriter(
            transport,
            budget=budget,
            on_overflow=lambda reason, name=name: cut.setdefault(name, reason),  # type: ignore[misc]
        )
        stalled[-1] += (writer,)  # type: ignore[assignment]
    reader = FrameWriter(pair.transport, budget=budget, on_overflow=lambda reason: cut.setdefault("reader", reason))  # type: ignore[arg-type]
    message = b"m" * 100_000
    received = 0
    for round_ in range(12):
        for _, _, writer in stalled:  # type: ignore[misc]
            writer.send_text(message)
        if round_ < 3:
            stalled[0][2].send_text(message)  # type: ignore[index]  # "a" is promised the most
        reader.send_text(message)
        await next_tick()
        received += len(await pair.received(len(message) + 10))  # the reader keeps up
    await asyncio.sleep(0.05)
    assert "reader" not in cut
    assert "a" in cut and OVER_BUDGET in cut["a"], cut
    assert len(cut) >= 2 and budget.total <= budget.limit, (cut, budget.total)
    for transport, peer, _ in stalled:  # type: ignore[misc]
        transport.abort()
        peer.close()


async def test_a_burst_larger_than_the_limit_to_a_reading_peer_is_written_whole(pair: SocketPair) -> None:
    """A recovery replay can exceed the limit (the reliable outbox allows 16 MB); it is one tick's
    burst to a client that is keeping up, not a stuck client."""
    overflows: list[None] = []
    writer = FrameWriter(
        pair.transport,
        limit=4096,  # type: ignore[arg-type]
        on_overflow=lambda: overflows.append(None),
    )
    replay = [f"{i:04d}".encode() * 256 for i in range(50)]  # 50 KB
    for frame in replay:
        writer.send_text(frame)
    await next_tick()
    assert overflows == []
    received = parse_frames(await pair.received(sum(len(f) + 4 for f in replay)))
    assert [f.data for f in received] == replay


async def test_a_tick_of_small_frames_reaches_an_empty_transport_in_one_write(pair: SocketPair) -> None:
    """A fan-out burst queues hundreds of kilobytes per subscriber in one tick: while the transport
    holds nothing, they go in one writelines (one system call), not in hand-off-sized pieces."""
    writer = FrameWriter(pair.transport, limit=64 * 1024 * 1024)  # type: ignore[arg-type]
    sent = [f"{n}:".encode() + b"y" * 250 for n in range(2000)]  # about 500 KB
    for frame in sent:
        writer.send_text_pieces(frame[:-1], frame[-1:])
    await next_tick()
    assert len(pair.transport.writelines_calls) == 1
    assert writer.frames_sent == len(sent)
    frames = parse_frames(await pair.received(sum(len(f) + 4 for f in sent)))
    assert [f.data for f in frames] == sent
