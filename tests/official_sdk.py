"""Client access URLs minted by the official server SDK — the tests never mint tokens with our own code.

Import it as ``from official_sdk import mint_url`` (``tests/`` is on the test path; a ``conftest``
cannot be imported reliably because every ``conftest.py`` is a module named ``conftest``).
"""

from __future__ import annotations

from typing import Any

from azure.messaging.webpubsubservice import WebPubSubServiceClient

ALL_ROLES = ("webpubsub.joinLeaveGroup", "webpubsub.sendToGroup")


def mint_url(service: Any, hub: str = "stream", **claims: Any) -> str:
    """A client access URL for a ``LocalService`` or a connection string.

    ``claims``: user_id, roles, groups, minutes_to_expire — passed to ``get_client_access_token``.
    """
    connection_string = service if isinstance(service, str) else service.connection_string
    client = WebPubSubServiceClient.from_connection_string(connection_string, hub=hub)
    return client.get_client_access_token(**claims)["url"]
