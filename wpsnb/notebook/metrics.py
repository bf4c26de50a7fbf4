"""``log_metrics``: publish a training step's numbers as one JSON message, for charts.

Inside a ``%%publish`` cell (or a ``publish_output`` block) it publishes to that cell's group; elsewhere
pass ``group=`` (and ``source=``, default as everywhere). The message is exactly the fields given, ``step``
first: ``{"step": 3, "loss": 0.21, "acc": 0.9}``. ``StreamView`` and the watch page chart every numeric
field against ``step`` (see ``docs/history.md``). It never waits for the network.

Example::

    >>> import wpsnb
    >>> wpsnb.log_metrics(step=3, loss=0.21, acc=0.9, group="train")     # doctest: +SKIP
    {'step': 3, 'loss': 0.21, 'acc': 0.9}
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from ..publishing.shared import shared_publisher
from .default_source import source_or_default
from .output_capture import active_publisher


def log_metrics(
    step: int | float | None = None,
    *,
    group: str | None = None,
    source: Any = None,
    hub: str = "stream",
    **metrics: Any,
) -> dict[str, Any]:
    """Publish ``{"step": step, **metrics}`` to the running ``%%publish`` cell's group (or ``group``).

    Values must be numbers (``int``/``float``; NaN and infinities are sent as ``None``, as JSON has no
    such numbers) or short strings; returns the message. Raises ``ValueError`` outside a publishing cell
    without ``group=``.
    """
    message: dict[str, Any] = {} if step is None else {"step": _number("step", step)}
    for name, value in metrics.items():
        message[name] = value if isinstance(value, str) else _number(name, value)
    if group is not None:
        publisher = shared_publisher(group, source_or_default(source), hub=hub, fail_soft=True)
    else:
        publisher = active_publisher()
        if publisher is None:
            raise ValueError(
                "log_metrics() outside a %%publish cell needs a group: wpsnb.log_metrics(step=..., loss=..., "
                "group='train')"
            )
    publisher.put_json(message)
    return message


def _number(name: str, value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"metric {name!r} must be a number, got {type(value).__name__} {value!r}")
    if isinstance(value, int):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


__all__ = ["log_metrics"]
