"""``wpsnb pipe GROUP``: publish stdin to a group line by line; succeed once every line is acknowledged.

Example::

    ls -R | wpsnb pipe stream --negotiate http://127.0.0.1:8080/negotiate
"""

from __future__ import annotations

import argparse
import codecs
import logging
import sys

from .arguments import add_group_arguments, source_from_args
from .console import log_to_stderr
from .failures import EXIT_OK, EXIT_USAGE, CommandFailed, connect_or_fail


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pipe`` and its options.

    >>> parser = argparse.ArgumentParser(prog="wpsnb")
    >>> add_parser(parser.add_subparsers())
    >>> parser.parse_args(["pipe", "lab", "--no-batch"]).no_batch
    True
    """
    p = commands.add_parser(
        "pipe",
        help="publish each stdin line to a group",
        description="Publish stdin to GROUP, line by line, as text messages (the tutorial's "
        "stream.py). Carriage-return progress lines are sent as updates of one line. "
        "Exits 0 once every line is acknowledged by the service, else 1 with the "
        "reason.",
    )
    add_group_arguments(p)
    p.add_argument("--tee", action="store_true", help="also copy stdin to stdout")
    p.add_argument(
        "--no-batch",
        action="store_true",
        help="one message per line (default: lines already waiting together share a message)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the last acknowledgements after end of input (default 30)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="print a summary line to stderr at the end")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Publish stdin to a group, line by line; succeed once every line is acknowledged."""
    from ..publishing.publisher import Publisher
    from ..publishing.tee import TeeStream

    log_to_stderr(logging.ERROR)
    source = source_from_args(args)
    try:
        publisher = Publisher(
            args.group,
            source,
            hub=args.hub,
            user_id=args.user,
            block_timeout=None,
            max_message_chars=0 if args.no_batch else 16_384,
            connect_timeout=args.connect_timeout,
        )
    except ValueError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    connect_or_fail(publisher.start, args, "publish to", source)
    stream = TeeStream(sys.stdout, publisher, tee=args.tee)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    stdin = sys.stdin.buffer
    try:
        while publisher.failure is None:
            chunk = stdin.read1(65536)  # what is there now: a slow producer's lines go out as they come
            if not chunk:
                break
            stream.write(decoder.decode(chunk))
        stream.write(decoder.decode(b"", final=True))
        publisher.end_lines()
    except KeyboardInterrupt:
        publisher.close(timeout=1.0)
        raise CommandFailed(f"interrupted; {publisher.stats.summary()}") from None
    stats = publisher.close(timeout=args.timeout)
    if stats.failed or stats.unconfirmed or stats.dropped:
        raise CommandFailed(stats.summary())
    if args.verbose:
        print(f"wpsnb pipe: {stats.summary()}", file=sys.stderr)
    return EXIT_OK
