"""A Python handler library for Azure Web PubSub's event handlers (the counterpart of
``@azure/web-pubsub-express``): works with Azure and with ``wpsnb.LocalService``.

Example::

    from wpsnb.handler import EventHandler, ConnectResponse

    handler = EventHandler("chat",
                           handle_connect=lambda request: ConnectResponse(user_id="alice"),
                           handle_user_event=lambda request: f"you said {request.data}")
    service = wpsnb.LocalService(event_handlers=handler.start())

The handler listens where the official one does:

>>> EventHandler("chat").path
'/api/webpubsub/hubs/chat/'
"""

from .aiohttp_handler import add_routes, application
from .background import Exchange, RunningHandler
from .events import (
    ConnectedRequest,
    ConnectionContext,
    ConnectRequest,
    ConnectResponse,
    DisconnectedRequest,
    EventHandlerError,
    GroupJoinedRequest,
    GroupLeftRequest,
    HandlerResponse,
    UserEventRequest,
    UserEventResponse,
)
from .handler import EventHandler

__all__ = [
    "ConnectRequest",
    "ConnectResponse",
    "ConnectedRequest",
    "ConnectionContext",
    "DisconnectedRequest",
    "EventHandler",
    "EventHandlerError",
    "Exchange",
    "GroupJoinedRequest",
    "GroupLeftRequest",
    "HandlerResponse",
    "RunningHandler",
    "UserEventRequest",
    "UserEventResponse",
    "add_routes",
    "application",
]
