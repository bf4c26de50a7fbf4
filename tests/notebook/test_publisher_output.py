"""publish_output in a plain Python process: stdout/stderr teed and published, progress bars as updates,
logging handlers made earlier, tracebacks, the summary, the default source."""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout

import pytest
from publisher_helpers import Subscriber, final_lines, unique_group
from tqdm import tqdm

import wpsnb
from wpsnb.notebook import default_source
from wpsnb.notebook.output_capture import publish_output
from wpsnb.service.local import LocalService


@pytest.fixture
def group() -> str:
    return unique_group("out")


@pytest.fixture
def subscriber(local_service: LocalService, group: str):
    sub = Subscriber(local_service, group)
    yield sub
    sub.close()


@contextmanager
def terminal() -> Iterator[dict[str, io.StringIO]]:
    """What the block would have shown: sys.stdout and sys.stderr are buffers meanwhile."""
    streams = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    with redirect_stdout(streams["stdout"]), redirect_stderr(streams["stderr"]):
        yield streams


def test_stdout_and_stderr_are_published_shown_and_summarised(
    local_service: LocalService, group: str, subscriber: Subscriber
) -> None:
    with terminal() as shown, publish_output(group, source=local_service) as published:
        for n in range(1000):
            print(f"line {n}")
        print("a warning", file=sys.stderr)
        print("no newline at the end", end="")
        assert sys.stdout is not shown["stdout"]  # the tee, meanwhile
    assert sys.stdout is not published  # restored (to pytest's capture, outside terminal())
    summary = f"published 1002 lines to group {group} (0 dropped)"
    assert published.stats is not None and published.stats.summary() == summary
    expected = "".join(f"line {n}\n" for n in range(1000)) + "no newline at the end" + summary + "\n"
    assert shown["stdout"].getvalue() == expected
    assert shown["stderr"].getvalue() == "a warning\n"
    lines = final_lines(subscriber.text(ending=summary + "\n"))
    assert lines == [f"line {n}" for n in range(1000)] + ["a warning", "no newline at the end", summary]


def test_no_tee_publishes_without_showing(local_service: LocalService, group: str, subscriber: Subscriber) -> None:
    with terminal() as shown, publish_output(group, source=local_service, tee=False, summary=False):
        print("secret to the notebook, public to the group")
    assert shown["stdout"].getvalue() == ""
    assert subscriber.text(ending="group\n") == "secret to the notebook, public to the group\n"


def test_a_tqdm_bar_is_a_few_updates_of_one_line(
    local_service: LocalService, group: str, subscriber: Subscriber
) -> None:
    with (
        terminal() as shown,
        publish_output(group, source=local_service, update_interval=0.1, max_message_chars=0) as published,
    ):
        for _ in tqdm(range(2000), mininterval=0, miniters=1, ascii=True):  # ~2000 redraws on sys.stderr
            time.sleep(0.0002)
        print("after the bar")
    assert shown["stderr"].getvalue().count("\r") >= 2000
    assert published.stats is not None
    subscriber.text(ending="dropped)\n")
    messages = [m.data for m in subscriber.received]
    bar = [m for m in messages if m.startswith("\r")]
    assert 1 <= len(bar) <= 30, messages[:40]
    assert bar[-1].endswith("\n") and "2000/2000" in bar[-1]  # the completion replaces the last update
    assert all(not m.endswith("\n") for m in bar[:-1])
    assert final_lines("".join(messages))[-2:] == ["after the bar", published.stats.summary()]
    assert published.stats.lines == 2  # the bar's line and "after the bar": updates are not lines


def test_a_partial_line_left_waiting_is_published_before_it_ends(
    local_service: LocalService, group: str, subscriber: Subscriber
) -> None:
    with terminal(), publish_output(group, source=local_service, update_interval=0.1, summary=False):
        print("loading model...", end="", flush=True)
        subscriber.collect(lambda got: len(got) >= 1, timeout=10)  # arrives while the line is still open
        assert [m.data for m in subscriber.received] == ["\rloading model..."]
        print(" done")
    assert final_lines(subscriber.text(ending="done\n")) == ["loading model... done"]


def test_logging_handlers_made_before_the_block_are_published(
    local_service: LocalService, group: str, subscriber: Subscriber
) -> None:
    logger = logging.getLogger(f"test.{group}")
    logger.propagate = False
    with terminal() as shown:
        handler = logging.StreamHandler(sys.stderr)  # holds the stream of *now*, like basicConfig() in a cell before
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        try:
            with publish_output(group, source=local_service, summary=False):
                logger.warning("loss is %s", "nan")
            assert handler.stream is shown["stderr"]  # given back
        finally:
            logger.removeHandler(handler)
    assert subscriber.text(ending="nan\n") == f"WARNING test.{group}: loss is nan\n"
    assert shown["stderr"].getvalue() == f"WARNING test.{group}: loss is nan\n"


def test_an_uncaught_exception_is_published_and_still_raised(
    local_service: LocalService, group: str, subscriber: Subscriber
) -> None:
    with terminal(), pytest.raises(ZeroDivisionError), publish_output(group, source=local_service):
        print("step 1")
        1 / 0  # noqa: B018
    lines = final_lines(subscriber.text(ending="dropped)\n"))
    assert lines[0] == "step 1"
    assert lines[1] == "Traceback (most recent call last):"
    assert "ZeroDivisionError: division by zero" in lines
    assert lines[-1].startswith("published ")


def test_wpsnb_threads_are_shown_but_not_published(
    local_service: LocalService, group: str, subscriber: Subscriber
) -> None:
    with terminal() as shown, publish_output(group, source=local_service, summary=False):
        worker = threading.Thread(target=print, args=("from a wpsnb thread",), name="wpsnb-test")
        worker.start()
        worker.join()
        user = threading.Thread(target=print, args=("from a user thread",))
        user.start()
        user.join()
    assert "from a wpsnb thread" in shown["stdout"].getvalue()
    assert subscriber.text(ending="user thread\n") == "from a user thread\n"


def test_the_connection_string_variable_is_the_default_source(monkeypatch: pytest.MonkeyPatch, group: str) -> None:
    with LocalService() as other:
        monkeypatch.setenv("WebPubSubConnectionString", other.connection_string)
        assert default_source.source_or_default() == other.connection_string
        sub = Subscriber(other, group)
        try:
            with terminal(), wpsnb.publish_output(group, summary=False):
                print("to the service the variable names")
            assert sub.text(ending="names\n") == "to the service the variable names\n"
        finally:
            sub.close()


def test_without_a_variable_one_local_service_is_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WebPubSubConnectionString", raising=False)
    monkeypatch.delenv("WEBPUBSUB_CONNECTION_STRING", raising=False)
    first = default_source.source_or_default()
    assert isinstance(first, LocalService) and first.running
    assert default_source.source_or_default() is first
    assert default_source.shared_local_service_started()
    assert default_source.source_or_default("Endpoint=http://x;AccessKey=k;Version=1.0;").startswith("Endpoint=")
    with pytest.raises(ValueError, match="empty"):
        default_source.source_or_default("  ")


def test_describe_source_never_shows_secrets() -> None:
    key = "s3cr3t-" * 6
    assert key not in default_source.describe_source(f"Endpoint=http://h:1;AccessKey={key};Version=1.0;")
    assert default_source.describe_source("wss://h/client/hubs/x?access_token=eyJabc") == "wss://h/client/hubs/x"


def test_no_service_runs_the_block_anyway_and_counts_what_was_not_published() -> None:
    dead = "Endpoint=http://127.0.0.1:9;AccessKey=" + "k" * 44 + ";Version=1.0;"
    with terminal() as shown, publish_output("g", source=dead, connect_timeout=3) as published:
        print("ran anyway")
        print("twice")
    assert shown["stdout"].getvalue().startswith("ran anyway\ntwice\n")
    warning = shown["stderr"].getvalue()
    assert warning.count("\n") == 1 and "cannot publish to group g" in warning and "cannot reach" in warning
    assert published.stats is not None and published.stats.failed == 2 and published.stats.lines == 0
    assert "2 lines failed: the service was unreachable" in shown["stdout"].getvalue()
