"""``wpsnb trace``: everything a local service sees — connections, frames, deliveries, REST calls — one line each.

It reads the service's trace endpoint with the AccessKey of the connection string, so it works for
``wpsnb serve``, ``wpsnb demo`` or a notebook's ``LocalService`` in any other process. Azure's service
has no such endpoint (use the portal's Live Trace tool there).

Example::

    wpsnb trace --connection-string "$WebPubSubConnectionString" --hub stream
    wpsnb trace --json > trace.jsonl          # one JSON record per line; wpsnb.LiveTrace("trace.jsonl") opens it
"""

from __future__ import annotations

import argparse
import json
import sys
import threading

from ..protocol.trace_records import KINDS, matches, trace_line
from ..source import ENV_VARIABLES, environment_connection_string
from ..trace_reader import TraceError, TraceReader
from .console import stop_on_signal
from .failures import EXIT_OK, EXIT_USAGE, CommandFailed

NO_SOURCE = (
    f"no service given: pass --connection-string or set {ENV_VARIABLES[0]}; the trace is a feature of the "
    "local service, so start one with `wpsnb serve` (it prints its connection string) or `wpsnb demo`"
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``trace`` and its options."""
    p = commands.add_parser(
        "trace",
        help="print everything a local service sees, one line per event",
        description="Print a local service's live trace until Ctrl-C: each connection's handshake, "
        "frames in (→) and out (←), deliveries (⇉, with their recipients), REST calls (method, path, "
        "status, latency, body), closes (code, reason, who closed). Local service only: Azure's "
        "portal has its own Live Trace tool.",
    )
    p.add_argument("--hub", default=None, help="only this hub's events (default: every hub)")
    p.add_argument(
        "--connection-string",
        metavar="CS",
        help=f"the local service's connection string (default: ${ENV_VARIABLES[0]} or ${ENV_VARIABLES[1]})",
    )
    p.add_argument("--json", action="store_true", help="print each record as one JSON line (a recording)")
    p.add_argument("--kind", choices=KINDS, default=None, help="only records of this kind")
    p.add_argument("--new", action="store_true", help="only new events (default: first what the service still holds)")
    p.add_argument("--count", type=int, default=0, help="exit after this many records (default: until Ctrl-C)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the trace until Ctrl-C (or ``--count`` records)."""
    source = args.connection_string or environment_connection_string()
    if not source:
        raise CommandFailed(NO_SOURCE)
    try:
        reader = TraceReader(source, hub=args.hub, history=not args.new)
    except ValueError as exc:  # includes an unusable connection string
        raise CommandFailed(f"bad connection string: {exc}", EXIT_USAGE) from None
    except TraceError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    stop = stop_on_signal()
    threading.Thread(target=lambda: (stop.wait(), reader.close()), daemon=True).start()
    filters = {"kind": args.kind or ""}
    printed = dropped = 0
    attached = False
    try:
        for record in reader.records():
            if not attached:  # said once the service accepted the watcher (a refusal is the only line)
                attached = True
                print(f"wpsnb trace: {reader.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
            if record.get("kind") == "watcher":
                if record.get("dropped", 0) > dropped:
                    print(f"wpsnb trace: {record['dropped'] - dropped:,} events skipped (too fast to print all)",
                          file=sys.stderr, flush=True)  # fmt: skip
                    dropped = record["dropped"]
                continue
            if not matches(record, filters):
                continue
            line = json.dumps(record, ensure_ascii=False) if args.json else trace_line(record)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            printed += 1
            if args.count and printed >= args.count:
                break
    except TraceError as exc:
        if not stop.is_set():
            raise CommandFailed(str(exc)) from None
    except BrokenPipeError:  # `wpsnb trace | head`
        pass
    finally:
        reader.close()
    return EXIT_OK
