"""Input the attack run (issue 16) found mishandled: lone surrogates in REST bodies and in token claims,
recovery over the wrong subprotocol, upgrades RFC 6455 forbids, and a session takeover. Each case is
checked on the wire, with a bystander proving nothing else was disturbed where that matters."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
import pytest
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, RELIABLE, WireClient, connect_to, data_frames, open_client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wpsnb.service.local import LocalService

API = "api-version=2024-12-01"


def new_hub() -> str:
    return "x" + uuid.uuid4().hex[:12]


async def post(service: LocalService, path: str, body: bytes, content_type: str) -> tuple[int, Any]:
    """A REST call signed the way the SDKs sign it (aud = the exact URL)."""
    url = f"{service.endpoint}{path}?{API}"
    token = jwt.encode({"aud": url, "exp": int(time.time()) + 60}, service.access_key, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as response:
        return response.status, await response.json(content_type=None) if response.status >= 400 else None


SEND_PATHS = {
    "send_to_all": "/api/hubs/{hub}/:send",
    "send_to_group": "/api/hubs/{hub}/groups/lab/:send",
    "send_to_user": "/api/hubs/{hub}/users/ann/:send",
    "send_to_connection": "/api/hubs/{hub}/connections/c1/:send",
}
UNSENDABLE_JSON = {
    "lone surrogate string": (rb'"\ud800"', "surrogate"),
    "lone surrogate key": (rb'{"a\udc00": 1}', "surrogate"),
    "number beyond float range": (b"[1e400]", "finite numbers"),
    "nested too deeply": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize("endpoint", list(SEND_PATHS))
@pytest.mark.parametrize("case", list(UNSENDABLE_JSON))
async def test_rest_sends_answer_400_for_json_that_cannot_be_passed_on(
    local_service: LocalService, endpoint: str, case: str
) -> None:
    hub = new_hub()
    body, reason = UNSENDABLE_JSON[case]
    async with open_client(mint_url(local_service, hub, user_id="ann", groups=["lab"]), PLAIN) as bystander:
        status, error = await post(local_service, SEND_PATHS[endpoint].format(hub=hub), body, "application/json")
        assert status == 400, error
        assert error["code"] == "Error.BadRequest" and reason in error["message"], error
        assert error["target"] == "body"
        assert data_frames(await bystander.until_pong()) == []  # nothing half-sent


async def test_rest_text_with_a_charset_that_yields_surrogates_is_400(local_service: LocalService) -> None:
    body = rb"\ud800"  # raw_unicode_escape decodes this to a lone surrogate
    status, error = await post(
        local_service, f"/api/hubs/{new_hub()}/:send", body, "text/plain; charset=raw_unicode_escape"
    )
    assert status == 400 and "surrogate" in error["message"], error


@pytest.mark.parametrize("claim", ["user_id", "roles"])
async def test_token_with_a_lone_surrogate_claim_is_refused_at_the_handshake(
    local_service: LocalService, claim: str
) -> None:
    value: Any = "ann\ud800" if claim == "user_id" else ["webpubsub.joinLeaveGroup.\udc00"]
    url = mint_url(local_service, new_hub(), **{claim: value})  # the official SDK mints it
    with pytest.raises(InvalidStatus) as refused:
        async with connect_to(url, [PLAIN]):
            pass
    response = refused.value.response
    assert response.status_code == 401
    assert "unpaired surrogate" in response.body.decode(), response.body


# ---- recovery and takeover -----------------------------------------------------------------------


def recovery_url(url: str, connected: dict[str, Any]) -> str:
    return (
        f"{url}&awps_connection_id={quote(connected['connectionId'])}"
        f"&awps_reconnection_token={quote(connected['reconnectionToken'])}"
    )


@pytest.mark.parametrize("offer", [[PLAIN], None, [PLAIN, RELIABLE]])
async def test_a_reliable_session_resumes_only_over_its_reliable_subprotocol(
    local_service: LocalService, offer: list[str] | None
) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, roles=ALL_ROLES, groups=["lab"])
    first = await WireClient(await connect_to(url, [RELIABLE])).handshake()
    first.drop()
    async with connect_to(recovery_url(url, first.connected), offer) as ws:
        if offer is not None and RELIABLE in offer:
            assert ws.subprotocol == RELIABLE  # the session's own protocol wins over an earlier plain one
            await ws.close()
            return
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    # The refusal did not end the session: the real protocol can still recover it.
    async with connect_to(recovery_url(url, first.connected), [RELIABLE]) as ws:
        assert ws.subprotocol == RELIABLE
        assert '"event":"connected"' in await asyncio.wait_for(ws.recv(), 5)  # the recovery announces itself
        await ws.send('{"type":"ping"}')
        assert "pong" in await asyncio.wait_for(ws.recv(), 5)


async def test_a_takeover_sends_the_old_socket_a_close_frame(local_service: LocalService) -> None:
    url = mint_url(local_service, new_hub(), roles=ALL_ROLES)
    old = await WireClient(await connect_to(url, [RELIABLE])).handshake()
    async with connect_to(recovery_url(url, old.connected), [RELIABLE]) as new:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(old.ws.recv(), 5)
        assert closed.value.rcvd is not None, "the old socket was cut without a close frame"
        assert closed.value.rcvd.code == 1008 and "recovered" in closed.value.rcvd.reason
        assert '"event":"connected"' in await asyncio.wait_for(new.recv(), 5)  # the recovery announces itself
        await new.send('{"type":"ping"}')
        assert "pong" in await asyncio.wait_for(new.recv(), 5)  # the new socket is unaffected


# ---- upgrades RFC 6455 does not allow --------------------------------------------------------------


async def raw_upgrade(service: LocalService, url: str, *, version: str = "13", http: str = "1.1") -> bytes:
    """Send a hand-written upgrade request and return the status line and headers of the answer."""
    path = url.split(str(service.port), 1)[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    writer.write(
        f"GET {path} HTTP/{http}\r\nHost: 127.0.0.1:{service.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: {version}\r\nSec-WebSocket-Protocol: {PLAIN}\r\n\r\n".encode()
    )
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()


async def test_http_1_0_upgrade_is_refused(local_service: LocalService) -> None:
    head = await raw_upgrade(local_service, mint_url(local_service, new_hub()), http="1.0")
    assert head.split(b"\r\n", 1)[0].split(b" ")[1] == b"400", head


@pytest.mark.parametrize("version", ["8", "7", "12", ""])
async def test_websocket_versions_other_than_13_are_refused_with_426(local_service: LocalService, version: str) -> None:
    head = await raw_upgrade(local_service, mint_url(local_service, new_hub()), version=version)
    assert head.split(b"\r\n", 1)[0].split(b" ")[1] == b"426", head
    assert b"sec-websocket-version: 13" in head.lower()


async def test_version_13_over_http_1_1_still_upgrades(local_service: LocalService) -> None:
    head = await raw_upgrade(local_service, mint_url(local_service, new_hub()))
    assert head.startswith(b"HTTP/1.1 101"), head


async def test_a_verified_rest_token_is_not_accepted_for_another_url(local_service: LocalService) -> None:
    """Verified bearer tokens are remembered (a REST speed-up); only for the exact URLs they were signed for."""
    hub = new_hub()
    url = f"{local_service.endpoint}/api/hubs/{hub}/:send?{API}"
    token = jwt.encode({"aud": url, "exp": int(time.time()) + 60}, local_service.access_key, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
    other = f"{local_service.endpoint}/api/hubs/{hub}/groups/lab/:send?{API}"
    async with aiohttp.ClientSession() as session:
        for _ in range(2):  # the second call is answered from the remembered verification
            async with session.post(url, data=b"hi", headers=headers) as response:
                assert response.status == 202
        async with session.post(other, data=b"hi", headers=headers) as response:
            assert response.status == 401
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        async with session.post(url, data=b"hi", headers={**headers, "Authorization": f"Bearer {forged}"}) as answer:
            assert answer.status == 401
