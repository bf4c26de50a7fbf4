"""The aiohttp application of the local service: the client endpoint and the REST API.

Example::

    app = build_app(Service(access_key))
    web.run_app(app, host="127.0.0.1", port=8080)
"""

from __future__ import annotations

from aiohttp import web

from ..protocol.limits import MAX_BODY_BYTES
from . import rest, trace_http
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

    Example::

        web.run_app(build_app(Service(access_key)), host="127.0.0.1", port=8080)
    """
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
