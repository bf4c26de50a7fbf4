"""``wpsnb watch``: a web page that shows one group of any service live, with history.

:func:`serve_watch` (what the CLI command runs) and :class:`WatchServer` (start/close it yourself, e.g.
from a notebook or a test). See :mod:`wpsnb.watch.server` and ``docs/watch.md``.

Example::

    >>> from wpsnb.watch import WatchServer
    >>> server = WatchServer(service, "train").start()     # doctest: +SKIP
    >>> server.url                                          # doctest: +SKIP
    'http://127.0.0.1:41231/'
    >>> server.close()                                      # doctest: +SKIP
"""

from .server import WatchServer, serve_watch

__all__ = ["WatchServer", "serve_watch"]
