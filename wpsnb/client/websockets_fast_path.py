"""A fast path inside ``websockets``: every frame queued in one ``send_context()`` leaves in one write.

``websockets`` (its asyncio implementation, 13.0 and later) writes each frame with its own
``transport.write``: a system call per frame. The client queues many small frames at once (a batch
of requests), so joining them is most of the cost of sending. :class:`BatchingConnection` overrides
``Connection.send_data``, a method that is not part of websockets' public API, with a copy of its
body that joins the chunks first.

Because it copies a private method, this is checked, not trusted: :data:`UPSTREAM_CALLS` is what the
upstream method calls, in order, in every version verified (13.0, 15.0, 17.4; ``pyproject.toml`` bounds
websockets below 18), and ``tests/client/test_websockets_fast_path.py`` fails loudly when the installed
websockets no longer matches, so the copy is re-read before it can drift from what it replaces.

Example::

    >>> from websockets.asyncio.client import connect
    >>> ws = await connect(url, create_connection=BatchingConnection)     # doctest: +SKIP
"""

from __future__ import annotations

import ast
import inspect
import textwrap

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.connection import Connection

#: The calls ``websockets.asyncio.connection.Connection.send_data`` makes (debug logging left out),
#: in source order, in the versions :class:`BatchingConnection` was checked against.
UPSTREAM_CALLS = (
    "self.protocol.data_to_send",
    "self.transport.write",
    "self.transport.can_write_eof",
    "self.transport.write_eof",
    "self.transport.close",
)


class BatchingConnection(ClientConnection):
    """A ``ClientConnection`` whose ``send_data`` joins the pending chunks into one ``transport.write``."""

    def send_data(self) -> None:
        pending: list[bytes] = []
        for data in self.protocol.data_to_send():
            if data:
                pending.append(data)
                continue
            if pending:  # an empty chunk means "half-close": write what came before it first
                self.transport.write(b"".join(pending))
                pending = []
            if self.transport.can_write_eof():
                try:
                    self.transport.write_eof()
                except Exception:
                    pass
            else:
                self.transport.close()
        if pending:
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))


def upstream_calls() -> tuple[str, ...]:
    """What the installed websockets' ``Connection.send_data`` calls, in order (debug logging left out).

    >>> upstream_calls() == UPSTREAM_CALLS
    True
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(Connection.send_data)))
    calls: list[str] = []

    class Calls(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if ast.unparse(node.test) != "self.debug":  # skip `if self.debug: self.logger.debug(...)`
                self.generic_visit(node)

        def visit_Call(self, node: ast.Call) -> None:
            calls.append(ast.unparse(node.func))
            self.generic_visit(node)

    Calls().visit(tree)
    return tuple(calls)


__all__ = ["UPSTREAM_CALLS", "BatchingConnection", "upstream_calls"]
