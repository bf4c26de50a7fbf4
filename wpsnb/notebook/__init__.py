"""wpsnb in Jupyter: live widgets (StreamView, FrameInspector, LiveTrace) and publishing helpers.

Names are imported on first use, so importing one helper does not load the others' dependencies.

Example::

    from wpsnb.notebook import StreamView, FrameInspector
    view = StreamView(service, groups=["lab"])
    FrameInspector(view)
    with publish_output("train"):      # or %%publish train after %load_ext wpsnb
        print("epoch 1")
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "StreamView": ".stream_view",
    "FrameInspector": ".frame_inspector",
    "LiveTrace": ".live_trace",
    "publish_output": ".output_capture",
    "LogHandler": ".log_handler",
    "log_metrics": ".metrics",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'wpsnb.notebook' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
