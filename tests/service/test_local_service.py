"""``LocalService``: a real service in a background thread, embeddable in scripts and kernels."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, RELIABLE, open_client
from websockets.exceptions import ConnectionClosed

import wpsnb
from wpsnb.protocol.tokens import ConnectionString, access_key_problem
from wpsnb.service.local import SHUTDOWN_REASON, LocalService


def test_context_manager_starts_and_stops_the_service() -> None:
    threads_before = set(threading.enumerate())
    with LocalService() as service:
        assert service.running
        assert service.port > 0
        with socket.create_connection((service.host, service.port), timeout=2):
            pass
    assert not service.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", service.port), timeout=2).close()
    assert set(threading.enumerate()) <= threads_before, "the service thread ended"


def test_is_exported_from_the_package() -> None:
    assert wpsnb.LocalService is LocalService


def test_connection_string_works_with_the_official_sdk() -> None:
    with LocalService() as service:
        parsed = ConnectionString.parse(service.connection_string)
        assert parsed.endpoint == service.endpoint == f"http://127.0.0.1:{service.port}"
        assert parsed.access_key == service.access_key
        client = WebPubSubServiceClient.from_connection_string(service.connection_string, hub="stream")
        url = client.get_client_access_token(user_id="ann")["url"]
        assert url.startswith(f"ws://127.0.0.1:{service.port}/client/hubs/stream?access_token=")


def test_a_random_access_key_is_generated_unless_given() -> None:
    given = "k" * 40
    with LocalService() as first, LocalService() as second, LocalService(access_key=given) as third:
        assert access_key_problem(first.access_key) is None
        assert first.access_key != second.access_key
        assert third.access_key == given
        assert first.port != second.port


@pytest.mark.parametrize(
    ("key", "complaint"), [("short", "5 bytes"), ("k" * 40 + ";", "';'"), (" " + "k" * 40, "whitespace")]
)
def test_an_unusable_access_key_is_refused_clearly(key: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="access_key is not usable") as error:
        LocalService(access_key=key)
    assert complaint in str(error.value)


def test_a_port_in_use_gives_a_clear_error() -> None:
    with LocalService() as service, pytest.raises(OSError, match=f"on 127.0.0.1:{service.port}: .*another port"):
        LocalService(port=service.port)


def test_a_fixed_port_is_honoured() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with LocalService(port=port) as service:
        assert service.port == port
        assert service.endpoint == f"http://127.0.0.1:{port}"


def test_call_runs_on_the_service_loop_and_passes_errors_back() -> None:
    with LocalService() as service:
        assert service.call(lambda: threading.current_thread().name) == "wpsnb-local-service"
        assert service.call(lambda: asyncio.get_running_loop() is not None)
        with pytest.raises(ZeroDivisionError):
            service.call(lambda: 1 / 0)
    with pytest.raises(RuntimeError, match="not running"):
        service.call(lambda: None)


def test_stop_is_idempotent_and_repr_says_the_state() -> None:
    service = LocalService()
    assert "running" in repr(service) and service.endpoint in repr(service)
    service.stop()
    service.stop()
    assert "stopped" in repr(service)


def test_start_false_defers_the_thread() -> None:
    service = LocalService(start=False)
    assert not service.running
    with service:
        assert service.running and service.port > 0


async def test_stop_says_goodbye_to_live_connections() -> None:
    service = LocalService()
    try:
        async with (
            open_client(mint_url(service, "stream", roles=ALL_ROLES), PLAIN) as plain,
            open_client(mint_url(service, "stream"), RELIABLE) as reliable,
            open_client(mint_url(service, "stream")) as simple,
        ):
            started = time.monotonic()
            await asyncio.to_thread(service.stop)
            assert time.monotonic() - started < 1.0, "no waiting for aiohttp's shutdown timeout"
            for client in (plain, reliable):
                (goodbye,) = await client.expect_close(1001)
                assert goodbye == {"type": "system", "event": "disconnected", "message": SHUTDOWN_REASON}
            with pytest.raises(ConnectionClosed) as closed:
                await simple.recv_raw()
            assert closed.value.rcvd.code == 1001
    finally:
        service.stop()


async def test_works_while_the_callers_event_loop_is_running() -> None:
    """As inside a Jupyter kernel: the caller's loop is busy, the service has its own."""
    with LocalService() as service:
        url = mint_url(service, "stream", roles=ALL_ROLES, groups=["lab"])
        async with open_client(url, PLAIN) as client:
            ack = await client.request(
                {"type": "sendToGroup", "group": "lab", "dataType": "text", "data": "x", "ackId": 1}
            )
            assert ack["success"] is True
