"""The stored tutorial notebooks are clean, complete and listed: no outputs, no execution counts, no
saved widget state, a python3 kernelspec (JupyterLab opens them without asking for a kernel), the
numbered steps in order, the service chosen in the first code cell, and each one listed in notebooks/README.md."""

from __future__ import annotations

import re

import nbformat
import pytest
from test_tutorial_notebooks import NOTEBOOKS, TUTORIAL


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def test_the_tutorial_is_exactly_the_numbered_steps() -> None:
    stored = sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb"))
    assert stored == TUTORIAL
    assert [int(name[:2]) for name in stored] == list(range(1, len(TUTORIAL) + 1))
    assert all(re.fullmatch(r"\d\d-[a-z0-9]+(-[a-z0-9]+)*", name) for name in stored)


@pytest.mark.parametrize("name", TUTORIAL)
def test_notebook_is_stored_clean(name: str) -> None:
    notebook = _read(name)
    nbformat.validate(notebook)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells, start=1)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{name}.ipynb: cells {dirty} have outputs or execution counts; clear them before committing"
    assert "widgets" not in notebook.metadata, f"{name}.ipynb stores widget state; clear it before committing"
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("name", TUTORIAL)
def test_first_code_cell_chooses_the_service(name: str) -> None:
    first = next(cell for cell in _read(name).cells if cell.cell_type == "code")
    assert "WebPubSubConnectionString" in first.source
    assert "source_or_default()" in first.source


def test_readme_lists_every_notebook_in_order() -> None:
    readme = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    positions = [readme.find(f"({name}.ipynb)") for name in TUTORIAL]
    assert -1 not in positions, "notebooks/README.md must link every notebook"
    assert positions == sorted(positions)
