"""Fixtures shared by every test: a real local service on loopback and client URLs minted by the
official server SDK (never by our own code)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from wpsnb.service.local import LocalService

ALL_ROLES = ("webpubsub.joinLeaveGroup", "webpubsub.sendToGroup")


@pytest.fixture(scope="session")
def local_service() -> Iterator[LocalService]:
    """One service for the whole run; tests use their own hub names or groups to stay apart."""
    with LocalService() as service:
        yield service


@pytest.fixture
def fresh_service() -> Iterator[LocalService]:
    """A service of its own, for tests that stop it, count its connections or change its settings."""
    with LocalService(recovery_window=3.0) as service:
        yield service


def mint_url(service: LocalService | str, hub: str = "stream", **kwargs: Any) -> str:
    """A client access URL minted by the official SDK (``kwargs``: user_id, roles, groups, minutes_to_expire)."""
    connection_string = service if isinstance(service, str) else service.connection_string
    client = WebPubSubServiceClient.from_connection_string(connection_string, hub=hub)
    return client.get_client_access_token(**kwargs)["url"]


@pytest.fixture
def client_url(local_service: LocalService) -> Callable[..., str]:
    """``client_url(hub="stream", user_id=None, roles=(), groups=())`` on the shared service."""

    def make(hub: str = "stream", **kwargs: Any) -> str:
        return mint_url(local_service, hub, **kwargs)

    return make
