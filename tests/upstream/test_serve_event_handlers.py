"""``wpsnb serve --event-handler HUB=URL`` and ``--event-handlers FILE.json``: a terminal service that
sends its events to a handler (here our library's, in the test process)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli.cli_helpers import Background, assert_one_line_failure, run_wpsnb
from official_sdk import mint_url
from websockets.sync.client import connect

from wpsnb.handler import EventHandler

pytestmark = pytest.mark.slow


def echo_handler() -> EventHandler:
    return EventHandler("chat", handle_user_event=lambda request: f"got {request.data}")


def talk(connection_string: str) -> str:
    with connect(mint_url(connection_string, "chat"), proxy=None, open_timeout=10) as ws:  # a simple client
        ws.send("hi")
        return str(ws.recv(timeout=10))


@pytest.mark.parametrize("how", ["flag", "file"])
def test_serve_sends_events_to_the_handler(how: str, tmp_path: Path) -> None:
    with echo_handler().start() as running:
        template = running.url + "/api/webpubsub/hubs/{hub}/"
        if how == "flag":
            args = ["--event-handler", f"chat={template}"]
        else:
            settings = tmp_path / "handlers.json"
            settings.write_text(json.dumps({"chat": [{"url_template": template, "user_event_pattern": "*"}]}))
            args = ["--event-handlers", str(settings)]
        serve = Background("serve", "--port", "0", *args)
        try:
            connection_string = serve.wait_for(r"Endpoint=\S+;Version=1\.0;").group(0)
            assert re.search(
                r"event handler: hub chat -> http://127\.0\.0\.1:\d+/api/webpubsub/hubs/\{hub\}/", serve.output()
            )
            assert talk(connection_string) == "got hi"
        finally:
            assert serve.interrupt() == 0


def test_a_bad_event_handler_flag_is_a_usage_error(tmp_path: Path) -> None:
    assert_one_line_failure(run_wpsnb("serve", "--port", "0", "--event-handler", "chat"), 2, "HUB=URL_TEMPLATE")
    assert_one_line_failure(
        run_wpsnb("serve", "--port", "0", "--event-handler", "chat=http://{hub}.example/"), 2, "placeholder in its host"
    )
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert_one_line_failure(run_wpsnb("serve", "--port", "0", "--event-handlers", str(broken)), 2, "is not JSON")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"chat": [{"url": "http://x/"}]}))
    assert_one_line_failure(
        run_wpsnb("serve", "--port", "0", "--event-handlers", str(wrong)), 2, "unknown event handler setting url"
    )
