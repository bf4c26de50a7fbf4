"""The demo's web app: the log-stream page and ``/negotiate`` (the tutorial's ``server.js``).

``GET /`` serves ``index.html`` (with ``index.js``): a page that fetches ``/negotiate``, opens a plain
browser ``WebSocket`` with the subprotocol ``json.webpubsub.azure.v1``, joins the group ``stream``
and appends every message in a monospace, whitespace-preserving view. ``GET /negotiate[?id=USER]``
answers ``{"url": "ws://.../client/hubs/stream?access_token=..."}``, a token minted by the official
server SDK from the service's connection string.

Example::

    >>> app = build_demo_app("Endpoint=http://127.0.0.1:8081;AccessKey=" + "k" * 43)
    >>> sorted({route.resource.canonical for route in app.router.routes()})
    ['/', '/index.html', '/index.js', '/negotiate']
    >>> web.run_app(build_demo_app(LocalService()), port=8080)      # doctest: +SKIP
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from aiohttp import web

from ..errors import WebPubSubError
from ..source import negotiate

DEMO_HUB = "stream"
DEMO_GROUP = "stream"
DEMO_ROLES = (f"webpubsub.sendToGroup.{DEMO_GROUP}", f"webpubsub.joinLeaveGroup.{DEMO_GROUP}")
_PAGE_FILES = {"index.html": "text/html", "index.js": "text/javascript"}
_SOURCE_KEY: web.AppKey[Any] = web.AppKey("source", object)


def build_demo_app(source: Any) -> web.Application:
    """The demo app for ``source`` (a ``LocalService`` or a connection string: it mints the tokens)."""
    app = web.Application()
    app[_SOURCE_KEY] = source
    app.router.add_get("/", _page)
    app.router.add_get("/negotiate", _negotiate)
    for name in _PAGE_FILES:
        app.router.add_get(f"/{name}", _page)
    return app


async def _page(request: web.Request) -> web.Response:
    name = request.path.lstrip("/") or "index.html"
    body = files(__package__).joinpath(name).read_bytes()
    return web.Response(
        body=body, content_type=_PAGE_FILES[name], charset="utf-8", headers={"Cache-Control": "no-store"}
    )


async def _negotiate(request: web.Request) -> web.Response:
    user_id = request.query.get("id") or None
    try:
        url = negotiate(request.app[_SOURCE_KEY], hub=DEMO_HUB, user_id=user_id, roles=list(DEMO_ROLES))
    except WebPubSubError as exc:
        return web.json_response({"error": str(exc)}, status=500)
    return web.json_response({"url": url}, headers={"Cache-Control": "no-store"})


__all__ = ["DEMO_GROUP", "DEMO_HUB", "DEMO_ROLES", "build_demo_app"]
