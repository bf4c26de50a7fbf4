"""An app server built on our ``wpsnb.handler`` library that behaves like ``tests/js/upstream.mjs``, so the
same scenarios run with either library as the upstream.

The client chooses: the connect query (``?user=&roles=a,b&groups=a,b&subprotocol=&reject=401&state=``)
and the user event's name (echo, count, binary, none, fail, whoami). Every callback is recorded.
"""

from __future__ import annotations

import queue
from typing import Any

from wpsnb.handler import (
    ConnectedRequest,
    ConnectRequest,
    ConnectResponse,
    DisconnectedRequest,
    EventHandler,
    EventHandlerError,
    UserEventRequest,
    UserEventResponse,
)


def first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


class Recorder:
    """The callbacks of one handler, and what they saw."""

    def __init__(self) -> None:
        self.seen: queue.Queue[tuple[str, Any]] = queue.Queue()

    def next(self, kind: str, timeout: float = 10.0) -> Any:
        while True:
            got, request = self.seen.get(timeout=timeout)
            if got == kind:
                return request

    def connect(self, request: ConnectRequest) -> ConnectResponse | None:
        self.seen.put(("connect", request))
        query = request.query
        if first(query, "reject"):
            raise EventHandlerError(int(first(query, "reject") or 401), "rejected by the test handler")
        if first(query, "state"):
            request.context.states["greeting"] = first(query, "state")
        answer = ConnectResponse(
            user_id=first(query, "user"),
            roles=(first(query, "roles") or "").split(",") if first(query, "roles") else None,
            groups=(first(query, "groups") or "").split(",") if first(query, "groups") else None,
            subprotocol=first(query, "subprotocol"),
        )
        return answer if answer.to_json() else None

    def connected(self, request: ConnectedRequest) -> None:
        self.seen.put(("connected", request))

    def disconnected(self, request: DisconnectedRequest) -> None:
        self.seen.put(("disconnected", request))

    async def user_event(self, request: UserEventRequest) -> Any:
        self.seen.put(("user", request))
        name = request.context.event_name
        if name == "fail":
            raise EventHandlerError(500, "the test handler fails this event")
        if name == "none":
            return None
        if name == "count":
            count = request.context.states.get("count", 0) + 1
            request.context.states["count"] = count
            return {"count": count}
        if name == "binary":
            return b"\x00\x01\x02\xff"
        if name == "whoami":
            return {"userId": request.context.user_id, "states": request.context.states}
        return UserEventResponse(request.data, request.data_type)


def make_handler(hub: str = "chat", **options: Any) -> tuple[EventHandler, Recorder]:
    """An ``EventHandler`` with every callback, recording into the returned ``Recorder``."""
    recorder = Recorder()
    handler = EventHandler(
        hub,
        handle_connect=recorder.connect,
        handle_user_event=recorder.user_event,
        on_connected=recorder.connected,
        on_disconnected=recorder.disconnected,
        **options,
    )
    return handler, recorder
