"""Result rows: one metric, its baseline from the same run, the ratio and whether the goal is met.

Every benchmark returns a list of rows in the shape ``bench/results.json`` stores::

    {"name", "value", "unit", "baseline_name", "baseline_value", "ratio", "goal", "met"}

``ratio`` is always ``value / baseline_value``. ``goal`` is a readable target ("≥ 3.0× baseline",
"≤ 3 ms") or ``None`` for a metric that is reported without one; ``met`` is then ``None`` too.

Example::

    row = metric("fan-out", 612_000, "frames/s", "bare aiohttp", 150_000, at_least_ratio=3.0)
    print_table([row])
    write_results([row], Path("bench/results.json"))
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

FIELDS = ("name", "value", "unit", "baseline_name", "baseline_value", "ratio", "goal", "met")


def metric(
    name: str,
    value: float,
    unit: str,
    baseline_name: str | None,
    baseline_value: float | None,
    *,
    at_least_ratio: float | None = None,
    at_most_ratio: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
) -> dict[str, Any]:
    """One result row; give at most one goal (a ratio to the baseline or an absolute bound)."""
    ratio = None
    if baseline_value:
        ratio = round(value / baseline_value, 3)
    goal: str | None = None
    met: bool | None = None
    if at_least_ratio is not None:
        goal, met = f">= {at_least_ratio:g}x baseline", ratio is not None and ratio >= at_least_ratio
    elif at_most_ratio is not None:
        goal, met = f"<= {at_most_ratio:g}x baseline", ratio is not None and ratio <= at_most_ratio
    elif at_least is not None:
        goal, met = f">= {at_least:g} {unit}", value >= at_least
    elif at_most is not None:
        goal, met = f"<= {at_most:g} {unit}", value <= at_most
    return {
        "name": name,
        "value": _round(value),
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline_value": None if baseline_value is None else _round(baseline_value),
        "ratio": ratio,
        "goal": goal,
        "met": met,
    }


def median(values: Sequence[float]) -> float:
    """The median of several rounds."""
    return float(statistics.median(values))


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (``fraction`` 0.99 for p99)."""
    if not sorted_values:
        raise ValueError("no samples to take a percentile of")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return float(sorted_values[index])


def check_row(row: dict[str, Any]) -> None:
    """Raise ``ValueError`` if ``row`` is not a well-formed result row."""
    if tuple(row) != FIELDS:
        raise ValueError(f"result row has fields {tuple(row)}, expected {FIELDS}")
    if not isinstance(row["name"], str) or not row["name"]:
        raise ValueError(f"result row has no name: {row}")
    if not isinstance(row["value"], (int, float)) or isinstance(row["value"], bool):
        raise ValueError(f"{row['name']}: value must be a number, got {row['value']!r}")
    if row["goal"] is None and row["met"] is not None:
        raise ValueError(f"{row['name']}: 'met' without a goal")
    if row["goal"] is not None and not isinstance(row["met"], bool):
        raise ValueError(f"{row['name']}: a goal needs a boolean 'met'")


def print_table(rows: Iterable[dict[str, Any]], title: str = "") -> None:
    """The results as an aligned text table (also valid Markdown)."""
    rows = list(rows)
    header = ("metric", "value", "unit", "baseline", "baseline value", "ratio", "goal", "met")
    lines = [header]
    for row in rows:
        met = {True: "yes", False: "NO", None: "-"}[row["met"]]
        lines.append(
            (
                row["name"],
                _show(row["value"]),
                row["unit"],
                row["baseline_name"] or "-",
                _show(row["baseline_value"]),
                "-" if row["ratio"] is None else f"{row['ratio']:.2f}x",
                row["goal"] or "-",
                met,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    numeric = {1, 4, 5}
    if title:
        print(f"\n{title}\n")
    for n, line in enumerate(lines):
        cells = [
            cell.rjust(w) if i in numeric else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        print("| " + " | ".join(cells) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 1) + (":" if i in numeric else "-") for i, w in enumerate(widths)) + "|")


def write_results(rows: Iterable[dict[str, Any]], path: Path) -> None:
    """Write the rows to ``path`` as a JSON list (after checking each)."""
    rows = list(rows)
    for row in rows:
        check_row(row)
    path.write_text(json.dumps(rows, indent=2) + "\n")


def _round(value: float) -> float:
    if abs(value) >= 100:
        return round(value, 1)
    return round(value, 4)


def _show(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"
