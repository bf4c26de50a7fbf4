"""The load generator's WebSocket: a bare asyncio protocol that only walks frame headers.

A subscriber built on a WebSocket library spends more CPU per frame than the server it measures;
this one does the handshake by hand, counts text/binary frames by reading their headers, and,
when asked, reads a publish timestamp out of each frame (latency) or acknowledges sequenceIds
(the reliable subprotocol closes a connection that leaves 1000 messages unacknowledged). The
first frame after the handshake is the server's greeting (``connected`` on the Web PubSub
subprotocols, ``ready`` from the baseline server) and marks the socket as ready; it is not
counted.

Example::

    tally = Tally(target=1000)
    sockets = [await open_socket(port, "/sub?group=g") for _ in range(10)]
    for s in sockets:
        s.tally = tally
    ...
    await tally.wait(timeout=10)
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from array import array
from collections.abc import Callable
from urllib.parse import urlsplit

STAMP_MARK = ord("@")
STAMP_DIGITS = 19  # time.perf_counter_ns() zero-padded, enough for 300 years of uptime
ACK_EVERY = 50  # sequenceIds a reliable subscriber lets pass between sequenceAcks


class ConnectionLost(RuntimeError):
    """A load-generator socket closed while a measurement still waited for its frames."""


class Tally:
    """Frames counted by many sockets towards one target; optionally their latencies in ns."""

    __slots__ = ("target", "count", "finished_at", "lost", "latencies", "on_progress", "_done")

    def __init__(self, target: int, *, latencies: bool = False, on_progress: Callable[[int], None] | None = None):
        self.target = target
        self.count = 0
        self.finished_at = 0.0
        self.lost = ""
        self.latencies: array[int] | None = array("q") if latencies else None
        self.on_progress = on_progress  # called with the new count (a windowed publisher sends more)
        self._done = asyncio.Event()

    def add(self, frames: int) -> None:
        self.count += frames
        if self.on_progress is not None:
            self.on_progress(self.count)
        if self.count >= self.target and not self.finished_at:
            self.finished_at = time.perf_counter()
            self._done.set()

    def fail(self, why: str) -> None:
        if not self.finished_at:
            self.lost = why
            self._done.set()

    async def wait(self, timeout: float) -> None:
        """Wait until the target is reached; raise if a socket was lost or time ran out."""
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"only {self.count:,} of {self.target:,} frames arrived within {timeout:.0f} s"
            ) from None
        if self.lost:
            raise ConnectionLost(self.lost)


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A final client-to-server frame. The mask key is zero, so the payload goes as it is.

    >>> client_frame(b"hi")
    b'\\x81\\x82\\x00\\x00\\x00\\x00hi'
    """
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    return header + b"\x00\x00\x00\x00" + payload


def stamped_payload(size: int) -> bytes:
    """A ``size``-byte text payload carrying the current ``perf_counter_ns`` after an ``@``."""
    stamp = b"@%019d" % time.perf_counter_ns()
    return stamp + b"x" * (size - len(stamp))


class RawSocket(asyncio.Protocol):
    """One load-generator WebSocket (subscriber or publisher)."""

    def __init__(self, request: bytes, *, ack: bool = False):
        self._request = request
        self._handshaking = True
        self._rest = b""
        self._greeted = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.tally: Tally | None = None
        self.received = 0  # data frames since the greeting (= the last sequenceId on reliable connections)
        self._ack = ack
        self._acked = 0
        self.closed = False
        self.close_reason = ""

    # -- asyncio callbacks --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self._request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionLost(f"closed during the handshake ({exc or 'no error'})"))
        if self.tally is not None:
            how = self.close_reason or (repr(exc) if exc else "the server ended the TCP connection, no close frame")
            self.tally.fail(f"a subscriber's connection closed ({how}) after {self.received} frames")

    def data_received(self, data: bytes) -> None:
        if self._handshaking:
            data = self._handshake(data)
            if not data:
                return
        if self._rest:
            data = self._rest + data
        n = len(data)
        i = 0
        frames = 0
        tally = self.tally
        stamps = tally.latencies if tally is not None else None
        now = time.perf_counter_ns() if stamps is not None else 0
        while n - i >= 2:
            length = data[i + 1] & 0x7F  # server frames are never masked
            if length < 126:
                start = i + 2
            elif length == 126:
                if n - i < 4:
                    break
                length = (data[i + 2] << 8) | data[i + 3]
                start = i + 4
            else:
                if n - i < 10:
                    break
                length = int.from_bytes(data[i + 2 : i + 10], "big")
                start = i + 10
            end = start + length
            if end > n:
                break
            opcode = data[i] & 0x0F
            if opcode == 1 or opcode == 2:
                if self._greeted:
                    frames += 1
                    if stamps is not None:
                        mark = data.find(STAMP_MARK, start, end)
                        if mark >= 0:
                            stamps.append(now - int(data[mark + 1 : mark + 1 + STAMP_DIGITS]))
                else:
                    self._greeted = True
                    self.ready.set_result(None)
            elif opcode == 8:
                code = int.from_bytes(data[start : start + 2], "big") if length >= 2 else 1005
                self.close_reason = f"close frame {code} {data[start + 2 : end].decode('utf-8', 'replace')!r}"
                if tally is not None:
                    tally.fail(f"the server closed a subscriber ({self.close_reason}) after {self.received} frames")
                self.transport.close()  # type: ignore[union-attr]
                return
            i = end
        self._rest = data[i:] if i < n else b""
        if frames:
            self.received += frames
            if tally is not None:
                tally.add(frames)
            if self._ack and self.received - self._acked >= ACK_EVERY:
                self.acknowledge()

    # -- sending --

    def send(self, payload: bytes) -> None:
        """Send one text frame."""
        self.transport.write(client_frame(payload))  # type: ignore[union-attr]

    def send_frames(self, frames: bytes) -> None:
        """Write frames built with :func:`client_frame`, back to back, in one call."""
        self.transport.write(frames)  # type: ignore[union-attr]

    def acknowledge(self) -> None:
        """Acknowledge every sequenceId received so far (reliable subprotocol)."""
        self._acked = self.received
        self.send(b'{"type":"sequenceAck","sequenceId":%d}' % self.received)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(client_frame(b"\x03\xe8", opcode=0x8))
            self.transport.close()

    # -- handshake --

    def _handshake(self, data: bytes) -> bytes:
        self._rest += data
        end = self._rest.find(b"\r\n\r\n")
        if end < 0:
            return b""
        head, data = self._rest[:end], self._rest[end + 4 :]
        self._rest = b""
        self._handshaking = False
        if not head.startswith(b"HTTP/1.1 101"):
            self.ready.set_exception(
                ConnectionLost("the server refused the WebSocket: " + head.split(b"\r\n", 1)[0].decode("latin-1"))
            )
            self.transport.close()  # type: ignore[union-attr]
            return b""
        return data


def upgrade_request(host: str, port: int, target: str, subprotocol: str | None = None) -> bytes:
    """The HTTP request that opens a WebSocket to ``target`` (path and query)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def open_socket(
    url: str, subprotocol: str | None = None, *, ack: bool = False, timeout: float = 30.0
) -> RawSocket:
    """Connect to ``ws://host:port/path?query`` and wait for the server's greeting frame."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = upgrade_request(host, port, target, subprotocol)
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: RawSocket(request, ack=ack), host, port)
    await asyncio.wait_for(protocol.ready, timeout)
    return protocol


async def open_sockets(
    url: str, count: int, subprotocol: str | None = None, *, ack: bool = False, concurrency: int = 100
) -> list[RawSocket]:
    """Open ``count`` sockets, at most ``concurrency`` handshakes at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> RawSocket:
        async with gate:
            return await open_socket(url, subprotocol, ack=ack)

    return list(await asyncio.gather(*(one() for _ in range(count))))
