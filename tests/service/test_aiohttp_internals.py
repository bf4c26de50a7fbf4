"""The aiohttp internals ``wpsnb/service/aiohttp_internals.py`` relies on still have the shape it expects.

If this fails after an aiohttp upgrade, the service still runs but no longer fails unmasked client
frames with 1002: adapt the module to the new internals (and widen ``TESTED``) before relying on it.
"""

from __future__ import annotations

import aiohttp
from official_sdk import mint_url
from service_wire import PLAIN, open_client

from wpsnb.service import aiohttp_internals
from wpsnb.service.aiohttp_internals import TESTED, shape_problem
from wpsnb.service.local import LocalService


def test_the_installed_aiohttp_is_a_tested_version() -> None:
    version = tuple(int(part) for part in aiohttp.__version__.split(".")[:2])
    low, high = TESTED
    assert low <= version <= high, (
        f"aiohttp {aiohttp.__version__} is outside the versions aiohttp_internals.py was checked with "
        f"({low} to {high}); check its internals still have the same shape, then widen TESTED"
    )


def test_request_handler_still_has_the_parser_slots() -> None:
    assert shape_problem() is None, shape_problem()


async def test_a_live_upgrade_has_the_parser_and_queue_the_check_wraps(local_service: LocalService) -> None:
    seen: list[object] = []
    original = aiohttp_internals.guard_client_frames

    def spy(request: object, ws: object, tail: bytes) -> str | bool:
        seen.append(shape_problem(request, ws))  # type: ignore[arg-type]
        result = original(request, ws, tail)  # type: ignore[arg-type]
        seen.append(type(request.protocol._payload_parser).__name__)  # type: ignore[attr-defined]
        return result

    from wpsnb.service import websocket

    websocket.guard_client_frames = spy  # type: ignore[assignment]
    try:
        async with open_client(mint_url(local_service, "internals"), PLAIN) as client:
            await client.send({"type": "ping"})
            assert (await client.recv())["type"] == "pong"
    finally:
        websocket.guard_client_frames = original
    assert seen == [None, "_CheckedParser"], "the masking check was not installed on a real connection"
