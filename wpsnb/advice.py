"""What a connection error means for the user, in one line and in the words of the surface they use.

The client's errors say what happened; what to *do* depends on where the user is: in a terminal the
fix is a command-line option or ``wpsnb serve``, in a notebook a Python call. And some causes are
certain only once the source is known: a token wpsnb minted from a connection string that the service
refuses with HTTP 401 can only mean that the AccessKey is not the service's.

Example::

    >>> from wpsnb.errors import ConnectionRejected
    >>> error = ConnectionRejected("the service refused the connection: HTTP 401 Unauthorized", status=401)
    >>> print(explain(error, "connection_string", "cli", where="http://127.0.0.1:8080"))
    this AccessKey does not match the service at http://127.0.0.1:8080 (HTTP 401); copy its connection string \
again (the portal's Keys page, or what `wpsnb serve` printed)
"""

from __future__ import annotations

from typing import Literal

from .errors import ConnectionRejected, ServiceUnreachable

Surface = Literal["cli", "notebook"]
_UNREACHABLE_ADVICE = {
    "cli": "is the service running? `wpsnb serve` starts one locally (then pass the connection string it prints)",
    "notebook": "is the service running? wpsnb.LocalService() starts one in this kernel",
}
_KEY_ADVICE = {
    "cli": "copy its connection string again (the portal's Keys page, or what `wpsnb serve` printed)",
    "notebook": "copy its connection string again from the portal's Keys page (or use service.connection_string)",
}


def explain(error: BaseException, source_kind: str | None, surface: Surface, *, where: str = "") -> str:
    """One line saying what ``error`` means and what to do, for a source of ``source_kind``.

    ``source_kind``: :attr:`wpsnb.source.Source.kind` (``connection_string``, ``service``,
    ``negotiate_url``, ``client_url``) or ``None``; ``where``: the service as it may be shown (no secret).

    >>> print(explain(ServiceUnreachable("cannot reach ws://h:1/client/hubs/x (refused); is the service "
    ...                                  "running? Start one with wpsnb.LocalService()"), None, "cli"))
    ServiceUnreachable: cannot reach ws://h:1/client/hubs/x (refused); is the service running? `wpsnb serve` \
starts one locally (then pass the connection string it prints)
    """
    status = getattr(error, "status", None)
    at = f" at {where}" if where else ""
    if isinstance(error, ConnectionRejected) and status == 401:
        if source_kind in ("connection_string", "service"):
            return f"this AccessKey does not match the service{at} (HTTP 401); {_KEY_ADVICE[surface]}"
        if source_kind == "negotiate_url":
            return (
                f"the service{at} refused the token that {where or 'the /negotiate endpoint'} handed out (HTTP "
                "401): the /negotiate server signs with another AccessKey, for another hub or endpoint"
            )
        if source_kind == "client_url":
            return (
                "the service refused this client URL's token (HTTP 401): it expired or is for another hub or "
                "key; negotiate a new URL"
            )
    if isinstance(error, ServiceUnreachable):
        said = one_line(error)
        said = said.split("; is the service running?", 1)[0]
        return f"{said}; {_UNREACHABLE_ADVICE[surface]}"
    return one_line(error)


def one_line(error: BaseException) -> str:
    """``Name: message`` on one line (the name once, whitespace collapsed).

    >>> one_line(ValueError("bad\\n  value"))
    'ValueError: bad value'
    """
    name = getattr(error, "name", None) or type(error).__name__
    text = " ".join(str(error).split())
    return text if text.startswith(name) else f"{name}: {text}"


__all__ = ["Surface", "explain", "one_line"]
