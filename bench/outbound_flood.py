"""The outbound-memory attack of issue 16: subscribers that never read, while large messages are sent.

600 subscribers join a group and stop reading (their sockets pause reading after the greeting), ten
readers in the same group keep up, and twelve 1 MB text messages go to the group through the
official SDK's REST ``send_to_group``. Measured: the service's peak resident memory (``VmHWM``) and
how fast the ten readers get all twelve messages. The baseline is the same readers and sends in a
fresh service without the stalled subscribers. Kernel socket buffers are not in a process's RSS.

Example::

    rows = asyncio.run(run_outbound_flood(FloodSettings(stalled=600)))
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from azure.messaging.webpubsubservice import WebPubSubServiceClient

from .results import metric
from .servers import ServerProcess
from .targets import PLAIN, service_url
from .wsraw import RawSocket, Tally, open_sockets

HUB = "bench_flood"
GROUP = "flood"
MESSAGE_SIZE = 1_000_000  # characters of text: a 1 MB body, under the 1 MiB REST limit
RSS_GOAL_MIB = 1024


@dataclass(frozen=True)
class FloodSettings:
    stalled: int = 600
    readers: int = 10
    messages: int = 12
    timeout: float = 120.0
    verbose: bool = True


def peak_rss(pid: int) -> int:
    """The highest resident memory the process has had (``VmHWM``), in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


async def _flood(server: ServerProcess, settings: FloodSettings, stalled: int) -> tuple[float, float]:
    """Peak RSS (bytes) during the sends and the readers' delivery rate (MB/s)."""
    url = service_url(server, HUB, groups=(GROUP,))
    sleepers: list[RawSocket] = await open_sockets(url, stalled, PLAIN) if stalled else []
    for socket in sleepers:
        socket.transport.pause_reading()  # type: ignore[union-attr]
    readers = await open_sockets(url, settings.readers, PLAIN)
    tally = Tally(settings.readers * settings.messages)
    for reader in readers:
        reader.tally = tally
    client = WebPubSubServiceClient.from_connection_string(server.connection_string, hub=HUB)  # type: ignore[arg-type]
    text = "x" * MESSAGE_SIZE
    started = time.perf_counter()
    cpu_before = server.cpu()
    for _ in range(settings.messages):
        await asyncio.to_thread(client.send_to_group, GROUP, text, content_type="text/plain")
    await tally.wait(settings.timeout)
    elapsed = tally.finished_at - started
    cpu = server.cpu() - cpu_before
    await asyncio.sleep(0.5)  # the stalled subscribers' backlogs settle (or get cut)
    peak = peak_rss(server.pid)
    if settings.verbose:
        print(f"    service CPU during the sends: user {cpu.user:.2f} s, system {cpu.system:.2f} s")
    for socket in [*sleepers, *readers]:
        socket.close()
    rate = settings.readers * settings.messages * MESSAGE_SIZE / elapsed / 1e6
    return peak, rate


async def run_outbound_flood(settings: FloodSettings, *, server_cpu: int | None = 0) -> list[dict[str, Any]]:
    """The flood with stalled subscribers, then the same readers alone (baseline), each in a fresh service."""
    with ServerProcess("service", cpu=server_cpu) as server:
        idle_peak = peak_rss(server.pid)
        peak, rate = await _flood(server, settings, settings.stalled)
    with ServerProcess("service", cpu=server_cpu) as server:
        _, alone_rate = await _flood(server, settings, 0)
    if settings.verbose:
        print(
            f"  {settings.stalled} stalled + {settings.readers} readers, {settings.messages} x 1 MB: peak RSS "
            f"{peak / 2**20:,.0f} MiB (idle {idle_peak / 2**20:,.0f} MiB), readers {rate:,.1f} MB/s "
            f"(alone {alone_rate:,.1f} MB/s)"
        )
    scenario = f"{settings.stalled} non-reading subscribers + {settings.messages} x 1 MB REST sends"
    return [
        metric(
            f"outbound flood: peak service RSS, {scenario}",
            peak / 2**20,
            "MiB",
            "the same service before the flood",
            idle_peak / 2**20,
            at_most=RSS_GOAL_MIB,
        ),
        metric(
            f"outbound flood: delivery to {settings.readers} readers that keep up, {scenario}",
            rate,
            "MB/s",
            "the same readers and sends, no stalled subscribers",
            alone_rate,
            at_least_ratio=0.5,
        ),
    ]
