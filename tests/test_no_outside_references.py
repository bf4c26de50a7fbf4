"""Nothing in the repository depends on documents outside it: the protocol notes the code cites are in docs/.

The names are assembled at run time so this file does not match itself.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("wpsnb", "docs", "tests", "bench", "notebooks", "README.md")
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".js", ".css", ".html", ".json", ".toml", ".txt", ".cfg", ".ini", ".yml"}
SKIPPED_PARTS = {"node_modules", "__pycache__", "artifacts", ".pytest_cache"}
OUTSIDE_DOCUMENTS = (
    "TOKENS",
    "REST-API",
    "CLIENT-PROTOCOL",
    "UPSTREAM",
    "EMULATOR-NOTES",
    "FANOUT-BASELINES",
    "BROWSER-TESTING",
    "LAYOUT",
)
OUTSIDE = re.compile(
    "|".join([*(re.escape(name + ".md") for name in OUTSIDE_DOCUMENTS), r"(?<![\w.-])" + "shared" + "/"])
)


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for entry in SCANNED:
        path = ROOT / entry
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        for candidate in candidates:
            if candidate.is_file() and candidate.suffix in TEXT_SUFFIXES and not SKIPPED_PARTS & set(candidate.parts):
                files.append(candidate)
    return files


def test_the_scan_covers_the_repository() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in scanned_files()}
    assert {"README.md", "docs/README.md", "docs/protocol.md", "wpsnb/protocol/tokens.py", "bench/README.md"} <= names


def test_no_reference_to_documents_outside_the_repository() -> None:
    found = []
    for path in scanned_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in OUTSIDE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(ROOT)}:{line}: {match.group()!r}")
    assert not found, (
        "these refer to documents outside the repository; point to docs/ instead (add what is missing "
        "there, in our own words):\n  " + "\n  ".join(found)
    )


def test_the_pattern_catches_what_it_is_for() -> None:
    assert OUTSIDE.search("see " + "TOKENS" + ".md §5") and OUTSIDE.search("../" + "shared" + "/spec")
    assert OUTSIDE.search("/work/" + "shared" + "/notes/x")
    assert not OUTSIDE.search("not" + "shared" + "/x")
    assert not OUTSIDE.search("docs/tokens.md")
