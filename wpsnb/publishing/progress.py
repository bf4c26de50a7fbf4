"""Progress bars that do not write to a stream, published as lines: ``tqdm.notebook`` / ``tqdm.auto``.

In a notebook, ``from tqdm.auto import tqdm`` gives ``tqdm.notebook.tqdm``, which draws an ipywidgets
bar and writes nothing to stdout or stderr, so a tee cannot see it. While a :class:`ProgressCapture`
is active, every redraw of such a bar is also handed to the publisher as terminal text on a stream of
its own: ``"\\r 40%|####      | 4/10 [00:02<00:03, 2.0it/s]"`` while it runs, completed with ``"\\n"``
when it closes. The publisher's line splitter publishes at most one update per ``update_interval``
(0.2 s) per bar, so a fast bar cannot flood the group. Plain ``tqdm`` writes ``\\r`` lines to stderr
and needs nothing of this.

Other ipywidgets progress bars (``IntProgress``, ``FloatProgress``) created while it is active are
summarised when it stops: one line each, ``[progress: Training 7/10]``.

Example::

    >>> capture = ProgressCapture(publisher).start()              # doctest: +SKIP
    >>> for _ in tqdm.notebook.tqdm(range(3)): pass               # doctest: +SKIP
    >>> capture.stop()                                            # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("wpsnb.publishing")


class ProgressSink(Protocol):
    """What progress lines go to: a :class:`wpsnb.publishing.Publisher`."""

    def put_chunk(self, stream: int, text: str) -> bool: ...

    def put_text(self, text: str, lines: int = 1) -> bool: ...


class ProgressCapture:
    """Publishes ``tqdm.notebook`` bars (and summarises other progress widgets) while active.

    ``first_stream``: the publisher stream number of the first bar (0 and 1 are stdout and stderr).
    Captures nest: the innermost active one gets the bars.
    """

    _lock = threading.Lock()
    _active: list[ProgressCapture] = []  # innermost last
    _original_display: Callable[..., Any] | None = None

    def __init__(self, publisher: ProgressSink, first_stream: int = 2):
        self.publisher = publisher
        self.first_stream = first_stream
        self._streams: dict[int, int] = {}  # id(bar) -> stream
        self._next_stream = first_stream
        self._widgets: weakref.WeakSet[Any] = weakref.WeakSet()
        self._previous_constructed: Any = None
        self._watching_widgets = False

    def start(self) -> ProgressCapture:
        """Start capturing (patches ``tqdm.notebook.tqdm.display`` while any capture is active)."""
        with ProgressCapture._lock:
            if not ProgressCapture._active:
                _patch_tqdm()
            ProgressCapture._active.append(self)
        self._watch_widgets()
        return self

    def stop(self) -> None:
        """Stop capturing; publish a summary line for every other progress widget seen."""
        with ProgressCapture._lock:
            if self in ProgressCapture._active:
                ProgressCapture._active.remove(self)
            if not ProgressCapture._active:
                _unpatch_tqdm()
        self._unwatch_widgets()
        for widget in list(self._widgets):
            self.publisher.put_text(_summary(widget) + "\n", 1)

    # ---- tqdm.notebook -------------------------------------------------------------------------

    def bar_drawn(self, bar: Any) -> None:
        """Called after a ``tqdm.notebook`` bar redrew itself: queue its text as an update of its line."""
        try:
            meter = dict(bar.format_dict)
            meter["ncols"] = None  # the notebook's "100%" width means nothing in text
            text = bar.format_meter(**meter)
        except Exception as exc:  # a bar we cannot render must not break the user's loop
            log.debug("cannot render a tqdm bar as text: %s", exc)
            return
        key = id(bar)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = self._next_stream
            self._next_stream += 1
        closed = bool(getattr(bar, "disable", False))  # tqdm's close() sets it before its last redraw
        if closed:
            del self._streams[key]
        self.publisher.put_chunk(stream, "\r" + text + ("\n" if closed else ""))

    # ---- other widgets -------------------------------------------------------------------------

    def _watch_widgets(self) -> None:
        if importlib.util.find_spec("ipywidgets") is None:
            return
        import ipywidgets

        # ipywidgets has one construction callback; chain to whoever set it before us and restore it after.
        self._previous_constructed = getattr(ipywidgets.Widget, "_widget_construction_callback", None)
        previous = self._previous_constructed

        def constructed(widget: Any) -> None:
            if isinstance(widget, (ipywidgets.IntProgress, ipywidgets.FloatProgress)):
                self._widgets.add(widget)
            if previous is not None:
                previous(widget)

        ipywidgets.Widget.on_widget_constructed(constructed)
        self._watching_widgets = True

    def _unwatch_widgets(self) -> None:
        if not self._watching_widgets:
            return
        import ipywidgets

        ipywidgets.Widget.on_widget_constructed(self._previous_constructed)
        self._watching_widgets = False
        # The bars of tqdm.notebook are FloatProgress widgets in a container: they were published as lines.
        for widget in list(self._widgets):
            if getattr(widget, "_wpsnb_tqdm", False):
                self._widgets.discard(widget)


def _patch_tqdm() -> None:
    if importlib.util.find_spec("tqdm") is None or importlib.util.find_spec("ipywidgets") is None:
        return
    try:
        import tqdm.notebook as notebook
    except ImportError:
        return
    original = notebook.tqdm.display
    if getattr(original, "_wpsnb", False):
        return

    def display(bar: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(bar, *args, **kwargs)
        active = ProgressCapture._active
        if active:
            container = getattr(bar, "container", None)
            if container is not None:
                for child in getattr(container, "children", ()):
                    child._wpsnb_tqdm = True  # not summarised as a widget: published as a line
            active[-1].bar_drawn(bar)
        return result

    display._wpsnb = True  # type: ignore[attr-defined]
    ProgressCapture._original_display = original
    notebook.tqdm.display = display  # type: ignore[method-assign]


def _unpatch_tqdm() -> None:
    original = ProgressCapture._original_display
    if original is None:
        return
    import tqdm.notebook as notebook

    notebook.tqdm.display = original  # type: ignore[method-assign]
    ProgressCapture._original_display = None


def _summary(widget: Any) -> str:
    description = str(getattr(widget, "description", "") or "").strip()
    value, high = getattr(widget, "value", None), getattr(widget, "max", None)
    label = f"{description} " if description else ""
    return f"[progress: {label}{value}/{high}]"


__all__ = ["ProgressCapture", "ProgressSink"]
