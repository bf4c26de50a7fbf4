"""``EventHandler``: the Python counterpart of ``@azure/web-pubsub-express``'s ``WebPubSubEventHandler``.

Framework-neutral: give it a request's method, path, headers and body; it checks the abuse-protection
preflight and the signature, calls your callback with a typed request and hands back a
:class:`~.events.HandlerResponse` to send. :mod:`.aiohttp_handler` mounts it on aiohttp,
:mod:`.background` runs it in a notebook kernel; Flask or FastAPI need three lines (docs/upstream.md).

Example::

    >>> def connect(request):
    ...     return ConnectResponse(user_id=request.query.get("name", [None])[0], groups=["lobby"])
    >>> handler = EventHandler("chat", handle_connect=connect)
    >>> handler.handle("OPTIONS", "/api/webpubsub/hubs/chat/", {"WebHook-Request-Origin": "x"}, b"").headers
    {'WebHook-Allowed-Origin': '*'}
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from hashlib import sha256
from typing import Any
from urllib.parse import urlsplit

from ..protocol.cloud_events import encode_state
from .events import (
    BadRequest,
    ConnectedRequest,
    ConnectRequest,
    ConnectResponse,
    EventHandlerError,
    EventRequest,
    GroupJoinedRequest,
    GroupLeftRequest,
    HandlerResponse,
    UserEventRequest,
    UserEventResponse,
    header,
    is_event,
    parse_request,
    state_header,
)

log = logging.getLogger("wpsnb.handler")

Callback = Callable[[Any], Any]


class EventHandler:
    """Handles the CloudEvents of one hub at ``path`` (default ``/api/webpubsub/hubs/<hub>/``, as the official one).

    Callbacks (each optional; plain functions or ``async`` ones):

    - ``handle_connect(ConnectRequest)`` → ``ConnectResponse`` / dict / ``None`` (accept as is); raise
      :class:`~.events.EventHandlerError` (e.g. 401) to refuse the client.
    - ``handle_user_event(UserEventRequest)`` → ``None`` (no reply), ``UserEventResponse``, ``str`` (text),
      ``bytes`` (binary) or another JSON value; raise ``EventHandlerError`` to fail the event.
    - ``on_connected(ConnectedRequest)``, ``on_disconnected(DisconnectedRequest)``,
      ``on_group_joined(GroupJoinedRequest)``, ``on_group_left(GroupLeftRequest)``: notifications.

    In blocking callbacks, changes to ``request.context.states`` go back as ``ce-connectionState``.
    ``allowed_endpoints``: the services allowed to call (their URLs; ``None``: any).
    ``access_keys``: check ``ce-signature`` against these keys (``None``: not checked).
    """

    def __init__(
        self,
        hub: str,
        *,
        handle_connect: Callback | None = None,
        handle_user_event: Callback | None = None,
        on_connected: Callback | None = None,
        on_disconnected: Callback | None = None,
        on_group_joined: Callback | None = None,
        on_group_left: Callback | None = None,
        allowed_endpoints: Iterable[str] | None = None,
        access_keys: Iterable[str] | None = None,
        path: str | None = None,
    ):
        self.hub = hub
        path = (path or f"/api/webpubsub/hubs/{hub}/").lower()
        self.path = path if path.endswith("/") else path + "/"
        self.handle_connect = handle_connect
        self.handle_user_event = handle_user_event
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.on_group_joined = on_group_joined
        self.on_group_left = on_group_left
        self.allowed_origins = (
            None if allowed_endpoints is None else [urlsplit(e).netloc.lower() for e in allowed_endpoints]
        )
        self.access_keys = None if access_keys is None else list(access_keys)

    def matches(self, path: str) -> bool:
        """Whether ``path`` is under this handler's path (case-insensitive, like the official handler)."""
        path = path.split("?", 1)[0].lower()
        return (path if path.endswith("/") else path + "/").startswith(self.path)

    # -- the two entry points --

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> HandlerResponse | None:
        """Answer one HTTP request; ``None`` if it is not for this handler (the framework's 404 then).
        Callbacks must be plain functions here; use :meth:`handle_async` for ``async`` ones."""
        step = self._begin(method, path, headers, body)
        if not isinstance(step, tuple):
            return step
        callback, request, before = step
        try:
            result = callback(request)
            if inspect.isawaitable(result):
                raise TypeError("this callback is async: call EventHandler.handle_async (aiohttp does)")
        except EventHandlerError as exc:
            return _refused(exc)
        return self._finish(request, result, before)

    async def handle_async(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> HandlerResponse | None:
        """Like :meth:`handle`, awaiting ``async`` callbacks."""
        step = self._begin(method, path, headers, body)
        if not isinstance(step, tuple):
            return step
        callback, request, before = step
        try:
            result = callback(request)
            if inspect.isawaitable(result):
                result = await result
        except EventHandlerError as exc:
            return _refused(exc)
        return self._finish(request, result, before)

    # -- the steps --

    def _begin(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> HandlerResponse | tuple[Callback, EventRequest, str] | None:
        if not self.matches(path):
            return None
        method = method.upper()
        if method == "OPTIONS":
            return self.preflight(headers)
        if method != "POST" or not is_event(headers):
            return None
        hub = header(headers, "ce-hub") or ""
        if hub.lower() != self.hub.lower():
            return None
        problem = self.signature_problem(headers)
        if problem:
            log.warning("refused an event: %s", problem)
            return HandlerResponse(401, {"Content-Type": "text/plain; charset=utf-8"}, problem.encode())
        try:
            request = parse_request(headers, body)
        except BadRequest as exc:
            return HandlerResponse(400, {"Content-Type": "text/plain; charset=utf-8"}, str(exc).encode())
        if request is None:  # an event type this library does not handle: acknowledge it
            return HandlerResponse(200)
        callback = self._callback_for(request)
        if callback is None:
            return HandlerResponse(204 if isinstance(request, ConnectRequest) else 200)
        return callback, request, encode_state(request.context.states)

    def _callback_for(self, request: EventRequest) -> Callback | None:
        if isinstance(request, ConnectRequest):
            return self.handle_connect
        if isinstance(request, UserEventRequest):
            return self.handle_user_event
        if isinstance(request, ConnectedRequest):
            return self.on_connected
        if isinstance(request, GroupJoinedRequest):
            return self.on_group_joined
        if isinstance(request, GroupLeftRequest):
            return self.on_group_left
        return self.on_disconnected

    def _finish(self, request: EventRequest, result: Any, before: str) -> HandlerResponse:
        if not isinstance(request, (ConnectRequest, UserEventRequest)):  # notifications
            return HandlerResponse(200)
        states = state_header(before, request.context.states)
        if isinstance(request, ConnectRequest):
            if result is None:
                return HandlerResponse(204, states)
            fields = result.to_json() if isinstance(result, ConnectResponse) else dict(result)
            body = json.dumps(fields, separators=(",", ":")).encode("utf-8")
            return HandlerResponse(200, {"Content-Type": "application/json; charset=utf-8", **states}, body)
        if result is None:
            return HandlerResponse(204, states)
        if not isinstance(result, UserEventResponse):
            if isinstance(result, str):
                result = UserEventResponse(result, "text")
            elif isinstance(result, (bytes, bytearray, memoryview)):
                result = UserEventResponse(bytes(result), "binary")
            else:
                result = UserEventResponse(result, "json")
        content_type, body = result.body()
        return HandlerResponse(200, {"Content-Type": content_type, **states}, body)

    # -- checks --

    def preflight(self, headers: Mapping[str, str]) -> HandlerResponse:
        """The abuse-protection answer: ``WebHook-Allowed-Origin`` ``*`` or the allowed hosts (400 without an
        origin)."""
        if header(headers, "WebHook-Request-Origin") is None:
            return HandlerResponse(400, body=b"a Web PubSub preflight carries WebHook-Request-Origin")
        if self.allowed_origins is None:
            return HandlerResponse(200, {"WebHook-Allowed-Origin": "*"})
        return HandlerResponse(200, {"WebHook-Allowed-Origin": ", ".join(self.allowed_origins)})

    def signature_problem(self, headers: Mapping[str, str]) -> str | None:
        """Why ``ce-signature`` does not prove the request came from a service holding one of ``access_keys``
        (``None``: it does, or no keys were given)."""
        if self.access_keys is None:
            return None
        connection_id = header(headers, "ce-connectionId") or ""
        signatures = [s.strip() for s in (header(headers, "ce-signature") or "").split(",") if s.strip()]
        if not signatures:
            return "the request has no ce-signature; it does not come from your Web PubSub service"
        for key in self.access_keys:
            expected = "sha256=" + hmac.new(key.encode(), connection_id.encode(), sha256).hexdigest()
            if any(hmac.compare_digest(expected, s.lower()) for s in signatures):
                return None
        return "ce-signature matches none of the access keys; the request does not come from your service"

    def trust_access_key(self, key: str) -> None:
        """Check signatures against ``key`` too (``LocalService(event_handlers=...)`` calls it)."""
        self.access_keys = [*(self.access_keys or []), key]

    def setting(self, base_url: str, **extra: Any) -> dict[str, Any]:
        """An event handler setting for a service: this handler at ``base_url`` (``http://host:port``), with
        the system events it has callbacks for and every user event if it handles them.

        >>> EventHandler("chat", handle_connect=print).setting("http://127.0.0.1:3000")["system_events"]
        ['connect']
        """
        system = [
            name
            for name, callback in (
                ("connect", self.handle_connect),
                ("connected", self.on_connected),
                ("disconnected", self.on_disconnected),
            )
            if callback is not None
        ]
        presence = [
            name
            for name, callback in (("joined", self.on_group_joined), ("left", self.on_group_left))
            if callback is not None
        ]
        setting: dict[str, Any] = {
            "url_template": base_url.rstrip("/") + self.path,
            "user_event_pattern": "*" if self.handle_user_event is not None else "",
            "system_events": system,
        }
        if presence:
            setting["group_presence_events"] = presence
        return {**setting, **extra}

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        """Serve this handler from a background thread (a notebook kernel keeps running); returns a
        :class:`~.background.RunningHandler`, which ``LocalService(event_handlers=...)`` takes as it is."""
        from .background import RunningHandler

        return RunningHandler(self, host, port).start()


def _refused(exc: EventHandlerError) -> HandlerResponse:
    return HandlerResponse(exc.status, {"Content-Type": "text/plain; charset=utf-8"}, exc.detail.encode("utf-8"))
