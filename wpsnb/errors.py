"""The errors wpsnb raises: one base class, :class:`WebPubSubError`, with a ``.name``.

``.name`` is the service's own error name when the service said no (``"Forbidden"``,
``"InternalServerError"``, ``"Unauthorized"``) and wpsnb's name for the situation otherwise
(``"ServiceUnreachable"``, ``"Timeout"``, ...). Every message says what happened and what to do.

Example::

    >>> try:
    ...     client.send_to_group("ops", "hi")                      # doctest: +SKIP
    ... except WebPubSubError as error:
    ...     print(error.name)
    Forbidden
"""

from __future__ import annotations

import os
import sys
import traceback
from http import HTTPStatus
from typing import Any


class WebPubSubError(Exception):
    """Base of every wpsnb error. ``name`` names the failure; ``str(error)`` says what to do.

    >>> WebPubSubError("no", name="Forbidden").name
    'Forbidden'
    """

    name: str = "WebPubSubError"

    def __init__(self, message: str, *, name: str | None = None):
        super().__init__(message)
        if name is not None:
            self.name = name

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of the traceback: the message is what the user can act on, and the
        # frames are wpsnb's own (client, loop, futures). WPSNB_DEBUG=1 or wpsnb.full_traceback() shows them.
        if os.environ.get("WPSNB_DEBUG"):
            return traceback.format_exception(type(self), self, self.__traceback__)
        text = " ".join(str(self).split())
        line = text if text.startswith(self.name) else f"{self.name}: {text}"
        return [line, "(wpsnb.full_traceback() shows where it was raised)"]


def full_traceback(error: BaseException | None = None) -> None:
    """Print the full traceback of ``error`` (default: the last one a notebook cell raised).

    >>> try:
    ...     raise WebPubSubError("no", name="Forbidden")
    ... except WebPubSubError as error:
    ...     full_traceback(error)   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wpsnb.errors.WebPubSubError: no
    """
    error = error if error is not None else getattr(sys, "last_value", None)
    if error is None:
        print("no error to show: nothing has been raised in this session yet")
        return
    print("".join(traceback.format_exception(type(error), error, error.__traceback__)), end="")


class InvalidSource(WebPubSubError, ValueError):
    """The ``source`` (connection string, URL, service object) or a negotiate argument is unusable.

    >>> InvalidSource("connection string has no Endpoint").name
    'InvalidSource'
    """

    name = "InvalidSource"


class NegotiateFailed(WebPubSubError):
    """A ``/negotiate`` endpoint answered, but not with ``{"url": "ws://..."}``.

    ``status`` is the HTTP status (``None`` when the answer was 200 but unusable), ``url`` the endpoint.
    """

    name = "NegotiateFailed"

    def __init__(self, message: str, *, url: str, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class ServiceUnreachable(WebPubSubError, ConnectionError):
    """Nothing answered at the address (connection refused, unknown host, no answer in time).

    >>> ServiceUnreachable("cannot reach ws://127.0.0.1:1", url="ws://127.0.0.1:1").url
    'ws://127.0.0.1:1'
    """

    name = "ServiceUnreachable"

    def __init__(self, message: str, *, url: str | None = None):
        super().__init__(message)
        self.url = url


class ConnectionRejected(WebPubSubError):
    """The service refused the WebSocket: an HTTP status instead of the upgrade, or a close at once.

    ``status`` is the HTTP status (e.g. 401) or ``None``; ``body`` is what the service said; ``.name`` is
    the status phrase without spaces (``"Unauthorized"``, ``"BadRequest"``).

    >>> ConnectionRejected("token expired", status=401, body="401 Unauthorized: expired").name
    'Unauthorized'
    """

    name = "ConnectionRejected"

    def __init__(self, message: str, *, status: int | None = None, body: str = "", close_code: int | None = None):
        super().__init__(message, name=_status_name(status))
        self.status = status
        self.body = body
        self.close_code = close_code


class RequestFailed(WebPubSubError):
    """The service answered a request with ``success: false``; ``name`` is its ``error.name``.

    ``service_message`` is the service's ``error.message``; ``ack_id`` and ``request`` say which request.
    """

    name = "RequestFailed"

    def __init__(
        self, message: str, *, name: str, service_message: str = "", ack_id: int | None = None, request: Any = None
    ):
        super().__init__(message, name=name)
        self.service_message = service_message
        self.ack_id = ack_id
        self.request = request


class Forbidden(RequestFailed):
    """The connection lacks a role for this request (the message names the role to grant)."""

    name = "Forbidden"


class AckTimeout(WebPubSubError, TimeoutError):
    """No answer (ack) arrived in time. The request may still be delivered later."""

    name = "Timeout"


class NotConnected(WebPubSubError):
    """The client is not connected: ``connect()`` was not called, or the client was closed."""

    name = "NotConnected"


class RecoveryFailed(WebPubSubError):
    """A dropped connection could not be recovered nor replaced (``auto_reconnect=False`` or a fatal error)."""

    name = "RecoveryFailed"


class BufferFull(WebPubSubError):
    """Too many requests are waiting to be sent or acknowledged; the client refuses more for now."""

    name = "BufferFull"


class WrongThread(WebPubSubError, RuntimeError):
    """A blocking call was made from the client's own event-loop thread (e.g. inside a callback)."""

    name = "WrongThread"


def _status_name(status: int | None) -> str | None:
    if status is None:
        return None
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return f"HTTP{status}"


__all__ = [
    "AckTimeout",
    "BufferFull",
    "ConnectionRejected",
    "Forbidden",
    "InvalidSource",
    "NegotiateFailed",
    "NotConnected",
    "RecoveryFailed",
    "RequestFailed",
    "ServiceUnreachable",
    "WebPubSubError",
    "WrongThread",
]
