"""Fixtures for the interop tests: official clients (Python sync/aio, JavaScript under node) against a
real ``LocalService``, with URLs minted by the official server SDKs and every frame shape-checked."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from frame_shapes import PLAIN_PROTOCOL, RELIABLE_PROTOCOL
from js_peer import JsPeer, node_setup_problem
from python_peer import PythonPeer
from session_probe import SessionProbe

from wpsnb.service.local import LocalService

_hub_numbers = itertools.count(1)


@pytest.fixture(params=[PLAIN_PROTOCOL, RELIABLE_PROTOCOL], ids=["plain", "reliable"])
def protocol(request: pytest.FixtureRequest) -> str:
    """Each interop test runs on both JSON subprotocols."""
    return request.param


@pytest.fixture
def hub() -> str:
    """A hub of the test's own on the shared service, so groups and users never cross tests."""
    return f"interop{next(_hub_numbers)}"


@pytest.fixture
def python_peers() -> Iterator[Callable[..., PythonPeer]]:
    """``python_peers(url, protocol, **client_options)`` opens an official sync Python client.

    Every peer is closed at teardown, which fails the test if any frame it received broke the
    message shapes.
    """
    peers: list[PythonPeer] = []

    def open_peer(url: str | Callable[[], str], protocol: str, **options: Any) -> PythonPeer:
        peer = PythonPeer.sync(url, protocol, **options)
        peers.append(peer)
        peer.open()
        return peer

    yield open_peer
    for peer in peers:
        peer.close()


@pytest.fixture
def js_peers() -> Iterator[Callable[..., JsPeer]]:
    """``js_peers(url=..., protocol=...)`` / ``js_peers(connection_string=..., hub=...)`` starts a node peer.

    Fails (never skips) when node or the npm packages are missing: the JS interop is part of
    what the suite must show.
    """
    problem = node_setup_problem()
    if problem:
        pytest.fail(f"the JavaScript interop tests need node and the official JS SDKs: {problem}")
    peers: list[JsPeer] = []

    def start_peer(**kwargs: Any) -> JsPeer:
        peer = JsPeer(**kwargs)
        peers.append(peer)
        return peer

    yield start_peer
    for peer in peers:
        peer.close()


@pytest.fixture
def sessions(local_service: LocalService) -> SessionProbe:
    """``sessions.drop(hub, connection_id)``, ``sessions.socket_of(hub, connection_id)``."""
    return SessionProbe(local_service)
