"""``wpsnb pipe`` and ``wpsnb tail`` as subprocesses against a real local service: every line acknowledged
and received in order; each error path one line and a non-zero status."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from cli_helpers import Background, assert_one_line_failure, clean_env, run_wpsnb, seq

from wpsnb.publishing.publisher import Publisher
from wpsnb.service.local import LocalService

pytestmark = pytest.mark.slow


@pytest.fixture
def service() -> Iterator[LocalService]:
    with LocalService() as running:
        yield running


def start_tail(service: LocalService, group: str, *options: str) -> Background:
    tail = Background("tail", group, "--connection-string", service.connection_string, *options)
    tail.wait_for("listening to group", stream="stderr")
    return tail


def dead_connection_string() -> str:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"Endpoint=http://127.0.0.1:{port};AccessKey={'k' * 44};Version=1.0;"


def test_every_piped_line_reaches_tail_in_order_and_pipe_exits_0(service: LocalService) -> None:
    tail = start_tail(service, "stream")
    try:
        result = run_wpsnb("pipe", "stream", "--connection-string", service.connection_string, "-v", input=seq(2000))
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip() == "wpsnb pipe: published 2000 lines to group stream (0 dropped)"
        tail.wait_for(r"(?m)^2000$")
    finally:
        assert tail.interrupt() == 0
    assert tail.output() == seq(2000)


def test_pipe_takes_the_connection_string_variable_and_one_message_per_line_if_asked(service: LocalService) -> None:
    tail = start_tail(service, "plain", "--json")
    try:
        env = clean_env(WebPubSubConnectionString=service.connection_string)
        result = run_wpsnb("pipe", "plain", "--no-batch", input="alpha\nbeta\n", env=env)
        assert result.returncode == 0, result.stderr
        tail.wait_for('"beta\\\\n"')
    finally:
        tail.interrupt()
    frames = [json.loads(line) for line in tail.output().splitlines()]
    assert [(f["type"], f["from"], f["group"], f["dataType"], f["data"]) for f in frames] == [
        ("message", "group", "plain", "text", "alpha\n"),
        ("message", "group", "plain", "text", "beta\n"),
    ]
    assert all(isinstance(f["sequenceId"], int) for f in frames)  # raw frames of the reliable protocol


def test_progress_lines_travel_as_updates_of_one_line(service: LocalService) -> None:
    tail = start_tail(service, "bars", "--json")
    try:
        result = run_wpsnb(
            "pipe", "bars", "--connection-string", service.connection_string, input="10%\r50%\r100%\ndone\n"
        )
        assert result.returncode == 0, result.stderr
        tail.wait_for("done")
    finally:
        tail.interrupt()
    text = "".join(json.loads(line)["data"] for line in tail.output().splitlines())
    assert text == "100%\ndone\n"  # the bar finished before anything was published: only its last state


def test_tail_count_exits_by_itself_and_prints_log_records_readably(service: LocalService) -> None:
    tail = start_tail(service, "logs", "--count", "2")
    with Publisher("logs", service) as publisher:
        publisher.put_json(
            {
                "level": "WARNING",
                "levelno": 30,
                "logger": "train",
                "message": "loss is nan",
                "time": "2024-01-01T00:00:00.000Z",
                "extra": {"step": 7},
            }
        )
        publisher.put_json({"any": ["other", "json"]})
    assert tail.process.wait(30) == 0
    tail.interrupt()
    assert tail.output().splitlines() == [
        '2024-01-01T00:00:00.000Z WARNING  train: loss is nan {"step": 7}',
        '{"any": ["other", "json"]}',
    ]


def test_empty_input_is_a_success(service: LocalService) -> None:
    result = run_wpsnb("pipe", "stream", "--connection-string", service.connection_string, input="")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("command", ["pipe", "tail"])
def test_no_service_given_says_how_to_get_one(command: str) -> None:
    result = run_wpsnb(command, "stream", input="x\n")
    assert_one_line_failure(result, 1, "--connection-string", "wpsnb serve", "wpsnb demo")


@pytest.mark.parametrize("command", ["pipe", "tail"])
@pytest.mark.parametrize(
    "bad",
    ["not a connection string", "Endpoint=;AccessKey=abc;Version=1.0;", "Endpoint=http://127.0.0.1:1;Version=1.0;"],
)
def test_a_bad_connection_string_is_a_usage_error(command: str, bad: str) -> None:
    result = run_wpsnb(command, "stream", "--connection-string", bad, input="x\n")
    error = assert_one_line_failure(result, 2)
    assert "AccessKey=abc" not in error or "abc" not in error.split("AccessKey=")[1][:3]


@pytest.mark.parametrize("command", ["pipe", "tail"])
def test_no_service_reachable(command: str) -> None:
    result = run_wpsnb(
        command, "stream", "--connection-string", dead_connection_string(), "--connect-timeout", "5", input="x\n"
    )
    assert_one_line_failure(result, 1, "cannot reach")


@pytest.mark.parametrize("command", ["pipe", "tail"])
def test_no_negotiate_endpoint_reachable(command: str) -> None:
    endpoint = dead_connection_string().split(";")[0].removeprefix("Endpoint=") + "/negotiate"
    result = run_wpsnb(command, "stream", "--negotiate", endpoint, input="x\n")
    assert_one_line_failure(result, 1, "cannot reach the negotiate endpoint")


@pytest.mark.parametrize("command", ["pipe", "tail"])
def test_an_invalid_group_name_is_a_usage_error(command: str, service: LocalService) -> None:
    result = run_wpsnb(command, "", "--connection-string", service.connection_string, input="x\n")
    assert_one_line_failure(result, 2, "group")


def test_negotiate_must_be_an_http_url() -> None:
    result = run_wpsnb("pipe", "stream", "--negotiate", "ws://127.0.0.1:1/client", input="x\n")
    assert_one_line_failure(result, 2, "http")


def test_tail_says_when_the_service_goes_away_and_comes_back() -> None:
    first = LocalService()
    port, key = int(first.endpoint.rsplit(":", 1)[1]), first.access_key
    tail = start_tail(first, "stream")
    second = None
    try:
        first.stop()
        tail.wait_for(r"wpsnb tail: connection lost", stream="stderr", timeout=15)
        second = LocalService(port=port, access_key=key)  # the same address and key: the tail's source again
        tail.wait_for(r"wpsnb tail: reconnected with a new connection", stream="stderr", timeout=30)
        with Publisher("stream", second) as publisher:  # open until the tail has it: live, or from its history
            publisher.put_text("after the outage\n")
            tail.wait_for(r"after the outage\n")
    finally:
        assert tail.interrupt() == 0
        if second is not None:
            second.stop()
