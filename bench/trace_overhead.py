"""What the service-wide trace costs on the fan-out path: off, recording unwatched, and watched.

Three service processes take turns on CPU 0: one with the trace recorder off (``--no-trace``), one
recording with nobody watching (the default), and one recording with a watcher attached to
``GET /trace`` for the whole run (a thread of this process that reads the stream and counts lines,
so the cost measured is the service's). Each round bursts the same messages through each of them,
interleaved round by round as in :mod:`.fanout`. A full run does this in three passes, each with three
fresh processes (two processes of the same code differ by several percent), and takes the medians over
every pass's rounds. The median rates are compared to the trace-off service, and so are the frames
delivered per second of server CPU time (which other processes on a shared machine disturb much less
than the rate). Goal: recording and watched both ≥ 0.95× the
trace-off service per server core.

Example::

    rows = asyncio.run(run_trace_overhead(FanoutSettings(rounds=3, deliveries=100_000)))
"""

from __future__ import annotations

import asyncio
import gc
import http.client
import json
import statistics
import sys
import threading
import time
from typing import Any

from wpsnb.protocol.envelope import Envelope
from wpsnb.service.hub import Service, Session
from wpsnb.service.trace import TraceRecorder
from wpsnb.trace_reader import TraceReader

from .fanout import FanoutSettings, Round, Topology, burst, clean_median
from .results import median, metric
from .servers import ServerProcess
from .targets import PLAIN, RELIABLE, Target

GOAL = 0.95
MODES = ("off", "recording", "watched")
TOPOLOGIES = (Topology("1 -> 100", 100, 1), Topology("1 -> 1000", 1000, 1))


class LineCounter:
    """A trace watcher that reads the whole stream and counts its lines (records and status lines)."""

    def __init__(self, connection_string: str):
        self._reader = TraceReader(connection_string, history=False)
        self.lines = 0
        self.bytes = 0
        self._connection: http.client.HTTPConnection | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-trace-watcher", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the trace watcher could not attach to the service")

    def _run(self) -> None:
        host = self._reader.endpoint.split("://", 1)[1]
        connection = http.client.HTTPConnection(host, timeout=30)
        self._connection = connection
        connection.request("GET", self._reader.path, headers={"Authorization": f"Bearer {self._reader.token()}"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"the trace refused the bench watcher: {response.status} {response.read()!r}")
        self._ready.set()
        try:
            while chunk := response.read1(65536):
                self.lines += chunk.count(b"\n")
                self.bytes += len(chunk)
        except (OSError, http.client.HTTPException):
            pass  # closed by close()

    def close(self) -> None:
        if self._connection is not None and self._connection.sock is not None:
            self._connection.sock.close()
        self._thread.join(5)


class _NullWriter:
    """Stands in for a connection's FrameWriter: the in-process measure counts the hub's work only."""

    def send_text(self, payload: bytes) -> None:
        pass

    def send_text_pieces(self, head: bytes, tail: bytes) -> None:
        pass


class _NullSocket:
    def __init__(self) -> None:
        self.writer = _NullWriter()


def _hub(trace: TraceRecorder | None, recipients: int) -> Any:
    hub = Service("k" * 43, trace=trace).hub("bench")
    for n in range(recipients):
        session = Session(hub, user_id=f"u{n}", protocol="json.webpubsub.azure.v1")
        session.socket = _NullSocket()  # type: ignore[assignment]
        hub.add(session)
        hub.join(session, "g")
    return hub


FRAME = '{"type":"sendToGroup","group":"g","dataType":"text","data":"' + "x" * 200 + '"}'


def in_process_cost(recipients: int, messages: int = 2000, rounds: int = 21) -> dict[str, float]:
    """What recording adds to one message's handling in the hub: the client frame recorded, then the
    1 -> ``recipients`` fan-out recorded (µs of this thread's CPU time, trace off and recording
    interleaved, null writers), and the objects recording keeps per message (allocated blocks still
    alive, the ring holding them). CPU time, not wall time: other processes barely disturb it."""
    envelope = Envelope.build("group", "text", "x" * 200, group="g", from_user_id="pub")
    hubs = {"off": _hub(None, recipients), "recording": _hub(TraceRecorder(), recipients)}  # a full ring evicts
    times: dict[str, list[float]] = {mode: [] for mode in hubs}
    for _ in range(rounds):
        for mode, hub in hubs.items():
            trace, publisher = hub.service.trace, next(iter(hub.sessions.values()))
            started = time.thread_time()
            for _ in range(messages):
                if trace is not None:
                    trace.frame_in(publisher, FRAME)
                hub.send_to_group("g", envelope)
            times[mode].append((time.thread_time() - started) / messages * 1e6)
    kept = {}
    for mode in hubs:
        hub = _hub(TraceRecorder(capacity=2 * messages + 1) if mode == "recording" else None, recipients)
        trace, publisher = hub.service.trace, next(iter(hub.sessions.values()))
        gc.collect()
        before = sys.getallocatedblocks()
        for _ in range(messages):
            if trace is not None:
                trace.frame_in(publisher, FRAME)
            hub.send_to_group("g", envelope)
        gc.collect()
        kept[mode] = (sys.getallocatedblocks() - before) / messages
    return {
        "off_us": statistics.median(times["off"]),
        "recording_us": statistics.median(times["recording"]),
        "objects_per_message": kept["recording"] - kept["off"],
    }


def watcher_cost(records: int = 5000) -> float:
    """µs of CPU time to format and encode one record for a watcher (a frame in, a delivery, an ack)."""
    hub = _hub(TraceRecorder(), 100)
    trace, publisher = hub.service.trace, next(iter(hub.sessions.values()))
    envelope = Envelope.build("group", "text", "x" * 200, group="g", from_user_id="pub")
    while trace.next_id < records:
        trace.frame_in(publisher, FRAME)
        hub.send_to_group("g", envelope)
        publisher.send_frame('{"type":"ack","ackId":1,"success":true}')
    first, events = trace.events(trace.first, records)
    started = time.thread_time()
    for ident, event in enumerate(events, first):
        json.dumps(trace.record(event, ident), ensure_ascii=False, separators=(",", ":"))
    return (time.thread_time() - started) / len(events) * 1e6


async def run_trace_overhead(
    settings: FanoutSettings, *, server_cpu: int | None = 0, passes: int = 1
) -> list[dict[str, Any]]:
    """In-process costs first, then fan-out through the three services, interleaved; ``passes`` times
    with fresh processes, the medians taken over the rounds of every pass."""
    rows: list[dict[str, Any]] = []
    for recipients in (100, 1000):
        cost = in_process_cost(recipients)
        if settings.verbose:
            print(f"    in process, 1 -> {recipients}: {cost['off_us']:.2f} µs off, {cost['recording_us']:.2f} µs "
                  f"recording per message; {cost['objects_per_message']:.1f} objects kept")  # fmt: skip
        name = f"hub: a client's message fanned out 1 -> {recipients}, trace recording (thread CPU)"
        rows.append(metric(name, cost["recording_us"], "µs/message", "trace off", cost["off_us"]))
        name = f"objects the trace keeps per 1 -> {recipients} message"
        rows.append(metric(name, cost["objects_per_message"], "objects", None, None, at_most=10))
    per_record = watcher_cost()
    if settings.verbose:
        print(f"    a watcher formats a record in {per_record:.1f} µs")
    rows.append(metric("watcher: format and encode one record (thread CPU)", per_record, "µs/record", None, None))
    cases = [
        (topology, protocol)
        for topology in TOPOLOGIES
        for protocol in (PLAIN, RELIABLE)
        # the reliable window makes 1 -> 1000 a test of the publisher, not the trace
        if not (protocol == RELIABLE and topology.subscribers > 100)
    ]
    rounds: dict[tuple[str, str], dict[str, list[Round]]] = {
        (topology.name, protocol): {mode: [] for mode in MODES} for topology, protocol in cases
    }
    for number in range(passes):
        # Fresh processes each pass: two processes of the same code can differ by several percent (memory
        # layout, hash seeds), so one fixed process per mode would pass that difference off as the trace's.
        if settings.verbose and passes > 1:
            print(f"    pass {number + 1} of {passes}: three fresh service processes")
        with (
            ServerProcess("service", cpu=server_cpu, trace=False) as off,
            ServerProcess("service", cpu=server_cpu) as recording,
            ServerProcess("service", cpu=server_cpu) as watched,
        ):
            watcher = LineCounter(watched.connection_string)  # type: ignore[arg-type]
            try:
                for topology, protocol in cases:
                    got = await _compare(
                        topology, protocol, {"off": off, "recording": recording, "watched": watched}, settings
                    )
                    for mode, results in got.items():
                        rounds[topology.name, protocol][mode] += results
            finally:
                watcher.close()
            if settings.verbose:
                print(f"    the watcher read {watcher.lines:,} lines ({watcher.bytes / 1e6:.1f} MB)")
    for topology, protocol in cases:
        rows += _rows(topology, protocol, rounds[topology.name, protocol])
    return rows


async def _compare(
    topology: Topology, protocol: str, servers: dict[str, ServerProcess], settings: FanoutSettings
) -> dict[str, list[Round]]:
    targets = {
        mode: await Target.service(server, protocol, groups=topology.groups, subscribers=topology.subscribers)
        for mode, server in servers.items()
    }
    messages = max(1, settings.deliveries // (topology.subscribers // topology.groups))
    rounds: dict[str, list[Round]] = {mode: [] for mode in targets}
    label = "reliable" if protocol == RELIABLE else "plain"
    try:
        for mode, target in targets.items():
            await burst(target, max(1, messages // 10), servers[mode], settings=settings)
        for r in range(settings.rounds):
            order = list(targets) if r % 2 == 0 else list(targets)[::-1]
            for mode in order:
                result = await burst(targets[mode], messages, servers[mode], settings=settings)
                rounds[mode].append(result)
                if settings.verbose:
                    print(f"    trace {topology.name:<9} {label:<8} {mode:<9} round {r + 1}: {result.describe()}")
    finally:
        for target in targets.values():
            await target.close()
        await asyncio.sleep(0.3)
    return rounds


def _rows(topology: Topology, protocol: str, rounds: dict[str, list[Round]]) -> list[dict[str, Any]]:
    label = "reliable" if protocol == RELIABLE else "plain"
    off = clean_median(rounds["off"])
    off_per_core = median([per_core(r) for r in rounds["off"]])
    rows = []
    for mode in ("recording", "watched"):
        name = f"fan-out {topology.name}, {label}, trace {mode}"
        rows.append(metric(name, clean_median(rounds[mode]), "frames/s", "same service, trace off", off))
        rows.append(
            metric(
                f"{name}, per server core",
                median([per_core(r) for r in rounds[mode]]),
                "frames/CPU-s",
                "same service, trace off",
                off_per_core,
                at_least_ratio=GOAL,
            )
        )
    return rows


def per_core(result: Round) -> float:
    """Frames delivered per second of the server's CPU time: the cost per frame, whatever else ran."""
    return result.rate / result.cpu.server if result.cpu.server else 0.0
