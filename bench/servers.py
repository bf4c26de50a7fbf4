"""Servers under test, each in a process of its own pinned to one CPU.

``python -m bench.servers service|baseline [--cpu N]`` starts the wpsnb local service
(:class:`wpsnb.LocalService`) or the bare aiohttp :mod:`bench.baseline_server`, prints one JSON line
with its port (and connection string), and serves until its standard input closes. A separate
process keeps the server's CPU apart from the load generator's and lets us read its CPU time and
memory from ``/proc``.

Example::

    with ServerProcess("service", cpu=0) as server:
        print(server.port, server.connection_string)
        before = server.cpu()
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .machine import CpuTimes, pin_to_cpu, process_cpu, raise_open_file_limit, rss_bytes

KINDS = ("service", "baseline")
ROOT = Path(__file__).resolve().parent.parent


class ServerProcess:
    """A server under test in a child process; ``stop()`` (or leaving the ``with``) ends it."""

    def __init__(
        self, kind: str, *, cpu: int | None = None, trace: bool = True, event_handlers: dict[str, Any] | None = None
    ):
        if kind not in KINDS:
            raise ValueError(f"unknown server kind {kind!r}; use one of {', '.join(KINDS)}")
        self.kind = kind
        command = [sys.executable, "-m", "bench.servers", kind]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        if not trace:
            command.append("--no-trace")
        if event_handlers:
            command += ["--event-handlers", json.dumps(event_handlers)]
        self._process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self._process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self._process.wait(5)
            raise RuntimeError(
                f"the {kind} server process exited with {self._process.returncode} before "
                "printing its port; run `python -m bench.servers {kind}` to see why"
            )
        started = json.loads(line)
        self.port: int = started["port"]
        self.connection_string: str | None = started.get("connection_string")

    @property
    def pid(self) -> int:
        return self._process.pid

    def cpu(self) -> CpuTimes:
        """CPU time the server process has used so far."""
        return process_cpu(self.pid)

    def rss(self) -> int:
        """The server's resident memory in bytes."""
        return rss_bytes(self.pid)

    def stop(self) -> None:
        """Close the server's standard input and wait for it to end (kill it after 10 s)."""
        if self._process.poll() is None:
            self._process.stdin.close()  # type: ignore[union-attr]
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve until standard input closes."""
    parser = argparse.ArgumentParser(prog="python -m bench.servers", description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    parser.add_argument("--no-trace", action="store_true", help="run the service with its trace recorder off")
    parser.add_argument("--event-handlers", default=None, help="the service's event_handlers, as JSON")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("BENCH_SERVER_LOG", "WARNING"),
        help="logging level of the server (default: $BENCH_SERVER_LOG or WARNING)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format=f"[{args.kind}] %(levelname)s %(message)s")
    pin_to_cpu(args.cpu)
    raise_open_file_limit()
    if args.kind == "service":
        from wpsnb.service.local import LocalService

        # No keepalive pings: the load generator's raw subscribers (wsraw.py) never answer them, and a round
        # that waits for a quiet machine leaves the other targets' sockets silent for longer than 30 s.
        handlers = json.loads(args.event_handlers) if args.event_handlers else None
        server = LocalService(port=0, trace=not args.no_trace, keepalive_interval=None, event_handlers=handlers)
        started = {"port": server.port, "connection_string": server.connection_string}
    else:
        from .baseline_server import BaselineServer

        server = BaselineServer().start()
        started = {"port": server.port}
    print(json.dumps(started), flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
