"""The one place the service reaches into aiohttp's private state: running client bytes past a check.

aiohttp offers no hook between the socket and its WebSocket frame parser, and its parser accepts
unmasked client frames (RFC 6455 §5.1 says fail the connection). After the upgrade, aiohttp's request
handler (``web_protocol.RequestHandler``) feeds every received chunk to ``_payload_parser.feed_data``;
bytes that arrived together with the upgrade request wait in ``_message_tail`` until ``prepare()``.
:func:`guard_client_frames` puts a :class:`~wpsnb.protocol.frame_check.ClientFrameCheck` in front of
that parser; on a violation it fails the WebSocket the way aiohttp fails it on its own protocol errors
(a ``WebSocketError`` on the message queue: ``receive()`` then closes with that code).

Tested with aiohttp 3.9 to 3.14 (:data:`TESTED`); ``tests/service/test_aiohttp_internals.py`` fails
loudly if these attributes change shape. If they are missing at run time the service logs once and
runs without the check rather than failing every connection.

Example::

    tail = pending_upgrade_bytes(request)    # before ws.prepare(request)
    await ws.prepare(request)
    guard_client_frames(request, ws, tail)   # False: the check could not be installed
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import WebSocketError, web

from ..protocol.frame_check import ClientFrameCheck
from ..protocol.limits import CloseCode

log = logging.getLogger("wpsnb.service")

TESTED = ((3, 9), (3, 14))  # aiohttp minor versions whose internals this module was checked against
_REJECTED = (True, b"")  # what aiohttp's own parser returns after a protocol error: eof, no tail
_warned = False


def shape_problem(request: web.BaseRequest | None = None, ws: web.WebSocketResponse | None = None) -> str | None:
    """Why the internals this module needs are not there (``None`` if they are).

    >>> shape_problem() is None
    True
    """
    from aiohttp.web_protocol import RequestHandler

    slots = set(getattr(RequestHandler, "__slots__", ())) | set(vars(RequestHandler))
    for name in ("_payload_parser", "_message_tail"):
        if name not in slots:
            return f"aiohttp {aiohttp.__version__}: RequestHandler has no {name}"
    if request is not None and not hasattr(request.protocol, "_payload_parser"):
        return f"aiohttp {aiohttp.__version__}: the request's protocol has no _payload_parser"
    if ws is not None:
        queue = getattr(ws, "_reader", None)
        if queue is None or not callable(getattr(queue, "set_exception", None)):
            return f"aiohttp {aiohttp.__version__}: WebSocketResponse._reader has no set_exception()"
        parser = getattr(request.protocol, "_payload_parser", None) if request is not None else None
        if request is not None and not callable(getattr(parser, "feed_data", None)):
            return f"aiohttp {aiohttp.__version__}: the WebSocket parser has no feed_data()"
    return None


def pending_upgrade_bytes(request: web.BaseRequest) -> bytes:
    """Bytes the client sent right after its upgrade request (call before ``prepare()``)."""
    return bytes(getattr(request.protocol, "_message_tail", b"") or b"")


class _CheckedParser:
    """Stands where aiohttp's WebSocket parser stood: checks each chunk, then passes it on."""

    __slots__ = ("_inner", "_check", "_queue")

    def __init__(self, inner: Any, check: ClientFrameCheck, queue: Any):
        self._inner = inner
        self._check = check
        self._queue = queue

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        check = self._check
        problem = check.feed(data)
        if problem is None:
            return self._inner.feed_data(data)  # type: ignore[no-any-return]
        if check.clean:  # the frames before the offending one are fine: they still count
            self._inner.feed_data(data[: check.clean])
        self._queue.set_exception(WebSocketError(CloseCode.PROTOCOL_ERROR, problem))
        return _REJECTED

    def feed_eof(self) -> None:
        self._inner.feed_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def guard_client_frames(request: web.BaseRequest, ws: web.WebSocketResponse, tail: bytes) -> str | bool:
    """Check every frame the client sends from now on; ``tail`` is :func:`pending_upgrade_bytes`.

    Returns the problem already found in ``tail`` (the caller closes with 1002), ``True`` once the
    check is in place, ``False`` if aiohttp's internals are not what this module expects.
    """
    global _warned
    problem = shape_problem(request, ws)
    if problem is not None:
        if not _warned:
            _warned = True
            log.warning("%s; client frames are not checked for masking (tested with aiohttp %s)", problem, TESTED)
        return False
    check = ClientFrameCheck()
    early = check.feed(tail) if tail else None
    if early is not None:
        return early
    protocol = request.protocol
    protocol._payload_parser = _CheckedParser(protocol._payload_parser, check, ws._reader)  # type: ignore[attr-defined]
    return True
