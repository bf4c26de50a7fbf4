"""What to do when the service refuses a WebSocket upgrade: its HTTP status, in words, with advice.

Example::

    >>> print(rejected(401, "Unauthorized", "401 Unauthorized: token expired", "ws://127.0.0.1:8080/client/hubs/x"))
    the service refused the connection to ws://127.0.0.1:8080/client/hubs/x: 401 Unauthorized: token expired. The ...
"""

from __future__ import annotations

from ..errors import ConnectionRejected
from ..source import redact_url

STATUS_ADVICE = {
    400: "Check the hub name and the query of the URL.",
    401: "The access token is expired, for another hub or endpoint, or signed with another key. Build the "
    "client from a connection string or a LocalService (wpsnb mints a fresh token for every connection), "
    "or negotiate a new URL.",
    403: "The service does not let this client connect.",
    404: "Check the URL: the client endpoint is /client/hubs/<hub>.",
}


def advice(status: int) -> str:
    """What to check for an HTTP ``status`` refusing the upgrade ("" when there is nothing to add).

    >>> advice(404)
    'Check the URL: the client endpoint is /client/hubs/<hub>.'
    >>> advice(503)
    'The service failed; see its log.'
    """
    return STATUS_ADVICE.get(status, "The service failed; see its log." if status >= 500 else "")


def rejected(status: int, reason_phrase: str, body: str, url: str) -> ConnectionRejected:
    """The :class:`~wpsnb.errors.ConnectionRejected` for an upgrade answered with ``status`` (tokens in ``url``
    hidden); ``body`` is the response body, which says why when the service is Web PubSub."""
    body = body.strip()
    said = body if body.startswith(str(status)) else f"HTTP {status} {reason_phrase}: {body}".strip()
    return ConnectionRejected(
        f"the service refused the connection to {redact_url(url)}: {said}. {advice(status)}".strip(),
        status=status,
        body=body,
    )


def key_mismatch(refusal: ConnectionRejected, endpoint: str) -> ConnectionRejected:
    """The refusal (HTTP 401) of a token wpsnb minted from a connection string: the AccessKey is wrong.

    >>> body = "401 Unauthorized: token signature does not match; get a fresh URL"
    >>> print(key_mismatch(ConnectionRejected("...", status=401, body=body), "http://127.0.0.1:8080"))
    this AccessKey does not match the service at http://127.0.0.1:8080 (HTTP 401: token signature does not \
match); copy the connection string again (the portal's Keys page, or the service's connection_string)
    """
    reason = refusal.body.split(":", 1)[-1].split(";", 1)[0].strip() if refusal.body else ""
    return ConnectionRejected(
        f"this AccessKey does not match the service at {endpoint} (HTTP 401{': ' + reason if reason else ''}); "
        "copy the connection string again (the portal's Keys page, or the service's connection_string)",
        status=refusal.status,
        body=refusal.body,
    )


__all__ = ["STATUS_ADVICE", "advice", "key_mismatch", "rejected"]
