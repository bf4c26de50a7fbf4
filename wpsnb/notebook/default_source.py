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
import threading
from typing import Any

from ..source import describe_source, environment_connection_string

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
    return environment_connection_string() or shared_local_service()


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


__all__ = ["describe_source", "shared_local_service", "shared_local_service_started", "source_or_default"]
