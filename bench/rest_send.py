"""REST send throughput: ``send_to_group`` through the official server SDK, one call at a time and
from a thread pool.

The service runs in its own process (CPU 0) with one raw subscriber in the group, and a round
ends when that subscriber has every message (so the rate is end to end, not just accepted calls).
The baseline is the same SDK calls against the bare aiohttp server's ``:send`` route, which reads
the body and answers 202 without delivering anything: the floor set by the SDK and HTTP.

One more row, sequential only, is the like-for-like comparison with that endpoint: the same service
and calls to a group nobody is in, timed to the last 202 as the baseline is. Everything REST does
(routing, authentication, validation, the message, the trace) minus the delivery, whose cost (a second
socket write, and the subscriber woken on the load generator's CPU) the bare endpoint does not pay.

Example::

    rows = asyncio.run(run_rest_send(RestSettings(sequential=300, pooled=1_000, rounds=2)))
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from azure.messaging.webpubsubservice import WebPubSubServiceClient

from .machine import wait_for_quiet
from .results import median, metric
from .servers import ServerProcess
from .targets import BURST_PAYLOAD, PLAIN, service_url
from .wsraw import Tally, open_socket

HUB = "bench_rest"
GROUP = "rest"
EMPTY_GROUP = "nobody"  # the accept-only row: sends that reach no one
THREADS = 8
BASELINE_NAME = "same SDK calls, bare aiohttp 202 endpoint"
TEXT = BURST_PAYLOAD.decode()


@dataclass(frozen=True)
class RestSettings:
    """Calls per round, one at a time and pooled; rounds per mode."""

    sequential: int = 2_000
    pooled: int = 5_000
    rounds: int = 3
    quiet_wait: float = 20.0
    verbose: bool = True


def _send(client: WebPubSubServiceClient, calls: int, threads: int, group: str = GROUP) -> float:
    """Make ``calls`` SDK calls (``threads`` at a time); return when the first started."""
    start = time.perf_counter()
    if threads == 1:
        for _ in range(calls):
            client.send_to_group(group, TEXT, content_type="text/plain")
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda _: client.send_to_group(group, TEXT, content_type="text/plain"), range(calls)))
    return start


async def run_rest_send(settings: RestSettings, *, server_cpu: int | None = 0) -> list[dict[str, Any]]:
    """Sequential and pooled calls, service and baseline interleaved."""
    modes = (("sequential", 1, settings.sequential), (f"{THREADS} threads", THREADS, settings.pooled))
    rows = []
    with ServerProcess("service", cpu=server_cpu) as service, ServerProcess("baseline", cpu=server_cpu) as baseline:
        key = base64.b64encode(os.urandom(32)).decode()
        clients = {
            "service": WebPubSubServiceClient.from_connection_string(service.connection_string, hub=HUB),  # type: ignore[arg-type]
            "baseline": WebPubSubServiceClient.from_connection_string(
                f"Endpoint=http://127.0.0.1:{baseline.port};AccessKey={key};Version=1.0;", hub=HUB
            ),
        }
        receiver = await open_socket(service_url(service, HUB, groups=(GROUP,)), PLAIN)
        try:
            for who in clients:  # warm-up: connection pools, first requests
                await asyncio.to_thread(_send, clients[who], 20, 1)
            for label, threads, calls in modes:
                targets = ("service", "baseline") + (("accept-only",) if threads == 1 else ())
                rates: dict[str, list[float]] = {who: [] for who in targets}
                for r in range(settings.rounds):
                    for who in targets if r % 2 == 0 else targets[::-1]:
                        await asyncio.to_thread(wait_for_quiet, settings.quiet_wait)
                        tally = Tally(calls)
                        receiver.tally = tally if who == "service" else None
                        client = clients["baseline" if who == "baseline" else "service"]
                        group = EMPTY_GROUP if who == "accept-only" else GROUP
                        start = await asyncio.to_thread(_send, client, calls, threads, group)
                        if who == "service":
                            await tally.wait(timeout=60)
                            end = tally.finished_at
                        else:
                            end = time.perf_counter()
                        receiver.tally = None
                        rates[who].append(calls / (end - start))
                        if settings.verbose:
                            print(f"    REST {label:<10} {who:<11} round {r + 1}: {rates[who][-1]:>8,.0f} msg/s")
                rows.append(
                    metric(
                        f"REST send_to_group (official SDK), {label}",
                        median(rates["service"]),
                        "msg/s",
                        BASELINE_NAME,
                        median(rates["baseline"]),
                    )
                )
                if "accept-only" in rates:
                    rows.append(
                        metric(
                            f"REST send_to_group (official SDK), {label}, to an empty group (accepted, no delivery)",
                            median(rates["accept-only"]),
                            "msg/s",
                            BASELINE_NAME,
                            median(rates["baseline"]),
                        )
                    )
        finally:
            receiver.close()
            for client in clients.values():
                client.close()
    return rows
