"""Memory per idle connection: the server's resident memory growth for N open, silent WebSockets.

The wpsnb service holds each connection on ``json.webpubsub.azure.v1`` (token minted by the
official SDK, no group); the baseline is the bare aiohttp server holding the same number of plain
WebSockets. Both processes (and this load generator) raise their open-file limit; if the hard limit
is below what ``connections`` needs, the benchmark uses the most it allows and says so in the
metric's name. Kernel socket buffers are not part of a process's RSS and are not counted.

Example::

    rows = asyncio.run(run_idle_memory(2_000))
"""

from __future__ import annotations

import asyncio
from typing import Any

from .machine import raise_open_file_limit
from .results import metric
from .servers import ServerProcess
from .targets import PLAIN, service_url
from .wsraw import RawSocket, open_sockets

SPARE_FILES = 200  # descriptors kept free for everything else the processes open
WARM_UP = 200


def connections_allowed(wanted: int) -> int:
    """How many connections this machine lets one process hold (after raising the limit)."""
    return max(1, min(wanted, raise_open_file_limit() - SPARE_FILES))


async def _idle_growth(server: ServerProcess, url: str, subprotocol: str | None, count: int) -> float:
    """Bytes the server's RSS grew per connection while ``count`` idle connections are open."""
    warm = await open_sockets(url, min(WARM_UP, count), subprotocol)  # first-use allocations
    await _close_all(warm)
    await asyncio.sleep(0.5)
    before = server.rss()
    sockets = await open_sockets(url, count, subprotocol)
    await asyncio.sleep(1.0)
    after = server.rss()
    await _close_all(sockets)
    return (after - before) / count


async def _close_all(sockets: list[RawSocket]) -> None:
    for socket in sockets:
        socket.close()
    await asyncio.sleep(0.2)


async def run_idle_memory(wanted: int, *, server_cpu: int | None = 0, verbose: bool = True) -> list[dict[str, Any]]:
    """Measure the baseline and the service, each in a fresh process."""
    count = connections_allowed(wanted)
    if verbose:
        limit_note = "" if count == wanted else f" (the open-file limit allows no more than {count:,})"
        print(f"  memory per idle connection: {count:,} connections{limit_note}")
    with ServerProcess("baseline", cpu=server_cpu) as baseline:
        baseline_bytes = await _idle_growth(baseline, f"ws://127.0.0.1:{baseline.port}/sub?group=idle", None, count)
    with ServerProcess("service", cpu=server_cpu) as service:
        service_bytes = await _idle_growth(service, service_url(service, "bench_idle"), PLAIN, count)
    if verbose:
        print(f"    baseline {baseline_bytes / 1024:6.1f} KiB   service {service_bytes / 1024:6.1f} KiB per connection")
    name = f"memory per idle connection ({count:,} connections"
    name += ")" if count == wanted else f"; {wanted:,} wanted, the open-file limit allows {count:,})"
    return [metric(name, service_bytes / 1024, "KiB", "bare aiohttp WebSocket", baseline_bytes / 1024)]
