"""A tiny run of the upstream benchmark (bench/upstream.py): well-formed rows, never how fast."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402
from bench.upstream import CONCURRENT, UpstreamSettings, run_upstream  # noqa: E402

pytestmark = pytest.mark.slow


async def test_upstream_rows() -> None:
    rows = await run_upstream(
        UpstreamSettings(events=CONCURRENT * 3, rounds=1, quiet_wait=0, verbose=False),
        server_cpu=None,
        handler_cpu=None,
    )
    assert [row["name"] for row in rows] == [
        "user events through an upstream handler (reply + ack), sequential",
        f"user events through an upstream handler (reply + ack), {CONCURRENT} clients",
    ]
    for row in rows:
        results.check_row(row)
        assert row["value"] > 0 and row["baseline_value"] > 0
        assert row["ratio"] == pytest.approx(row["value"] / row["baseline_value"], rel=0.01, abs=0.001)
