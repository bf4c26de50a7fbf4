"""A tiny run of every benchmark harness: real servers in child processes, a handful of messages,
one round. It checks that each produces well-formed result rows, never how fast anything is
(timing targets live in ``bench/`` and its results, not in tests)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

# bench/ is not part of the installed package: import it from the repository root (which a bare
# `pytest` does not put on sys.path, and where tests/bench must not shadow it).
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402
from bench.client_publish import ClientSettings, run_client_publish  # noqa: E402
from bench.fanout import FanoutSettings, Topology, run_fanout  # noqa: E402
from bench.idle_memory import run_idle_memory  # noqa: E402
from bench.latency import LatencySettings, run_latency  # noqa: E402
from bench.rest_send import RestSettings, run_rest_send  # noqa: E402
from bench.streams import StreamSettings, run_streams  # noqa: E402
from bench.widget_ingest import WidgetSettings, run_widget_ingest  # noqa: E402
from bench.wsraw import RawSocket, Tally, client_frame  # noqa: E402

pytestmark = pytest.mark.slow


def assert_rows(rows: list[dict], expected_names: list[str]) -> None:
    """Every row is well formed, numbers are positive, and ratio = value / baseline."""
    assert [row["name"] for row in rows] == expected_names
    for row in rows:
        results.check_row(row)
        assert row["value"] >= 0, row
        if row["baseline_value"]:
            assert row["ratio"] == pytest.approx(row["value"] / row["baseline_value"], rel=0.01, abs=0.001), row
        else:
            assert row["ratio"] is None, row
    json.dumps(rows)  # what results.json stores


async def test_fanout_rows_for_both_subprotocols() -> None:
    settings = FanoutSettings(
        rounds=1,
        deliveries=300,
        quiet_wait=0,
        retries=0,
        topologies=(Topology("1 -> 3", 3, 1), Topology("2 groups x 2", 4, 2)),
        verbose=False,
    )
    rows = await run_fanout(settings, server_cpu=None)
    assert_rows(
        rows,
        [
            "fan-out 1 -> 3, json.webpubsub.azure.v1",
            "fan-out 1 -> 3, json.reliable.webpubsub.azure.v1",
            "fan-out 2 groups x 2, json.webpubsub.azure.v1",
            "fan-out 2 groups x 2, json.reliable.webpubsub.azure.v1",
        ],
    )
    assert all(row["value"] > 0 and row["baseline_value"] > 0 for row in rows)
    assert {row["goal"] for row in rows} == {">= 3x baseline", ">= 2x baseline"}


async def test_latency_rows_with_a_sweep() -> None:
    settings = LatencySettings(
        rate=200,
        duration=0.3,
        rounds=1,
        subscribers=3,
        sweep=(100, 200),
        sweep_duration=0.2,
        quiet_wait=0,
        retries=0,
        verbose=False,
    )
    rows = await run_latency(settings, server_cpu=None)
    where = "200 msg/s x 3 subscribers"
    assert_rows(
        rows,
        [
            f"latency p50, {where}",
            f"latency p99, {where}",
            f"latency max, {where}",
            "latency knee: highest swept rate with p99 <= 3 ms (3 subscribers)",
        ],
    )
    p50, p99, worst = (row["value"] for row in rows[:3])
    assert 0 < p50 <= p99 <= worst
    assert rows[1]["goal"] == "<= 3 ms" and rows[1]["unit"] == "ms"


async def test_rest_client_widget_and_memory_rows() -> None:
    rows = await run_rest_send(
        RestSettings(sequential=5, pooled=10, rounds=1, quiet_wait=0, verbose=False), server_cpu=None
    )
    assert_rows(
        rows,
        [
            "REST send_to_group (official SDK), sequential",
            "REST send_to_group (official SDK), sequential, to an empty group (accepted, no delivery)",
            "REST send_to_group (official SDK), 8 threads",
        ],
    )

    rows = await run_client_publish(
        ClientSettings(messages=50, acked=5, rounds=1, quiet_wait=0, verbose=False), server_cpu=None
    )
    assert_rows(
        rows,
        [
            "client publish, fire-and-forget, reliable (default)",
            "client publish, fire-and-forget, json.webpubsub.azure.v1",
            "client publish, acknowledged, one at a time",
        ],
    )

    rows = await run_widget_ingest(
        WidgetSettings(messages=100, warm_up=50, rounds=1, quiet_wait=0, verbose=False), server_cpu=None
    )
    assert [row["unit"] for row in rows] == ["msg/s", "comm msg/s", "MiB"]
    assert_rows(rows, [row["name"] for row in rows])
    assert rows[1]["baseline_value"] > rows[1]["value"]  # the naive widget sends a comm message per message

    rows = await run_idle_memory(20, server_cpu=None, verbose=False)
    assert_rows(rows, ["memory per idle connection (20 connections)"])


async def test_frame_counting_survives_any_split() -> None:
    """The load generator's frame walker counts frames of every header length split at any byte."""
    big = b"\x82\x7f" + (70_000).to_bytes(8, "big") + b"y" * 70_000
    frames = [b"\x81\x05hello", b"\x81\x7e\x00\xc8" + b"x" * 200, big]
    stream = b"HTTP/1.1 101 Switching Protocols\r\n\r\n" + b"\x81\x05ready" + b"".join(frames) * 2
    for cut in (1, 7, 38, 45, 200, 1_000, 70_011):
        socket = RawSocket(b"")
        socket.tally = Tally(len(frames) * 2)
        for start in range(0, len(stream), cut):
            socket.data_received(stream[start : start + cut])
        assert socket.ready.done() and socket.received == len(frames) * 2, cut
        assert socket.tally.finished_at > 0
    assert client_frame(b"hi") == b"\x81\x82\x00\x00\x00\x00hi"


def test_results_table_and_file(tmp_path, capsys) -> None:
    rows = [
        results.metric("fan-out", 600_000, "frames/s", "bare", 150_000, at_least_ratio=3.0),
        results.metric("p99", 1.2, "ms", "bare", 1.6, at_most=3.0),
        results.metric("memory", 14.0, "KiB", None, None),
    ]
    assert rows[0]["ratio"] == 4.0 and rows[0]["met"] is True
    assert rows[1]["met"] is True and rows[2]["goal"] is None and rows[2]["met"] is None
    results.print_table(rows)
    assert "600,000" in capsys.readouterr().out
    path = tmp_path / "results.json"
    results.write_results(rows, path)
    assert json.loads(path.read_text()) == rows
    with pytest.raises(ValueError, match="expected"):
        results.check_row({"name": "x"})
    with pytest.raises(ValueError, match="boolean"):
        results.check_row({**rows[0], "met": None})


def test_entry_point_rejects_an_unknown_benchmark() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nosuch"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 2 and "unknown benchmark" in done.stderr


def test_a_lost_subscriber_fails_the_measurement() -> None:
    async def scenario() -> None:
        tally = Tally(10)
        tally.fail("closed by the server")
        with pytest.raises(Exception, match="closed by the server"):
            await tally.wait(timeout=1)

    asyncio.run(scenario())


async def test_group_stream_row_against_plain_messages() -> None:
    settings = StreamSettings(rounds=1, deliveries=300, subscribers=3, quiet_wait=0, retries=0, verbose=False)
    rows = await run_streams(settings, server_cpu=None)
    assert_rows(rows, ["group stream fragments 1 -> 3, json.webpubsub.azure.v1"])
    assert rows[0]["value"] > 0 and rows[0]["baseline_value"] > 0
