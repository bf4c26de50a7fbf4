"""Fixtures shared by every test: a real local service on loopback and client URLs minted by the
official server SDK (never by our own code)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from official_sdk import ALL_ROLES, mint_url

from wpsnb.service.local import LocalService

__all__ = ["ALL_ROLES", "mint_url"]


@pytest.fixture(autouse=True)
def wpsnb_logs_reach_caplog() -> Iterator[None]:
    """wpsnb's loggers do not propagate by default (quiet in notebooks); tests read them through caplog."""
    logger = logging.getLogger("wpsnb")
    logger.propagate = True
    yield
    logger.propagate = False


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


@pytest.fixture
def client_url(local_service: LocalService) -> Callable[..., str]:
    """``client_url(hub="stream", user_id=None, roles=(), groups=())`` on the shared service."""

    def make(hub: str = "stream", **kwargs: Any) -> str:
        return mint_url(local_service, hub, **kwargs)

    return make


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last.

    Playwright's sync API keeps an event loop marked as running in the main thread for the rest of
    the session (its browser fixtures are session-scoped), after which pytest-asyncio cannot start
    its own loops. Browser tests therefore go after every asyncio test.
    """
    browser = [
        item
        for item in items
        if item.get_closest_marker("browser") or "tests/browser/" in item.nodeid or item.nodeid.startswith("browser/")
    ]
    if browser:
        chosen = set(map(id, browser))
        items[:] = [item for item in items if id(item) not in chosen] + browser
