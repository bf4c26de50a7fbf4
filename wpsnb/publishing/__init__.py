"""Publishing a program's output to a group, and watching it: both ends of wpsnb's streaming.

* :mod:`.lines` cuts what is written into lines and progress updates; :mod:`.tee` is the stream that
  writes through and queues; :mod:`.publisher` is the bounded queue and worker in front of a client,
  :mod:`.delivery` hands its messages to the client and counts the answers; :mod:`.responder` keeps
  the last lines and answers late watchers' history requests.
* :mod:`.watcher` is the other end: a group's history, then its live messages, in order, none twice
  (``wpsnb tail``, ``StreamView`` and the watch page all use it).

``%%publish``, ``publish_output`` and ``LogHandler`` (in :mod:`wpsnb.notebook`) and ``wpsnb pipe`` are
thin surfaces over these.

Example::

    >>> from wpsnb.publishing import Publisher, Watcher           # doctest: +SKIP
    >>> with Publisher("train", service) as publisher:           # doctest: +SKIP
    ...     publisher.put_text("epoch 1\\n")
"""

from __future__ import annotations

from ..lazy_exports import lazy_exports as _lazy_exports

_PUBLIC = {
    "Publisher": ".publisher",
    "PublishStats": ".publisher",
    "TeeStream": ".tee",
    "LineSplitter": ".lines",
    "HistoryResponder": ".responder",
    "Watcher": ".watcher",
}

__all__ = list(_PUBLIC)


__getattr__, __dir__ = _lazy_exports(__name__, _PUBLIC, globals())
