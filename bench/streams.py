"""Group stream fragments through the service vs plain ``sendToGroup`` messages, in the same run.

One publisher sends a burst to a group of subscribers on ``json.webpubsub.azure.v1``: either plain
``sendToGroup`` messages or the fragments of one group stream (``streamData`` with ``streamSequenceId`` 1, 2,
...; a new stream per round), each carrying the same 256-byte text. The rate is deliveries per second at the
subscribers, as in ``fanout.py``. Rounds alternate between the two; the median of the clean rounds is
reported, with the plain messages as the baseline: the cost of a stream is its per-fragment bookkeeping
(sequence check, batched ``streamAck``) and the ``stream`` member every subscriber receives.

Example::

    rows = asyncio.run(run_streams(StreamSettings(rounds=3, deliveries=100_000)))
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from .fanout import Round, clean_median
from .machine import CpuWatch, wait_for_quiet
from .results import metric
from .servers import ServerProcess
from .targets import BURST_PAYLOAD, PLAIN, Target
from .wsraw import Tally, client_frame

BASELINE_NAME = "plain sendToGroup messages, same subscribers"


@dataclass(frozen=True)
class StreamSettings:
    """Rounds per kind, deliveries per round, and how many subscribers the group has."""

    rounds: int = 5
    deliveries: int = 1_000_000
    subscribers: int = 100
    retries: int = 2
    quiet_wait: float = 20.0
    verbose: bool = True


_stream_ids = itertools.count(1)


def stream_burst(group: str, fragments: int) -> bytes:
    """A new stream's start and ``fragments`` fragments, as one blob of masked client frames."""
    stream_id = f"bench-{next(_stream_ids)}"
    start = json.dumps({"type": "sendToGroup", "group": group, "stream": {"streamId": stream_id}}).encode()
    text = BURST_PAYLOAD.decode()
    parts = [client_frame(start)]
    for number in range(1, fragments + 1):
        fragment = {"type": "streamData", "streamId": stream_id, "streamSequenceId": number, "dataType": "text"}
        parts.append(client_frame(json.dumps({**fragment, "data": text}, separators=(",", ":")).encode()))
    return b"".join(parts)


async def one_round(
    target: Target, blob: bytes, messages: int, server: ServerProcess, settings: StreamSettings
) -> Round:
    """Send ``blob`` (``messages`` deliveries per subscriber) and wait until every subscriber has them all."""
    expected = messages * target.per_group
    for attempt in range(settings.retries + 1):
        await asyncio.to_thread(wait_for_quiet, settings.quiet_wait)
        tally = Tally(expected)
        for subscriber in target.subscribers:
            subscriber.tally = tally
        watch = CpuWatch(server.pid)
        start = time.perf_counter()
        target.publishers[0].send_frames(blob)
        try:
            await tally.wait(timeout=30 + expected / 20_000)
        finally:
            for subscriber in target.subscribers:
                subscriber.tally = None
        elapsed = tally.finished_at - start
        use = watch.stop(elapsed)
        if use.clean or attempt == settings.retries:
            return Round(expected / elapsed, use)
    raise AssertionError("unreachable")


async def run_streams(settings: StreamSettings, *, server_cpu: int | None = 0) -> list[dict[str, Any]]:
    """Plain messages and stream fragments to the same number of subscribers, interleaved round by round."""
    messages = max(1, settings.deliveries // settings.subscribers)
    with ServerProcess("service", cpu=server_cpu) as service:
        plain = await Target.service(service, PLAIN, groups=1, subscribers=settings.subscribers, hub="bench_messages")
        streams = await Target.service(service, PLAIN, groups=1, subscribers=settings.subscribers, hub="bench_streams")
        group = plain.groups[0]
        rounds: dict[str, list[Round]] = {"messages": [], "fragments": []}
        try:
            plain_blob = b"".join(plain.burst(messages).values())
            await one_round(plain, b"".join(plain.burst(messages // 10).values()), messages // 10, service, settings)
            await one_round(streams, stream_burst(group, messages // 10), messages // 10, service, settings)
            for r in range(settings.rounds):
                kinds = [("messages", plain), ("fragments", streams)]
                for kind, target in kinds if r % 2 == 0 else kinds[::-1]:
                    if kind == "messages":
                        result = await one_round(target, plain_blob, messages, service, settings)
                    else:
                        # A new stream per round, left open: its start and acks are not deliveries.
                        result = await one_round(target, stream_burst(group, messages), messages, service, settings)
                    rounds[kind].append(result)
                    if settings.verbose:
                        label = f"group streams 1 -> {settings.subscribers}  {kind:<9}"
                        print(f"    {label} round {r + 1}: {result.describe()}")
        finally:
            await plain.close()
            await streams.close()
    return [
        metric(
            f"group stream fragments 1 -> {settings.subscribers}, {PLAIN}",
            clean_median(rounds["fragments"]),
            "frames/s",
            BASELINE_NAME,
            clean_median(rounds["messages"]),
            at_least_ratio=0.5,
        )
    ]
