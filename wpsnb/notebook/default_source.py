"""Where notebook features publish to when the user names no service.

In order: an explicit ``source``; the connection string in ``WebPubSubConnectionString`` (the
tutorials' variable) or ``WEBPUBSUB_CONNECTION_STRING``; otherwise one :class:`~wpsnb.LocalService`
per process, started on first use and stopped when the process exits. So ``%%publish train`` works
offline with nothing set up, and the same notebook talks to Azure once the variable is set.

Example::

    >>> source = source_or_default()     # no variable set: the shared local service   # doctest: +SKIP
    >>> source                                                                          # doctest: +SKIP
    <LocalService http://127.0.0.1:41873 running>
    >>> source_or_default("Endpoint=https://x.webpubsub.azure.com;AccessKey=...;Version=1.0;")[:9]
    'Endpoint='
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

from ..negotiate import ENV_VARIABLES

log = logging.getLogger("wpsnb.notebook")

_lock = threading.Lock()
_shared_service: Any = None


def source_or_default(source: Any = None) -> Any:
    """``source`` if given, else the environment's connection string, else :func:`shared_local_service`.

    The result is anything ``wpsnb.Client`` accepts: a connection string, a ``LocalService``, a
    ``/negotiate`` URL or a client access URL.
    """
    if source is not None:
        if isinstance(source, str) and not source.strip():
            raise ValueError(
                "source is an empty string; pass a connection string, a /negotiate URL, a client "
                "access URL or a wpsnb.LocalService — or None for the default"
            )
        return source
    for variable in ENV_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    return shared_local_service()


def shared_local_service() -> Any:
    """The process-wide ``LocalService``, started on first call (thread-safe) and stopped at exit."""
    global _shared_service
    with _lock:
        if _shared_service is None or not _shared_service.running:
            from ..service.local import LocalService

            _shared_service = LocalService()
            atexit.register(_shared_service.stop)
            log.info("started the shared local Web PubSub service: %s", _shared_service.endpoint)
        return _shared_service


def shared_local_service_started() -> bool:
    """Whether :func:`shared_local_service` has started a service in this process (and it runs)."""
    service = _shared_service
    return service is not None and service.running


def describe_source(source: Any) -> str:
    """A short, secret-free description of ``source`` for messages (never the access key or a token).

    >>> describe_source("Endpoint=https://x.webpubsub.azure.com;AccessKey=abc;Version=1.0;")
    'https://x.webpubsub.azure.com'
    >>> describe_source("ws://127.0.0.1:8080/client/hubs/stream?access_token=eyJ")
    'ws://127.0.0.1:8080/client/hubs/stream'
    """
    endpoint = getattr(source, "endpoint", None)
    if isinstance(endpoint, str):
        return endpoint
    if not isinstance(source, str):
        return type(source).__name__
    text = source.strip()
    if "://" in text[:10]:
        return text.split("?", 1)[0]
    for part in text.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "endpoint":
            return value.strip()
    return "the given connection string"


__all__ = ["describe_source", "shared_local_service", "shared_local_service_started", "source_or_default"]
