"""``wpsnb serve``: a local Web PubSub service in the foreground until Ctrl-C.

Example::

    wpsnb serve --port 8080        # prints the connection string to export
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

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
    p.add_argument(
        "--event-handler",
        action="append",
        default=[],
        metavar="HUB=URL_TEMPLATE",
        help="send HUB's events to an upstream event handler (repeatable; the first that matches wins): every "
        "user event and connect/connected/disconnected, e.g. chat=http://127.0.0.1:3000/api/webpubsub/hubs/{hub}/ "
        "({hub} and {event} are filled in)",
    )
    p.add_argument(
        "--event-handlers",
        default=None,
        metavar="FILE.json",
        help='event handler settings as JSON: {"chat": [{"url_template": "...", "user_event_pattern": "*", '
        '"system_events": ["connect"]}]} (comes before --event-handler ones)',
    )
    p.add_argument(
        "--outbound-budget",
        type=_mebibytes,
        default=None,
        metavar="MIB",
        help="unsent bytes, all connections together, before those holding the most are closed "
        "(default 256 MiB; 0: no bound; see docs/limits.md)",
    )
    p.add_argument(
        "--handshake-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="time a connection may take to send a complete HTTP request (default 15)",
    )
    p.add_argument(
        "--keepalive",
        type=float,
        default=None,
        metavar="SECONDS",
        help="ping a WebSocket silent this long, close it if no pong comes within half that (default 20; 0: never)",
    )
    p.set_defaults(run=run)


def _mebibytes(text: str) -> int:
    """``--outbound-budget`` in MiB, as bytes.

    >>> _mebibytes("512")
    536870912
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of MiB, e.g. 512") from None
    if value < 0:
        raise argparse.ArgumentTypeError("the budget cannot be negative; use 0 for no bound")
    return int(value * 2**20)


def _limits(args: argparse.Namespace) -> dict[str, Any]:
    """The LocalService keyword arguments of the limit flags that were given."""
    limits: dict[str, Any] = {}
    if args.outbound_budget is not None:
        limits["outbound_budget"] = args.outbound_budget or None
    if args.handshake_timeout is not None:
        limits["handshake_timeout"] = args.handshake_timeout
    if args.keepalive is not None:
        limits["keepalive_interval"] = args.keepalive or None
    return limits


def event_handlers(flags: list[str], settings_file: str | None) -> dict[str, list[dict[str, Any]]]:
    """The ``event_handlers`` for LocalService from ``--event-handlers FILE`` and ``--event-handler HUB=URL``.

    >>> event_handlers(["chat=http://127.0.0.1:3000/{event}"], None)["chat"][0]["system_events"]
    ['connect', 'connected', 'disconnected']
    """
    handlers: dict[str, list[dict[str, Any]]] = {}
    if settings_file is not None:
        try:
            with open(settings_file, encoding="utf-8") as stream:
                loaded = json.load(stream)
        except OSError as exc:
            raise CommandFailed(f"cannot read --event-handlers {settings_file}: {exc.strerror}", EXIT_USAGE) from None
        except ValueError as exc:
            raise CommandFailed(f"--event-handlers {settings_file} is not JSON: {exc}", EXIT_USAGE) from None
        if not isinstance(loaded, dict):
            raise CommandFailed(f"--event-handlers {settings_file}: expected an object of hub -> settings", EXIT_USAGE)
        for hub, settings in loaded.items():
            handlers.setdefault(hub, []).extend(settings if isinstance(settings, list) else [settings])
    for flag in flags:
        hub, sep, url = flag.partition("=")
        if not sep or not hub or not url:
            raise CommandFailed(
                f"--event-handler {flag!r}: write HUB=URL_TEMPLATE, e.g. chat=http://127.0.0.1:3000/api/{{hub}}/",
                EXIT_USAGE,
            )
        handlers.setdefault(hub, []).append(
            {"url_template": url, "user_event_pattern": "*", "system_events": ["connect", "connected", "disconnected"]}
        )
    return handlers


def run(args: argparse.Namespace) -> int:
    """Run a LocalService in the foreground until Ctrl-C."""
    from ..service.local import LocalService

    log_to_stderr(logging.INFO)
    stop = stop_on_signal()  # before anything is printed: a Ctrl-C right after the banner stops cleanly
    try:
        handlers = event_handlers(args.event_handler, args.event_handlers)
        service = LocalService(
            port=args.port,
            access_key=args.access_key,
            host=args.host,
            trace=not args.no_trace,
            event_handlers=handlers,
            **_limits(args),
        )
    except ValueError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise CommandFailed(exc.strerror or str(exc)) from None
    connection_string = service.connection_string
    upstream = "".join(
        f"\n  event handler: hub {hub} -> {setting['url_template']}"
        for hub, settings in handlers.items()
        for setting in settings
    )
    say(f"""wpsnb local Web PubSub service on {service.endpoint}
  clients connect to ws://{service.endpoint.split("://", 1)[1]}/client/hubs/<hub>; REST API at /api/hubs/<hub>{upstream}

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
