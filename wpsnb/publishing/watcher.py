"""``Watcher``: a group's recent history, then its live messages, in order and none twice.

What ``wpsnb tail``, ``StreamView`` and the watch page show. A watcher joins the group, asks the
publishers there for their last lines (a ``history-request`` group message, see
:mod:`wpsnb.protocol.history`), holds live messages back until the answers are in (at most ``wait``
seconds), then hands out the history followed by the live messages. After a brand-new connection (the
session was lost, so messages may have been missed) it asks again and hands out only what it missed.
wpsnb's control messages are never handed out.

Two ways to consume it:

* **iterator**: ``for event in watcher.events(timeout=...)`` yields :class:`~wpsnb.protocol.history.Entry`
  values (``kind`` ``"history"`` or ``"live"``, ``data_type``, ``data``, ``from_user_id``) and
  :class:`StatusChange` values (``state`` ``connected`` / ``disconnected`` / ``reconnected`` /
  ``closed`` and a one-line ``text``), in order; it stops after ``timeout`` s without one, or when the
  watcher closes.
* **callbacks**: ``Watcher(..., on_entry=f, on_status=g)``; they run on a wpsnb thread and must not
  block. With callbacks, :meth:`events` yields nothing.

Roles: with a connection string the watcher's token grants ``webpubsub.joinLeaveGroup.<group>`` and
``webpubsub.sendToGroup.<group>`` (to send the request) and nothing else. With a ``/negotiate`` or
client URL it has what that grants; without ``sendToGroup`` it shows live messages only.

Example::

    >>> with Watcher(service, "train") as watcher:                   # doctest: +SKIP
    ...     for event in watcher.events(timeout=2):
    ...         print(getattr(event, "kind", "status"), getattr(event, "data", event))
    history epoch 1 loss 0.31
    live epoch 2 loss 0.22
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import WebPubSubError
from ..protocol.history import DEFAULT_HISTORY_LINES, DEFAULT_SETTLE, DEFAULT_WAIT, Entry, HistoryMerger
from ..source import Source

log = logging.getLogger("wpsnb.publishing")

State = Literal["connected", "disconnected", "reconnected", "closed"]


@dataclass(frozen=True)
class StatusChange:
    """The watcher's connection changed: ``state`` and a line saying what it means for the reader.

    >>> StatusChange("disconnected", "connection lost; reconnecting").state
    'disconnected'
    """

    state: State
    text: str


Event = Entry | StatusChange


class Watcher:
    """Watches ``group`` on ``source`` (connection string, ``LocalService``, ``/negotiate`` or client URL).

    ``history``: lines to ask each publisher for (0: no history, live messages at once). ``wait``: how
    long to hold live messages back for the answers. ``client_options`` go to :class:`wpsnb.Client`.
    See the module docs for the two ways to read it.
    """

    def __init__(
        self,
        source: Any,
        group: str,
        *,
        hub: str = "stream",
        user_id: str | None = None,
        history: int = DEFAULT_HISTORY_LINES,
        wait: float = DEFAULT_WAIT,
        settle: float = DEFAULT_SETTLE,
        on_entry: Callable[[Entry], Any] | None = None,
        on_status: Callable[[StatusChange], Any] | None = None,
        **client_options: Any,
    ):
        from ..client import Client

        resolved = Source.of(source)
        roles = [f"webpubsub.joinLeaveGroup.{group}", f"webpubsub.sendToGroup.{group}"]
        self.group = group
        self.hub = hub
        self.history = history
        self.client = Client(
            resolved,
            hub=hub,
            **resolved.token_options(user_id=user_id, roles=roles),
            message_buffer=0,
            **client_options,
        )
        self._merger = HistoryMerger(wait=wait, settle=settle, limit=history or None)
        self._on_entry = on_entry
        self._on_status = on_status
        self._events: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        # The merger is fed from the client's thread and the timer's; entries are handed out under the lock
        # too, so they come out in the order the merger produced them.
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._state = "idle"
        self._timer: threading.Thread | None = None
        self._connection_id: str | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    # ---- life ------------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Watcher:
        """Connect, join the group and ask for history; raises what :meth:`wpsnb.Client.connect` raises."""
        client = self.client
        self._unsubscribe += [
            client.on_group_message(self._on_message, self.group),
            client.on_state(self._on_state),
            client.on_connected(self._on_connected),
        ]
        client.connect(timeout=timeout)
        self._connection_id = client.connection_id
        client.join_group(self.group, timeout=timeout)
        self._timer = threading.Thread(target=self._run_timer, name=f"wpsnb-watch-{self.group}", daemon=True)
        self._timer.start()
        self._status("connected", f"listening to group {self.group!r} on hub {self.hub!r}")
        self._ask()
        return self

    def close(self) -> None:
        """Leave and disconnect; :meth:`events` ends."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wake.notify_all()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        try:
            self.client.close(timeout=1.0)
        finally:
            self._events.put(None)

    def __enter__(self) -> Watcher:
        return self.start() if self._timer is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def state(self) -> str:
        """The client's state (see :class:`wpsnb.Client`)."""
        return self.client.state

    # ---- reading ---------------------------------------------------------------------------------

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Entries and status changes in order; stops after ``timeout`` s without one, or when closed."""
        while True:
            try:
                event = self._events.get(timeout=timeout)
            except queue.Empty:
                return
            if event is None:
                self._events.put(None)  # later calls end at once too
                return
            yield event

    # ---- inside ----------------------------------------------------------------------------------

    def _ask(self) -> None:
        if not self.history:
            return
        with self._lock:
            request = self._merger.request(time.monotonic())
            self._wake.notify_all()
        try:
            self.client.send_to_group(self.group, request.to_json(), "json", no_echo=True, ack=False)
        except WebPubSubError as exc:
            log.debug("cannot ask group %r for history: %s", self.group, exc)

    def _on_message(self, message: Any) -> None:
        with self._lock:
            entries = self._merger.receive(message.data_type, message.data, message.from_user_id, time.monotonic())
            if self._merger.waiting:
                self._wake.notify_all()  # an answer may have moved the deadline
            self._hand_out(entries)

    def _run_timer(self) -> None:
        while True:
            with self._lock:
                while not self._closed and self._merger.deadline is None:
                    self._wake.wait()
                if self._closed:
                    return
                deadline = self._merger.deadline
                now = time.monotonic()
                if deadline is not None and now < deadline:
                    self._wake.wait(deadline - now)
                    continue
                self._hand_out(self._merger.tick(now))

    def _on_state(self, state: str) -> None:
        previous, self._state = self._state, state
        if state in ("recovering", "reconnecting") and previous == "connected":
            self._status("disconnected", f"connection lost; {state} (messages from now on wait or are lost)")
        elif state == "connected" and previous == "recovering":
            # (The service may still refuse the session and close this socket: a new connection follows then.)
            self._status("reconnected", "reconnected, resuming the session (nothing is missed if the service kept it)")
        elif state == "closed" and not self._closed:
            error = self.client.error
            self._status("closed", f"the connection ended: {error or 'closed'}")
            self._events.put(None)

    def _on_connected(self, connected: Any) -> None:
        connection_id = getattr(connected, "connection_id", None)
        if self._timer is None or connection_id == self._connection_id:
            return  # the first connection: start() asks once it has joined
        self._connection_id = connection_id
        self._status("reconnected", "reconnected with a new connection; asking for what was missed")
        self._ask()

    def _status(self, state: State, text: str) -> None:
        change = StatusChange(state, text)
        if self._on_status is not None:
            try:
                self._on_status(change)
            except Exception:
                log.exception("a Watcher on_status callback failed")
        else:
            self._events.put(change)

    def _hand_out(self, entries: list[Entry]) -> None:
        if not entries:
            return
        if self._on_entry is None:
            for entry in entries:
                self._events.put(entry)
            return
        for entry in entries:
            try:
                self._on_entry(entry)
            except Exception:
                log.exception("a Watcher on_entry callback failed")


__all__ = ["Event", "StatusChange", "Watcher"]
