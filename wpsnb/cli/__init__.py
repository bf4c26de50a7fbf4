"""The ``wpsnb`` command: ``serve``, ``pipe``, ``tail``, ``watch``, ``demo`` and ``trace``, one module each.

The official log-streaming tutorial, reproduced with no cloud account::

    wpsnb demo                                                       # service + /negotiate + page
    ls -R | wpsnb pipe stream --negotiate http://127.0.0.1:8080/negotiate
    # open http://127.0.0.1:8080/ to watch; or in a terminal:
    wpsnb tail stream --negotiate http://127.0.0.1:8080/negotiate

Each command module has ``add_parser(commands)``, which registers its sub-command with
``set_defaults(run=run)``, and ``run(args) -> exit status``; a new command is a new module listed in
:data:`COMMANDS`. Shared pieces: :mod:`.arguments` (the group options and the source they name),
:mod:`.failures` (exit statuses, one-line errors), :mod:`.console` (banner, logging, Ctrl-C).

Exit status: 0 on success, 1 when something failed (no service, refused, not acknowledged), 2 for
bad arguments (including an unusable connection string). Every failure is one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import demo, pipe, serve, tail, trace, watch
from .failures import EXIT_FAILED, CommandFailed, one_line

COMMANDS = (serve, pipe, tail, watch, demo, trace)


def build_parser() -> argparse.ArgumentParser:
    """The ``wpsnb`` argument parser: one sub-command per module in :data:`COMMANDS`.

    >>> build_parser().parse_args(["tail", "lab", "--count", "3"]).count
    3
    """
    parser = argparse.ArgumentParser(
        prog="wpsnb",
        description="Azure Web PubSub's client subprotocol, offline: a local service, the log-stream "
        "tutorial's tools, and a notebook toolkit.",
        epilog="Exit status: 0 success; 1 failure (no service, refused, not acknowledged); 2 bad arguments.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wpsnb`` command; returns the exit status.

    >>> main(["--help"])          # doctest: +SKIP
    usage: wpsnb [-h] COMMAND ...
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CommandFailed as exc:
        print(f"wpsnb {args.command}: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"wpsnb {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, with the way to see more
        if os.environ.get("WPSNB_DEBUG"):
            raise
        print(
            f"wpsnb {args.command}: unexpected {one_line(exc)} (set WPSNB_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED
