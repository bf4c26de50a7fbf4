"""``wpsnb trace`` against ``wpsnb serve``, both subprocesses: a ``wpsnb pipe`` run and a REST send appear as
one line per event (--json: one record per line), and its failures are one line each."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from cli_helpers import Background, assert_one_line_failure, clean_env, run_wpsnb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def serve() -> Iterator[str]:
    running = Background("serve", "--port", "0")
    try:
        yield running.wait_for(r"Endpoint=http://127\.0\.0\.1:\d+;AccessKey=[^;\s]+;Version=1\.0;").group(0)
    finally:
        assert running.interrupt() == 0


def test_trace_prints_a_pipe_runs_frames_and_a_rest_call_one_line_each(serve: str) -> None:
    trace = Background("trace", "--hub", "stream", env=clean_env(WebPubSubConnectionString=serve))
    try:
        trace.wait_for(r"wpsnb trace: http://127\.0\.0\.1:\d+/trace\?hub=stream", stream="stderr")
        piped = run_wpsnb("pipe", "stream", "--user", "piper", input="first line\nsecond line\n",
                          env=clean_env(WebPubSubConnectionString=serve))  # fmt: skip
        assert piped.returncode == 0, piped.stderr
        WebPubSubServiceClient.from_connection_string(serve, hub="stream").send_to_group("stream", {"rest": 1})
        trace.wait_for(r"stream \S+ piper connected \(json\.reliable\.webpubsub\.azure\.v1\)")
        trace.wait_for(r"stream \S+ piper → sendToGroup group=stream ackId=\d+ .*\"data\":\"firs")
        trace.wait_for(r"stream \S+ piper ← ack ackId=\d+")
        trace.wait_for(r"stream ⇉ message to group stream: 0 recipient\(s\) \(from #\d+\)")
        trace.wait_for(r"stream REST POST /api/hubs/stream/groups/stream/:send\?api-version=\S+ → 202 [\d.]+ ms ")
        trace.wait_for(r"→ 202 [\d.]+ ms \{\"rest\": 1\}")
        trace.wait_for(r"stream \S+ piper socket closed by client code=1000")
        lines = trace.output().splitlines()
        assert all(re.match(r"\d\d:\d\d:\d\d\.\d{3} stream ", line) for line in lines), lines
    finally:
        assert trace.interrupt() == 0


def test_trace_json_prints_records_and_stops_after_count(serve: str) -> None:
    WebPubSubServiceClient.from_connection_string(serve, hub="jsonhub").send_to_all("hello")
    result = run_wpsnb("trace", "--connection-string", serve, "--hub", "jsonhub", "--json", "--count", "2")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["kind"] for r in records] == ["delivery", "rest"]
    assert records[0]["to"] == "all" and records[0]["cause"] == records[1]["id"]
    assert records[1]["status"] == 202 and records[1]["body"] == '"hello"'  # the SDK sends a str as JSON


def test_trace_failures_are_one_line(serve: str) -> None:
    result = run_wpsnb("trace")
    assert_one_line_failure(result, 1, "no service given", "wpsnb serve")
    wrong = re.sub(r"AccessKey=[^;]+", "AccessKey=" + "w" * 43, serve)
    result = run_wpsnb("trace", "--connection-string", wrong)
    assert_one_line_failure(result, 1, "refused the watcher: 401", "signature")
    azure = "Endpoint=https://demo.webpubsub.azure.com;AccessKey=" + "k" * 43 + ";Version=1.0;"
    assert_one_line_failure(run_wpsnb("trace", "--connection-string", azure), 2, "portal", "Live Trace")
    nobody = "Endpoint=http://127.0.0.1:9;AccessKey=" + "k" * 43 + ";Version=1.0;"
    assert_one_line_failure(run_wpsnb("trace", "--connection-string", nobody), 1, "no local service answers")
    assert_one_line_failure(run_wpsnb("trace", "--connection-string", "nonsense"), 2, "bad connection string")
