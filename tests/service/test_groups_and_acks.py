"""Groups, fan-out, permissions and acks over raw WebSockets (docs/protocol.md)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from official_sdk import mint_url
from service_wire import ALL_ROLES, PLAIN, RELIABLE, data_frames, open_client

from wpsnb.service.local import LocalService


def new_hub() -> str:
    return "g" + uuid.uuid4().hex[:12]


def send(group: str, data: Any, ack_id: int | None = None, **fields: Any) -> dict[str, Any]:
    message = {"type": "sendToGroup", "group": group, "dataType": "text", "data": data, **fields}
    if ack_id is not None:
        message["ackId"] = ack_id
    return message


def success(ack_id: int) -> dict[str, Any]:
    return {"type": "ack", "ackId": ack_id, "success": True}


@pytest.mark.parametrize("protocol", [PLAIN, RELIABLE])
async def test_join_and_leave_are_acked_and_take_effect(local_service: LocalService, protocol: str) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, user_id="m", roles=ALL_ROLES), protocol) as member,
        open_client(mint_url(local_service, hub, user_id="p", roles=ALL_ROLES), PLAIN) as publisher,
    ):
        assert await member.request({"type": "joinGroup", "group": "lab", "ackId": 1}) == success(1)
        await publisher.request(send("lab", "while joined", 1))
        message = await member.recv()
        assert (message["group"], message["data"], message["fromUserId"]) == ("lab", "while joined", "p")
        assert ("sequenceId" in message) == (protocol == RELIABLE)
        assert await member.request({"type": "leaveGroup", "group": "lab", "ackId": 2}) == success(2)
        await publisher.request(send("lab", "after leaving", 2))
        assert data_frames(await member.until_pong()) == []


async def test_join_and_leave_are_idempotent(local_service: LocalService) -> None:
    async with open_client(mint_url(local_service, new_hub(), roles=ALL_ROLES), PLAIN) as client:
        assert await client.request({"type": "leaveGroup", "group": "never", "ackId": 1}) == success(1)
        assert await client.request({"type": "joinGroup", "group": "lab", "ackId": 2}) == success(2)
        assert await client.request({"type": "joinGroup", "group": "lab", "ackId": 3}) == success(3)
        await client.request(send("lab", "once", 4))
        assert [f["data"] for f in data_frames(await client.until_pong())] == ["once"]


async def test_send_to_group_fans_out_to_every_member_with_from_user_id(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, user_id="a", groups=["lab"]), PLAIN) as a,
        open_client(mint_url(local_service, hub, groups=["lab"]), RELIABLE) as b,
        open_client(mint_url(local_service, hub, user_id="c", groups=["other"]), PLAIN) as c,
        open_client(mint_url(local_service, hub, user_id="pub", roles=ALL_ROLES), PLAIN) as publisher,
    ):
        await publisher.request(
            {"type": "sendToGroup", "group": "lab", "dataType": "json", "data": {"x": [1, 2]}, "ackId": 1}
        )
        expected = {
            "type": "message",
            "from": "group",
            "group": "lab",
            "fromUserId": "pub",
            "dataType": "json",
            "data": {"x": [1, 2]},
        }
        assert await a.recv() == expected
        assert await b.recv() == {**expected, "sequenceId": 1}
        assert data_frames(await c.until_pong()) == []


async def test_anonymous_sender_has_no_user_id(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as member,
        open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as anonymous,
    ):
        await anonymous.request(send("lab", "who?", 1))
        assert (await member.recv()).get("fromUserId") is None


@pytest.mark.parametrize(
    ("data_type", "data"),
    [("json", "a string"), ("json", [1, None, True]), ("json", 3.5), ("text", ""), ("binary", "AAEC"), ("binary", "")],
)
async def test_every_data_type_arrives_unchanged(local_service: LocalService, data_type: str, data: Any) -> None:
    async with open_client(mint_url(local_service, new_hub(), roles=ALL_ROLES, groups=["lab"]), PLAIN) as client:
        await client.send({"type": "sendToGroup", "group": "lab", "dataType": data_type, "data": data})
        message = await client.recv()
        assert (message["dataType"], message["data"]) == (data_type, data)


async def test_no_echo_skips_only_the_sending_connection(local_service: LocalService) -> None:
    hub = new_hub()
    url = mint_url(local_service, hub, user_id="same", roles=ALL_ROLES, groups=["lab"])
    async with (
        open_client(url, PLAIN) as sender,
        open_client(url, PLAIN) as same_user_elsewhere,
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as member,
    ):
        assert await sender.request(send("lab", "quiet", 1, noEcho=True)) == success(1)
        assert (await member.recv())["data"] == "quiet"
        assert (await same_user_elsewhere.recv())["data"] == "quiet"
        assert data_frames(await sender.until_pong()) == []
        # noEcho:false (explicit) echoes back to the sender.
        await sender.request(send("lab", "loud", 2, noEcho=False))
        assert [f["data"] for f in data_frames(await sender.until_pong())] == ["loud"]


async def test_sender_need_not_be_a_member(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as member,
        open_client(mint_url(local_service, hub, roles=["webpubsub.sendToGroup"]), PLAIN) as outsider,
    ):
        assert await outsider.request(send("lab", "from outside", 1)) == success(1)
        assert (await member.recv())["data"] == "from outside"
        assert data_frames(await outsider.until_pong()) == []


async def test_sending_to_an_empty_group_succeeds(local_service: LocalService) -> None:
    async with open_client(mint_url(local_service, new_hub(), roles=ALL_ROLES), PLAIN) as client:
        assert await client.request(send("nobody-here", "x", 1)) == success(1)


# ---- permissions: Forbidden per role form ---------------------------------------------------------


def forbidden(ack: dict[str, Any], verb: str, group: str) -> bool:
    return (
        ack["success"] is False
        and ack["error"]["name"] == "Forbidden"
        and f"No permission to {verb} group '{group}'" in ack["error"]["message"]
    )


async def test_no_roles_forbid_every_group_operation(local_service: LocalService) -> None:
    async with open_client(mint_url(local_service, new_hub(), user_id="nobody"), PLAIN) as client:
        assert forbidden(await client.request({"type": "joinGroup", "group": "lab", "ackId": 1}), "join", "lab")
        assert forbidden(await client.request({"type": "leaveGroup", "group": "lab", "ackId": 2}), "leave", "lab")
        assert forbidden(await client.request(send("lab", "x", 3)), "send to", "lab")


async def test_any_group_roles_allow_every_group(local_service: LocalService) -> None:
    async with open_client(mint_url(local_service, new_hub(), roles=ALL_ROLES), PLAIN) as client:
        for ack_id, group in enumerate(["a", "b.c", "Room 1"], start=1):
            assert await client.request({"type": "joinGroup", "group": group, "ackId": ack_id * 10}) == success(
                ack_id * 10
            )
            assert await client.request(send(group, "x", ack_id * 10 + 1)) == success(ack_id * 10 + 1)


async def test_one_group_roles_allow_exactly_that_group(local_service: LocalService) -> None:
    roles = ["webpubsub.joinLeaveGroup.lab.a", "webpubsub.sendToGroup.lab.a"]
    async with open_client(mint_url(local_service, new_hub(), roles=roles), PLAIN) as client:
        assert await client.request({"type": "joinGroup", "group": "lab.a", "ackId": 1}) == success(1)
        assert await client.request(send("lab.a", "x", 2)) == success(2)
        assert await client.request({"type": "leaveGroup", "group": "lab.a", "ackId": 3}) == success(3)
        for ack_id, group in ((4, "lab"), (5, "lab.ab"), (6, "LAB.A")):
            assert forbidden(
                await client.request({"type": "joinGroup", "group": group, "ackId": ack_id}), "join", group
            )
        assert forbidden(await client.request(send("lab.b", "x", 7)), "send to", "lab.b")


async def test_join_role_does_not_grant_send_and_vice_versa(local_service: LocalService) -> None:
    async with open_client(mint_url(local_service, new_hub(), roles=["webpubsub.joinLeaveGroup"]), PLAIN) as joiner:
        assert await joiner.request({"type": "joinGroup", "group": "lab", "ackId": 1}) == success(1)
        assert forbidden(await joiner.request(send("lab", "x", 2)), "send to", "lab")
    async with open_client(mint_url(local_service, new_hub(), roles=["webpubsub.sendToGroup"]), PLAIN) as sender:
        assert await sender.request(send("lab", "x", 1)) == success(1)
        assert forbidden(await sender.request({"type": "joinGroup", "group": "lab", "ackId": 2}), "join", "lab")


async def test_wildcard_roles_allow_matching_groups(local_service: LocalService) -> None:
    roles = ["webpubsub.joinLeaveGroups.room.*", "webpubsub.sendToGroups.team.**"]
    async with open_client(mint_url(local_service, new_hub(), roles=roles), PLAIN) as client:
        assert await client.request({"type": "joinGroup", "group": "room.1", "ackId": 1}) == success(1)
        assert forbidden(
            await client.request({"type": "joinGroup", "group": "room.1.x", "ackId": 2}), "join", "room.1.x"
        )
        assert forbidden(await client.request({"type": "joinGroup", "group": "team.a", "ackId": 3}), "join", "team.a")
        assert await client.request(send("team.a.b", "x", 4)) == success(4)
        assert forbidden(await client.request(send("room.1", "x", 5)), "send to", "room.1")


async def test_forbidden_send_publishes_nothing(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as member,
        open_client(mint_url(local_service, hub, roles=["webpubsub.sendToGroup.other"]), PLAIN) as sender,
    ):
        assert forbidden(await sender.request(send("lab", "x", 1)), "send to", "lab")
        await sender.send(send("lab", "fire and forget"))
        await sender.until_pong()
        assert data_frames(await member.until_pong()) == []


# ---- acks: only with ackId, Duplicate, retries ---------------------------------------------------


async def test_no_ack_without_ack_id(local_service: LocalService) -> None:
    async with open_client(mint_url(local_service, new_hub(), roles=["webpubsub.joinLeaveGroup"]), PLAIN) as client:
        await client.send({"type": "joinGroup", "group": "lab"})
        await client.send({"type": "leaveGroup", "group": "lab"})
        await client.send(send("lab", "forbidden, silently"))
        await client.send({"type": "event", "event": "nobody", "data": "x"})
        assert await client.until_pong() == []


async def test_fire_and_forget_join_still_takes_effect(local_service: LocalService) -> None:
    async with open_client(mint_url(local_service, new_hub(), roles=ALL_ROLES), PLAIN) as client:
        await client.send({"type": "joinGroup", "group": "lab"})
        await client.send(send("lab", "arrives"))
        assert [f["data"] for f in await client.until_pong()] == ["arrives"]


async def test_repeated_successful_ack_id_is_duplicate_and_not_executed_again(local_service: LocalService) -> None:
    hub = new_hub()
    async with (
        open_client(mint_url(local_service, hub, roles=ALL_ROLES), PLAIN) as client,
        open_client(mint_url(local_service, hub, groups=["lab"]), PLAIN) as member,
    ):
        assert await client.request(send("lab", "first", 5)) == success(5)
        duplicate = await client.request(send("lab", "second", 5))
        assert duplicate == {
            "type": "ack",
            "ackId": 5,
            "success": False,
            "error": {"name": "Duplicate", "message": "Message with ack-id: 5 has been processed"},
        }
        # The ackId space is shared by every request type.
        assert (await client.request({"type": "joinGroup", "group": "lab", "ackId": 5}))["error"]["name"] == "Duplicate"
        assert [f["data"] for f in data_frames(await member.until_pong())] == ["first"]
        assert data_frames(await client.until_pong()) == [], "the Duplicate join did not join"


async def test_ack_ids_are_per_connection(local_service: LocalService) -> None:
    url = mint_url(local_service, new_hub(), roles=ALL_ROLES)
    async with open_client(url, PLAIN) as one, open_client(url, PLAIN) as two:
        assert await one.request({"type": "joinGroup", "group": "lab", "ackId": 1}) == success(1)
        assert await two.request({"type": "joinGroup", "group": "lab", "ackId": 1}) == success(1)


async def test_failed_ack_id_may_be_retried(local_service: LocalService) -> None:
    roles = ["webpubsub.joinLeaveGroup.lab"]
    async with open_client(mint_url(local_service, new_hub(), roles=roles), PLAIN) as client:
        assert forbidden(await client.request({"type": "joinGroup", "group": "ops", "ackId": 9}), "join", "ops")
        assert await client.request({"type": "joinGroup", "group": "lab", "ackId": 9}) == success(9)
        assert (await client.request({"type": "event", "event": "e", "data": 1, "ackId": 10}))["success"] is False
        assert await client.request({"type": "leaveGroup", "group": "lab", "ackId": 10}) == success(10)


async def test_large_ack_ids_round_trip(local_service: LocalService) -> None:
    async with open_client(mint_url(local_service, new_hub(), roles=ALL_ROLES), PLAIN) as client:
        assert await client.request({"type": "joinGroup", "group": "lab", "ackId": 2**64 - 1}) == success(2**64 - 1)
        assert await client.request({"type": "joinGroup", "group": "lab", "ackId": 0}) == success(0)


# ---- ping, event, sequenceAck on plain -----------------------------------------------------------


@pytest.mark.parametrize("protocol", [PLAIN, RELIABLE])
async def test_ping_gets_pong(local_service: LocalService, protocol: str) -> None:
    async with open_client(mint_url(local_service, new_hub()), protocol) as client:
        await client.send({"type": "ping"})
        assert await client.recv() == {"type": "pong"}


@pytest.mark.parametrize("data_type", ["json", "text", "binary"])
async def test_event_gets_internal_server_error_ack(local_service: LocalService, data_type: str) -> None:
    data = {"json": {"a": 1}, "text": "t", "binary": "AQI="}[data_type]
    async with open_client(mint_url(local_service, new_hub()), PLAIN) as client:
        ack = await client.request(
            {"type": "event", "event": "chat.send", "dataType": data_type, "data": data, "ackId": 3}
        )
        assert ack["success"] is False and ack["ackId"] == 3
        assert ack["error"]["name"] == "InternalServerError"
        assert "chat.send" in ack["error"]["message"]
        assert await client.until_pong() == [], "no message comes with the failed event"


async def test_sequence_ack_is_ignored_on_the_plain_protocol(local_service: LocalService) -> None:
    async with open_client(mint_url(local_service, new_hub()), PLAIN) as client:
        await client.send({"type": "sequenceAck", "sequenceId": 12})
        assert await client.until_pong() == []


async def test_message_types_match_case_insensitively_and_extra_fields_are_ignored(
    local_service: LocalService,
) -> None:
    async with open_client(mint_url(local_service, new_hub(), roles=ALL_ROLES), PLAIN) as client:
        ack = await client.request({"type": "JOINGROUP", "group": "lab", "ackId": 1, "future": {"x": 1}})
        assert ack == success(1)
