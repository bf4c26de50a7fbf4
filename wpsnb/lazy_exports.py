"""Public names of a package, imported on first use.

``import wpsnb`` must stay cheap (a notebook imports it before it knows whether it needs the service, the
widgets or neither), so each package's ``__init__`` lists its public names and the module each comes from,
and imports that module only when the name is first read (PEP 562 module ``__getattr__``).

Example::

    >>> namespace = {}
    >>> getattr_, dir_ = lazy_exports("wpsnb", {"Source": "wpsnb.source"}, namespace)
    >>> getattr_("Source").__name__, "Source" in namespace, dir_()
    ('Source', True, ['Source'])
    >>> getattr_("nope")
    Traceback (most recent call last):
    ...
    AttributeError: module 'wpsnb' has no attribute 'nope'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any


def lazy_exports(
    package: str, public: dict[str, str], namespace: dict[str, Any], also: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: ``public`` maps each name to its module (absolute,
    or relative to ``package``); a name read once is stored in ``namespace`` (the package's ``globals()``),
    so later reads do not come back here. ``also`` names what the package defines itself, for ``dir()``."""
    names = sorted([*public, *also])

    def __getattr__(name: str) -> Any:
        module = public.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
