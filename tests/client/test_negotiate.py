"""wpsnb.negotiate and wpsnb.source.Source: every kind of source, and a clear error for each way it can go wrong."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from wpsnb.errors import InvalidSource, NegotiateFailed, ServiceUnreachable
from wpsnb.service.local import LocalService
from wpsnb.source import Source, negotiate, redact_url, with_query

KEY = "k" * 44
CONNECTION_STRING = f"Endpoint=http://127.0.0.1:8123;AccessKey={KEY};Version=1.0;"


def claims(url: str, key: str = KEY) -> dict[str, Any]:
    token = parse_qs(urlsplit(url).query)["access_token"][0]
    return jwt.decode(token, key, algorithms=["HS256"], options={"verify_aud": False})


def test_connection_string_is_minted_by_the_sdk_with_user_roles_groups() -> None:
    url = negotiate(
        CONNECTION_STRING,
        hub="lab_hub",
        user_id="ann",
        roles=["webpubsub.sendToGroup"],
        groups=["g1"],
        minutes_to_expire=5,
    )
    assert url.startswith("ws://127.0.0.1:8123/client/hubs/lab_hub?access_token=")
    got = claims(url)
    assert got["sub"] == "ann" and got["role"] == ["webpubsub.sendToGroup"] and got["webpubsub.group"] == ["g1"]
    assert got["aud"] == "http://127.0.0.1:8123/client/hubs/lab_hub"
    assert 4 * 60 <= got["exp"] - got["iat"] <= 5 * 60


def test_local_service_object_is_a_source(local_service: LocalService) -> None:
    url = negotiate(local_service, user_id="bob")
    assert url.startswith(f"ws://127.0.0.1:{local_service.port}/client/hubs/stream?access_token=")
    assert claims(url, local_service.access_key)["sub"] == "bob"


def test_none_reads_the_tutorials_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBPUBSUB_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("WebPubSubConnectionString", CONNECTION_STRING)
    assert claims(negotiate(user_id="env"))["sub"] == "env"
    monkeypatch.delenv("WebPubSubConnectionString")
    monkeypatch.setenv("WEBPUBSUB_CONNECTION_STRING", CONNECTION_STRING)
    assert claims(negotiate(user_id="env2"))["sub"] == "env2"


def test_none_without_environment_says_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WebPubSubConnectionString", raising=False)
    monkeypatch.delenv("WEBPUBSUB_CONNECTION_STRING", raising=False)
    with pytest.raises(InvalidSource, match=r"WebPubSubConnectionString.*LocalService\(\)"):
        negotiate()


@pytest.mark.parametrize(
    "bad",
    [
        f"Endpoint=http://h;{KEY}",  # a key pasted without 'AccessKey='
        "Endpoint=http://h;AccessKey=;Version=1.0",  # empty key
        f"Endpoint=ftp://h;AccessKey={KEY}",  # wrong scheme
    ],
)
def test_malformed_connection_string_never_echoes_the_key(bad: str) -> None:
    with pytest.raises(InvalidSource) as caught:
        negotiate(bad)
    assert KEY not in str(caught.value) and str(caught.value)


def test_bad_hub_name_is_refused_before_minting() -> None:
    with pytest.raises(InvalidSource, match="hub name '1hub' is invalid"):
        negotiate(CONNECTION_STRING, hub="1hub")


def test_client_url_is_returned_as_is_and_refuses_identity_arguments() -> None:
    url = "wss://x.webpubsub.azure.com/client/hubs/h?access_token=abc"
    assert negotiate(url) == url
    with pytest.raises(InvalidSource, match="already fixes the user"):
        negotiate(url, roles=["webpubsub.sendToGroup"])


@pytest.mark.parametrize("source", [42, "not a url nor a connection string", "ftp://h/x"])
def test_unusable_sources_say_what_is_expected(source: Any) -> None:
    with pytest.raises(InvalidSource, match=r"connection string|URL"):
        negotiate(source)


# ---- /negotiate endpoints -------------------------------------------------------------------------


class _Negotiate(BaseHTTPRequestHandler):
    answer: Callable[[str], tuple[int, bytes]]

    def do_GET(self) -> None:
        status, body = self.server.answer(self.path)  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def negotiate_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Negotiate)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def endpoint(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/negotiate"


def test_negotiate_endpoint_answer_is_used_and_user_id_passed_as_id(negotiate_server: ThreadingHTTPServer) -> None:
    asked = []

    def answer(path: str) -> tuple[int, bytes]:
        asked.append(path)
        user = parse_qs(urlsplit(path).query).get("id", ["?"])[0]
        return 200, json.dumps({"url": negotiate(CONNECTION_STRING, user_id=user)}).encode()

    negotiate_server.answer = answer  # type: ignore[attr-defined]
    url = negotiate(endpoint(negotiate_server), user_id="carol")
    assert claims(url)["sub"] == "carol"
    assert asked == ["/negotiate?id=carol"]
    with pytest.raises(InvalidSource, match="cannot be requested from a /negotiate endpoint"):
        negotiate(endpoint(negotiate_server), groups=["g"])


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, b"boom", r"answered HTTP 500: boom"),
        (200, b"<html>", r"did not answer JSON"),
        (200, b'{"token": "x"}', r"without a ws\(s\):// 'url' field"),
        (200, b'{"url": "http://not-a-websocket"}', r"without a ws\(s\):// 'url' field"),
    ],
)
def test_negotiate_endpoint_bad_answers(
    negotiate_server: ThreadingHTTPServer, status: int, body: bytes, expected: str
) -> None:
    negotiate_server.answer = lambda path: (status, body)  # type: ignore[attr-defined]
    with pytest.raises(NegotiateFailed, match=expected) as caught:
        negotiate(endpoint(negotiate_server))
    assert caught.value.status == (status if status != 200 else None)
    assert caught.value.url == endpoint(negotiate_server)


def test_unreachable_negotiate_endpoint_names_the_url_and_says_it_is_not_running() -> None:
    with LocalService() as service:  # take a free port, then free it again
        port = service.port
    url = f"http://127.0.0.1:{port}/negotiate"
    with pytest.raises(ServiceUnreachable, match=rf"cannot reach the negotiate endpoint {url}.*not running"):
        negotiate(url, timeout=2)


def test_source_kinds_and_url_helpers() -> None:
    source = Source.of(CONNECTION_STRING)
    assert (source.kind, source.value) == ("connection_string", CONNECTION_STRING)
    assert Source.of("wss://h/client/hubs/x").kind == "client_url"
    assert (
        redact_url("ws://h/c?awps_reconnection_token=s3cret&access_token=t0k")
        == "ws://h/c?awps_reconnection_token=...&access_token=..."
    )
    assert with_query("ws://h/c?a=1&b=2", b="3") == "ws://h/c?a=1&b=3"


def test_source_kinds_decide_which_token_options_apply() -> None:
    wished = {"user_id": "ann", "roles": ["webpubsub.sendToGroup.lab"], "groups": ["lab"]}
    with LocalService() as service:
        from_service = Source.of(service)
        assert from_service.kind == "service" and from_service.mints_tokens
        assert from_service.value == service.connection_string
        assert from_service.describe() == service.endpoint
        assert from_service.token_options(**wished) == wished
    assert Source.of(CONNECTION_STRING).token_options(**wished) == wished
    assert Source.of("http://127.0.0.1:1/negotiate").token_options(**wished) == {"user_id": "ann"}
    assert Source.of("ws://127.0.0.1:1/client/hubs/h?access_token=t").token_options(**wished) == {}
    assert Source.of(Source.of(CONNECTION_STRING)).kind == "connection_string"


def test_source_describes_itself_without_secrets() -> None:
    assert Source.of(CONNECTION_STRING).describe() == "http://127.0.0.1:8123"
    assert KEY not in repr(Source.of(CONNECTION_STRING))
    assert Source.of("wss://h/client/hubs/x?access_token=eyJabc").describe() == "wss://h/client/hubs/x"
    assert Source.of(f"Endpoint=ftp://h;AccessKey={KEY}").describe() == "the given connection string"


def test_source_from_the_environment_takes_the_first_non_blank_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WebPubSubConnectionString", "  ")
    monkeypatch.setenv("WEBPUBSUB_CONNECTION_STRING", f" {CONNECTION_STRING} ")
    assert Source.of(None).value == CONNECTION_STRING
    monkeypatch.setenv("WebPubSubConnectionString", "Endpoint=http://first:1;AccessKey=k")
    assert Source.of(None).describe() == "http://first:1"
    monkeypatch.delenv("WebPubSubConnectionString")
    monkeypatch.delenv("WEBPUBSUB_CONNECTION_STRING")
    with pytest.raises(InvalidSource, match="WebPubSubConnectionString nor WEBPUBSUB_CONNECTION_STRING"):
        Source.of(None)


def test_wpsnb_negotiate_is_the_function_whatever_was_imported_first() -> None:
    # The module holding it is wpsnb.source, so importing submodules first cannot shadow the function.
    import subprocess
    import sys

    code = "import wpsnb.notebook, wpsnb.source, wpsnb; print(wpsnb.negotiate.__module__, callable(wpsnb.negotiate))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["wpsnb.source", "True"]
