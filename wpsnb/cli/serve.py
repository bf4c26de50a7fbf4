"""``wpsnb serve``: a local Web PubSub service in the foreground until Ctrl-C.

Example::

    wpsnb serve --port 8080        # prints the connection string to export
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..source import ENV_VARIABLES
from .console import log_to_stderr, say, stop_on_signal
from .failures import EXIT_OK, EXIT_USAGE, CommandFailed


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``serve`` and its options.

    >>> parser = argparse.ArgumentParser(prog="wpsnb")
    >>> add_parser(parser.add_subparsers())
    >>> parser.parse_args(["serve", "--port", "0"]).port
    0
    """
    p = commands.add_parser(
        "serve",
        help="run a local Web PubSub service in the foreground",
        description="Run a local Web PubSub service in the foreground and print its connection "
        "string. Logs one line per connection to stderr. Ctrl-C stops it.",
    )
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; anything else is reachable from other machines "
        "and prints a warning)",
    )
    p.add_argument("--access-key", default=None, help="the access key (default: a new random one)")
    p.add_argument("--no-trace", action="store_true", help="do not record the trace that `wpsnb trace` shows")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run a LocalService in the foreground until Ctrl-C."""
    from ..service.local import LocalService

    log_to_stderr(logging.INFO)
    stop = stop_on_signal()  # before anything is printed: a Ctrl-C right after the banner stops cleanly
    try:
        service = LocalService(port=args.port, access_key=args.access_key, host=args.host, trace=not args.no_trace)
    except ValueError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise CommandFailed(exc.strerror or str(exc)) from None
    connection_string = service.connection_string
    say(f"""wpsnb local Web PubSub service on {service.endpoint}
  clients connect to ws://{service.endpoint.split("://", 1)[1]}/client/hubs/<hub>; REST API at /api/hubs/<hub>

Connection string:
  {connection_string}

Next, in other terminals:
  export {ENV_VARIABLES[0]}='{connection_string}'
  wpsnb tail stream                # print what the group "stream" receives
  ls -R | wpsnb pipe stream        # publish each line to it
  wpsnb trace                      # everything the service sees: frames, deliveries, REST calls, closes
or in a notebook with the variable set: %load_ext wpsnb, then a cell starting with %%publish stream

Press Ctrl-C to stop.""")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        service.stop()
        print("wpsnb serve: stopped", file=sys.stderr)
    return EXIT_OK
