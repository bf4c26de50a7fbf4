"""The one place the service reaches into aiohttp's private state: taking an upgraded connection over.

aiohttp answers a WebSocket upgrade well (its handshake checks, the 101) but then keeps, for every
connection and for as long as it lives, the request with its headers and URL, the request handler,
its parser, a handler task and the WebSocket response's reader, queue and writer: about 8 KB of a
bare aiohttp WebSocket's ~13 KB. The service reads frames with its own sans-I/O reader instead
(:class:`~wpsnb.protocol.client_frames.ClientFrameReader`, which also fails what aiohttp lets
through: unmasked frames, a 64-bit length with its top bit set), so after the 101 it moves the TCP
connection to its own protocol with :func:`take_over` and lets aiohttp forget it.

What :func:`take_over` relies on: ``request.protocol`` is aiohttp's ``web_protocol.RequestHandler``,
whose ``transport`` attribute is the connection it writes to and closes, whose ``connection_lost()``
takes it out of the server's table of connections, and whose ``_payload_parser`` is the WebSocket
reader it feeds; bytes that came with the upgrade request wait in ``_message_tail`` until ``prepare()``.
Checked with aiohttp 3.9 to 3.14 (:data:`TESTED`; the dependency asks for 3.14.4 for other reasons,
see docs/client.md); ``tests/service/test_aiohttp_internals.py`` fails loudly if these attributes
change shape, and :func:`require_shape` refuses to start a service on an aiohttp that lacks them.

Example::

    tail = pending_upgrade_bytes(request)    # before ws.prepare(request)
    await ws.prepare(request)                # aiohttp writes the 101
    take_over(request, protocol)             # the connection is protocol's now
    return detached()                        # the handler's answer: nothing more to write
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

TESTED = ((3, 9), (3, 14))  # aiohttp minor versions whose internals this module was checked against


def shape_problem() -> str | None:
    """Why the internals this module needs are not there (``None`` if they are).

    >>> shape_problem() is None
    True
    """
    from aiohttp.web_protocol import RequestHandler

    slots = set(getattr(RequestHandler, "__slots__", ())) | set(vars(RequestHandler))
    for name in ("_payload_parser", "_message_tail", "connection_lost"):
        if name not in slots:
            return f"aiohttp {aiohttp.__version__}: RequestHandler has no {name}"
    if "transport" not in set(getattr(RequestHandler.__mro__[1], "__slots__", ())) | slots:
        return f"aiohttp {aiohttp.__version__}: RequestHandler keeps no transport attribute"
    return None


def require_shape() -> None:
    """Raise ``RuntimeError`` with advice if the installed aiohttp cannot be taken over from."""
    problem = shape_problem()
    if problem is not None:
        raise RuntimeError(
            f"{problem}; the wpsnb service was checked with aiohttp {TESTED[0]} to {TESTED[1]}: "
            "install one of those (pip install 'aiohttp>=3.14.4,<3.15')"
        )


def pending_upgrade_bytes(request: web.BaseRequest) -> bytes:
    """Bytes the client sent right after its upgrade request (call before ``prepare()``)."""
    return bytes(getattr(request.protocol, "_message_tail", b"") or b"")


def take_over(request: web.BaseRequest, protocol: asyncio.Protocol) -> asyncio.Transport:
    """Move an upgraded connection (101 written) from aiohttp to ``protocol``; returns its transport.

    aiohttp never writes to, reads for or closes the connection again, and holds nothing of it once
    the handler returns :func:`detached`. ``protocol`` gets ``data_received`` and ``connection_lost``
    from the transport from now on (``connection_made`` is not called: it is made already).
    """
    handler = request.protocol
    transport = request.transport
    assert transport is not None
    transport.set_protocol(protocol)
    handler._payload_parser = None  # type: ignore[attr-defined]  # aiohttp's WebSocket reader: fed no more
    handler._message_tail = b""  # type: ignore[attr-defined]
    handler.transport = None  # neither written to nor closed by aiohttp from now on
    handler.connection_lost(None)  # out of the server's table, its timers cancelled
    return transport  # type: ignore[return-value]


class _Detached(web.StreamResponse):
    """What a handler returns for a connection it took over: aiohttp has nothing to write."""

    async def prepare(self, request: web.BaseRequest) -> None:  # type: ignore[override]
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


def detached() -> web.StreamResponse:
    """The response a handler returns after :func:`take_over` (aiohttp writes nothing for it)."""
    return _Detached()
