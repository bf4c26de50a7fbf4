"""The examples in wpsnb's docstrings run and say what they show (``# doctest: +SKIP`` marks the ones
that need a live notebook or service)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import wpsnb

MODULES = sorted(info.name for info in pkgutil.walk_packages(wpsnb.__path__, "wpsnb."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) in {name} fail; run python -m doctest -v"
