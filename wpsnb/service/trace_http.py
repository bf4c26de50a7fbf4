"""The trace's HTTP side: the keyed watcher endpoint ``GET /trace`` and the recording of REST calls.

A watcher (``wpsnb trace``, :class:`wpsnb.LiveTrace`) sends ``Authorization: Bearer <jwt>`` signed with
the service's AccessKey for this URL, exactly like a data-plane REST call (so a connection string is
all it needs), and gets a never-ending ``application/x-ndjson`` response: one JSON record per line
(:meth:`~.trace.TraceRecorder.record`), plus a ``{"kind": "watcher", ...}`` line at least once a
second with what this watcher missed. A missing or wrong key gets ``401`` and a body saying why.

Each watcher reads the ring at its own pace on the service's loop. It formats at most ``budget``
records per ``interval`` (by default 500 per 0.1 s): beyond that, and for whatever the ring overwrote
before the watcher got to it, records are skipped and *counted* (``dropped``), never waited for. A
watcher that stops reading blocks only its own response.

Example::

    GET /trace?hub=stream&history=1 HTTP/1.1
    Authorization: Bearer eyJ...      (aud = http://127.0.0.1:8080/trace?hub=stream&history=1)

    {"id":0,"t":1733090000.5,"kind":"connect","hub":"stream","conn":"Xy…","user":"alice",...}
    {"kind":"watcher","recorded":1,"dropped":0,"shown":1}
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..protocol.tokens import TokenError, rest_audiences, validate_rest_token
from .trace import PREVIEW, REST_CALL, RestMark, TraceRecorder
from .websocket import SERVICE_KEY

log = logging.getLogger("wpsnb.service")

TRACE_PATH = "/trace"
INTERVAL = 0.1  # seconds between two reads of the ring by one watcher
BUDGET = 500  # records one watcher is sent per interval at most
WORK_LIMIT = 0.002  # seconds one watcher may spend formatting per interval: about 2 % of the loop at most
CHUNK = 25  # records formatted between two looks at the clock
STATUS_EVERY = 1.0  # seconds between two status lines (also how soon a gone watcher is noticed)
BODY_PREVIEW = 300  # characters of a REST request body kept in its record


def add_routes(app: web.Application) -> None:
    """Register ``GET /trace`` on ``app``."""
    app.router.add_get(TRACE_PATH, trace_endpoint)


async def trace_endpoint(request: web.Request) -> web.StreamResponse:
    """Stream the service's trace to one authenticated watcher until it goes away.

    Query: ``hub`` (only that hub's records), ``history=1`` (start with what the ring holds),
    ``budget`` (records per 0.1 s, default 500).
    """
    service = request.app[SERVICE_KEY]
    refusal = _refusal(request, service.access_key)
    if refusal is not None:
        log.info("refused a trace watcher from %s: %s", request.remote, refusal)
        return web.json_response(
            {"code": "Error.Unauthorized", "message": refusal},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="wpsnb local Web PubSub trace"'},
        )
    trace = service.trace
    if trace is None:
        return web.json_response(
            {
                "code": "Error.TraceOff",
                "message": "tracing is off in this local service; start it with tracing on "
                "(LocalService(trace=True), or wpsnb serve without --no-trace)",
            },
            status=409,
        )
    try:
        budget = max(1, int(request.query.get("budget", BUDGET)))
    except ValueError:
        return web.json_response({"code": "Error.BadRequest", "message": "budget must be a whole number"}, status=400)
    hub = request.query.get("hub") or None
    hub = hub.lower() if hub else None
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-store"})
    await response.prepare(request)
    await _stream(response, trace, hub, budget, request.query.get("history") in ("1", "true"))
    return response


async def _stream(
    response: web.StreamResponse, trace: TraceRecorder, hub: str | None, budget: int, history: bool
) -> None:
    cursor = trace.first if history else trace.next_id
    dropped = shown = 0
    last_status = 0.0
    try:
        while True:
            behind = trace.first - cursor
            if behind > 0:  # the ring overwrote these before this watcher read them
                dropped += behind
                cursor = trace.first
            backlog = trace.next_id - cursor
            if backlog > budget:  # more than this watcher is given per interval: show the newest
                dropped += backlog - budget
                cursor = trace.next_id - budget
            lines, cursor, shown_now = _format(trace, cursor, budget, hub)
            now = time.monotonic()
            if now - last_status >= STATUS_EVERY:
                last_status = now
                status = {"kind": "watcher", "t": time.time(), "recorded": trace.next_id, "dropped": dropped}
                lines.append(json.dumps({**status, "shown": shown + shown_now}, separators=(",", ":")))
            if lines:
                shown += shown_now
                await response.write(("\n".join(lines) + "\n").encode("utf-8"))
            await asyncio.sleep(INTERVAL)
    except (ConnectionError, asyncio.CancelledError):
        return


def _format(trace: TraceRecorder, cursor: int, budget: int, hub: str | None) -> tuple[list[str], int, int]:
    """Up to ``budget`` records from ``cursor`` as JSON lines, formatted for at most :data:`WORK_LIMIT`
    seconds: ``(lines, next cursor, records sent)``. What is left waits for the next interval."""
    started = time.perf_counter()
    first, events = trace.events(cursor, budget)
    lines: list[str] = []
    cursor = first
    for event in events:
        if (cursor - first) % CHUNK == 0 and time.perf_counter() - started > WORK_LIMIT:
            break
        record = trace.record(event, cursor)
        cursor += 1
        if hub is None or record.get("hub") == hub:
            lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return lines, cursor, len(lines)


def _refusal(request: web.Request, access_key: str) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return (
            "the trace needs an 'Authorization: Bearer <jwt>' header signed with this service's AccessKey; "
            "use `wpsnb trace --connection-string ...` or wpsnb.LiveTrace(connection_string)"
        )
    try:
        validate_rest_token(
            token.strip(), access_key, request_urls=rest_audiences(request.scheme, request.host, request.raw_path)
        )
    except TokenError as exc:
        return str(exc)
    return None


# ---- REST calls ---------------------------------------------------------------------------------


async def traced_call(
    trace: TraceRecorder, request: web.Request, answer: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Run ``answer(request)`` and record the call (method, path, status, latency, body summary);
    the deliveries it causes name it.

    The record is made on the loop's next turn, once the answer is written, so the client does not wait
    for it. The call's deliveries are queued the same way just before it (:meth:`.RestCall.after_answer`),
    so they are still recorded right before the call, with nothing in between.
    """
    mark = RestMark()
    token = REST_CALL.set(mark)
    started = time.perf_counter()
    status = 500
    try:
        response = await answer(request)
        status = response.status
        return response
    finally:
        REST_CALL.reset(token)
        latency = time.perf_counter() - started
        body = await _read_body(request)
        asyncio.get_running_loop().call_soon(_record, trace, request, status, latency, body, mark)


def _record(
    trace: TraceRecorder, request: web.Request, status: int, latency: float, body: bytes | str, mark: RestMark
) -> None:
    path = request.path + (f"?{request.query_string}" if request.query_string else "")
    trace.rest(request.method, path, _hub_of(request.path), status, latency, _summary(request, body), mark)


def _hub_of(path: str) -> str:
    parts = path.split("/")
    return parts[3].lower() if len(parts) > 3 and parts[1] == "api" and parts[2] == "hubs" else ""


async def _read_body(request: web.Request) -> bytes | str:
    """The body's bytes, or its summary already: ``""`` (no body) or ``"(body not readable)"``."""
    if not request.body_exists:
        return ""
    try:
        return await request.read()  # already read by the operation: aiohttp keeps it
    except Exception:  # a body that cannot be read is summarised, not raised
        return "(body not readable)"


def _summary(request: web.Request, body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    kind = request.content_type or "application/octet-stream"
    if kind.startswith("text/") or "json" in kind:
        text = body.decode("utf-8", "replace")
        return text[:BODY_PREVIEW] + ("…" if len(text) > BODY_PREVIEW else "")
    return f"({len(body)} bytes of {kind})"[:PREVIEW]
