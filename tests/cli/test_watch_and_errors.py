"""``wpsnb watch`` serves its page and stops on Ctrl-C; group commands' errors speak the CLI's language."""

from __future__ import annotations

import re
import urllib.request

from cli_helpers import Background, assert_one_line_failure, run_wpsnb

from wpsnb.service.local import LocalService

DEAD = "Endpoint=http://127.0.0.1:9;AccessKey=" + "k" * 44 + ";Version=1.0;"


def test_watch_serves_the_page_and_prints_its_url(local_service: LocalService) -> None:
    watch = Background("watch", "train", "--connection-string", local_service.connection_string)
    try:
        url = watch.wait_for(r"open (http://127\.0\.0\.1:\d+/)").group(1)
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    finally:
        assert watch.interrupt() == 0
    assert "watching group 'train' (hub stream)" in watch.output()


def test_watch_on_another_address_warns(local_service: LocalService) -> None:
    watch = Background("watch", "train", "--host", "0.0.0.0", "--connection-string", local_service.connection_string)
    try:
        watch.wait_for(r"open http://")
        assert re.search(r"wpsnb watch: warning: .*anyone who can reach", watch.errors())
    finally:
        watch.interrupt()


def test_hub_with_negotiate_is_an_error() -> None:
    for command in ("tail", "watch", "pipe"):
        result = run_wpsnb(command, "g", "--hub", "other", "--negotiate", "http://127.0.0.1:9/negotiate", input="")
        assert_one_line_failure(result, 2, "--hub cannot be used with --negotiate")


def test_an_unreachable_service_gets_cli_advice() -> None:
    for command in ("tail", "watch"):
        result = run_wpsnb(command, "g", "--connection-string", DEAD, "--connect-timeout", "3")
        error = assert_one_line_failure(result, 1, "cannot reach", r"`wpsnb serve` starts one")
        assert "LocalService" not in error  # Python advice has no place in a terminal


def test_a_wrong_access_key_is_said_in_one_line(local_service: LocalService) -> None:
    wrong = re.sub(r"AccessKey=[^;]+", "AccessKey=" + "w" * 44, local_service.connection_string)
    result = run_wpsnb("tail", "g", "--connection-string", wrong)
    error = assert_one_line_failure(result, 1, "this AccessKey does not match the service")
    assert len(error) < 300, error
