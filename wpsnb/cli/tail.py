"""``wpsnb tail GROUP``: print a group's messages as they arrive, until Ctrl-C (or ``--count`` messages).

Example::

    wpsnb tail stream --negotiate http://127.0.0.1:8080/negotiate
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import queue
import sys
from typing import Any

from ..errors import WebPubSubError
from ..source import Source
from .arguments import add_group_arguments, source_from_args
from .console import log_to_stderr, stop_on_signal
from .failures import EXIT_OK, EXIT_USAGE, CommandFailed, connect_or_fail, exit_status, one_line


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``tail`` and its options.

    >>> parser = argparse.ArgumentParser(prog="wpsnb")
    >>> add_parser(parser.add_subparsers())
    >>> parser.parse_args(["tail", "lab", "--json"]).json
    True
    """
    p = commands.add_parser(
        "tail",
        help="print a group's messages as they arrive",
        description="Join GROUP and print its messages until Ctrl-C: first the publishers' last lines "
        "(history), then what arrives; text as it is, JSON one per line (LogHandler records as 'time LEVEL "
        "logger: message'). Connection losses and reconnections are reported on stderr.",
    )
    add_group_arguments(p)
    p.add_argument(
        "--json", action="store_true", help="print each received message frame raw, one per line (no history)"
    )
    p.add_argument(
        "--history",
        type=int,
        default=1000,
        metavar="N",
        help="first ask the publishers for their last N lines (default 1000; 0: live messages only)",
    )
    p.add_argument("--count", type=int, default=0, help="exit after this many messages (default: run until Ctrl-C)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print a group's messages as they arrive, until Ctrl-C (or ``--count`` messages).

    Text mode shows the publishers' recent history first (docs/history.md) and says when the connection
    drops and comes back; ``--json`` prints the raw frames as they arrive, nothing else.
    """
    log_to_stderr(logging.ERROR)
    source = source_from_args(args)
    return _tail_raw(args, source) if args.json else _tail_text(args, source)


def _tail_text(args: argparse.Namespace, source: Source) -> int:
    from ..publishing.watcher import StatusChange, Watcher

    try:
        watcher = Watcher(source, args.group, hub=args.hub, user_id=args.user, history=args.history)
    except ValueError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    stop = stop_on_signal()
    connect_or_fail(lambda: watcher.start(timeout=args.connect_timeout), args, "listen to", source)
    printer = _TextPrinter()
    received = 0
    try:
        while not stop.is_set() and not (args.count and received >= args.count):
            for event in watcher.events(timeout=0.2):
                if isinstance(event, StatusChange):
                    printer.status(
                        f"wpsnb tail: {event.text}" + (" (Ctrl-C to stop)" if event.state == "connected" else "")
                    )
                    if event.state == "closed":
                        raise CommandFailed(event.text)
                else:
                    printer.message(event.data_type, event.data)
                    received += 1
                if stop.is_set() or (args.count and received >= args.count):
                    break
            if watcher.state == "closed" and not stop.is_set():
                raise CommandFailed(f"the connection ended: {watcher.client.error or 'closed'}")
    finally:
        watcher.close()
        printer.finish()
    return EXIT_OK


def _tail_raw(args: argparse.Namespace, source: Source) -> int:
    from ..client import Client

    try:
        # The frame journal, not messages(): no need to buffer the decoded messages too.
        client = Client(
            source,
            hub=args.hub,
            **source.token_options(user_id=args.user, roles=[f"webpubsub.joinLeaveGroup.{args.group}"]),
            message_buffer=0,
        )
    except ValueError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    connect_or_fail(lambda: client.connect(timeout=args.connect_timeout), args, "listen to", source)
    stop = stop_on_signal()
    frames = _GroupFrames(args.group)
    client.frames.subscribe(frames.add)
    try:
        try:
            client.join_group(args.group)
        except WebPubSubError as exc:
            raise CommandFailed(one_line(exc), exit_status(exc)) from None
        print(
            f"wpsnb tail: listening to group {args.group!r} on hub {args.hub!r} (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
        received = 0
        while not stop.is_set() and not (args.count and received >= args.count):
            raw = frames.next(timeout=0.2)
            if raw is not None:
                sys.stdout.write(raw + "\n")
                sys.stdout.flush()
                received += 1
            if client.state == "closed":
                raise CommandFailed(f"the connection ended: {client.error or 'closed'}")
    finally:
        client.close(timeout=1.0)
    return EXIT_OK


class _TextPrinter:
    """Writes messages as terminal text: text data as it is (it carries its own line ends), the rest one per line."""

    def __init__(self) -> None:
        self.at_line_start = True

    def message(self, data_type: str, data: Any) -> None:
        if data_type == "text":
            text = data if ("\n" in data or "\r" in data) else data + "\n"
        elif data_type == "json":
            text = _log_record_line(data) or json.dumps(data, ensure_ascii=False)
            text += "\n"
        else:
            text = f"<{data_type}: {len(data)} bytes> {base64.b64encode(data).decode('ascii')}\n"
        if not self.at_line_start and not text.startswith("\r"):
            text = "\n" + text  # do not glue a new line to a progress line still in progress
        sys.stdout.write(text)
        sys.stdout.flush()
        self.at_line_start = text.endswith("\n")

    def status(self, line: str) -> None:
        """A status line on stderr (connection lost, reconnected), on a line of its own."""
        if not self.at_line_start:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.at_line_start = True
        print(line, file=sys.stderr, flush=True)

    def finish(self) -> None:
        if not self.at_line_start:
            sys.stdout.write("\n")
            sys.stdout.flush()


class _GroupFrames:
    """The raw frames of the group's messages, handed from the client's thread to the main thread in order."""

    def __init__(self, group: str):
        self.group = group
        self._frames: queue.SimpleQueue[str] = queue.SimpleQueue()

    def add(self, frame: Any) -> None:
        message = frame.message
        if frame.direction != "received" or getattr(message, "type", None) != "message":
            return
        if getattr(message, "source", None) == "group" and getattr(message, "group", None) == self.group:
            raw = frame.raw if isinstance(frame.raw, str) else frame.raw.decode("utf-8", "replace")
            self._frames.put(raw.replace("\n", "\\n"))  # one frame, one line (JSON allows no raw newline anyway)

    def next(self, timeout: float) -> str | None:
        try:
            return self._frames.get(timeout=timeout)
        except queue.Empty:
            return None


def _log_record_line(data: Any) -> str | None:
    """A LogHandler record as ``time LEVEL logger: message``; ``None`` for other JSON."""
    if not isinstance(data, dict) or not {"level", "logger", "message"} <= data.keys():
        return None
    line = f"{data.get('time', '')} {data['level']:<8} {data['logger']}: {data['message']}".lstrip()
    if data.get("extra"):
        line += " " + json.dumps(data["extra"], ensure_ascii=False)
    if data.get("exception"):
        line += "\n" + str(data["exception"])
    return line
