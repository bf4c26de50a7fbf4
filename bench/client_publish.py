"""Client publish: messages per second ``wpsnb.Client.send_to_group`` gets to a subscriber.

The service runs in its own process (CPU 0). A raw subscriber in the target group counts what
arrives, so the rate is end to end: ``N / (last message received - first call)``. Three modes, each
against the same frames sent by a bare ``websockets`` client (its own event loop in its own thread,
as the wpsnb client has):

* fire-and-forget on the reliable subprotocol (the client's default; every request still carries
  an ackId there, so the service answers each with an ack),
* fire-and-forget on ``json.webpubsub.azure.v1`` (no ackId),
* acknowledged: one call at a time, each waiting for its ack.

Example::

    rows = asyncio.run(run_client_publish(ClientSettings(messages=20_000, acked=2_000, rounds=3)))
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from .machine import wait_for_quiet
from .results import median, metric
from .servers import ServerProcess
from .targets import BURST_PAYLOAD, PLAIN, RELIABLE, service_url
from .wsraw import Tally, open_socket

HUB = "bench_client"
GROUP = "published"
FIRE_AND_FORGET_GOAL = 20_000.0
BASELINE_NAME = "raw websockets client, same frames"
TEXT = BURST_PAYLOAD.decode()


@dataclass(frozen=True)
class ClientSettings:
    """Messages per round (fire-and-forget and acknowledged) and rounds per mode."""

    messages: int = 50_000
    acked: int = 5_000
    rounds: int = 3
    quiet_wait: float = 20.0
    verbose: bool = True


def _wpsnb_publish(connection_string: str, protocol: str, messages: int, ack: bool) -> float:
    """Connect a ``wpsnb.Client``, send ``messages`` and return when the first call was made."""
    from wpsnb import Client

    client = Client(connection_string, hub=HUB, roles=["webpubsub.sendToGroup"], protocol=protocol)
    client.connect()
    try:
        start = time.perf_counter()
        send = client.send_to_group
        for _ in range(messages):
            send(GROUP, TEXT, "text", ack=ack)
        client.flush(timeout=60)
    finally:
        client.close()
    return start


def _raw_publish(url: str, protocol: str, messages: int, ack: bool) -> float:
    """The same frames from a bare ``websockets`` client (ackIds on the reliable protocol or when acked)."""
    from websockets.asyncio.client import connect

    async def publish() -> float:
        async with connect(url, subprotocols=[protocol], compression=None, max_queue=None) as ws:  # type: ignore[list-item]
            await ws.recv()  # connected
            with_ack_ids = ack or protocol == RELIABLE
            head = '{"type":"sendToGroup","group":' + json.dumps(GROUP) + ","
            tail = '"dataType":"text","data":' + json.dumps(TEXT) + "}"
            start = time.perf_counter()
            if ack:
                for ack_id in range(1, messages + 1):
                    await ws.send(f'{head}"ackId":{ack_id},{tail}')
                    while json.loads(await ws.recv()).get("ackId") != ack_id:
                        pass
            else:
                for ack_id in range(1, messages + 1):
                    await ws.send(f'{head}"ackId":{ack_id},{tail}' if with_ack_ids else head + tail)
            return start

    return asyncio.run(publish())


async def _round(publish: Any, args: tuple[Any, ...], receiver_tally: Tally, settings: ClientSettings) -> float:
    await asyncio.to_thread(wait_for_quiet, settings.quiet_wait)
    start = await asyncio.to_thread(publish, *args)
    await receiver_tally.wait(timeout=60)
    return receiver_tally.target / (receiver_tally.finished_at - start)


async def run_client_publish(settings: ClientSettings, *, server_cpu: int | None = 0) -> list[dict[str, Any]]:
    """All three modes, wpsnb client and raw baseline interleaved round by round."""
    modes = (
        ("fire-and-forget, reliable (default)", RELIABLE, False, settings.messages),
        ("fire-and-forget, json.webpubsub.azure.v1", PLAIN, False, settings.messages),
        ("acknowledged, one at a time", RELIABLE, True, settings.acked),
    )
    rows = []
    with ServerProcess("service", cpu=server_cpu) as service:
        receiver = await open_socket(service_url(service, HUB, groups=(GROUP,)), PLAIN)
        publisher_url = service_url(service, HUB, roles=("webpubsub.sendToGroup",))
        try:
            for label, protocol, ack, messages in modes:
                rates: dict[str, list[float]] = {"wpsnb": [], "raw": []}
                for r in range(settings.rounds):
                    for who in ("wpsnb", "raw") if r % 2 == 0 else ("raw", "wpsnb"):
                        tally = Tally(messages)
                        receiver.tally = tally
                        if who == "wpsnb":
                            args = (service.connection_string, protocol, messages, ack)
                            rate = await _round(_wpsnb_publish, args, tally, settings)
                        else:
                            rate = await _round(_raw_publish, (publisher_url, protocol, messages, ack), tally, settings)
                        receiver.tally = None
                        rates[who].append(rate)
                        if settings.verbose:
                            print(f"    client {label:<42} {who:<5} round {r + 1}: {rate:>9,.0f} msg/s")
                goal = {"at_least": FIRE_AND_FORGET_GOAL} if not ack else {}
                rows.append(
                    metric(
                        f"client publish, {label}",
                        median(rates["wpsnb"]),
                        "msg/s",
                        BASELINE_NAME,
                        median(rates["raw"]),
                        **goal,
                    )
                )
        finally:
            receiver.close()
    return rows
