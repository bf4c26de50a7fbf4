"""``python limited_service.py --files N [--handshake-timeout S]``: a LocalService in a process of its own,
with its open-file limit lowered to N, logging to stderr; prints ``{"port", "connection_string"}`` and
serves until stdin closes. The slowloris and log-flood tests attack it from outside."""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys

from wpsnb.service.local import LocalService


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=0, help="RLIMIT_NOFILE for this process (0: unchanged)")
    parser.add_argument("--handshake-timeout", type=float, default=15.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("wpsnb").propagate = True  # wpsnb's loggers are quiet unless asked
    if args.files:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.files, args.files))
    with LocalService(handshake_timeout=args.handshake_timeout) as service:
        print(json.dumps({"port": service.port, "connection_string": service.connection_string}), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
