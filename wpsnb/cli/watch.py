"""``wpsnb watch GROUP``: serve a page that shows a group of any service live, with history.

The page (:mod:`wpsnb.watch`) shows the log like a terminal, log records with level filter and search,
a chart of numeric metrics, and the publishers' recent lines on open. It listens on loopback unless
``--host`` says otherwise (then it warns: the page has no sign-in).

Example::

    wpsnb watch train --connection-string "$WebPubSubConnectionString"
    # wpsnb watch: watching group 'train' (hub stream) on http://127.0.0.1:8080
    #   open http://127.0.0.1:41231/

    >>> from wpsnb.cli import build_parser
    >>> args = build_parser().parse_args(["watch", "train", "--port", "8081"])
    >>> args.port, args.host, args.history
    (8081, '127.0.0.1', 1000)
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..errors import WebPubSubError
from .arguments import add_group_arguments, source_from_args
from .console import log_to_stderr, stop_on_signal
from .failures import EXIT_OK, EXIT_USAGE, CommandFailed, connect_or_fail


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``watch`` and its options."""
    p = commands.add_parser(
        "watch",
        help="serve a web page that shows a group live, with history",
        description="Serve a page for GROUP of any service (local or Azure) and print its URL: the live log "
        "(progress bars redrawn in place, log records with level filter and search), a chart of numeric "
        "metrics, and the publishers' recent lines on open. Ctrl-C stops it.",
    )
    add_group_arguments(p)
    p.add_argument("--port", type=int, default=0, help="port of the page (default: a free one)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; anything else lets other machines read the group, and warns)",
    )
    p.add_argument(
        "--history", type=int, default=1000, metavar="N", help="lines to ask publishers for (default 1000; 0: none)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve the watch page until Ctrl-C."""
    from ..watch import WatchServer

    log_to_stderr(logging.ERROR)
    source = source_from_args(args)
    try:
        server = WatchServer(source, args.group, hub=args.hub, host=args.host, port=args.port, history=args.history)
    except ValueError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    if server.warning:
        print(f"wpsnb watch: warning: {server.warning}", file=sys.stderr, flush=True)
    stop = stop_on_signal()

    def start() -> None:
        try:
            server.start(timeout=args.connect_timeout)
        except WebPubSubError:
            raise
        except OSError as exc:  # the page's address: busy port, address not on this machine
            raise CommandFailed(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; pass another --port "
                "(0 picks a free one)"
            ) from None

    connect_or_fail(start, args, "watch", source)
    try:
        print(
            f"wpsnb watch: watching group {args.group!r} (hub {args.hub}) on {server.described}\n  open {server.url}",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        server.close()
        print("wpsnb watch: stopped", file=sys.stderr)
    return EXIT_OK
