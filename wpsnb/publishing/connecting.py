"""Connecting a publisher's client, softly: a cell must not fail because the service is away.

:func:`connect_softly` tries once; if the service cannot be reached it returns the error instead of
raising, and (unless the error cannot get better by retrying: a refused token, HTTP 4xx) keeps trying
in a background thread, 1 s then doubling up to 30 s, until it connects or ``stopped()`` says so.

Example::

    >>> error = connect_softly(client, 5.0, on_connected=publisher_ready, stopped=lambda: False,   # doctest: +SKIP
    ...                        name="wpsnb-connect-train")
    >>> error is None                                                                           # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import InvalidSource, WebPubSubError

log = logging.getLogger("wpsnb.publishing")

# What connect() raises when the service cannot be reached or refuses.
CONNECT_ERRORS = (WebPubSubError, OSError, TimeoutError)


def connect_softly(
    client: Any, timeout: float, *, on_connected: Callable[[], None], stopped: Callable[[], bool], name: str
) -> BaseException | None:
    """Connect ``client``; on success call ``on_connected()`` and return ``None``, else return the error
    (and retry in a thread named ``name``, calling ``on_connected()`` once it works)."""
    try:
        client.connect(timeout=timeout)
    except CONNECT_ERRORS as exc:
        if worth_retrying(exc):
            threading.Thread(
                target=_keep_connecting, args=(client, timeout, on_connected, stopped), name=name, daemon=True
            ).start()
        return exc
    on_connected()
    return None


def worth_retrying(error: BaseException) -> bool:
    """Whether connecting again may work: not for a bad source or a refusal (HTTP 4xx).

    >>> from wpsnb.errors import ConnectionRejected, ServiceUnreachable
    >>> worth_retrying(ServiceUnreachable("down")), worth_retrying(ConnectionRejected("no", status=401))
    (True, False)
    """
    status = getattr(error, "status", None)
    return not isinstance(error, InvalidSource) and not (status is not None and 400 <= status < 500)


def _keep_connecting(
    client: Any, timeout: float, on_connected: Callable[[], None], stopped: Callable[[], bool]
) -> None:
    delay = 1.0
    while not stopped():
        time.sleep(delay)
        delay = min(delay * 2, 30.0)
        if stopped():
            return
        try:
            client.connect(timeout=timeout)
        except CONNECT_ERRORS as exc:
            log.debug("still cannot connect: %s", exc)
            if not worth_retrying(exc):
                return
            continue
        on_connected()
        return


__all__ = ["CONNECT_ERRORS", "connect_softly", "worth_retrying"]
