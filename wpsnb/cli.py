"""The ``wpsnb`` command: ``serve``, ``pipe``, ``tail`` and ``demo``.

The official log-streaming tutorial, reproduced with no cloud account::

    wpsnb demo                                                       # service + /negotiate + page
    ls -R | wpsnb pipe stream --negotiate http://127.0.0.1:8080/negotiate
    # open http://127.0.0.1:8080/ to watch; or in a terminal:
    wpsnb tail stream --negotiate http://127.0.0.1:8080/negotiate

Exit status: 0 on success, 1 when something failed (no service, refused, not acknowledged), 2 for
bad arguments (including an unusable connection string). Every failure is one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import codecs
import ipaddress
import json
import logging
import os
import queue
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .errors import InvalidSource, WebPubSubError
from .source import ENV_VARIABLES, Source, environment_connection_string

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
NO_SOURCE = (
    f"no service given: pass --connection-string or --negotiate, or set {ENV_VARIABLES[0]}; to run one "
    "locally, start `wpsnb serve` (then export the connection string it prints) or `wpsnb demo` (then pass "
    "--negotiate http://127.0.0.1:8080/negotiate)"
)


class CommandFailed(Exception):
    """A failure to report in one line; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED):
        super().__init__(message)
        self.status = status


# ---- serve ---------------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    """Run a LocalService in the foreground until Ctrl-C."""
    from .service.local import LocalService

    _log_to_stderr(logging.INFO)
    stop = _stop_on_signal()  # before anything is printed: a Ctrl-C right after the banner stops cleanly
    try:
        service = LocalService(port=args.port, access_key=args.access_key, host=args.host)
    except ValueError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise CommandFailed(exc.strerror or str(exc)) from None
    connection_string = service.connection_string
    _say(f"""wpsnb local Web PubSub service on {service.endpoint}
  clients connect to ws://{service.endpoint.split("://", 1)[1]}/client/hubs/<hub>; REST API at /api/hubs/<hub>

Connection string:
  {connection_string}

Next, in other terminals:
  export {ENV_VARIABLES[0]}='{connection_string}'
  wpsnb tail stream                # print what the group "stream" receives
  ls -R | wpsnb pipe stream        # publish each line to it
or in a notebook with the variable set: %load_ext wpsnb, then a cell starting with %%publish stream

Press Ctrl-C to stop.""")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        service.stop()
        print("wpsnb serve: stopped", file=sys.stderr)
    return EXIT_OK


# ---- pipe ----------------------------------------------------------------------------------------


def pipe(args: argparse.Namespace) -> int:
    """Publish stdin to a group, line by line; succeed once every line is acknowledged."""
    from .publishing.publisher import Publisher
    from .publishing.tee import TeeStream

    _log_to_stderr(logging.ERROR)
    source = _source(args)
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
    _connect(publisher.start, args, "publish to")
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


# ---- tail ----------------------------------------------------------------------------------------


def tail(args: argparse.Namespace) -> int:
    """Print a group's messages as they arrive, until Ctrl-C (or ``--count`` messages)."""
    from .client import Client

    _log_to_stderr(logging.ERROR)
    source = _source(args)
    try:
        # --json reads the frame journal instead of messages(): no need to buffer the decoded messages too.
        client = Client(
            source,
            hub=args.hub,
            **source.token_options(user_id=args.user, roles=[f"webpubsub.joinLeaveGroup.{args.group}"]),
            **({"message_buffer": 0} if args.json else {}),
        )
    except ValueError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    _connect(lambda: client.connect(timeout=args.connect_timeout), args, "listen to")
    stop = _stop_on_signal()
    frames = _GroupFrames(args.group)
    if args.json:
        client.frames.subscribe(frames.add)
    printer = _TextPrinter()
    try:
        try:
            client.join_group(args.group)
        except WebPubSubError as exc:
            raise CommandFailed(_one_line(exc), _status(exc)) from None
        print(
            f"wpsnb tail: listening to group {args.group!r} on hub {args.hub!r} (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
        received = 0
        while not stop.is_set() and not (args.count and received >= args.count):
            if args.json:
                raw = frames.next(timeout=0.2)
                if raw is not None:
                    sys.stdout.write(raw + "\n")
                    sys.stdout.flush()
                    received += 1
            else:
                for message in client.messages(timeout=0.2):
                    if message.source == "group" and message.group == args.group:
                        printer.message(message)
                        received += 1
                    if stop.is_set() or (args.count and received >= args.count):
                        break
            if client.state == "closed":
                raise CommandFailed(f"the connection ended: {client.error or 'closed'}")
    finally:
        client.close(timeout=1.0)
        printer.finish()
    return EXIT_OK


class _TextPrinter:
    """Writes messages as terminal text: text data as it is (it carries its own line ends), the rest one per line."""

    def __init__(self) -> None:
        self.at_line_start = True

    def message(self, message: Any) -> None:
        data = message.data
        if message.data_type == "text":
            text = data if ("\n" in data or "\r" in data) else data + "\n"
        elif message.data_type == "json":
            text = _log_record_line(data) or json.dumps(data, ensure_ascii=False)
            text += "\n"
        else:
            text = f"<{message.data_type}: {len(data)} bytes> {base64.b64encode(data).decode('ascii')}\n"
        if not self.at_line_start and not text.startswith("\r"):
            text = "\n" + text  # do not glue a new line to a progress line still in progress
        sys.stdout.write(text)
        sys.stdout.flush()
        self.at_line_start = text.endswith("\n")

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


# ---- demo ----------------------------------------------------------------------------------------


def demo(args: argparse.Namespace) -> int:
    """The tutorial's server: a local service, /negotiate and the log-stream page, until Ctrl-C."""
    from aiohttp import web

    from .demo import DEMO_GROUP, DEMO_ROLES, build_demo_app
    from .service.local import LocalService

    # Bind the page's port first: a busy port fails before anything else starts.
    try:
        listener = socket.create_server((args.host, args.port), reuse_port=False)
    except OSError as exc:
        raise CommandFailed(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; pass another --port (0 picks a free one)"
        ) from None
    _log_to_stderr(logging.INFO)
    try:
        service = LocalService(port=args.service_port, host=args.host)
    except OSError as exc:
        listener.close()
        raise CommandFailed(exc.strerror or str(exc)) from None

    async def run() -> None:
        runner = web.AppRunner(build_demo_app(service), access_log=None, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, listener).start()
        page = f"http://{_url_host(args.host)}:{listener.getsockname()[1]}/"
        _say(f"""wpsnb demo: the log-stream page is at {page}
  {page}negotiate grants {" and ".join(DEMO_ROLES)} (hub "stream")
  the service is at {service.endpoint}; connection string:
  {service.connection_string}

Next: open {page} in a browser, then in another terminal:
  ls -R | wpsnb pipe {DEMO_GROUP} --negotiate {page}negotiate
and watch the lines arrive. `wpsnb tail {DEMO_GROUP} --negotiate {page}negotiate` shows them in a terminal.

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
        asyncio.run(run())
    finally:
        service.stop()
        listener.close()
        print("wpsnb demo: stopped", file=sys.stderr)
    return EXIT_OK


# ---- shared --------------------------------------------------------------------------------------


def _source(args: argparse.Namespace) -> Source:
    from .protocol.names import group_name_problem

    problem = group_name_problem(args.group)
    if problem:
        raise CommandFailed(problem, EXIT_USAGE)
    if args.connection_string:
        source = args.connection_string
    elif args.negotiate:
        source = args.negotiate
        if not source.lower().startswith(("http://", "https://")):
            raise CommandFailed(
                f"--negotiate needs an http(s):// URL (e.g. http://127.0.0.1:8080/negotiate), got {source!r}",
                EXIT_USAGE,
            )
    else:
        source = environment_connection_string()
        if source is None:
            raise CommandFailed(NO_SOURCE)
    try:
        resolved = Source.of(source)  # reject an unusable source before connecting
    except InvalidSource as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    if resolved.mints_tokens:
        from .protocol.tokens import ConnectionString

        try:
            ConnectionString.parse(resolved.value)
        except ValueError as exc:
            raise CommandFailed(f"bad connection string: {exc}", EXIT_USAGE) from None
    return resolved


def _connect(connect: Callable[[], Any], args: argparse.Namespace, what: str) -> None:
    try:
        connect()
    except InvalidSource as exc:
        raise CommandFailed(_one_line(exc), EXIT_USAGE) from None
    except (WebPubSubError, OSError, TimeoutError) as exc:
        raise CommandFailed(f"cannot {what} group {args.group!r}: {_one_line(exc)}") from None
    except ValueError as exc:
        raise CommandFailed(_one_line(exc), EXIT_USAGE) from None


def _status(exc: BaseException) -> int:
    return EXIT_USAGE if isinstance(exc, InvalidSource) else EXIT_FAILED


def _one_line(exc: BaseException) -> str:
    name = getattr(exc, "name", None) or type(exc).__name__
    text = " ".join(str(exc).split())
    return f"{name}: {text}" if name and not text.startswith(name) else text


def _say(text: str) -> None:
    print(text, flush=True)


def _log_to_stderr(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("wpsnb")
    logger.addHandler(handler)
    logger.setLevel(level)


def _stop_on_signal() -> threading.Event:
    """An event set by Ctrl-C (SIGINT) or SIGTERM, instead of a KeyboardInterrupt at a random place."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


# ---- the parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``wpsnb`` argument parser (one sub-command each for serve, pipe, tail, demo)."""
    parser = argparse.ArgumentParser(
        prog="wpsnb",
        description="Azure Web PubSub's client subprotocol, offline: a local service, the log-stream "
        "tutorial's tools, and a notebook toolkit.",
        epilog="Exit status: 0 success; 1 failure (no service, refused, not acknowledged); 2 bad arguments.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    p.set_defaults(run=serve)

    p = commands.add_parser(
        "pipe",
        help="publish each stdin line to a group",
        description="Publish stdin to GROUP, line by line, as text messages (the tutorial's "
        "stream.py). Carriage-return progress lines are sent as updates of one line. "
        "Exits 0 once every line is acknowledged by the service, else 1 with the "
        "reason.",
    )
    _add_group_arguments(p)
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
    p.set_defaults(run=pipe)

    p = commands.add_parser(
        "tail",
        help="print a group's messages as they arrive",
        description="Join GROUP and print its messages as they arrive until Ctrl-C: text as it "
        "is, JSON one per line (LogHandler records as 'time LEVEL logger: message').",
    )
    _add_group_arguments(p)
    p.add_argument("--json", action="store_true", help="print each received message frame raw, one per line")
    p.add_argument("--count", type=int, default=0, help="exit after this many messages (default: run until Ctrl-C)")
    p.set_defaults(run=tail)

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
    p.set_defaults(run=demo)
    return parser


def _add_group_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("group", metavar="GROUP", help="the group")
    p.add_argument("--hub", default="stream", help="the hub (default: stream)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--connection-string",
        metavar="CS",
        help=f"the service's connection string (default: ${ENV_VARIABLES[0]} or ${ENV_VARIABLES[1]})",
    )
    where.add_argument(
        "--negotiate",
        metavar="URL",
        help="a /negotiate endpoint that hands out client URLs (e.g. the one `wpsnb demo` prints)",
    )
    p.add_argument("--user", default=None, help="the user id to connect as (with a connection string or /negotiate)")
    p.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to wait for the connection")


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
            f"wpsnb {args.command}: unexpected {_one_line(exc)} (set WPSNB_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
