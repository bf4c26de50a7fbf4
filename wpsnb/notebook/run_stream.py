"""A run published as a group stream: ``publish_output(..., stream=True)`` / ``%%publish GROUP --stream``.

Next to the ordinary line messages, the block's output goes to the group as one group stream, so a
watcher sees where the run starts (the first fragment, ``{"run": "start", ...}``), its lines (one
fragment per batch of complete lines, ``{"stream": "stdout", "text": "..."}``) and how it ends: the
stream's end, or, when the block raised, an aborted end whose error is ``UserError`` with the
exception (``userErrorCode`` ``"CellFailed"``). The fragments are sent by the publisher's own client
(:meth:`wpsnb.Client.open_group_stream`); lines are handed to its event loop without waiting, one
wake-up per write that completes a line.

Example::

    >>> sink = RunStream.lines_of("epoch 1\\nepo")
    >>> sink
    ('epoch 1\\n', 'epo')
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ..client.loop import shared_loop

STREAM_NAMES = ("stdout", "stderr")


class RunStream:
    """One run's group stream; :meth:`put` is a tee's sink (``(stream, text)``), :meth:`finish` ends it."""

    def __init__(self, writer: Any):
        self.writer = writer  # a wpsnb GroupStreamWriter
        self._pending = ["", ""]  # text of each stream after its last complete line
        self._loop = shared_loop()

    @classmethod
    def open(cls, client: Any, group: str, *, timeout: float = 5.0) -> RunStream | None:
        """Start the stream on ``client`` (a connected :class:`wpsnb.Client`); ``None``, with one line on
        stderr saying why, when it cannot (the run goes on without a stream)."""
        if client is None or client.state != "connected":
            print(f"wpsnb: cannot publish the run to group {group} as a stream: not connected", file=sys.stderr)
            return None
        try:
            writer = client.open_group_stream(group, data_type="json", timeout=timeout)
        except Exception as exc:  # refused (e.g. no sendToGroup role) or no answer: the run goes on
            print(f"wpsnb: cannot publish the run to group {group} as a stream: {exc}", file=sys.stderr)
            return None
        run = cls(writer)
        run._send({"run": "start", "group": group, "at": time.time()})
        return run

    @staticmethod
    def lines_of(text: str) -> tuple[str, str]:
        """``text`` cut after its last newline: (complete lines, the rest)."""
        cut = text.rfind("\n") + 1
        return text[:cut], text[cut:]

    def put(self, item: tuple[int, str]) -> bool:
        """Take a tee's write; complete lines become a fragment."""
        index, text = item
        if index > 1:
            return True
        lines, self._pending[index] = self.lines_of(self._pending[index] + text)
        if lines:
            self._send({"stream": STREAM_NAMES[index], "text": lines})
        return True

    def finish(self, error: BaseException | None) -> None:
        """Send what is left and end the stream (aborted with ``error`` when the run failed)."""
        for index, rest in enumerate(self._pending):
            if rest:
                self._send({"stream": STREAM_NAMES[index], "text": rest})
        self._pending = ["", ""]
        try:
            if error is None:
                self.writer.end()
            else:
                said = " ".join(str(error).split())
                self.writer.abort(f"{type(error).__name__}{': ' + said if said else ''}", user_error_code="CellFailed")
        except Exception as exc:
            print(f"wpsnb: the run's group stream did not end cleanly: {exc}", file=sys.stderr)

    def _send(self, data: dict[str, Any]) -> None:
        self._loop.call_soon_threadsafe(self._write, data)

    def _write(self, data: dict[str, Any]) -> None:  # on the client's loop, in the order of the calls
        try:
            self.writer.async_writer.write_nowait(data)
        except Exception:
            pass  # the stream is over (closed by the service); its writer says why


__all__ = ["RunStream"]
