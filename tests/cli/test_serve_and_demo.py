"""``wpsnb serve``, ``wpsnb demo`` and ``--help`` as subprocesses: what they print, that they serve, that Ctrl-C
stops them cleanly, and their error paths (one line, non-zero)."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from collections.abc import Iterator

import jwt
import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from cli_helpers import Background, assert_one_line_failure, clean_env, run_wpsnb, seq

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[Background, str]]:
    """``wpsnb demo --port 0`` running; yields it and its page URL."""
    running = Background("demo", "--port", "0")
    try:
        page = running.wait_for(r"the log-stream page is at (http://\S+/)").group(1)
        yield running, page
    finally:
        assert running.interrupt() == 0


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.status, answer.headers.get_content_type(), answer.read().decode()


def busy_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


@pytest.mark.parametrize("command", ["", "serve", "pipe", "tail", "demo", "trace"])
def test_help_documents_each_command(command: str) -> None:
    result = run_wpsnb(*([command] if command else []), "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    expected = {
        "": ["serve", "pipe", "tail", "demo", "trace", "Exit status"],
        "serve": ["--port", "--host", "--access-key", "--no-trace", "connection string", "Ctrl-C"],
        "pipe": ["GROUP", "--hub", "--negotiate", "--connection-string", "acknowledged"],
        "tail": ["GROUP", "--json", "--negotiate", "--connection-string"],
        "demo": ["--port", "/negotiate", "webpubsub.sendToGroup.stream", "webpubsub.joinLeaveGroup.stream"],
        "trace": ["--hub", "--connection-string", "--json", "REST calls", "Local service only", "Live Trace"],
    }[command]
    for phrase in expected:
        assert phrase in text, (phrase, text)


def test_no_command_is_a_usage_error() -> None:
    result = run_wpsnb()
    assert result.returncode == 2 and "COMMAND" in result.stderr


def test_serve_prints_a_working_connection_string_logs_connections_and_stops_on_ctrl_c() -> None:
    serve = Background("serve", "--port", "0")
    try:
        connection_string = serve.wait_for(r"Endpoint=http://127\.0\.0\.1:\d+;AccessKey=[^;\s]+;Version=1\.0;").group(0)
        assert f"export WebPubSubConnectionString='{connection_string}'" in serve.output()
        assert "wpsnb tail stream" in serve.output() and "wpsnb pipe stream" in serve.output()
        server = WebPubSubServiceClient.from_connection_string(connection_string, hub="stream")
        assert server.group_exists("nobody") is False  # the official SDK talks to it
        result = run_wpsnb("pipe", "stream", input="hi\n", env=clean_env(WebPubSubConnectionString=connection_string))
        assert result.returncode == 0, result.stderr
        serve.wait_for(r"INFO wpsnb\.service: connected hub=stream", stream="stderr")
        serve.wait_for(r"INFO wpsnb\.service: closed hub=stream", stream="stderr")
    finally:
        status = serve.interrupt()
    assert status == 0
    assert serve.errors().rstrip().endswith("wpsnb serve: stopped")
    log_lines = [line for line in serve.errors().splitlines() if "wpsnb.service" in line]
    assert all(re.match(r"^\d\d:\d\d:\d\d (INFO|WARNING) wpsnb\.service: ", line) for line in log_lines), log_lines


def test_serve_uses_the_given_access_key() -> None:
    key = "a-test-access-key-of-more-than-32-characters"
    serve = Background("serve", "--port", "0", "--access-key", key)
    try:
        serve.wait_for(f"AccessKey={key};")
    finally:
        assert serve.interrupt() == 0


def test_serve_on_a_busy_port_fails_in_one_line() -> None:
    with busy_port() as holder:
        result = run_wpsnb("serve", "--port", str(holder.getsockname()[1]))
    assert_one_line_failure(result, 1, "address already in use|Address already in use", "another port")


def test_serve_with_an_unusable_access_key_is_a_usage_error() -> None:
    assert_one_line_failure(run_wpsnb("serve", "--port", "0", "--access-key", "short"), 2, "access_key")


def test_serve_on_an_address_this_machine_does_not_have_fails_in_one_line() -> None:
    # 192.0.2.1 is TEST-NET-1: never assigned, so nothing is exposed. (Binding a real non-loopback address
    # prints the service's warning; the tests stay on loopback.)
    assert_one_line_failure(run_wpsnb("serve", "--port", "0", "--host", "192.0.2.1"), 1, "192.0.2.1")


def test_demo_serves_the_page_and_a_negotiate_endpoint_with_the_tutorial_roles(demo: tuple[Background, str]) -> None:
    running, page = demo
    assert f"ls -R | wpsnb pipe stream --negotiate {page}negotiate" in running.output()
    status, kind, html = get(page)
    assert (status, kind) == (200, "text/html") and "<title>Log stream" in html and "index.js" in html
    status, kind, script = get(page + "index.js")
    assert (status, kind) == (200, "text/javascript") and "json.webpubsub.azure.v1" in script
    status, kind, body = get(page + "negotiate?id=ann")
    url = json.loads(body)["url"]
    assert kind == "application/json" and url.startswith("ws://127.0.0.1:") and "/client/hubs/stream?" in url
    claims = jwt.decode(url.split("access_token=")[1], options={"verify_signature": False})
    assert claims["sub"] == "ann"
    assert sorted(claims["role"]) == ["webpubsub.joinLeaveGroup.stream", "webpubsub.sendToGroup.stream"]


def test_demo_pipe_and_tail_through_negotiate(demo: tuple[Background, str]) -> None:
    _, page = demo
    tail = Background("tail", "stream", "--negotiate", page + "negotiate")
    try:
        tail.wait_for("listening to group", stream="stderr")
        result = run_wpsnb("pipe", "stream", "--negotiate", page + "negotiate", input=seq(300))
        assert result.returncode == 0, result.stderr
        tail.wait_for(r"(?m)^300$")
    finally:
        assert tail.interrupt() == 0
    assert tail.output() == seq(300)


def test_demo_forbids_other_groups_and_the_cli_says_so(demo: tuple[Background, str]) -> None:
    _, page = demo
    piped = run_wpsnb("pipe", "ops", "--negotiate", page + "negotiate", input="secret\n")
    assert_one_line_failure(piped, 1, "Forbidden", "webpubsub.sendToGroup")
    tailed = run_wpsnb("tail", "ops", "--negotiate", page + "negotiate")
    assert_one_line_failure(tailed, 1, "Forbidden", "webpubsub.joinLeaveGroup")


def test_demo_on_a_busy_port_fails_in_one_line() -> None:
    with busy_port() as holder:
        result = run_wpsnb("demo", "--port", str(holder.getsockname()[1]))
    assert_one_line_failure(result, 1, "cannot listen", "--port")


def test_serve_limit_flags_are_checked_and_documented() -> None:
    for value, phrase in (("-5", "cannot be negative"), ("lots", "is not a number of MiB")):
        result = run_wpsnb("serve", "--port", "0", "--outbound-budget", value)
        assert result.returncode == 2 and phrase in result.stderr and "Traceback" not in result.stderr
    text = run_wpsnb("serve", "--help").stdout
    for flag in ("--outbound-budget", "--handshake-timeout", "--keepalive"):
        assert flag in text


def test_serve_applies_the_keepalive_flag() -> None:
    """A peer that completes the upgrade and then never answers a ping is dropped after --keepalive."""
    import base64
    import os
    import re
    import socket as sockets
    import time

    from official_sdk import mint_url

    serve = Background("serve", "--port", "0", "--keepalive", "0.4")
    try:
        connection_string = serve.wait_for(r"Endpoint=\S+").group(0)
        url = mint_url(connection_string, "keep")
        host, port = re.search(r"ws://([^:/]+):(\d+)", url).groups()  # type: ignore[union-attr]
        path = url.split(port, 1)[1]
        with sockets.create_connection((host, int(port))) as peer:
            key = base64.b64encode(os.urandom(16)).decode()
            peer.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: json.webpubsub.azure.v1\r\n\r\n".encode()
            )
            peer.settimeout(5)
            received, started = b"", time.monotonic()
            while time.monotonic() - started < 5:
                chunk = peer.recv(65536)  # the 101, the connected message, a ping we never answer, then EOF
                if not chunk:
                    break
                received += chunk
            assert received.startswith(b"HTTP/1.1 101"), received[:100]
            assert time.monotonic() - started < 4, "the silent peer was not dropped"
    finally:
        assert serve.interrupt() == 0
