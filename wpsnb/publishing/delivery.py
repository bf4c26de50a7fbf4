"""Delivering a publisher's messages: handed to its client's non-blocking send, and accounted for as answered.

The :class:`~wpsnb.publishing.Publisher`'s worker packs what it took from the queue into messages and
hands them here. :class:`Delivery` gives each to the client as it is made — no window of its own: the
client writes them under its own flow control — and the client's thread answers each one (an ack or an
error). An answer counts the message's lines as published or failed, may stop publishing for good (a
refusal, a closed client: :data:`FATAL`), wakes the flushes waiting for it, and, once every message made
from one drain is answered, gives that drain's writes back to the publisher's bound (``release``).

Example::

    >>> describe_error(ValueError("data is  not\\nJSON"))
    'ValueError: data is not JSON'
    >>> delivery = Delivery("train", stats, lock, connected, release=release, on_failure=refuse)  # doctest: +SKIP
    >>> delivery.client = client                                # doctest: +SKIP
    >>> delivery.send(messages, writes=3)                       # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ..errors import Forbidden, NotConnected, RecoveryFailed, WebPubSubError
from .items import PublishStats
from .packing import Message
from .responder import HistoryResponder

log = logging.getLogger("wpsnb.publishing")

# Errors after which nothing more can be published by this client.
FATAL = (Forbidden, NotConnected, RecoveryFailed)


class Delivery:
    """Sends a publisher's messages to ``group`` through :attr:`client` and counts their answers in ``stats``.

    ``lock`` is the publisher's (it guards the stats and these counters); ``connected`` is set once the
    client has connected (until then, as with ``fail_soft`` and an unreachable service, messages count as
    failed). ``release(writes)`` gives writes back to the publisher's bound; ``on_failure()`` is called,
    with the lock held, when publishing stops for good (:attr:`failure` says why).
    """

    def __init__(
        self,
        group: str,
        stats: PublishStats,
        lock: threading.Lock,
        connected: threading.Event,
        *,
        release: Callable[[int], None],
        on_failure: Callable[[], None],
        client: Any = None,
    ):
        self.group = group
        self.stats = stats
        self.client: Any = client
        self.responder: HistoryResponder | None = None  # set once connected, if history is on
        self.failure: BaseException | None = None  # what stopped publishing (set under the lock)
        self.in_flight_lines = 0  # lines handed to the client, not answered yet (under the lock)
        self._lock = lock
        self._connected = connected
        self._release = release
        self._on_failure = on_failure
        self._submitted = 0  # messages handed to the client, ever
        self._answered_count = 0  # ... and answered (acknowledged or failed)
        self._flush_waiters: list[tuple[int, threading.Event]] = []

    def send(self, messages: list[Message], writes: int) -> None:
        """Hand ``messages`` to the client (no window of our own: the client's flow control applies).

        ``writes``: the queue items they came from, released from the bound once all are answered.
        """
        if not messages:
            self._release(writes)
            return
        batch = _Batch(writes, len(messages))
        for message in messages:
            with self._lock:
                if self.failure is not None:
                    self.stats.failed += message.lines
                    skipped = True
                elif not self._connected.is_set():  # fail_soft and the service unreachable: count it, go on
                    self.stats.failed += message.lines
                    self.stats.error = self.stats.error or "the service was unreachable"
                    skipped = True
                else:
                    self.in_flight_lines += message.lines
                    self._submitted += 1
                    skipped = False
            if skipped:
                self._settle(batch)
            else:
                self._submit(message, batch)

    def when_answered(self, event: threading.Event) -> None:
        """Set ``event`` once every message handed to the client so far is answered."""
        with self._lock:
            if self._answered_count >= self._submitted:
                event.set()
            else:
                self._flush_waiters.append((self._submitted, event))

    def wake_flushes(self) -> None:
        """Set every event still waiting for answers (the worker stopped: none will wait longer)."""
        with self._lock:
            for _, event in self._flush_waiters:
                event.set()
            self._flush_waiters.clear()

    def _submit(self, message: Message, batch: _Batch) -> None:
        # Encoded here, written and acknowledged on the client's thread; the future settles on an answer.
        responder = self.responder
        listening = responder is not None and responder.listening
        client = self.client

        def send() -> Any:  # joined to hear history requests: do not hear our own messages too
            return client.send_to_group(self.group, message.data, message.data_type, no_echo=listening, wait=False)

        try:
            future = responder.send(message.data_type, message.data, message.lines, send) if listening else send()  # type: ignore[union-attr]
        except (WebPubSubError, ValueError, TypeError) as exc:
            self._answered(message.lines, batch, exc)
            return
        future.add_done_callback(lambda done: self._answered(message.lines, batch, done.exception()))

    def _answered(self, lines: int, batch: _Batch, error: BaseException | None) -> None:
        with self._lock:
            self.in_flight_lines -= lines
            self._answered_count += 1
            stats = self.stats
            if error is None:
                stats.lines += lines
                stats.messages += 1
            else:
                stats.failed += lines
                if stats.error is None:
                    stats.error = describe_error(error)
                    log.warning("publishing to group %r failed: %s", self.group, error)
                if isinstance(error, FATAL) and self.failure is None:
                    self.failure = error
                    self._on_failure()
            if self._flush_waiters:
                answered = self._answered_count
                still = []
                for target, event in self._flush_waiters:
                    if answered >= target:
                        event.set()
                    else:
                        still.append((target, event))
                self._flush_waiters = still
        self._settle(batch)

    def _settle(self, batch: _Batch) -> None:
        with self._lock:
            batch.outstanding -= 1
            if batch.outstanding:
                return
        self._release(batch.writes)


class _Batch:
    """The messages made from one drain of the queue: its writes leave the bound when all are answered."""

    __slots__ = ("writes", "outstanding")

    def __init__(self, writes: int, outstanding: int):
        self.writes = writes
        self.outstanding = outstanding


def describe_error(error: BaseException | None) -> str:
    """One line saying what failed, led by the error's name (``stats.error``).

    >>> describe_error(None)
    'unknown error'
    """
    if error is None:
        return "unknown error"
    name = getattr(error, "name", None) or type(error).__name__
    text = " ".join(str(error).split())
    return text if text.startswith(name) else f"{name}: {text}"


__all__ = ["FATAL", "Delivery", "describe_error"]
