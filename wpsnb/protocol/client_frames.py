"""What a client sends after the upgrade: WebSocket frames (RFC 6455 §5) in, messages out.

Sans-I/O: :meth:`ClientFrameReader.feed` takes whatever bytes arrived, split anywhere, and returns
the events they complete — ``(TEXT, str)``, ``(BINARY, bytes)``, ``(PING, bytes)``, ``(PONG, bytes)``,
``(CLOSE, (code, reason))`` — ending with ``(FAILED, (close_code, reason))`` at the first violation.
Events before the violation are good and are executed. After it only the client's close frame
counts (the answer to the service's): the reader keeps walking frame headers, skipping payloads
unbuffered, to find it, so the service can wait for it before closing TCP (closing with unread
bytes would reset the connection and could destroy the close frame before the client reads it).
Where even the frame boundaries are lost (an impossible length), :attr:`ClientFrameReader.lost` is set.

It enforces what a server must (and what the libraries we tried do not all do):
- every client frame is masked (§5.1), no reserved bit is set (no extension is negotiated, §5.2),
  the opcode is known, a 64-bit length has its top bit clear: else 1002;
- control frames are final and at most 125 bytes, a continuation continues something and a new data
  frame does not interrupt a fragmented message (§5.4, §5.5): else 1002;
- a message is at most ``max_message`` bytes, checked from the header before the payload is buffered: else 1009;
- a text message and a close reason are UTF-8 (§8.1): else 1007; a close code is one a peer may send (§7.4): else 1002.

The loop that runs once per frame of a publisher's burst reads the header with one ``unpack_from``.
Unmasking is :meth:`ClientFrameReader.unmask`, pure Python here; the service's subclass uses a C
implementation (python-websockets' ``speedups``), about 7x faster for a small frame.

Example::

    >>> reader = ClientFrameReader(max_message=1 << 20)
    >>> reader.feed(b"\\x81\\x85" + bytes(4) + b"hel")    # a masked text frame, its last bytes still to come
    []
    >>> reader.feed(b"lo\\x89\\x80" + bytes(4))             # ...and an empty ping
    [(1, 'hello'), (9, b'')]
    >>> reader.feed(b"\\x81\\x05hello")
    [(-1, (1002, 'client frames must be masked (RFC 6455 §5.1); this one is not'))]
"""

from __future__ import annotations

from struct import Struct
from typing import Any

from .limits import CloseCode


def xor_unmask(data: bytes | bytearray, mask: bytes | bytearray) -> bytes:
    """``data`` XOR the 4-byte ``mask`` repeated (RFC 6455 §5.3), in pure Python.

    >>> xor_unmask(xor_unmask(b"hello", b"abcd"), b"abcd")
    b'hello'
    """
    size = len(data)
    key = int.from_bytes((bytes(mask) * ((size >> 2) + 1))[:size], "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes(size, "little")


CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
FAILED = -1
NO_STATUS = 1005  # §7.1.5: the close frame had no code

UNMASKED = "client frames must be masked (RFC 6455 §5.1); this one is not"
LENGTH_TOP_BIT = "the frame's 64-bit payload length has its most significant bit set (RFC 6455 §5.2)"
RESERVED_BITS = "a frame has reserved bits set, but no extension was negotiated (RFC 6455 §5.2)"
BAD_UTF8 = "a text message is not valid UTF-8 (RFC 6455 §8.1)"

_U16 = Struct("!H").unpack_from
_U64 = Struct("!Q").unpack_from
_HEADER_OF_SHORT = 6  # 2 bytes, then the 4-byte mask

Event = tuple[int, Any]


def close_code_problem(code: int) -> str | None:
    """Why a peer may not send close ``code`` (RFC 6455 §7.4), or ``None``.

    >>> close_code_problem(1000) is None, close_code_problem(4000) is None
    (True, True)
    >>> close_code_problem(1006)
    'close code 1006 is reserved and may not be sent (RFC 6455 §7.4)'
    """
    if 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999:
        return None
    return f"close code {code} is reserved and may not be sent (RFC 6455 §7.4)"


class ClientFrameReader:
    """Reassembles the messages of one client's byte stream and reports the first violation."""

    unmask = staticmethod(xor_unmask)  # a subclass may bring a faster one

    __slots__ = ("_max", "_buffer", "_fragments", "_fragments_opcode", "_fragments_size", "_skip", "failed", "lost")

    def __init__(self, max_message: int):
        self._max = max_message
        self._buffer: bytearray | None = None  # the start of a frame not yet whole
        self._fragments: list[bytes] | None = None  # the payloads of a message sent in several frames
        self._fragments_opcode = 0
        self._fragments_size = 0
        self._skip = 0  # after a violation: payload bytes of the current frame still to skip
        self.failed = False  # a violation was found: only a close frame is looked for
        self.lost = False  # ...and none can be found or is coming (lost frame boundaries, a bad close)

    def feed(self, data: bytes) -> list[Event]:
        """The events ``data`` completes (after a failure: at most the client's close)."""
        if self.failed:
            return self._close_after_failure(data, 0)
        buffer = self._buffer
        if buffer is not None:
            buffer += data
            data = buffer  # type: ignore[assignment]
        events: list[Event] = []
        size = len(data)
        position = 0
        while size - position >= 2:
            first = data[position]
            second = data[position + 1]
            if second < 0x80:
                return self._fail(events, CloseCode.PROTOCOL_ERROR, UNMASKED, data, position)
            length = second - 0x80
            header = _HEADER_OF_SHORT
            if length >= 126:
                if length == 126:
                    header = 8
                    if size - position < 4:
                        break
                    length = _U16(data, position + 2)[0]
                else:
                    header = 14
                    if size - position < 10:
                        break
                    length = _U64(data, position + 2)[0]
                    if length >> 63:
                        self.lost = True
                        return self._fail(events, CloseCode.PROTOCOL_ERROR, LENGTH_TOP_BIT, data, size)
            if first != 0x81 or self._fragments is not None or length > self._max:  # not a whole text frame
                problem = self._header_problem(first, length)
                if problem is not None:
                    return self._fail(events, *problem, data, position)
            end = position + header + length
            if end > size:
                break
            start = position + header
            payload = self.unmask(data[start:end], data[start - 4 : start]) if length else b""
            position = end
            if first == 0x81:  # the common frame: a final text frame, no fragments pending
                try:
                    events.append((TEXT, payload.decode("utf-8")))
                except UnicodeDecodeError:
                    return self._fail(events, CloseCode.INVALID_DATA, BAD_UTF8, data, position)
                continue
            event = self._frame(first, payload)
            if event is not None:
                if event[0] == FAILED:
                    if first & 0x0F == CLOSE:  # the client's close itself was bad: no other is coming
                        self.lost = True
                    return self._fail(events, *event[1], data, position)
                events.append(event)
        if position < size:
            if buffer is None:
                self._buffer = bytearray(data[position:])
            else:
                del buffer[:position]
        else:
            self._buffer = None
        return events

    def _header_problem(self, first: int, length: int) -> tuple[int, str] | None:
        """What the header alone rules out: checked before any of the payload is waited for.

        In python-websockets' order (a frame with two faults gets the same close code from both).
        """
        opcode = first & 0x0F
        if BINARY < opcode < CLOSE or opcode > PONG:
            return CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode:#x} (RFC 6455 §5.2)"
        if length + (self._fragments_size if opcode == CONTINUATION else 0) > self._max:
            return CloseCode.MESSAGE_TOO_BIG, f"a message is over the {self._max}-byte limit"
        if first & 0x70:
            return CloseCode.PROTOCOL_ERROR, RESERVED_BITS
        if opcode >= CLOSE:
            if not first & 0x80:
                return CloseCode.PROTOCOL_ERROR, "a control frame may not be fragmented (RFC 6455 §5.5)"
            if length > 125:
                return CloseCode.PROTOCOL_ERROR, "a control frame carries at most 125 bytes (RFC 6455 §5.5)"
        elif opcode == CONTINUATION:
            if self._fragments is None:
                return CloseCode.PROTOCOL_ERROR, "a continuation frame continues no message (RFC 6455 §5.4)"
        elif self._fragments is not None:
            return CloseCode.PROTOCOL_ERROR, "a new message began inside a fragmented one (RFC 6455 §5.4)"
        return None

    def _frame(self, first: int, payload: bytes) -> Event | None:
        """Any frame but a final text frame outside a fragmented message (the header is checked)."""
        opcode = first & 0x0F
        final = first & 0x80
        if opcode >= CLOSE:
            if opcode == CLOSE:
                return _close_event(payload)
            return opcode, payload
        if opcode != CONTINUATION:
            if final:
                return _message(opcode, payload)
            self._fragments, self._fragments_opcode, self._fragments_size = [payload], opcode, len(payload)
            return None
        fragments = self._fragments
        assert fragments is not None  # _header_problem refused a stray continuation
        fragments.append(payload)
        self._fragments_size += len(payload)
        if not final:
            return None
        self._fragments = None
        return _message(self._fragments_opcode, b"".join(fragments))

    def _fail(self, events: list[Event], code: int, reason: str, data: bytes | bytearray, resume: int) -> list[Event]:
        """Report a violation; frames from ``data[resume:]`` on (the next frame's start) are walked for a close."""
        events.append((FAILED, (int(code), reason)))
        self.failed = True
        self._buffer = self._fragments = None
        if not self.lost:
            events += self._close_after_failure(data, resume)
        return events

    def _close_after_failure(self, data: bytes | bytearray, position: int) -> list[Event]:
        """Walk frame headers from ``position``, payloads skipped by counting, until a close frame."""
        if self.lost:
            return []
        if self._buffer is not None:
            data, position = self._buffer + data[position:], 0
            self._buffer = None
        size = len(data)
        position += self._skip
        if position >= size:  # still inside a payload being skipped
            self._skip = position - size
            return []
        self._skip = 0
        while size - position >= 2:
            first, second = data[position], data[position + 1]
            length = second & 0x7F
            header = 6 if second & 0x80 else 2
            if length == 126:
                header += 2
                if size - position < 4:
                    break
                length = _U16(data, position + 2)[0]
            elif length == 127:
                header += 8
                if size - position < 10:
                    break
                length = _U64(data, position + 2)[0]
                if length >> 63:
                    self.lost = True
                    return []
            end = position + header + length
            if first & 0x0F == CLOSE and length <= 125:
                if end > size:
                    break
                payload = data[position + header : end]
                if second & 0x80:
                    payload = self.unmask(payload, data[position + header - 4 : position + header])
                event = _close_event(bytes(payload))
                return [event if event[0] == CLOSE else (CLOSE, (NO_STATUS, ""))]
            if end > size:
                self._skip = end - size
                return []
            position = end
        if position < size:
            self._buffer = bytearray(data[position:])
        return []


def _message(opcode: int, payload: bytes) -> Event:
    if opcode == BINARY:
        return BINARY, payload
    try:
        return TEXT, payload.decode("utf-8")
    except UnicodeDecodeError:
        return FAILED, (int(CloseCode.INVALID_DATA), BAD_UTF8)


def _close_event(payload: bytes) -> Event:
    if not payload:
        return CLOSE, (NO_STATUS, "")
    if len(payload) == 1:
        return FAILED, (int(CloseCode.PROTOCOL_ERROR), "a close frame's payload is 1 byte: no room for its code")
    code = _U16(payload)[0]
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        return FAILED, (int(CloseCode.INVALID_DATA), "a close frame's reason is not valid UTF-8 (RFC 6455 §8.1)")
    problem = close_code_problem(code)
    if problem is not None:
        return FAILED, (int(CloseCode.PROTOCOL_ERROR), problem)
    return CLOSE, (code, reason)
