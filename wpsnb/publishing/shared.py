"""Publishers that live as long as the process: what ``%%publish`` and ``publish_output`` publish through.

A publisher keeps the last lines for watchers that open late (:mod:`wpsnb.publishing.responder`), so it
must outlive the cell that printed them: one :class:`~wpsnb.publishing.Publisher` per source, hub, group
and options, started on first use, reused by every later block and cell, closed at exit. One that
stopped for good (refused, closed) is replaced by a new one on next use.

Example::

    >>> publisher = shared_publisher("train", service)                 # doctest: +SKIP
    >>> shared_publisher("train", service) is publisher                 # doctest: +SKIP
    True
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from .publisher import Publisher

_lock = threading.Lock()
_publishers: dict[tuple[Any, ...], Publisher] = {}
_registered: list[bool] = []


def shared_publisher(group: str, source: Any, *, hub: str = "stream", **options: Any) -> Publisher:
    """The process's started publisher for ``group`` on ``source`` with ``options`` (created if needed)."""
    key = (_source_key(source), hub, group, tuple(sorted((name, repr(value)) for name, value in options.items())))
    with _lock:
        publisher = _publishers.get(key)
        if publisher is not None and publisher.failure is None and not publisher.closed:
            return publisher
        publisher = Publisher(group, source, hub=hub, **options)
        publisher.start()
        if not _publishers and not _registered:
            # Registered after the source (a shared LocalService) started: at exit it runs first, while the
            # service still answers.
            atexit.register(close_shared_publishers)
            _registered.append(True)
        _publishers[key] = publisher
        return publisher


def close_shared_publishers(timeout: float = 2.0) -> None:
    """Flush and close every shared publisher (at exit; tests call it too)."""
    with _lock:
        publishers = list(_publishers.values())
        _publishers.clear()
    for publisher in publishers:
        publisher.close(timeout=timeout)


def _source_key(source: Any) -> Any:
    return source if isinstance(source, str) else ("object", id(source))


__all__ = ["close_shared_publishers", "shared_publisher"]
