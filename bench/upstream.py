"""User events through an upstream event handler: client ``event`` → service → CloudEvents POST → reply → client.

The handler is a bare aiohttp app in a process of its own (``python -m bench.upstream``, on the load
generator's CPU) that answers every user event with its body as ``text/plain`` (so each event also
carries a reply back). The
service runs in its own process (CPU 0) with that handler configured. Clients send ``event`` messages
with an ackId and wait for the reply and the ack before the next one: one client (sequential), then
``CONCURRENT`` clients at once.

The baseline is the same CloudEvents request (the service's headers and body) POSTed straight to the
same handler by an aiohttp client, sequentially and ``CONCURRENT`` at a time: what HTTP and the
handler cost, without the service and the WebSocket leg.

Example::

    rows = asyncio.run(run_upstream(UpstreamSettings(events=300, rounds=2)))
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect

from wpsnb.protocol.cloud_events import event_headers

from .machine import pin_to_cpu, wait_for_quiet
from .results import median, metric
from .servers import ServerProcess
from .targets import PLAIN, service_url

HUB = "bench_upstream"
CONCURRENT = 16
TEXT = "x" * 64
BASELINE_NAME = "the same CloudEvents POSTs straight to the handler (aiohttp client)"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class UpstreamSettings:
    """Events per round (split among the clients when concurrent) and rounds per mode."""

    events: int = 3_000
    rounds: int = 3
    quiet_wait: float = 20.0
    verbose: bool = True


# ---- the handler process ----------------------------------------------------------------------


async def _answer(request: web.Request) -> web.Response:
    if request.method == "OPTIONS":
        return web.Response(headers={"WebHook-Allowed-Origin": "*"})
    return web.Response(body=await request.read(), content_type="text/plain")


def serve_handler(cpu: int | None) -> None:
    """Serve the bare handler until standard input closes (prints ``{"port": N}`` first)."""
    pin_to_cpu(cpu)

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", _answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(json.dumps({"port": site._server.sockets[0].getsockname()[1]}), flush=True)  # type: ignore[union-attr]
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await runner.cleanup()

    asyncio.run(main())


class HandlerProcess:
    """The bare handler in a child process."""

    def __init__(self, cpu: int | None):
        command = [sys.executable, "-m", "bench.upstream"] + (["--cpu", str(cpu)] if cpu is not None else [])
        self._process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port: int = json.loads(self._process.stdout.readline())["port"]  # type: ignore[union-attr]

    def __enter__(self) -> HandlerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._process.stdin.close()  # type: ignore[union-attr]
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()


# ---- load -------------------------------------------------------------------------------------


async def _client_events(ws: ClientConnection, count: int, first_ack: int) -> None:
    for ack_id in range(first_ack, first_ack + count):
        await ws.send(
            json.dumps({"type": "event", "event": "bench", "dataType": "text", "data": TEXT, "ackId": ack_id})
        )
        while True:  # the reply, then the ack
            frame = json.loads(await ws.recv())
            if frame.get("type") == "ack":
                if not frame.get("success"):
                    raise RuntimeError(f"user event failed: {frame}")
                break


async def _through_service(sockets: list[ClientConnection], events: int, first_ack: int) -> float:
    share = events // len(sockets)
    start = time.perf_counter()
    await asyncio.gather(*(_client_events(ws, share, first_ack) for ws in sockets))
    return share * len(sockets) / (time.perf_counter() - start)


async def _direct(http: aiohttp.ClientSession, url: str, events: int, concurrency: int) -> float:
    headers = event_headers(
        event="bench",
        system=False,
        hub=HUB,
        connection_id="bench-connection",
        event_id=1,
        origin="127.0.0.1",
        access_keys=["bench-access-key"],
        subprotocol=PLAIN,
        content_type="text/plain",
    )
    share = events // concurrency

    async def one_after_another() -> None:
        for _ in range(share):
            async with http.post(url, data=TEXT.encode(), headers=headers) as response:
                await response.read()

    start = time.perf_counter()
    await asyncio.gather(*(one_after_another() for _ in range(concurrency)))
    return share * concurrency / (time.perf_counter() - start)


async def run_upstream(
    settings: UpstreamSettings, *, server_cpu: int | None = 0, handler_cpu: int | None = 1
) -> list[dict[str, Any]]:
    """Sequential and concurrent user events, service and baseline interleaved.

    The handler shares ``handler_cpu`` with the load generator in both measurements, so the service
    (alone on ``server_cpu``) is the only difference between them.
    """
    rows = []
    with HandlerProcess(handler_cpu) as handler:
        url = f"http://127.0.0.1:{handler.port}/api/{{hub}}/{{event}}"
        handlers = {HUB: [{"url_template": url, "user_event_pattern": "*"}]}
        with ServerProcess("service", cpu=server_cpu, event_handlers=handlers) as service:
            direct_url = f"http://127.0.0.1:{handler.port}/api/{HUB}/bench"
            sockets = [
                await connect(service_url(service, HUB), subprotocols=[PLAIN], proxy=None, compression=None)  # type: ignore[list-item]
                for _ in range(CONCURRENT)
            ]
            for ws in sockets:
                await ws.recv()  # connected
            limits = aiohttp.TCPConnector(limit=CONCURRENT)
            async with aiohttp.ClientSession(connector=limits) as http:
                ack = 1
                await _through_service(sockets[:1], 50, ack)  # warm-up: pools, preflight
                await _direct(http, direct_url, 50, 1)
                ack += 50
                for label, clients in (("sequential", 1), (f"{CONCURRENT} clients", CONCURRENT)):
                    rates: dict[str, list[float]] = {"service": [], "baseline": []}
                    events = settings.events if clients > 1 else settings.events // 3
                    for r in range(settings.rounds):
                        for who in ("service", "baseline") if r % 2 == 0 else ("baseline", "service"):
                            await asyncio.to_thread(wait_for_quiet, settings.quiet_wait)
                            if who == "service":
                                rate = await _through_service(sockets[:clients], events, ack)
                                ack += events
                            else:
                                rate = await _direct(http, direct_url, events, clients)
                            rates[who].append(rate)
                            if settings.verbose:
                                print(f"    upstream {label:<11} {who:<8} round {r + 1}: {rate:>8,.0f} events/s")
                    rows.append(
                        metric(
                            f"user events through an upstream handler (reply + ack), {label}",
                            median(rates["service"]),
                            "events/s",
                            BASELINE_NAME,
                            median(rates["baseline"]),
                        )
                    )
            for ws in sockets:
                await ws.close()
    return rows


if __name__ == "__main__":
    serve_handler(int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--cpu" else None)
