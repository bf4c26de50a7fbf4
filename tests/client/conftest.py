"""Fixtures for the client tests: clients on the shared local service, closed after each test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from client_helpers import ROLES

from wpsnb.client import Client
from wpsnb.service.local import LocalService


@pytest.fixture
def make_client(local_service: LocalService) -> Iterator[Callable[..., Client]]:
    """``make_client(source=None, connect=True, **kwargs)``: a Client (all roles unless ``roles=`` given)."""
    clients: list[Client] = []

    def make(source: Any = None, *, connect: bool = True, **kwargs: Any) -> Client:
        kwargs.setdefault("roles", ROLES)
        client = Client(source if source is not None else local_service, **kwargs)
        clients.append(client)
        return client.connect() if connect else client

    yield make
    for client in clients:
        client.close(timeout=1)


@pytest.fixture
def group() -> str:
    """A group name no other test uses (the service is shared by the whole run)."""
    return f"g-{uuid.uuid4().hex[:10]}"
