"""The service-wide trace (``GET /trace``): what it records, who may read it, and that a slow watcher
never holds up delivery. Clients are raw WebSockets and the official REST SDK; the trace is read over
HTTP with :class:`wpsnb.trace_reader.TraceReader`, as ``wpsnb trace`` reads it."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
import uuid
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, RELIABLE, WireClient, connect_to, open_client
from trace_watcher import Watcher
from websockets.exceptions import InvalidStatus

from wpsnb.service.local import LocalService
from wpsnb.trace_reader import TraceError, TraceReader


def new_hub() -> str:
    return "t" + uuid.uuid4().hex[:10]


async def test_the_trace_shows_lifecycle_frames_rest_calls_and_closes(fresh_service: LocalService) -> None:
    hub = new_hub()
    watcher = Watcher(fresh_service, hub=hub)
    try:
        async with (
            open_client(mint_url(fresh_service, hub, user_id="ann", roles=ALL_ROLES), RELIABLE) as ann,
            open_client(mint_url(fresh_service, hub, user_id="bob", roles=ALL_ROLES), PLAIN) as bob,
        ):
            for client in (ann, bob):
                await client.send({"type": "joinGroup", "group": "lab", "ackId": 1})
                assert (await client.recv())["success"] is True
            await ann.send({"type": "sendToGroup", "group": "lab", "ackId": 2, "noEcho": True, "data": "hi"})
            rest = WebPubSubServiceClient.from_connection_string(fresh_service.connection_string, hub=hub)
            await asyncio.to_thread(rest.send_to_group, "lab", {"from": "rest"})
            await asyncio.to_thread(rest.close_connection, bob.connected["connectionId"], reason="bye bob")
            ann_id, bob_id = ann.connected["connectionId"], bob.connected["connectionId"]

            connect = await watcher.wait_for(lambda r: r["kind"] == "connect" and r["user"] == "ann")
            assert connect["protocol"] == RELIABLE and connect["conn"] == ann_id and connect["hub"] == hub
            connected = await watcher.wait_for(lambda r: r.get("type") == "system.connected" and r["conn"] == ann_id)
            assert connected["cause"] == connect["id"] and connected["dir"] == "out"

            send = await watcher.wait_for(lambda r: r.get("type") == "sendToGroup")
            assert (send["dir"], send["conn"], send["user"], send["group"]) == ("in", ann_id, "ann", "lab")
            ack = await watcher.wait_for(lambda r: r.get("type") == "ack" and r["conn"] == ann_id and r["ackId"] == 2)
            assert ack["cause"] == send["id"]
            delivery = await watcher.wait_for(lambda r: r["kind"] == "delivery" and r.get("cause") == send["id"])
            assert delivery["conns"] == [bob_id] and delivery["recipients"] == 1  # noEcho: ann is skipped
            assert json.loads(delivery["frame"])["fromUserId"] == "ann"

            call = await watcher.wait_for(lambda r: r["kind"] == "rest" and "/groups/lab/:send?" in r["path"])
            assert call["method"] == "POST" and call["status"] == 202 and call["ms"] > 0
            assert json.loads(call["body"]) == {"from": "rest"}
            by_rest = await watcher.wait_for(lambda r: r["kind"] == "delivery" and r.get("cause") == call["id"])
            assert sorted(by_rest["conns"]) == sorted([ann_id, bob_id])

            ended = await watcher.wait_for(lambda r: r["kind"] == "end" and r["conn"] == bob_id)
            assert ended["reason"] == "bye bob" and ended["code"] == 1000
            goodbye = await watcher.wait_for(lambda r: r.get("type") == "system.disconnected" and r["conn"] == bob_id)
            assert goodbye["dir"] == "out"
            closed = await watcher.wait_for(lambda r: r["kind"] == "close" and r["conn"] == bob_id)
            assert closed["by"] == "service" and closed["code"] == 1000
        closed = await watcher.wait_for(lambda r: r["kind"] == "close" and r["conn"] == ann_id)
        assert closed["by"] == "client"
        assert all(r.get("hub") == hub for r in watcher.records if r["kind"] != "watcher")
    finally:
        watcher.close()


async def test_the_trace_shows_recovery_attempts_and_refused_handshakes(fresh_service: LocalService) -> None:
    hub = new_hub()
    watcher = Watcher(fresh_service, hub=hub)
    try:
        url = mint_url(fresh_service, hub, user_id="ann", roles=ALL_ROLES)
        client = await WireClient(await connect_to(url, [RELIABLE])).handshake()
        connection_id = client.connected["connectionId"]
        client.drop()  # a dropped TCP connection
        await watcher.wait_for(lambda r: r["kind"] == "detach" and r["conn"] == connection_id)
        token = quote(client.connected["reconnectionToken"])
        back = await connect_to(f"{url}&awps_connection_id={connection_id}&awps_reconnection_token={token}", [RELIABLE])
        recovered = await watcher.wait_for(lambda r: r["kind"] == "recovery" and r["conn"] == connection_id)
        assert recovered["ok"] is True
        await back.close()
        bad = await connect_to(f"{url}&awps_connection_id=nobody&awps_reconnection_token=x", [RELIABLE])
        refused = await watcher.wait_for(lambda r: r["kind"] == "recovery" and r["conn"] == "nobody")
        assert refused["ok"] is False and "no session" in refused["reason"]
        await bad.close()
        with pytest.raises(InvalidStatus):
            await connect_to(f"ws://127.0.0.1:{fresh_service.port}/client/hubs/{hub}?access_token=nope", [PLAIN])
        rejected = await watcher.wait_for(lambda r: r["kind"] == "refused")
        assert rejected["status"] == 401 and "access_token" not in rejected["path"]
    finally:
        watcher.close()


def _get(service: LocalService, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=5)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def test_the_trace_endpoint_refuses_a_missing_or_wrong_key(local_service: LocalService) -> None:
    url = f"{local_service.endpoint}/trace"
    status, body = _get(local_service, "/trace", {})
    assert status == 401 and "Authorization: Bearer" in body["message"]
    wrong = jwt.encode({"aud": url, "exp": time.time() + 60}, "w" * 43, algorithm="HS256")
    status, body = _get(local_service, "/trace", {"Authorization": f"Bearer {wrong}"})
    assert status == 401 and "signature" in body["message"].lower()
    key = local_service.access_key
    other_url = jwt.encode({"aud": url + "?hub=x", "exp": time.time() + 60}, key, algorithm="HS256")
    status, body = _get(local_service, "/trace", {"Authorization": f"Bearer {other_url}"})
    assert status == 401 and "sign the exact request url" in body["message"].lower()
    with pytest.raises(TraceError, match="refused the watcher: 401"):
        next(TraceReader(f"Endpoint={local_service.endpoint};AccessKey={'w' * 43};Version=1.0;").records())


def test_the_trace_is_refused_for_azure_and_reports_tracing_off() -> None:
    with pytest.raises(TraceError, match="portal"):
        TraceReader("Endpoint=https://x.webpubsub.azure.com;AccessKey=" + "k" * 43 + ";Version=1.0;")
    with LocalService(trace=False) as service, pytest.raises(TraceError, match="tracing is off"):
        next(TraceReader(service).records())


async def test_a_watcher_that_stops_reading_never_slows_delivery() -> None:
    with LocalService(trace=200) as service:
        hub = new_hub()
        token = TraceReader(service).token()
        stalled = socket.create_connection(("127.0.0.1", service.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = (
            f"GET /trace?history=1 HTTP/1.1\r\nHost: 127.0.0.1:{service.port}\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        stalled.sendall(request.encode())
        try:
            url = mint_url(service, hub, roles=ALL_ROLES)
            async with open_client(url, PLAIN) as subscriber, open_client(url, PLAIN) as publisher:
                await subscriber.send({"type": "joinGroup", "group": "g", "ackId": 1})
                await subscriber.recv()
                for n in range(3_000):
                    await publisher.send({"type": "sendToGroup", "group": "g", "data": "x" * 200 + str(n)})
                got = [await subscriber.recv() for _ in range(3_000)]
                assert got[-1]["data"].endswith("2999")
            statuses = _read_statuses(stalled, until=lambda s: s["dropped"] > 0)
            assert statuses[-1]["dropped"] > 0 and statuses[-1]["recorded"] >= 6_000
        finally:
            stalled.close()


def _read_statuses(sock: socket.socket, until: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    sock.settimeout(timeout)
    buffer, statuses = b"", []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        buffer += sock.recv(65536)
        for line in buffer.split(b"\n"):
            line = line.strip()
            if b'"kind":"watcher"' in line and line.startswith(b"{") and line.endswith(b"}"):
                status = json.loads(line)
                statuses.append(status)
                if until(status):
                    return statuses
        buffer = buffer.rsplit(b"\n", 1)[-1]
    raise AssertionError(f"no status line matched within {timeout} s: {statuses[-3:]}")


async def test_rest_sends_are_delivered_in_order_and_recorded_right_after_their_deliveries(
    fresh_service: LocalService,
) -> None:
    # A send is answered before its fan-out runs (202 = accepted); the delivery and the call's record follow
    # on the loop's next turn, in that order, before anything the client does next.
    hub = new_hub()
    watcher = Watcher(fresh_service, hub=hub)
    try:
        async with open_client(mint_url(fresh_service, hub, user_id="ann", roles=ALL_ROLES), PLAIN) as ann:
            await ann.send({"type": "joinGroup", "group": "lab", "ackId": 1})
            assert (await ann.recv())["success"] is True
            rest = WebPubSubServiceClient.from_connection_string(fresh_service.connection_string, hub=hub)

            def send_then_remove() -> None:
                for n in range(10):
                    rest.send_to_group("lab", f"m{n}", content_type="text/plain")
                rest.remove_connection_from_group("lab", ann.connected["connectionId"])
                rest.send_to_group("lab", "after leaving", content_type="text/plain")

            await asyncio.to_thread(send_then_remove)
            got = [(await ann.recv())["data"] for _ in range(10)]
            assert got == [f"m{n}" for n in range(10)]

            calls = [
                await watcher.wait_for(lambda r, n=n: r["kind"] == "rest" and r.get("body") == f"m{n}")
                for n in range(10)
            ]
            by_id = {r["id"]: r for r in watcher.records if "id" in r}
            for call in calls:
                delivery = by_id[call["id"] - 1]
                assert delivery["kind"] == "delivery" and delivery["cause"] == call["id"]
                assert delivery["recipients"] == 1
            last = await watcher.wait_for(lambda r: r["kind"] == "rest" and r.get("body") == "after leaving")
            nobody = await watcher.wait_for(lambda r: r["kind"] == "delivery" and r.get("cause") == last["id"])
            assert nobody["recipients"] == 0 and nobody["id"] == last["id"] - 1  # it left before this send
    finally:
        watcher.close()
