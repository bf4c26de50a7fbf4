"""``HistoryResponder``: a publisher's memory of its last lines, and its answers to watchers' requests.

The publisher's client joins its own group (``webpubsub.joinLeaveGroup.<group>``) to hear
``history-request`` messages, and sends everything with ``noEcho`` so it does not hear itself. Every
message the publisher sends goes through :meth:`HistoryResponder.send`, which numbers it and keeps it
(:class:`wpsnb.protocol.history.HistoryLog`) under the same lock that an answer is built and sent under:
an answer's ``through`` is exactly what was sent before it, on the same connection, so watchers can
merge it with the live messages (see :mod:`wpsnb.protocol.history` and ``docs/history.md``).

Requests arriving together (several watchers opening at once) get one answer: the first request
schedules it ``delay`` seconds later, and the answer names every request received meanwhile. The
responder lives as long as its client: for ``%%publish`` that is the kernel's life, so a watcher that
opens after the cell ended still gets the cell's lines.

Example::

    >>> responder = HistoryResponder(client, "train")             # doctest: +SKIP
    >>> responder.start()                                         # doctest: +SKIP
    True
    >>> responder.send("text", "epoch 1\\n", 1, lambda: client.send_to_group(   # doctest: +SKIP
    ...     "train", "epoch 1\\n", "text", no_echo=True, ack=False))
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import WebPubSubError
from ..protocol.history import DEFAULT_HISTORY_LINES, HistoryLog, HistoryRequest, parse_control

log = logging.getLogger("wpsnb.publishing")

T = TypeVar("T")


class HistoryResponder:
    """Keeps the last ``max_lines`` lines sent to ``group`` by ``client`` and answers history requests.

    ``start()`` joins the group; if the token does not allow it (no ``joinLeaveGroup`` role), history is
    off and :attr:`listening` stays ``False`` — publishing itself is unaffected.
    """

    def __init__(self, client: Any, group: str, max_lines: int = DEFAULT_HISTORY_LINES, delay: float = 0.05):
        self.client = client
        self.group = group
        self.delay = delay
        self.log = HistoryLog(max_lines)
        self.listening = False
        self.answers = 0
        self._lock = threading.Lock()  # numbering a message and handing it to the client: one step
        self._waiting: list[HistoryRequest] = []
        self._timer: threading.Timer | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def publisher_id(self) -> str:
        """This publisher's id in answers (random per publisher: a restarted one is a new publisher)."""
        return self.log.id

    def start(self, timeout: float = 10.0) -> bool:
        """Join the group to hear requests; ``False`` (history off) if the service refuses."""
        if self.log.max_lines == 0:
            return False
        self._unsubscribe = self.client.on_group_message(self._on_message, self.group)
        try:
            self.client.join_group(self.group, timeout=timeout)
        except (WebPubSubError, TimeoutError) as exc:
            log.debug("history is off for group %r: cannot join it (%s)", self.group, exc)
            self._unsubscribe()
            self._unsubscribe = None
            return False
        self.listening = True
        return True

    def send(self, data_type: str, data: Any, lines: int, submit: Callable[[], T]) -> T:
        """Number and keep one message, and hand it to the client with ``submit()``, as one step."""
        with self._lock:
            self.log.record(data_type, data, lines)
            return submit()

    def close(self) -> None:
        """Stop answering (the client is closed by its owner)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.listening = False

    def _on_message(self, message: Any) -> None:
        # On the client's thread: only look, never wait.
        if message.data_type != "json":
            return
        request = parse_control(message.data)
        if not isinstance(request, HistoryRequest):
            return
        with self._lock:
            self._waiting.append(request)
            if self._timer is None:
                self._timer = threading.Timer(self.delay, self._answer)
                self._timer.name = f"wpsnb-history-{self.group}"
                self._timer.daemon = True
                self._timer.start()

    def _answer(self) -> None:
        with self._lock:
            requests, self._waiting, self._timer = self._waiting, [], None
            if not requests or not self.listening:
                return
            limits = [r.limit for r in requests]
            limit = None if None in limits else max(limit for limit in limits if limit is not None)
            chunks = self.log.answer([r.request for r in requests], limit)
            try:
                for chunk in chunks:
                    self.client.send_to_group(self.group, chunk, "json", no_echo=True, ack=False)
            except WebPubSubError as exc:  # the client closed meanwhile: nobody to answer
                log.debug("cannot answer a history request on group %r: %s", self.group, exc)
                return
            self.answers += 1


__all__ = ["HistoryResponder"]
