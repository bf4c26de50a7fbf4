"""The base of wpsnb's live widgets: an anywidget whose page shows a :class:`~wpsnb.notebook.feed.Feed`.

It owns what both :class:`StreamView` and :class:`FrameInspector` need: the feed (batched,
bounded records), the synced traits the page reads (``history``, ``header``, ``paused``), the
page's requests (``replay``, ``clear`` and whatever a subclass adds), replacing the widget a
re-run cell made before (:mod:`.cell_scope`), a text summary where no widget front end exists,
and ``close()``.

The front end of a widget is an ES module in :mod:`wpsnb.web` (``stream_view.js``,
``frame_inspector.js``) that imports the page-side store (``feed.js``: records, replay, batching
into animation frames) and the view both widgets share (``live_view.js``: rows, follow-tail,
pause, clear, counts). :func:`wpsnb.web.widget_esm` inlines those imports. No build step.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import anywidget
import traitlets

from . import cell_scope
from .feed import Feed, RateMeter, Record

log = logging.getLogger("wpsnb.notebook")


class LiveWidget(anywidget.AnyWidget):
    """An anywidget fed by a :class:`Feed`; subclasses set ``_esm``/``_css`` and implement ``_convert``/``_header``.

    Traits the page reads: ``history`` (the last records, for a saved notebook or a page without a
    kernel), ``header`` (state, counts, rate), ``paused`` (both ways), ``limit`` (records the page
    keeps), ``rows`` (rows the page renders at most), ``title``.
    """

    _key = traitlets.Unicode("").tag(sync=True)  # names this widget's store in the page
    history = traitlets.List().tag(sync=True)
    header = traitlets.Dict().tag(sync=True)
    paused = traitlets.Bool(False, help="Pause the page's updates (records keep arriving and show on resume)").tag(
        sync=True
    )
    limit = traitlets.Int(10_000).tag(sync=True)
    rows = traitlets.Int(1_000).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        *,
        limit: int = 10_000,
        rows: int = 1_000,
        max_rate: float = 20.0,
        history: int = 500,
        title: str = "",
        key: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(_key=uuid.uuid4().hex, limit=limit, rows=min(rows, limit), title=title, **kwargs)
        self._closing = threading.Lock()
        self._closed = False
        self._meter = RateMeter()
        self.feed = Feed(
            self, self._convert, self._header_now, limit=limit, max_rate=max_rate, history=history,
            name=f"wpsnb-{type(self).__name__}",
        )  # fmt: skip
        self.on_msg(self._on_page_message)
        cell_scope.adopt(self, key)

    # -- for subclasses --

    def _convert(self, item: Any, wall_time: float, index: int) -> Record | None:
        raise NotImplementedError

    def _header(self) -> dict[str, Any]:
        """State shown above the records; ``count`` drives the rate."""
        raise NotImplementedError

    def _handle(self, kind: str, content: dict[str, Any]) -> None:
        """A page request other than replay/clear (subclasses override)."""
        log.debug("%s ignored a page request of kind %r", type(self).__name__, kind)

    def _release(self) -> None:
        """Let go of sources (unsubscribe, disconnect); called once by ``close()``."""

    # -- public --

    def records(self) -> list[Record]:
        """The records held in the kernel's ring buffer, oldest first (what a reloaded page shows)."""
        return self.feed.records()

    def pause(self) -> None:
        """Freeze the page (records keep arriving in the kernel and appear on ``resume()``)."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def clear(self) -> None:
        """Forget the records shown so far, here and in the page (counters keep counting)."""
        self.feed.clear()

    def close(self) -> None:
        """Disconnect from the source and close the widget; safe to call twice."""
        closing = getattr(self, "_closing", None)
        if closing is None:  # __init__ failed before the widget existed (ipywidgets' __del__ calls close)
            return
        with closing:
            if self._closed:
                return
            self._closed = True
        try:
            self._release()
        finally:
            self.feed.close()
            cell_scope.forget(self)
            super().close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> LiveWidget:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return self._summary()

    def _summary(self) -> str:
        return f"<{type(self).__name__}>"

    # -- internals --

    def _header_now(self) -> dict[str, Any]:
        header = self._header()
        header["rate"] = round(self._meter.rate(int(header.get("count", 0))), 1)
        header["closed"] = self._closed
        return header

    def _on_page_message(self, _widget: Any, content: Any, _buffers: list[bytes]) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("kind"), str):
            return
        kind = content["kind"]
        try:
            if kind == "replay":
                self.feed.replay(content.get("request"))
            elif kind == "clear":
                self.clear()
            else:
                self._handle(kind, content)
        except Exception:
            log.exception("%s failed to answer the page's %r request", type(self).__name__, kind)
