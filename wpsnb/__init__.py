"""wpsnb: Azure Web PubSub's client subprotocol, learnable and debuggable from a Jupyter notebook.

The public names are imported lazily, so ``import wpsnb`` stays cheap and a script that only
needs the service does not load the widget stack.

Example::

    import wpsnb
    service = wpsnb.LocalService()                      # offline, in-process
    client = wpsnb.Client(service, roles=["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"])
    client.connect(); client.join_group("lab"); client.send_to_group("lab", "hello", data_type="text")
"""

from __future__ import annotations

import logging
from typing import Any

from .lazy_exports import lazy_exports as _lazy_exports

__version__ = "0.1.0"

_PUBLIC = {
    "LocalService": "wpsnb.service.local",
    "negotiate": "wpsnb.source",
    "Client": "wpsnb.client",
    "AsyncClient": "wpsnb.client",
    "WebPubSubError": "wpsnb.errors",
    "full_traceback": "wpsnb.errors",
    "StreamView": "wpsnb.notebook",
    "FrameInspector": "wpsnb.notebook",
    "LiveTrace": "wpsnb.notebook",
    "LogHandler": "wpsnb.notebook",
    "publish_output": "wpsnb.notebook",
    "Watcher": "wpsnb.publishing",
    "log_metrics": "wpsnb.notebook",
}

__all__ = [*_PUBLIC, "__version__"]


# wpsnb's own loggers ("wpsnb.*") are quiet unless asked: they do not propagate to the root logger, so
# ``logging.basicConfig(level=INFO, force=True)`` in a notebook does not bring the client's and the in-kernel
# service's INFO lines into the user's cells. To see them: ``logging.getLogger("wpsnb").propagate = True``
# (or add a handler to the "wpsnb" logger, as the CLI does).
_own_log = logging.getLogger("wpsnb")
_own_log.addHandler(logging.NullHandler())
_own_log.propagate = False


__getattr__, __dir__ = _lazy_exports(__name__, _PUBLIC, globals(), also=["__version__"])


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext wpsnb`` registers the ``%%publish`` cell magic.

    Example, in a notebook::

        %load_ext wpsnb
    """
    from .notebook.magics import load_ipython_extension as load

    load(ipython)
