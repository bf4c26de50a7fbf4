"""The aiohttp application of the local service: the client endpoint and the REST API.

Example (``LocalService`` serves this app on its own thread; ``web.run_app(app)`` would serve it here)::

    >>> app = build_app(Service("k" * 43))
    >>> sorted({route.resource.canonical for route in app.router.routes()})
    ['/', '/api/health', '/api/{tail}', '/client', '/client/', '/client/hubs/{hub}', '/trace']
"""

from __future__ import annotations

from aiohttp import web

from ..protocol.limits import MAX_BODY_BYTES
from . import rest, trace_http
from .aiohttp_internals import require_shape
from .hub import Service
from .websocket import SERVICE_KEY, client_endpoint

INDEX = """wpsnb local Web PubSub service

Client endpoint:  ws://{host}/client/hubs/<hub>?access_token=<jwt>
REST API:         http://{host}/api/hubs/<hub>/...   (what azure-messaging-webpubsubservice calls)
Health:           HEAD http://{host}/api/health
Trace:            GET http://{host}/trace   (bearer JWT signed with the AccessKey; `wpsnb trace`)

Mint client URLs with the official SDK, e.g. wpsnb.negotiate(connection_string, hub="stream").
"""


def build_app(service: Service) -> web.Application:
    """Wire the routes of one service into a new aiohttp application.

    >>> build_app(Service("k" * 43))[SERVICE_KEY].access_key == "k" * 43
    True
    """
    require_shape()
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SERVICE_KEY] = service
    app.router.add_get("/client/hubs/{hub}", client_endpoint)
    app.router.add_get("/client", client_endpoint)
    app.router.add_get("/client/", client_endpoint)
    app.router.add_get("/", _index)
    trace_http.add_routes(app)
    rest.add_routes(app)
    return app


async def _index(request: web.Request) -> web.Response:
    return web.Response(text=INDEX.format(host=request.host))
