"""Every public method of the official Python server SDK against a live local service (issue 3).

``azure-messaging-webpubsubservice`` 1.3.0 drives the REST API exactly as it drives Azure: each test runs
once with the sync ``WebPubSubServiceClient`` and once with ``azure.messaging.webpubsubservice.aio``, and
checks the effect through real WebSocket clients — plain (``json.webpubsub.azure.v1``), reliable
(``json.reliable.webpubsub.azure.v1``) and simple (no subprotocol) — whose every frame is checked
against the protocol's message shapes. Names that need percent-encoding (``/``, spaces, ``+``, ``?``,
``#``, ``%``, non-ASCII) are used throughout. ``test_every_public_method_is_covered`` enumerates the SDK
so that a method added in a later version cannot slip by untested.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice import GroupMember, WebPubSubServiceClient
from azure.messaging.webpubsubservice._patch import JwtCredentialPolicy
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient as AioWebPubSubServiceClient
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, RELIABLE, WireClient, data_frames, open_client

from wpsnb.protocol.tokens import generate_access_key
from wpsnb.service.local import LocalService

SYNC, AIO = "sync", "aio"
# Names that only survive if every layer percent-encodes and decodes them exactly once.
GROUP = "room 1/α+β?#%20&"
USER = "ann smith/ü+1"
OTHER_USER = "bob"


class Sdk:
    """One official server SDK client, sync or aio, called the same way: ``await sdk("send_to_all", ...)``.

    Sync methods run in a worker thread so the test's event loop keeps serving its WebSocket clients.
    """

    def __init__(self, flavour: str, client: Any, hub: str):
        self.flavour = flavour
        self.client = client
        self.hub = hub

    @classmethod
    def from_connection_string(cls, flavour: str, connection_string: str, hub: str) -> Sdk:
        client_class = WebPubSubServiceClient if flavour == SYNC else AioWebPubSubServiceClient
        return cls(flavour, client_class.from_connection_string(connection_string, hub=hub), hub)

    @classmethod
    def with_policy(cls, flavour: str, endpoint: str, hub: str, policy: Any) -> Sdk:
        """A client built the Entra ID way (token credential) but authenticating with ``policy``.

        With a token credential the SDK takes its REST code paths (``get_client_access_token`` calls
        ``:generateToken``); the policy signs requests like a key credential does, so the local
        service can check them. The credential itself is never asked for a token.
        """
        client_class = WebPubSubServiceClient if flavour == SYNC else AioWebPubSubServiceClient
        return cls(
            flavour,
            client_class(endpoint=endpoint, hub=hub, credential=_UnusedTokenCredential(), authentication_policy=policy),
            hub,
        )

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        function = getattr(self.client, method)
        if self.flavour == SYNC:
            return await asyncio.to_thread(function, *args, **kwargs)
        return await function(*args, **kwargs)

    async def list_connections(self, **kwargs: Any) -> list[GroupMember]:
        if self.flavour == SYNC:
            return await asyncio.to_thread(lambda: list(self.client.list_connections(**kwargs)))
        return [member async for member in self.client.list_connections(**kwargs)]

    async def list_connection_pages(self, **kwargs: Any) -> list[list[GroupMember]]:
        if self.flavour == SYNC:
            return await asyncio.to_thread(lambda: [list(p) for p in self.client.list_connections(**kwargs).by_page()])
        return [[m async for m in page] async for page in self.client.list_connections(**kwargs).by_page()]

    async def close(self) -> None:
        if self.flavour == SYNC:
            self.client.close()
        else:
            await self.client.close()


class _UnusedTokenCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("the local service is called with the policy's JWT, not an Entra token")


class _ExpiredJwtPolicy(JwtCredentialPolicy):
    """The SDK's own signing policy, but with tokens that expired ten minutes ago (beyond any clock skew)."""

    def _encode(self, url: Any) -> str:
        claims = {"aud": url, "exp": int(time.time()) - 600}
        return jwt.encode(claims, self._credential.key, algorithm="HS256")


@pytest.fixture(params=[SYNC, AIO])
async def sdk(request: pytest.FixtureRequest, local_service: LocalService) -> AsyncIterator[Sdk]:
    """The SDK under test, on a hub of its own (``send_to_all`` must not reach other tests' clients)."""
    client = Sdk.from_connection_string(request.param, local_service.connection_string, "rest" + uuid.uuid4().hex[:10])
    yield client
    await client.close()


def url_for(service: LocalService, sdk: Sdk, **claims: Any) -> str:
    return mint_url(service, sdk.hub, **claims)


async def assert_no_data(client: WireClient) -> None:
    """Nothing was delivered: the pong comes back with no message before it (the service keeps order)."""
    assert data_frames(await client.until_pong()) == []


async def assert_raw_next_is_marker(sdk: Sdk, client: WireClient, user_id: str) -> None:
    """Nothing was delivered to a simple client: the next frame it gets is a marker sent after the fact."""
    await sdk("send_to_user", user_id, "marker", content_type="text/plain")
    assert await client.recv_raw() == "marker"


def connection_ids(service: LocalService, sdk: Sdk, user_id: str) -> list[str]:
    """Connection ids of a user's simple clients (they get no ``connected`` message to learn it from)."""
    return service.call(lambda: [s.connection_id for s in service.service.hub(sdk.hub).user_sessions(user_id)])


def message(source: str, data_type: str, data: Any, group: str | None = None) -> dict[str, Any]:
    frame = {"type": "message", "from": source, "dataType": data_type, "data": data}
    return frame if group is None else {**frame, "group": group}


# ---- sending -------------------------------------------------------------------------------------


async def test_send_to_all_reaches_plain_reliable_and_simple_clients(local_service: LocalService, sdk: Sdk) -> None:
    async with (
        open_client(url_for(local_service, sdk, user_id="p"), PLAIN) as plain,
        open_client(url_for(local_service, sdk, user_id="r"), RELIABLE) as reliable,
        open_client(url_for(local_service, sdk, user_id="s")) as simple,
    ):
        await sdk("send_to_all", {"a": [1, "ü"]})  # content_type defaults to application/json
        assert await plain.recv() == message("server", "json", {"a": [1, "ü"]})
        assert await reliable.recv() == {**message("server", "json", {"a": [1, "ü"]}), "sequenceId": 1}
        assert await simple.recv_raw() == '{"a": [1, "\\u00fc"]}'  # the body exactly as the SDK posted it

        await sdk("send_to_all", "hello")  # the SDK quirk: a str without content_type is a JSON string
        assert (await plain.recv())["data"] == "hello"
        assert await simple.recv_raw() == '"hello"'

        # Bytes, not str: the aio SDK would cut a non-ASCII str short (test_aio_sdk_cuts_non_ascii_str_text).
        await sdk("send_to_all", "plain text ü".encode(), content_type="text/plain")
        assert await plain.recv() == message("server", "text", "plain text ü")
        assert (await reliable.recv())["dataType"] == "json"  # the JSON string sent before
        assert await reliable.recv() == {**message("server", "text", "plain text ü"), "sequenceId": 3}
        assert await simple.recv_raw() == "plain text ü"

        await sdk("send_to_all", b"\x00\x01\xff", content_type="application/octet-stream")
        assert await plain.recv() == message("server", "binary", "AAH/")
        assert await reliable.recv() == {**message("server", "binary", "AAH/"), "sequenceId": 4}
        assert await simple.recv_raw() == b"\x00\x01\xff"


async def test_send_to_all_honours_excluded_and_filter(local_service: LocalService, sdk: Sdk) -> None:
    async with (
        open_client(url_for(local_service, sdk, user_id=USER, groups=[GROUP]), PLAIN) as in_group,
        open_client(url_for(local_service, sdk, user_id=USER), RELIABLE) as same_user,
        open_client(url_for(local_service, sdk, user_id="other")) as simple,
    ):
        excluded = [in_group.connected["connectionId"]]
        await sdk("send_to_all", "not to the excluded one", content_type="text/plain", excluded=excluded)
        assert (await same_user.recv())["data"] == "not to the excluded one"
        assert await simple.recv_raw() == "not to the excluded one"
        await assert_no_data(in_group)

        await sdk("send_to_all", "group members only", content_type="text/plain", filter=f"'{GROUP}' in groups")
        assert (await in_group.recv())["data"] == "group members only"
        await assert_no_data(same_user)
        await assert_raw_next_is_marker(sdk, simple, "other")

        await sdk(
            "send_to_all",
            "user, not the excluded",
            content_type="text/plain",
            filter=f"userId eq '{USER}'",
            excluded=excluded,
        )
        assert (await same_user.recv())["data"] == "user, not the excluded"
        await assert_no_data(in_group)
        await assert_raw_next_is_marker(sdk, simple, "other")


async def test_send_to_group_uses_from_group_and_encoded_names(local_service: LocalService, sdk: Sdk) -> None:
    async with (
        open_client(url_for(local_service, sdk, user_id="m1", groups=[GROUP]), PLAIN) as member,
        open_client(url_for(local_service, sdk, groups=[GROUP]), RELIABLE) as anonymous_member,
        open_client(url_for(local_service, sdk, user_id="m3", groups=[GROUP])) as simple_member,
        open_client(url_for(local_service, sdk, user_id="out", groups=["room 1"]), PLAIN) as outsider,
    ):
        await sdk("send_to_group", GROUP, {"n": 1})
        assert await member.recv() == message("group", "json", {"n": 1}, GROUP)
        assert await anonymous_member.recv() == {**message("group", "json", {"n": 1}, GROUP), "sequenceId": 1}
        assert await simple_member.recv_raw() == '{"n": 1}'
        await assert_no_data(outsider)  # "room 1" is not "room 1/α+β?#%20&" cut at the '/'

        await sdk(
            "send_to_group",
            GROUP,
            b"\x07",
            content_type="application/octet-stream",
            excluded=[member.connected["connectionId"]],
            filter="userId ne null",
        )
        assert await simple_member.recv_raw() == b"\x07"
        await assert_no_data(member)
        await assert_no_data(anonymous_member)

        await sdk("send_to_group", "nobody is here", "fine", content_type="text/plain")  # 202 for an empty group


async def test_send_to_user_reaches_each_connection_of_the_user(local_service: LocalService, sdk: Sdk) -> None:
    url = url_for(local_service, sdk, user_id=USER)
    async with (
        open_client(url, PLAIN) as first,
        open_client(url, RELIABLE) as second,
        open_client(url) as simple,
        open_client(url_for(local_service, sdk, user_id=OTHER_USER), PLAIN) as other,
    ):
        await sdk("send_to_user", USER, "for ann", content_type="text/plain")
        assert await first.recv() == message("server", "text", "for ann")
        assert await second.recv() == {**message("server", "text", "for ann"), "sequenceId": 1}
        assert await simple.recv_raw() == "for ann"
        await assert_no_data(other)

        first_id = first.connected["connectionId"]
        await sdk("send_to_user", USER, {"only": "first"}, filter=f"connectionId eq '{first_id}'")
        assert await first.recv() == message("server", "json", {"only": "first"})
        await assert_no_data(second)
        await sdk("send_to_user", "nobody", "fine", content_type="text/plain")  # 202 for an unknown user


async def test_send_to_connection_reaches_only_that_connection(local_service: LocalService, sdk: Sdk) -> None:
    async with (
        open_client(url_for(local_service, sdk, user_id="t"), PLAIN) as target,
        open_client(url_for(local_service, sdk, user_id="b"), PLAIN) as bystander,
        open_client(url_for(local_service, sdk, user_id="s")) as simple,
    ):
        await sdk("send_to_connection", target.connected["connectionId"], [1, 2], content_type="application/json")
        assert await target.recv() == message("server", "json", [1, 2])
        await assert_no_data(bystander)
        [simple_id] = connection_ids(local_service, sdk, "s")
        await sdk("send_to_connection", simple_id, "just you", content_type="text/plain")
        assert await simple.recv_raw() == "just you"
        await sdk("send_to_connection", "no-such-connection", "fine", content_type="text/plain")  # 202 too


# ---- group membership ----------------------------------------------------------------------------


async def test_connection_group_membership(local_service: LocalService, sdk: Sdk) -> None:
    async with (
        open_client(url_for(local_service, sdk, user_id="c"), PLAIN) as client,
        open_client(url_for(local_service, sdk, user_id="s")) as simple,
    ):
        connection_id = client.connected["connectionId"]
        [simple_id] = connection_ids(local_service, sdk, "s")
        for group in (GROUP, "second"):
            await sdk("add_connection_to_group", group, connection_id)
            await sdk("add_connection_to_group", group, simple_id)
        await sdk("send_to_group", GROUP, "joined by REST", content_type="text/plain")
        assert await client.recv() == message("group", "text", "joined by REST", GROUP)
        assert await simple.recv_raw() == "joined by REST"

        await sdk("remove_connection_from_group", GROUP, connection_id)
        await sdk("send_to_group", GROUP, "after removal", content_type="text/plain")
        assert await simple.recv_raw() == "after removal"
        await assert_no_data(client)
        await sdk("send_to_group", "second", "still in second", content_type="text/plain")
        assert (await client.recv())["group"] == "second"
        assert await simple.recv_raw() == "still in second"

        await sdk("remove_connection_from_all_groups", simple_id)
        await sdk("send_to_group", "second", "simple left", content_type="text/plain")
        assert (await client.recv())["data"] == "simple left"
        await assert_raw_next_is_marker(sdk, simple, "s")

        # Idempotent removals: unknown connections and groups are fine (204).
        await sdk("remove_connection_from_group", GROUP, "no-such-connection")
        await sdk("remove_connection_from_all_groups", "no-such-connection")


async def test_user_group_membership(local_service: LocalService, sdk: Sdk) -> None:
    url = url_for(local_service, sdk, user_id=USER)
    async with (
        open_client(url, PLAIN) as first,
        open_client(url, RELIABLE) as second,
        open_client(url_for(local_service, sdk, user_id=OTHER_USER), PLAIN) as other,
    ):
        await sdk("add_user_to_group", GROUP, USER)
        await sdk("add_user_to_group", "second", USER)
        await sdk("send_to_group", GROUP, "to the user's group", content_type="text/plain")
        assert (await first.recv())["group"] == GROUP
        assert (await second.recv())["group"] == GROUP
        await assert_no_data(other)

        await sdk("remove_user_from_group", GROUP, USER)
        await sdk("send_to_group", GROUP, "gone", content_type="text/plain")
        await sdk("send_to_group", "second", "still here", content_type="text/plain")
        assert (await first.recv())["data"] == "still here"
        assert (await second.recv())["data"] == "still here"

        await sdk("remove_user_from_all_groups", USER)
        await sdk("send_to_group", "second", "gone too", content_type="text/plain")
        await assert_no_data(first)
        await assert_no_data(second)
        with pytest.raises(ResourceNotFoundError) as nobody:  # as the emulator: nobody to add
            await sdk("add_user_to_group", GROUP, "user-without-connections")
        assert nobody.value.error.code == "Warning.User.NotExisted"


async def test_exists_checks(local_service: LocalService, sdk: Sdk) -> None:
    assert await sdk("user_exists", USER) is False
    assert await sdk("group_exists", GROUP) is False
    async with open_client(url_for(local_service, sdk, user_id=USER, groups=[GROUP]), RELIABLE) as client:
        connection_id = client.connected["connectionId"]
        assert await sdk("connection_exists", connection_id) is True
        assert await sdk("user_exists", USER) is True
        assert await sdk("group_exists", GROUP) is True
        assert await sdk("group_exists", "room 1") is False
        await sdk("remove_connection_from_group", GROUP, connection_id)
        assert await sdk("group_exists", GROUP) is False  # a group exists while it has a member
        await sdk("close_connection", connection_id)
        await client.expect_close(1000)
        assert await sdk("connection_exists", connection_id) is False
        assert await sdk("user_exists", USER) is False
    assert await sdk("connection_exists", "no-such-connection") is False


async def test_permissions_with_and_without_target_name(local_service: LocalService, sdk: Sdk) -> None:
    async with (
        open_client(url_for(local_service, sdk, user_id="nobody"), PLAIN) as client,
        open_client(url_for(local_service, sdk, groups=[GROUP]), PLAIN) as member,
    ):
        connection_id = client.connected["connectionId"]
        join = {"type": "joinGroup", "group": GROUP, "ackId": 1}
        assert (await client.request(join))["error"]["name"] == "Forbidden"
        assert await sdk("has_permission", "joinLeaveGroup", connection_id, target_name=GROUP) is False

        await sdk("grant_permission", "joinLeaveGroup", connection_id, target_name=GROUP)
        assert await sdk("has_permission", "joinLeaveGroup", connection_id, target_name=GROUP) is True
        assert await sdk("has_permission", "joinLeaveGroup", connection_id, target_name="room 1") is False
        assert (await client.request({**join, "ackId": 2}))["success"] is True

        await sdk("grant_permission", "sendToGroup", connection_id)  # no targetName: every group
        assert await sdk("has_permission", "sendToGroup", connection_id) is True
        send = {"type": "sendToGroup", "group": GROUP, "dataType": "text", "data": "granted", "ackId": 3}
        assert (await client.request(send))["success"] is True
        assert (await member.recv())["data"] == "granted"

        await sdk("revoke_permission", "sendToGroup", connection_id, target_name=GROUP)
        assert await sdk("has_permission", "sendToGroup", connection_id, target_name=GROUP) is False
        assert await sdk("has_permission", "sendToGroup", connection_id, target_name="elsewhere") is True
        assert (await client.request({**send, "ackId": 4}))["error"]["name"] == "Forbidden"
        await sdk("revoke_permission", "joinLeaveGroup", connection_id)
        assert (await client.request({"type": "leaveGroup", "group": GROUP, "ackId": 5}))["success"] is False

        # Unknown connections: has → False, revoke → fine (204), grant → 404 (see test_not_found_errors).
        assert await sdk("has_permission", "sendToGroup", "no-such-connection") is False
        await sdk("revoke_permission", "sendToGroup", "no-such-connection", target_name=GROUP)


async def test_list_connections_pages_through_the_group(local_service: LocalService, sdk: Sdk) -> None:
    urls = [url_for(local_service, sdk, user_id=f"u{i}" if i % 2 else None, groups=[GROUP]) for i in range(4)]
    urls.append(url_for(local_service, sdk, user_id="s4", groups=[GROUP]))
    async with (
        open_client(urls[0], PLAIN) as c0,
        open_client(urls[1], PLAIN) as c1,
        open_client(urls[2], RELIABLE) as c2,
        open_client(urls[3], RELIABLE) as c3,
        open_client(urls[4]) as c4,
    ):
        expected = {(c.connected["connectionId"], c.connected["userId"]) for c in (c0, c1, c2, c3)}
        expected |= {(connection_id, "s4") for connection_id in connection_ids(local_service, sdk, "s4")}
        assert len(expected) == 5

        members = await sdk.list_connections(group=GROUP)
        assert {(m.connection_id, m.user_id) for m in members} == expected
        pages = await sdk.list_connection_pages(group=GROUP, maxpagesize=2)  # follows nextLink twice
        assert [len(page) for page in pages] == [2, 2, 1]
        assert {(m.connection_id, m.user_id) for page in pages for m in page} == expected
        top = await sdk.list_connection_pages(group=GROUP, top=3, maxpagesize=2)
        assert [len(page) for page in top] == [2, 1]
        assert len({m.connection_id for page in top for m in page}) == 3
        assert await sdk.list_connections(group="nobody is here") == []
        await sdk("remove_connection_from_group", GROUP, c0.connected["connectionId"])
        assert len(await sdk.list_connections(group=GROUP)) == 4
        await assert_raw_next_is_marker(sdk, c4, "s4")


# ---- closing -------------------------------------------------------------------------------------


async def test_close_connection_sends_reason_then_closes_1000(local_service: LocalService, sdk: Sdk) -> None:
    async with (
        open_client(url_for(local_service, sdk, user_id="p"), PLAIN) as plain,
        open_client(url_for(local_service, sdk, user_id="s")) as simple,
        open_client(url_for(local_service, sdk, user_id="b"), RELIABLE) as bystander,
    ):
        await sdk("close_connection", plain.connected["connectionId"], reason="maintenance ü")
        frames = await plain.expect_close(1000)
        assert frames == [{"type": "system", "event": "disconnected", "message": "maintenance ü"}]
        assert plain.ws.close_reason == "maintenance ü"

        [simple_id] = connection_ids(local_service, sdk, "s")
        await sdk("close_connection", simple_id)
        await simple.expect_close(1000)
        assert simple.ws.close_reason == "Closed by REST API."  # the default reason
        await sdk("close_connection", "no-such-connection")  # 204
        await assert_no_data(bystander)


async def test_close_all_group_and_user_connections(local_service: LocalService, sdk: Sdk) -> None:
    async with (
        open_client(url_for(local_service, sdk, user_id=USER, groups=[GROUP]), PLAIN) as user_a,
        open_client(url_for(local_service, sdk, user_id=USER), RELIABLE) as user_b,
        open_client(url_for(local_service, sdk, user_id="g1", groups=[GROUP]), PLAIN) as group_1,
        open_client(url_for(local_service, sdk, user_id="g2", groups=[GROUP]), PLAIN) as group_2,
        open_client(url_for(local_service, sdk, user_id="x1"), PLAIN) as rest_1,
        open_client(url_for(local_service, sdk, user_id="x2")) as rest_2,
    ):
        await sdk("close_user_connections", USER, excluded=[user_a.connected["connectionId"]], reason="user")
        assert (await user_b.expect_close(1000))[-1]["message"] == "user"
        assert await sdk("connection_exists", user_a.connected["connectionId"]) is True

        await sdk("close_group_connections", GROUP, excluded=[group_2.connected["connectionId"]], reason="group")
        for closed in (user_a, group_1):
            assert (await closed.expect_close(1000))[-1]["message"] == "group"
        await assert_no_data(group_2)

        await sdk("close_all_connections", excluded=[rest_1.connected["connectionId"]], reason="everyone")
        assert (await group_2.expect_close(1000))[-1]["message"] == "everyone"
        await rest_2.expect_close(1000)
        assert rest_2.ws.close_reason == "everyone"
        await assert_no_data(rest_1)
        await sdk("close_all_connections")  # default reason
        assert (await rest_1.expect_close(1000))[-1]["message"] == "Closed by REST API."


async def test_aio_sdk_cuts_non_ascii_str_text(local_service: LocalService, sdk: Sdk) -> None:
    """A str body with text/plain: fine from the sync SDK; the aio SDK sends Content-Length = len(str).

    azure-core (``rest/_helpers.py`` ``set_content_body``) counts characters and aiohttp obeys the header, so the
    last bytes never leave the client. The service then answers 400 and says how to fix it; with bytes both work.
    """
    async with open_client(url_for(local_service, sdk, user_id=USER), PLAIN) as client:
        try:
            await sdk("send_to_user", USER, "grüße", content_type="text/plain")
        except HttpResponseError as cut:
            assert sdk.flavour == AIO
            assert cut.status_code == 400
            assert "pass text.encode() instead" in cut.error.message
        else:  # the sync SDK (and an aio SDK with a fixed azure-core)
            assert (await client.recv())["data"] == "grüße"
        await sdk("send_to_user", USER, "grüße".encode(), content_type="text/plain")
        assert (await client.recv())["data"] == "grüße"


# ---- tokens, raw requests, client lifecycle ------------------------------------------------------


async def test_get_client_access_token_with_the_access_key(local_service: LocalService, sdk: Sdk) -> None:
    token = await sdk(
        "get_client_access_token", user_id=USER, roles=["webpubsub.sendToGroup"], groups=[GROUP], minutes_to_expire=5
    )
    assert token["url"] == f"{token['baseUrl']}?access_token={token['token']}"
    assert token["baseUrl"] == f"ws://{local_service.endpoint[7:]}/client/hubs/{sdk.hub}"
    async with open_client(token["url"], PLAIN) as client:
        assert client.connected["userId"] == USER
        send = {"type": "sendToGroup", "group": GROUP, "dataType": "text", "data": "roles work", "ackId": 1}
        assert (await client.request(send))["success"] is True
        assert (await client.recv())["data"] == "roles work"  # a member of the token's group


async def test_get_client_access_token_through_generate_token(local_service: LocalService, sdk: Sdk) -> None:
    policy = JwtCredentialPolicy(AzureKeyCredential(local_service.access_key))
    entra_style = Sdk.with_policy(sdk.flavour, local_service.endpoint, sdk.hub, policy)
    try:
        token = await entra_style(
            "get_client_access_token", user_id=USER, roles=ALL_ROLES, groups=[GROUP, "g2"], minutes_to_expire=2
        )
    finally:
        await entra_style.close()
    claims = jwt.decode(token["token"], local_service.access_key, algorithms=["HS256"], options={"verify_aud": False})
    assert (claims["sub"], claims["role"], claims["webpubsub.group"]) == (USER, ALL_ROLES, [GROUP, "g2"])
    assert claims["exp"] - claims["iat"] == 120
    async with open_client(token["url"], RELIABLE) as client:
        assert client.connected["userId"] == USER
        await sdk("send_to_group", "g2", "minted by :generateToken", content_type="text/plain")
        assert (await client.recv())["data"] == "minted by :generateToken"


async def test_send_request_reaches_health_and_add_remove_groups(local_service: LocalService, sdk: Sdk) -> None:
    async with (
        open_client(url_for(local_service, sdk, user_id="alice"), PLAIN) as alice,
        open_client(url_for(local_service, sdk, user_id="bob"), PLAIN) as bob,
    ):
        health = await sdk("send_request", HttpRequest("HEAD", "/api/health"))
        assert health.status_code == 200
        body = {"groups": [GROUP, "updates"], "filter": "userId eq 'alice'"}
        added = await sdk(
            "send_request",
            HttpRequest("POST", f"/api/hubs/{sdk.hub}/:addToGroups", params={"api-version": "2024-12-01"}, json=body),
        )
        assert added.status_code == 200
        await sdk("send_to_group", "updates", "for the room", content_type="text/plain")
        assert (await alice.recv())["group"] == "updates"
        await assert_no_data(bob)

        removed = await sdk(
            "send_request", HttpRequest("POST", f"/api/hubs/{sdk.hub}/:removeFromGroups", json={"groups": ["updates"]})
        )  # no filter: everyone
        assert removed.status_code == 200
        await sdk("send_to_group", "updates", "nobody", content_type="text/plain")
        await sdk("send_to_group", GROUP, "still in the other", content_type="text/plain")
        assert (await alice.recv())["data"] == "still in the other"

        bad = await sdk("send_request", HttpRequest("POST", f"/api/hubs/{sdk.hub}/:addToGroups", json={"groups": []}))
        assert bad.status_code == 400
        assert bad.headers["x-ms-error-code"] == "Error.BadRequest"
        assert "non-empty list of group names" in bad.json()["message"]


async def test_from_connection_string_accepts_the_port_form(local_service: LocalService, sdk: Sdk) -> None:
    host, port = local_service.endpoint.rsplit(":", 1)
    connection_string = f"Endpoint={host};Port={port};AccessKey={local_service.access_key};Version=1.0;"
    port_form = Sdk.from_connection_string(sdk.flavour, connection_string, sdk.hub)
    try:
        async with open_client(url_for(local_service, sdk, user_id=USER), PLAIN) as client:
            await port_form("send_to_user", USER, "via Port=", content_type="text/plain")
            assert (await client.recv())["data"] == "via Port="
            assert await port_form("user_exists", USER) is True
    finally:
        await port_form.close()


async def test_close_releases_the_transport(local_service: LocalService, sdk: Sdk) -> None:
    assert await sdk("group_exists", GROUP) is False  # opens the HTTP transport
    await sdk.close()
    with pytest.raises(ValueError, match="transport has already been closed"):
        await sdk("group_exists", GROUP)


# ---- errors --------------------------------------------------------------------------------------


async def test_not_found_errors(local_service: LocalService, sdk: Sdk) -> None:
    with pytest.raises(ResourceNotFoundError) as add:
        await sdk("add_connection_to_group", GROUP, "no-such-connection")
    assert "connection 'no-such-connection' does not exist" in str(add.value)
    assert add.value.error.code == "Error.Connection.NotExisted"
    assert add.value.error.target == "Connection"
    with pytest.raises(ResourceNotFoundError) as grant:
        await sdk("grant_permission", "sendToGroup", "no-such-connection", target_name=GROUP)
    assert grant.value.error.code == "Info.Connection.NotExisted"


@pytest.mark.parametrize(
    ("method", "args", "expression", "position"),
    [
        ("send_to_all", (), "userId eq", 9),
        ("send_to_group", (GROUP,), "length(userId) gt 'five'", 18),
        ("send_to_user", (USER,), "nosuch eq 'x'", 0),
    ],
)
async def test_bad_filters_are_400_with_the_offending_part(
    sdk: Sdk, method: str, args: tuple[str, ...], expression: str, position: int
) -> None:
    with pytest.raises(HttpResponseError) as bad:
        await sdk(method, *args, "x", content_type="text/plain", filter=expression)
    assert bad.value.status_code == 400
    assert bad.value.error.code == "Error.BadRequest"
    assert f"position {position}" in bad.value.error.message
    assert bad.value.response.headers["x-ms-error-code"] == "Error.BadRequest"


async def test_invalid_names_and_permissions_are_400(sdk: Sdk) -> None:
    with pytest.raises(HttpResponseError) as blank:
        await sdk("send_to_group", "   ", "x", content_type="text/plain")
    assert blank.value.status_code == 400
    assert "only whitespace" in blank.value.error.message
    with pytest.raises(HttpResponseError) as permission:
        await sdk("grant_permission", "sendToAll", "some-connection")
    assert permission.value.status_code == 400
    assert "unknown permission 'sendToAll'" in permission.value.error.message
    with pytest.raises(HttpResponseError) as long_group:
        await sdk("add_user_to_group", "g" * 1025, USER)
    assert "1025 characters long" in long_group.value.error.message


async def test_forged_and_expired_bearer_tokens_are_401(local_service: LocalService, sdk: Sdk) -> None:
    wrong_key = f"Endpoint={local_service.endpoint};AccessKey={generate_access_key()};Version=1.0;"
    forged = Sdk.from_connection_string(sdk.flavour, wrong_key, sdk.hub)
    expired = Sdk.with_policy(
        sdk.flavour, local_service.endpoint, sdk.hub, _ExpiredJwtPolicy(AzureKeyCredential(local_service.access_key))
    )
    try:
        with pytest.raises(ClientAuthenticationError) as signed_elsewhere:
            await forged("send_to_all", "x", content_type="text/plain")
        assert "signature does not match this service's access key" in signed_elsewhere.value.error.message
        assert signed_elsewhere.value.response.headers["x-ms-error-code"] == "Error.Unauthorized"
        with pytest.raises(ClientAuthenticationError) as too_old:
            await expired("group_exists", GROUP)  # HEAD: no body, the status alone says 401
        assert too_old.value.status_code == 401
        with pytest.raises(ClientAuthenticationError) as too_old_with_body:
            await expired("close_all_connections")
        assert "expired 10 min ago" in too_old_with_body.value.error.message
    finally:
        await forged.close()
        await expired.close()


# ---- the coverage check --------------------------------------------------------------------------

# SDK method → the tests that drive it (with both the sync and the aio client).
COVERAGE = {
    "add_connection_to_group": [test_connection_group_membership, test_not_found_errors],
    "add_user_to_group": [test_user_group_membership, test_invalid_names_and_permissions_are_400],
    "close": [test_close_releases_the_transport],
    "close_all_connections": [test_close_all_group_and_user_connections],
    "close_connection": [test_close_connection_sends_reason_then_closes_1000, test_exists_checks],
    "close_group_connections": [test_close_all_group_and_user_connections],
    "close_user_connections": [test_close_all_group_and_user_connections],
    "connection_exists": [test_exists_checks],
    "from_connection_string": [
        test_from_connection_string_accepts_the_port_form,
        test_forged_and_expired_bearer_tokens_are_401,
    ],
    "get_client_access_token": [
        test_get_client_access_token_with_the_access_key,
        test_get_client_access_token_through_generate_token,
    ],
    "grant_permission": [test_permissions_with_and_without_target_name, test_not_found_errors],
    "group_exists": [test_exists_checks],
    "has_permission": [test_permissions_with_and_without_target_name],
    "list_connections": [test_list_connections_pages_through_the_group],
    "remove_connection_from_all_groups": [test_connection_group_membership],
    "remove_connection_from_group": [test_connection_group_membership],
    "remove_user_from_all_groups": [test_user_group_membership],
    "remove_user_from_group": [test_user_group_membership],
    "revoke_permission": [test_permissions_with_and_without_target_name],
    "send_request": [test_send_request_reaches_health_and_add_remove_groups],
    "send_to_all": [
        test_send_to_all_reaches_plain_reliable_and_simple_clients,
        test_send_to_all_honours_excluded_and_filter,
        test_bad_filters_are_400_with_the_offending_part,
    ],
    "send_to_connection": [test_send_to_connection_reaches_only_that_connection],
    "send_to_group": [test_send_to_group_uses_from_group_and_encoded_names],
    "send_to_user": [test_send_to_user_reaches_each_connection_of_the_user],
    "user_exists": [test_exists_checks],
}


def public_methods(client_class: type) -> set[str]:
    return {name for name in dir(client_class) if not name.startswith("_") and callable(getattr(client_class, name))}


def test_every_public_method_is_covered() -> None:
    """A method the SDK gains (or renames) fails here until a test drives it."""
    sync_methods, aio_methods = public_methods(WebPubSubServiceClient), public_methods(AioWebPubSubServiceClient)
    assert sync_methods == aio_methods
    assert sync_methods == set(COVERAGE), f"untested: {sorted(sync_methods - set(COVERAGE))}"
    for method, tests in COVERAGE.items():
        for test in tests:
            # Each test takes the `sdk` fixture, so it runs with the sync and the aio client.
            assert "sdk" in inspect.signature(test).parameters, f"{test.__name__} does not use both clients"
            source = inspect.getsource(test)
            assert f'"{method}"' in source or f".{method}(" in source, f"{test.__name__} does not call {method}"
