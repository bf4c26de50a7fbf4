"""What a client does with what arrives: messages to ``messages()`` and the subscribed ``on_*`` callbacks,
acks and refusals to the requests waiting for them, answers to invocations and group streams.

:class:`Subscriptions` is who asked for what: callbacks by kind (``message``, ``group``, ``server``,
``stream``, ``connected``, ``disconnected``, ``state``); ``group`` and ``stream`` subscriptions may name
one group. Routing only *queues* the calls, through ``submit`` (a
:class:`~wpsnb.client.callbacks.Dispatcher`'s), so it never blocks the socket reader. The table is
replaced, never changed in place, so subscribing from inside a callback is safe.

:class:`Receiver` acts on the events the session makes of each frame. A refused fire-and-forget
request (nobody waits for it) is logged once per kind of failure; the rest are only counted.

Example::

    >>> subscriptions = Subscriptions(lambda callback, argument: callback(argument))
    >>> unsubscribe = subscriptions.on("group", lambda message: print("lab:", message.data), group="lab")
    >>> subscriptions.deliver(DataMessage(source="group", group="lab", data="hi", data_type="text"))
    lab: hi
    >>> subscriptions.deliver(DataMessage(source="group", group="other", data="no", data_type="text"))
    >>> unsubscribe()
    >>> subscriptions.deliver(DataMessage(source="group", group="lab", data="gone", data_type="text"))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..protocol.client_session import Acked, Refused, Unreadable, WindowOpen
from ..protocol.messages import DataMessage, InvokeResponse, StreamAck, StreamClosed, StreamNack
from ..protocol.pending_requests import PendingRequest
from .group_stream import StreamWriters
from .inbox import Inbox
from .invocations import Invocations
from .requests import request_failed, settle

log = logging.getLogger("wpsnb.client")

KINDS = ("message", "group", "server", "stream", "connected", "disconnected", "state")
BY_GROUP = ("group", "stream")  # subscriptions to these kinds may name one group


class Subscriptions:
    """One client's callbacks by kind; ``submit(callback, argument)`` queues a call."""

    def __init__(self, submit: Callable[[Callable[[Any], Any], Any], None]):
        self._submit = submit
        self._callbacks: dict[str, tuple[Any, ...]] = {kind: () for kind in KINDS}

    def on(self, kind: str, callback: Callable[[Any], Any], group: str | None = None) -> Callable[[], None]:
        """Subscribe ``callback`` to ``kind`` (of ``group`` only, for ``group``/``stream``); returns a
        function that unsubscribes."""
        entry: Any = (callback, group) if kind in BY_GROUP else callback
        self._callbacks[kind] = (*self._callbacks[kind], entry)

        def unsubscribe() -> None:
            self._callbacks[kind] = tuple(e for e in self._callbacks[kind] if e is not entry)

        return unsubscribe

    def wants(self, kind: str) -> bool:
        """Whether any callback is subscribed to ``kind``."""
        return bool(self._callbacks[kind])

    def emit(self, kind: str, argument: Any) -> None:
        """Queue ``callback(argument)`` for every callback of ``kind`` (not one routed by group)."""
        for callback in self._callbacks[kind]:
            self._submit(callback, argument)

    def deliver(self, message: DataMessage) -> None:
        """Queue the calls a received message means: ``message`` callbacks, then ``group`` ones (and
        ``stream`` ones for a stream fragment) of its group, or ``server`` ones."""
        callbacks, submit = self._callbacks, self._submit
        for callback in callbacks["message"]:
            submit(callback, message)
        if message.source == "group":
            for callback, group in callbacks["group"]:
                if group is None or group == message.group:
                    submit(callback, message)
            if message.stream is not None:
                for callback, group in callbacks["stream"]:
                    if group is None or group == message.group:
                        submit(callback, message)
        else:
            for callback in callbacks["server"]:
                submit(callback, message)


class Receiver:
    """Routes the events of one client's session to where they are awaited; ``wake_writer()`` is called
    when the writer has something new to write (the ack window opened, fragments to resend)."""

    def __init__(
        self,
        inbox: Inbox,
        subscriptions: Subscriptions,
        invocations: Invocations,
        stream_writers: StreamWriters,
        wake_writer: Callable[[], None],
    ):
        self._inbox = inbox
        self._subscriptions = subscriptions
        self._invocations = invocations
        self._stream_writers = stream_writers
        self._wake_writer = wake_writer
        self._warned_failures: set[str] = set()

    def events(self, events: list[Any]) -> None:
        """Act on what the session made of a frame (its first event, the frame itself, is journaled)."""
        events_after_the_frame = iter(events)
        next(events_after_the_frame)
        for event in events_after_the_frame:
            kind = type(event)
            if kind is DataMessage:
                self._inbox.put(event)
                self._subscriptions.deliver(event)
            elif kind is Acked:
                request = event.request
                settle(request.waiter, request.ack_id)
            elif kind is Refused:
                self._refused(event.request, event.ack)
            elif kind is WindowOpen:
                self._wake_writer()
            elif kind is InvokeResponse:
                self._invocations.answered(event)
            elif kind is StreamAck or kind is StreamNack or kind is StreamClosed:
                self._stream_writers.replied(event)
                if kind is StreamNack:
                    self._wake_writer()  # the fragments to resend are queued
            elif kind is Unreadable:
                log.warning("ignored a frame the client cannot parse: %s", event.error)

    def _refused(self, request: PendingRequest, ack: Any) -> None:
        failure = request_failed(ack, request.message)
        if request.waiter is None:
            key = f"{failure.name}:{type(request.message).__name__}"
            if key not in self._warned_failures:
                self._warned_failures.add(key)
                log.warning(
                    "a fire-and-forget request failed (further %s failures are only counted in client.stats): %s",
                    failure.name,
                    failure,
                )
        settle(request.waiter, error=failure)


__all__ = ["BY_GROUP", "KINDS", "Receiver", "Subscriptions"]
