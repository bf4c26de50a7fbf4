"""Opening a client WebSocket to the service, with every way it can fail said in words.

:func:`open_websocket` opens the socket (subprotocol checked, no proxy for loopback) and, for a
brand-new connection, waits for the service's ``connected`` system message. A failure raises
:class:`~wpsnb.errors.ServiceUnreachable` (nothing answered: retrying may help),
:class:`~wpsnb.errors.ConnectionRejected` (the service said no, with its HTTP status and advice, see
:mod:`wpsnb.client.status_advice`) or :class:`~wpsnb.errors.InvalidSource` (not a WebSocket URL).
:func:`backoff` spaces the attempts of a client that reconnects.

Example::

    >>> ws, connected = await open_websocket(url, RELIABLE_PROTOCOL, frames, expect_connected=True)  # doctest: +SKIP
    >>> connected.connection_id                                                                     # doctest: +SKIP
    'Zx3...'
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from inspect import signature
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI, WebSocketException
from websockets.typing import Subprotocol

from ..errors import ConnectionRejected, InvalidSource, ServiceUnreachable
from ..protocol.limits import MAX_RECEIVE_BYTES
from ..protocol.messages import Connected
from ..protocol.names import is_loopback_host
from ..source import redact_url
from .journal import Journal, decode_frame
from .status_advice import rejected
from .websockets_fast_path import BatchingConnection

# Our own generator: reconnect jitter must not draw from (and so shift) the random module's global
# sequence, which a notebook may have seeded for a reproducible run.
_JITTER = random.Random()

# websockets >= 15 reads proxy settings from the environment; loopback connections never want a proxy.
NO_PROXY: dict[str, Any] = {"proxy": None} if "proxy" in signature(ws_connect).parameters else {}


async def open_websocket(
    url: str, protocol: str, frames: Journal, *, expect_connected: bool, timeout: float = 10.0
) -> tuple[ClientConnection, Connected | None]:
    """Open a WebSocket on ``protocol``; for a new connection also wait for (and journal) ``connected``."""
    host = urlsplit(url).hostname or ""
    try:
        ws = await ws_connect(
            url,
            create_connection=BatchingConnection,
            subprotocols=[Subprotocol(protocol)],
            compression=None,
            max_size=MAX_RECEIVE_BYTES,
            max_queue=256,
            open_timeout=timeout,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
            **(NO_PROXY if is_loopback_host(host) else {}),
        )
    except InvalidStatus as exc:
        response = exc.response
        body = (response.body or b"").decode("utf-8", "replace")
        raise rejected(response.status_code, response.reason_phrase, body, url) from None
    except InvalidURI as exc:
        raise InvalidSource(f"not a usable WebSocket URL: {redact_url(url)} ({exc.msg})") from None
    except InvalidHandshake as exc:
        if isinstance(exc.__cause__, (EOFError, OSError)):  # the TCP connection ended mid-handshake
            raise ServiceUnreachable(
                f"the connection to {redact_url(url)} ended during the handshake", url=redact_url(url)
            ) from None
        raise ConnectionRejected(
            f"the WebSocket handshake with {redact_url(url)} failed: {exc}. Is this a Web PubSub client endpoint?"
        ) from None
    except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
        what = f"no answer within {timeout:g} s" if isinstance(exc, asyncio.TimeoutError) else str(exc)
        raise ServiceUnreachable(
            f"cannot reach {redact_url(url)} ({what}); is the service running? Start "
            "one with wpsnb.LocalService() or `wpsnb serve`",
            url=redact_url(url),
        ) from None
    if ws.subprotocol is None or ws.subprotocol.lower() != protocol.lower():
        await ws.close()
        raise ConnectionRejected(
            f"{redact_url(url)} did not accept the subprotocol {protocol}; is this a Web PubSub client endpoint?"
        )
    if not expect_connected:
        return ws, None
    try:
        raw = await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as exc:
        code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, "no close frame")
        raise ConnectionRejected(
            f"the service closed the new connection ({code} {reason}) before saying 'connected'", close_code=code
        ) from None
    except asyncio.TimeoutError:
        await ws.close()
        raise ServiceUnreachable(
            f"{redact_url(url)} accepted the WebSocket but sent no 'connected' message within {timeout:g} s"
        ) from None
    message, error = decode_frame("received", raw)
    connection_id = message.connection_id if isinstance(message, Connected) else None
    frames.record("received", raw, message, error, connection_id=connection_id)
    if not isinstance(message, Connected):
        await ws.close()
        raise ConnectionRejected(f"expected the 'connected' system message first, got {str(raw)[:200]!r}")
    return ws, message


def backoff(max_delay: float) -> Iterator[float]:
    """Seconds to wait before each attempt: 0, then 0.1 s doubling up to ``max_delay``, with jitter.

    >>> delays = backoff(5.0)
    >>> next(delays), 0.075 <= next(delays) <= 0.1
    (0.0, True)
    """
    yield 0.0
    delay = 0.1
    while True:
        yield delay * _JITTER.uniform(0.75, 1.0)
        delay = min(delay * 2, max_delay)


__all__ = ["NO_PROXY", "backoff", "open_websocket"]
