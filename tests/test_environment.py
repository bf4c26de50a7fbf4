"""pyproject.toml and environment.yml must describe the same environment."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the test extra installs tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$")
NOT_PYTHON_PACKAGES = {"python", "pip", "nodejs"}


def _normalise(requirement: str) -> tuple[str, str]:
    match = _REQUIREMENT.match(requirement)
    assert match, f"unreadable requirement {requirement!r}"
    name, spec = match.groups()
    spec = spec.split(";", 1)[0]  # environment markers: conda has none, it installs the package anywhere
    return re.sub(r"[-_.]+", "-", name).lower(), spec.replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.extend(extra)
    return dict(_normalise(r) for r in requirements)


def environment_requirements() -> dict[str, str]:
    """Parse the small YAML subset environment.yml uses (list items under dependencies / pip)."""
    found: dict[str, str] = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        item = line.split("#", 1)[0].strip()
        if not item.startswith("- ") or item in ("- pip:",) or item.startswith("- -e"):
            continue
        value = item[2:].strip()
        if value in ("conda-forge",):
            continue
        name, spec = _normalise(value)
        if name not in NOT_PYTHON_PACKAGES:
            found[name] = spec
    return found


def test_environment_yml_matches_pyproject() -> None:
    assert environment_requirements() == pyproject_requirements()


def test_environment_yml_installs_the_project_itself() -> None:
    assert "- -e ." in (ROOT / "environment.yml").read_text()
