"""What the commands do on the terminal: the banner, log lines on stderr, and Ctrl-C as an event.

Example::

    stop = stop_on_signal()
    while not stop.wait(0.5):
        pass
"""

from __future__ import annotations

import logging
import signal
import sys
import threading


def say(text: str) -> None:
    """Print ``text`` to stdout at once (a banner must show before the command blocks).

    >>> say("wpsnb demo: the log-stream page is at http://127.0.0.1:8080/")
    wpsnb demo: the log-stream page is at http://127.0.0.1:8080/
    """
    print(text, flush=True)


def log_to_stderr(level: int) -> None:
    """Send wpsnb's log records from ``level`` up to stderr, one timestamped line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("wpsnb")
    logger.addHandler(handler)
    logger.setLevel(level)


def stop_on_signal() -> threading.Event:
    """An event set by Ctrl-C (SIGINT) or SIGTERM, instead of a KeyboardInterrupt at a random place."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
