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

from ..lazy_exports import lazy_exports as _lazy_exports

_PUBLIC = {
    "StreamView": ".stream_view",
    "FrameInspector": ".frame_inspector",
    "LiveTrace": ".live_trace",
    "publish_output": ".output_capture",
    "LogHandler": ".log_handler",
    "log_metrics": ".metrics",
}

__all__ = list(_PUBLIC)


__getattr__, __dir__ = _lazy_exports(__name__, _PUBLIC, globals())
