"""Mount an :class:`~.handler.EventHandler` on an aiohttp application.

Example::

    app = web.Application()
    add_routes(app, EventHandler("chat", handle_user_event=lambda request: f"echo {request.data}"))
    web.run_app(app, port=3000)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .events import HandlerResponse
from .handler import EventHandler

MAX_BODY = 16 * 1024 * 1024  # what the service sends at most (a client frame is 1 MB; room to spare)


def add_routes(app: web.Application, handler: EventHandler) -> None:
    """Route ``OPTIONS`` and ``POST`` under ``handler.path`` (and below it) to ``handler``.

    >>> app = web.Application()
    >>> add_routes(app, EventHandler("chat"))
    >>> sorted({route.method for route in app.router.routes()})
    ['OPTIONS', 'POST']
    """
    view = as_view(handler)
    for pattern in (handler.path, handler.path + "{tail:.*}"):
        app.router.add_route("OPTIONS", pattern, view)
        app.router.add_route("POST", pattern, view)


def as_view(handler: EventHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp request handler for ``handler`` (404 for requests that are not its events)."""

    async def view(request: web.Request) -> web.StreamResponse:
        body = await request.read() if request.can_read_body else b""
        answer = await handler.handle_async(request.method, request.path, request.headers, body)
        if answer is None:
            raise web.HTTPNotFound(text="not a Web PubSub event for this handler\n")
        return to_response(answer)

    return view


def to_response(answer: HandlerResponse) -> web.Response:
    """The aiohttp response for a :class:`~.events.HandlerResponse`.

    >>> to_response(HandlerResponse(204)).status
    204
    """
    response = web.Response(status=answer.status, body=answer.body or None)
    for name, value in answer.headers.items():
        response.headers[name] = value
    return response


def application(handler: EventHandler) -> web.Application:
    """A new aiohttp application serving only ``handler``."""
    app = web.Application(client_max_size=MAX_BODY)
    add_routes(app, handler)
    return app
