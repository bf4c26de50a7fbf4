"""``wpsnb demo``: the log-stream tutorial's server (a local service, ``/negotiate`` and the page) until Ctrl-C.

Example::

    wpsnb demo --port 8080         # then open http://127.0.0.1:8080/
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import socket
import sys

from .console import log_to_stderr, say
from .failures import EXIT_OK, CommandFailed


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``demo`` and its options.

    >>> parser = argparse.ArgumentParser(prog="wpsnb")
    >>> add_parser(parser.add_subparsers())
    >>> parser.parse_args(["demo", "--service-port", "9000"]).service_port
    9000
    """
    p = commands.add_parser(
        "demo",
        help="the log-stream tutorial's server: local service, /negotiate and a page",
        description="Start a local service and a web app with the log-stream page at / and "
        "/negotiate, which grants webpubsub.sendToGroup.stream and "
        "webpubsub.joinLeaveGroup.stream on the hub 'stream'. Ctrl-C stops both.",
    )
    p.add_argument("--port", type=int, default=8080, help="port of the page and /negotiate (default 8080)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--service-port", type=int, default=0, help="port of the Web PubSub service itself (default: a free one)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The tutorial's server: a local service, /negotiate and the log-stream page, until Ctrl-C."""
    from aiohttp import web

    from ..demo import DEMO_GROUP, DEMO_ROLES, build_demo_app
    from ..service.local import LocalService

    # Bind the page's port first: a busy port fails before anything else starts.
    try:
        listener = socket.create_server((args.host, args.port), reuse_port=False)
    except OSError as exc:
        raise CommandFailed(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; pass another --port (0 picks a free one)"
        ) from None
    log_to_stderr(logging.INFO)
    try:
        service = LocalService(port=args.service_port, host=args.host)
    except OSError as exc:
        listener.close()
        raise CommandFailed(exc.strerror or str(exc)) from None

    async def serve_page() -> None:
        runner = web.AppRunner(build_demo_app(service), access_log=None, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, listener).start()
        page = f"http://{_url_host(args.host)}:{listener.getsockname()[1]}/"
        say(f"""wpsnb demo: the log-stream page is at {page}
  {page}negotiate grants {" and ".join(DEMO_ROLES)} (hub "stream")
  the service is at {service.endpoint}; connection string:
  {service.connection_string}

Next: open {page} in a browser, then in another terminal:
  ls -R | wpsnb pipe {DEMO_GROUP} --negotiate {page}negotiate
and watch the lines arrive. `wpsnb tail {DEMO_GROUP} --negotiate {page}negotiate` shows them in a terminal;
`wpsnb trace --connection-string '{service.connection_string}'` shows every frame the service sees.

Press Ctrl-C to stop.""")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve_page())
    finally:
        service.stop()
        listener.close()
        print("wpsnb demo: stopped", file=sys.stderr)
    return EXIT_OK


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host
