"""The aiohttp internals ``wpsnb/service/aiohttp_internals.py`` relies on still have the shape it expects.

If this fails after an aiohttp upgrade, the service refuses to start on it (``require_shape``): adapt
the module to the new internals (and widen ``TESTED``) first.
"""

from __future__ import annotations

import asyncio

import aiohttp
from official_sdk import mint_url
from service_wire import PLAIN, open_client

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


async def test_a_live_upgrade_is_taken_over_and_aiohttp_forgets_it() -> None:
    with LocalService() as service:
        await _taken_over_and_forgotten(service)


async def _taken_over_and_forgotten(local_service: LocalService) -> None:
    def count() -> tuple[int, int]:
        runner = local_service._runner
        assert runner is not None and runner.server is not None
        return len(local_service.service.connections), len(runner.server.connections)

    async with open_client(mint_url(local_service, "internals"), PLAIN) as client:
        await client.send({"type": "ping"})
        assert (await client.recv())["type"] == "pong"
        ours, aiohttps = await asyncio.to_thread(local_service.call, count)
        assert (ours, aiohttps) == (1, 0), "the upgraded connection is still in aiohttp's table"
    for _ in range(100):
        if await asyncio.to_thread(local_service.call, count) == (0, 0):
            break
        await asyncio.sleep(0.02)
    assert await asyncio.to_thread(local_service.call, count) == (0, 0)
