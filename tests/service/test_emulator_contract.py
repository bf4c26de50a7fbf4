"""Black-box probes of the behaviours the official emulator's own C# tests assert, where wpsnb used to differ
(issue 14, docs/emulator-differences.md): the exact 1-MiB frame, the REST error codes with message and
target, api-version validation without side effects and ``api-supported-versions`` on every answer,
adding a user without connections, a 1001 close of a reliable session, the numeric permission names,
runs of ``*`` in wildcard roles and chunked REST bodies.

Every probe speaks HTTP or WebSocket to a real local service; effects are checked through real clients.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, RELIABLE, WireClient, connect_to, open_client
from test_reliable_recovery import attach, recover, recovery_url, wait_for_state
from test_rest_http import API, Rest

from wpsnb.service.local import LocalService

MEBIBYTE = 1024 * 1024
SUPPORTED = "2021-10-01, 2022-11-01, 2023-07-01, 2024-01-01, 2024-12-01"


@pytest.fixture
async def rest(local_service: LocalService) -> AsyncIterator[Rest]:
    async with aiohttp.ClientSession() as session:
        yield Rest(session, local_service, "c" + uuid.uuid4().hex[:10])


async def sentinel_then_recv(rest: Rest, client: WireClient, user: str) -> dict:
    """Send a text sentinel to ``user`` and return the first data frame: proof of what arrived before it."""
    assert (await rest("POST", f"users/{user}/:send?{API}", data=b"sentinel", content_type="text/plain")).status == 202
    return await client.recv()


# ---- the 1-MiB frame -----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [PLAIN, RELIABLE])
async def test_a_frame_of_exactly_one_mebibyte_is_accepted(local_service: LocalService, protocol: str) -> None:
    hub = "c" + uuid.uuid4().hex[:10]
    url = mint_url(local_service, hub, roles=ALL_ROLES)
    async with open_client(url, protocol) as client:
        head = json.dumps({"type": "sendToGroup", "group": "lab", "dataType": "text", "ackId": 1, "data": ""})
        frame = head[:-2] + "x" * (MEBIBYTE - len(head)) + head[-2:]
        assert len(frame.encode()) == MEBIBYTE
        await client.send(frame)
        assert (await client.recv())["success"] is True
        await client.send(frame[:-2] + "x" + frame[-2:])  # one byte more: "more than 1 MiB"
        await client.expect_close(1009)


# ---- REST error codes ----------------------------------------------------------------------------


async def test_missing_things_have_their_own_error_codes(local_service: LocalService, rest: Rest) -> None:
    answers = {
        "group": await rest("HEAD", f"groups/nobody-here?{API}"),
        "user": await rest("HEAD", f"users/nobody?{API}"),
        "connection": await rest("HEAD", f"connections/no-such-id?{API}"),
    }
    assert {kind: (a.status, a.headers["x-ms-error-code"]) for kind, a in answers.items()} == {
        "group": (404, "Warning.Group.NotExisted"),
        "user": (404, "Warning.User.NotExisted"),
        "connection": (404, "Warning.Connection.NotExisted"),
    }
    add = await rest("PUT", f"groups/lab/connections/no-such-id?{API}")
    assert (add.status, add.error["code"], add.error["target"]) == (404, "Error.Connection.NotExisted", "Connection")
    assert "no-such-id" in add.error["message"]
    for method in ("PUT", "HEAD"):
        answer = await rest(method, f"permissions/sendToGroup/connections/no-such-id?{API}&targetName=lab")
        assert (answer.status, answer.headers["x-ms-error-code"]) == (404, "Info.Connection.NotExisted")
    assert (await rest("DELETE", f"permissions/sendToGroup/connections/no-such-id?{API}&targetName=lab")).status == 204


async def test_adding_a_user_without_connections_is_404_and_adds_nobody(
    local_service: LocalService, rest: Rest
) -> None:
    nobody = await rest("PUT", f"users/later/groups/lab?{API}")
    assert (nobody.status, nobody.error["code"], nobody.error["target"]) == (404, "Warning.User.NotExisted", "User")
    assert "has no connection" in nobody.error["message"]
    async with open_client(mint_url(local_service, rest.hub, user_id="later"), PLAIN) as client:
        # Nothing was remembered for the user: the group is still empty once they connect.
        assert (await rest("HEAD", f"groups/lab?{API}")).status == 404
        assert (await rest("PUT", f"users/later/groups/lab?{API}")).status == 200
        assert (await rest("HEAD", f"groups/lab?{API}")).status == 200
        await client.until_pong()


# ---- api-version ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["api-version=2099-01-01", "api-version=2024-12-01&api-version=2024-12-01", "api-version=1.0", "api-version="],
)
async def test_unsupported_api_versions_are_400_and_change_nothing(
    local_service: LocalService, rest: Rest, query: str
) -> None:
    async with open_client(mint_url(local_service, rest.hub, user_id="u"), PLAIN) as client:
        connection_id = client.connected["connectionId"]
        refused = [
            await rest("POST", f"users/u/:send?{query}", data=b"refused", content_type="text/plain"),
            await rest("PUT", f"groups/lab/connections/{connection_id}?{query}"),
            await rest("DELETE", f"connections/{connection_id}?{query}"),
        ]
        for answer in refused:
            assert (answer.status, answer.error["code"], answer.error["target"]) == (
                400,
                "UnsupportedApiVersion",
                "api-version",
            )
            assert "2024-12-01" in answer.error["message"]
            assert answer.headers["api-supported-versions"] == SUPPORTED
        assert (await sentinel_then_recv(rest, client, "u"))["data"] == "sentinel"  # nothing came before it
        assert (await rest("HEAD", f"groups/lab?{API}")).status == 404  # not joined
        assert (await rest("HEAD", f"connections/{connection_id}?{API}")).status == 200  # not closed


@pytest.mark.parametrize("version", ["", "2021-10-01", "2022-11-01", "2023-07-01", "2024-01-01", "2024-12-01"])
async def test_every_supported_api_version_and_none_are_accepted(rest: Rest, version: str) -> None:
    query = f"?api-version={version}" if version else ""
    assert (await rest("POST", f"users/u/:send{query}", data=b"x", content_type="text/plain")).status == 202


async def test_every_answer_says_which_api_versions_are_supported(rest: Rest) -> None:
    answers = [
        await rest("HEAD", "/api/health", authorization=None, hub_path=False),
        await rest("POST", f"users/u/:send?{API}", data=b"x", content_type="text/plain"),  # 202
        await rest("HEAD", f"groups/g?{API}"),  # 404
        await rest("POST", f"users/u/:send?{API}", data=b"x", content_type="text/plain", authorization=None),  # 401
        await rest("POST", f"groups/g/:shout?{API}"),  # no such operation
    ]
    assert [a.status for a in answers] == [200, 202, 404, 401, 404]
    assert {a.headers["api-supported-versions"] for a in answers} == {SUPPORTED}


# ---- chunked REST bodies -------------------------------------------------------------------------


async def test_chunked_bodies_are_accepted(local_service: LocalService, rest: Rest) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"chunked":', b" true}"):
            yield part

    async with open_client(mint_url(local_service, rest.hub, user_id="u"), PLAIN) as client:
        answer = await rest("POST", f"users/u/:send?{API}", data=chunks(), content_type="application/json")
        assert answer.status == 202
        assert (await client.recv())["data"] == {"chunked": True}


# ---- reliable sessions and 1001 ------------------------------------------------------------------


async def test_a_1001_close_keeps_a_reliable_session_recoverable(local_service: LocalService) -> None:
    hub = "c" + uuid.uuid4().hex[:10]
    url = mint_url(local_service, hub, user_id="u", roles=ALL_ROLES, groups=["lab"])
    client = await attach(url)
    await client.ws.close(1001, "page unloading")
    await wait_for_state(local_service, hub, client.connected["connectionId"], "detached")
    async with open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as publisher:
        send = {"type": "sendToGroup", "group": "lab", "dataType": "text", "data": "m", "ackId": 1}
        ack = await publisher.request(send)
        assert ack["success"] is True
    recovered = await recover(url, client.connected)
    frame = await recovered.recv()
    assert (frame["data"], frame["sequenceId"]) == ("m", 1)
    await recovered.ws.close()


async def test_a_1000_close_still_ends_a_reliable_session(local_service: LocalService) -> None:
    hub = "c" + uuid.uuid4().hex[:10]
    url = mint_url(local_service, hub)
    client = await attach(url)
    await client.ws.close(1000)
    await wait_for_state(local_service, hub, client.connected["connectionId"], None)
    async with connect_to(recovery_url(url, client.connected), [RELIABLE]) as ws:
        await ws.wait_closed()
        assert ws.close_code == 1008


# ---- permissions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "operation"), [("1", "sendToGroup"), ("2", "joinGroup")])
async def test_numeric_permission_names_are_the_sdk_enum(
    local_service: LocalService, rest: Rest, number: str, operation: str
) -> None:
    async with open_client(mint_url(local_service, rest.hub), PLAIN) as client:
        path = f"permissions/{number}/connections/{client.connected['connectionId']}?{API}&targetName=lab"
        assert (await rest("HEAD", path)).status == 404
        assert (await rest("PUT", path)).status == 200
        assert (await rest("HEAD", path)).status == 200
        request = {"type": operation, "group": "lab", "ackId": 1, "dataType": "text", "data": "x", "noEcho": True}
        assert (await client.request(request))["success"] is True
    for bad in ("0", "3", "-1"):
        answer = await rest("PUT", f"permissions/{bad}/connections/c?{API}&targetName=lab")
        assert (answer.status, answer.error["target"]) == (400, "permission")


async def test_a_run_of_stars_in_a_role_is_one_double_star(local_service: LocalService) -> None:
    hub = "c" + uuid.uuid4().hex[:10]
    roles = ["webpubsub.sendToGroups.******", "webpubsub.joinLeaveGroups.a.**.**.**.**.**"]
    url = mint_url(local_service, hub, roles=roles)
    async with open_client(url, PLAIN) as client:
        send = {"type": "sendToGroup", "group": "x.y.z", "ackId": 1, "dataType": "text", "data": "x", "noEcho": True}
        assert (await client.request(send))["success"] is True
        join = await client.request({"type": "joinGroup", "group": "a.b.c.d.e.f", "ackId": 2})
        assert join["success"] is True
