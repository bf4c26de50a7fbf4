"""The copied websockets internal: fail loudly as soon as the installed websockets changes its shape."""

from __future__ import annotations

import inspect

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.connection import Connection

from wpsnb.client.websockets_fast_path import UPSTREAM_CALLS, BatchingConnection, upstream_calls


def test_upstream_send_data_still_has_the_shape_the_fast_path_copies() -> None:
    found = upstream_calls()
    assert found == UPSTREAM_CALLS, (
        "websockets' Connection.send_data changed: it now calls "
        f"{found}, the copy in wpsnb/client/websockets_fast_path.py was made from {UPSTREAM_CALLS}. "
        "Re-read the upstream method, update BatchingConnection.send_data and UPSTREAM_CALLS, and the "
        "websockets bound in pyproject.toml / environment.yml."
    )


def test_send_context_still_flushes_through_send_data() -> None:
    # The batch of one send_context() reaches the socket through send_data(): that is where the fast
    # path joins the frames. If websockets stops calling it there, the override silently does nothing.
    assert "self.send_data()" in inspect.getsource(Connection.send_context)
    assert issubclass(BatchingConnection, ClientConnection)
    assert BatchingConnection.send_data is not Connection.send_data


class _Transport:
    def __init__(self, eof: bool) -> None:
        self.writes: list[bytes] = []
        self.eof, self.eof_written, self.closed = eof, False, False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def can_write_eof(self) -> bool:
        return self.eof

    def write_eof(self) -> None:
        self.eof_written = True

    def close(self) -> None:
        self.closed = True


class _Protocol:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def data_to_send(self) -> list[bytes]:
        chunks, self.chunks = self.chunks, []
        return chunks


def _send(chunks: list[bytes], eof: bool = True) -> _Transport:
    connection = BatchingConnection.__new__(BatchingConnection)  # only send_data's two collaborators
    transport = _Transport(eof)
    connection.protocol = _Protocol(chunks)  # type: ignore[assignment]
    connection.transport = transport  # type: ignore[assignment]
    connection.send_data()
    return transport


def test_frames_leave_in_one_write() -> None:
    assert _send([b"a", b"bc", b"d"]).writes == [b"abcd"]
    assert _send([b"only"]).writes == [b"only"]
    assert _send([]).writes == []


def test_half_close_writes_what_came_before_then_eof_or_close() -> None:
    transport = _send([b"a", b"b", b""])
    assert transport.writes == [b"ab"] and transport.eof_written and not transport.closed
    transport = _send([b"a", b""], eof=False)
    assert transport.writes == [b"a"] and transport.closed
