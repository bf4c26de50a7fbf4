"""Re-running a notebook cell replaces the widgets it made last time instead of leaking them.

A widget holds a live connection; ipywidgets keeps every widget alive until it is closed, so a
cell re-run ten times would keep ten connections open. Each widget calls :func:`adopt` when it is
created: the widgets that the *same cell* made during an *earlier* execution are closed. Several
widgets made by one execution of a cell all stay. The cell is known from the ``cellId`` that
JupyterLab and Notebook 7 put in each execute request; without one (plain IPython, nbclient, a
script), widgets are only replaced when they share an explicit ``key``.

Example::

    view = StreamView(service, groups=["lab"])                 # cell run once: one connection
    view = StreamView(service, groups=["lab"])                 # same cell run again: the first is closed
    a = StreamView(service, groups=["a"], key="left")          # any widget created later with
    b = StreamView(service, groups=["b"], key="left")          # key="left" closes a
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Protocol


class Closable(Protocol):
    def close(self) -> None: ...


_lock = threading.Lock()
# scope -> (execution it was adopted in, the widgets); weak so a collected widget does not linger here.
_scopes: dict[str, tuple[str | None, weakref.WeakSet[Any]]] = {}


def current_cell() -> tuple[str | None, str | None]:
    """``(cell id, execution id)`` of the cell running now, or ``(None, None)`` outside a notebook front end."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None, None
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None or not hasattr(kernel, "get_parent"):
        return None, None
    try:
        parent = kernel.get_parent("shell") or {}
    except Exception:
        return None, None
    cell_id = (parent.get("metadata") or {}).get("cellId")
    execution = (parent.get("header") or {}).get("msg_id")
    return cell_id, execution


def adopt(widget: Closable, key: str | None = None) -> list[Closable]:
    """Register ``widget`` for its cell (or ``key``) and close what it replaces; returns the closed ones.

    With ``key``, every earlier widget adopted with the same key is replaced. Without, the widgets
    of the current cell from an earlier execution are replaced.
    """
    cell_id, execution = current_cell()
    if key is not None:
        scope, execution = f"key:{key}", None  # None never equals the stored one: always replace
    elif cell_id is not None:
        scope = f"cell:{cell_id}"
    else:
        return []
    with _lock:
        previous_execution, widgets = _scopes.get(scope, (None, weakref.WeakSet()))
        replaced: list[Closable] = []
        if execution is None or execution != previous_execution:
            replaced = [w for w in list(widgets) if w is not widget]
            widgets = weakref.WeakSet()
        widgets.add(widget)
        _scopes[scope] = (execution, widgets)
    for old in replaced:
        old.close()
    return replaced


def forget(widget: Closable) -> None:
    """Drop ``widget`` from every scope (called when it closes)."""
    with _lock:
        for _, widgets in _scopes.values():
            widgets.discard(widget)
