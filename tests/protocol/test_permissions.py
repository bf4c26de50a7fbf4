"""wpsnb.protocol.permissions: role forms, wildcard patterns, REST grant/revoke precedence, messages."""

from __future__ import annotations

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from wpsnb.protocol.permissions import (
    JOIN_LEAVE,
    MAX_LITERAL_RULES,
    MAX_PATTERN_ASTERISKS,
    SEND,
    PermissionLimitError,
    Permissions,
    compile_group_pattern,
    parse_permission_name,
)
from wpsnb.protocol.tokens import client_audiences, validate_client_token

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"


# ------------------------------------------------------------------------------------------------------------
# Role forms


@pytest.mark.parametrize(
    ("roles", "group", "join_leave", "send"),
    [
        ([], "g", False, False),
        (["webpubsub.joinLeaveGroup"], "any.group", True, False),
        (["webpubsub.sendToGroup"], "any.group", False, True),
        (["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"], "x", True, True),
        (["webpubsub.joinLeaveGroup.room"], "room", True, False),
        (["webpubsub.joinLeaveGroup.room"], "room2", False, False),
        (["webpubsub.sendToGroup.room"], "room", False, True),
        (["webpubsub.sendToGroup.room"], "Room", False, False),  # group names are case-sensitive
        (["webpubsub.sendToGroup.a.b.c"], "a.b.c", False, True),  # everything after the prefix, dots too
        (["webpubsub.sendToGroup.*"], "*", False, True),  # literal role: '*' is not a wildcard
        (["webpubsub.sendToGroup.*"], "room", False, False),
        (["webpubsub.sendToGroup.g 1/x"], "g 1/x", False, True),
        (["webpubsub.joinLeaveGroups.team-*"], "team-a", True, False),
        (["webpubsub.joinLeaveGroups.team-*"], "team-a.child", False, False),
        (["webpubsub.sendToGroups.client-**"], "client-device.child", False, True),
        (["webpubsub.sendToGroups.**"], "any.thing.at.all", False, True),
        (["webpubsub.sendToGroups.room\\*"], "room*", False, True),  # pattern without wildcards
        (["webpubsub.sendToGroups.room\\*"], "roomX", False, False),
        (["webpubsub.SendToGroup"], "g", False, False),  # role names are case-sensitive
        (["WebPubSub.sendToGroup"], "g", False, False),
        (["webpubsub.sendToGroups"], "g", False, False),
        (["webpubsub.sendToGroupX"], "g", False, False),
        (["admin", "reader"], "g", False, False),  # application roles grant nothing
    ],
)
def test_role_forms(roles: list[str], group: str, join_leave: bool, send: bool) -> None:
    permissions = Permissions(roles)
    assert permissions.can_join_leave(group) is join_leave
    assert permissions.can_send_to(group) is send
    assert permissions.has(JOIN_LEAVE, group) is join_leave
    assert permissions.has(SEND, group) is send


def test_roles_are_kept_deduplicated_in_order() -> None:
    permissions = Permissions(["b", "webpubsub.sendToGroup", "b", "a"])
    assert permissions.roles == ("b", "webpubsub.sendToGroup", "a")
    assert Permissions("webpubsub.sendToGroup").roles == ("webpubsub.sendToGroup",)  # one role, not letters


def test_roles_from_an_sdk_minted_token() -> None:
    client = WebPubSubServiceClient.from_connection_string(
        f"Endpoint=http://127.0.0.1:18080;AccessKey={KEY};Version=1.0;", hub="chat"
    )
    roles = ["webpubsub.joinLeaveGroups.public.*", "webpubsub.sendToGroups.clientA.**", "webpubsub.sendToGroup.ops"]
    token = client.get_client_access_token(roles=roles)["token"]
    audiences = client_audiences("ws", "127.0.0.1:18080", "chat")
    claims = validate_client_token(token, KEY, hub="chat", audiences=audiences)
    permissions = Permissions(claims.roles)
    assert permissions.can_join_leave("public.lobby") and not permissions.can_join_leave("public.a.b")
    assert permissions.can_send_to("clientA.alpha.room1") and permissions.can_send_to("ops")
    assert not permissions.can_send_to("clientB.x") and not permissions.can_send_to("public.lobby")


# ------------------------------------------------------------------------------------------------------------
# Wildcard patterns (examples from the Docs page and the emulator's tests)


@pytest.mark.parametrize(
    ("pattern", "group", "matches"),
    [
        ("chat-*", "chat-1", True),
        ("chat-*", "chat-room", True),
        ("chat-*", "chat-", True),
        ("chat-*", "chat.1", False),
        ("chat-*", "xchat-1", False),
        ("clientA.*", "clientA.alpha", True),
        ("clientA.*", "clientA.1", True),
        ("clientA.*", "clientA.alpha.room1", False),
        ("clientA.*", "clientB.alpha", False),
        ("clientA.**", "clientA.alpha", True),
        ("clientA.**", "clientA.alpha.room1", True),
        ("clientA.**", "clientB.anything", False),
        ("clientA.rooms.?1", "clientA.rooms.a1", True),
        ("clientA.rooms.?1", "clientA.rooms.11", True),
        ("clientA.rooms.?1", "clientA.rooms.1", False),
        ("clientA.rooms.?1", "clientA.rooms.a.1", False),
        ("literal\\*star", "literal*star", True),
        ("literal\\*star", "literalXstar", False),
        ("room\\?", "room?", True),
        ("room\\?", "roomX", False),
        ("room\\\\", "room\\", True),
        ("room\\\\*", "room\\abc", True),  # escaped backslash, then a real wildcard
        ("client-?", "client-a", True),
        ("client-?", "client-ab", False),
        ("client-?", "client-.", False),
        ("*", "room", True),
        ("*", "room.nested", False),
        ("**", "room.nested", True),
        ("*****", "room.nested", True),  # a run of stars is '**'
        ("*.*.*.*.*", "a.b.c.d.e", True),
        ("*.*.*.*.*", "a.b.c.d", False),
        ("\\******", "*room.nested", True),  # an escaped star, then one '**' token
        ("******", "a.b.c", True),  # a run of six stars is one '**' token (the emulator's tokenizer)
        ("**.**.**.**.**", "a.b.c.d.e.f", True),  # five tokens: allowed
        ("a.b", "aXb", False),  # '.' is literal, not a regex dot
        ("a+b(c)", "a+b(c)", True),  # regex metacharacters are literal
        ("line*", "line1\nline2", True),  # newlines are ordinary characters
    ],
)
def test_wildcard_patterns(pattern: str, group: str, matches: bool) -> None:
    assert (compile_group_pattern(pattern).fullmatch(group) is not None) is matches
    assert Permissions([f"webpubsub.sendToGroups.{pattern}"]).can_send_to(group) is matches
    assert Permissions([f"webpubsub.joinLeaveGroups.{pattern}"]).can_join_leave(group) is matches


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("*.*.*.*.*.*", f"at most {MAX_PATTERN_ASTERISKS}"),
        ("*.*.*.*.*.*", "has 6 '*'"),
        ("**.*.*.*.*.***", "has 6 '*'"),
        ("invalid-\\a", "invalid escape"),
        ("ends-with\\", "lone"),
        ("", "empty"),
    ],
)
def test_invalid_patterns_are_reported_and_grant_nothing(pattern: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        compile_group_pattern(pattern)
    assert fragment in str(caught.value)
    role = f"webpubsub.sendToGroups.{pattern}"
    permissions = Permissions([role, "webpubsub.joinLeaveGroup"])
    assert [ignored for ignored, _ in permissions.ignored_roles] == [role]
    assert fragment in permissions.ignored_roles[0][1]
    for group in ("anything", "room.nested", "*room.nested", "invalid-a", "ends-with\\"):
        assert not permissions.can_send_to(group)
    assert permissions.can_join_leave("anything")


def test_invalid_literal_roles_and_misspelt_roles_are_reported() -> None:
    permissions = Permissions(
        ["webpubsub.sendToGroup.   ", "webpubsub.SendToGroup", "webpubsub.sendToGroup.ok", "app.role"]
    )
    reasons = dict(permissions.ignored_roles)
    assert set(reasons) == {"webpubsub.sendToGroup.   ", "webpubsub.SendToGroup"}
    assert "whitespace" in reasons["webpubsub.sendToGroup.   "]
    assert "case-sensitive" in reasons["webpubsub.SendToGroup"]
    assert permissions.can_send_to("ok") and not permissions.can_send_to("   ")


def test_many_patterns_and_many_groups_stay_correct_past_the_cache_size() -> None:
    permissions = Permissions([f"webpubsub.sendToGroups.tenant{i}.*" for i in range(20)])
    for round_ in range(2):  # second round is served from the (repeatedly cleared) cache
        for number in range(3000):
            tenant = number % 25
            group = f"tenant{tenant}.room{number}"
            assert permissions.can_send_to(group) is (tenant < 20), (round_, group)
            assert not permissions.can_send_to(f"{group}.deeper")


# ------------------------------------------------------------------------------------------------------------
# REST grant / revoke


def test_literal_revoke_overrides_a_token_role_of_every_kind() -> None:
    for role in ("webpubsub.sendToGroup", "webpubsub.sendToGroups.room*", "webpubsub.sendToGroup.room"):
        permissions = Permissions([role, "webpubsub.sendToGroup.room"])
        assert permissions.can_send_to("room")
        permissions.revoke(SEND, "room")
        permissions.revoke(SEND, "room")  # idempotent
        assert not permissions.can_send_to("room")
        permissions.grant(SEND, "room")
        assert permissions.can_send_to("room")
        permissions.revoke(SEND, "*")  # '*' is a literal group name here, not "everything"
        assert permissions.can_send_to("room")
        assert not permissions.can_send_to("*")


def test_revoke_of_one_group_leaves_the_others() -> None:
    permissions = Permissions(["webpubsub.sendToGroups.room*"])
    permissions.revoke("sendToGroup", "room1")
    assert not permissions.can_send_to("room1")
    assert permissions.can_send_to("room2")
    assert not permissions.has(SEND, "room1") and permissions.has(SEND, "room2")


def test_grant_without_roles_and_revoke_again() -> None:
    permissions = Permissions()
    permissions.grant("joinleavegroup", "lobby")
    assert permissions.can_join_leave("lobby") and not permissions.can_join_leave("other")
    assert not permissions.can_send_to("lobby")  # the two permissions are independent
    permissions.revoke(JOIN_LEAVE, "lobby")
    assert not permissions.can_join_leave("lobby")


def test_grant_and_revoke_for_all_groups() -> None:
    permissions = Permissions(["webpubsub.sendToGroup.a"])
    permissions.revoke(SEND, "b")
    permissions.grant(SEND, None)
    assert permissions.can_send_to("a") and permissions.can_send_to("b") and permissions.can_send_to("x.y")
    assert permissions.has(SEND, None)
    permissions.revoke(SEND, "b")
    assert not permissions.has(SEND, None)  # no longer every group
    assert not permissions.can_send_to("b") and permissions.can_send_to("c")
    permissions.revoke(SEND, None)  # also drops the token's role-based rules
    assert not permissions.can_send_to("a") and not permissions.can_send_to("c")
    assert not permissions.has(SEND, None)
    permissions.grant(SEND, "a")
    assert permissions.can_send_to("a") and not permissions.can_send_to("c")


def test_has_for_all_groups_from_roles() -> None:
    assert Permissions(["webpubsub.joinLeaveGroup"]).has(JOIN_LEAVE, None)
    assert Permissions(["webpubsub.joinLeaveGroups.**"]).has(JOIN_LEAVE, None)
    assert not Permissions(["webpubsub.joinLeaveGroups.*"]).has(JOIN_LEAVE, None)
    assert not Permissions(["webpubsub.joinLeaveGroup.x"]).has(JOIN_LEAVE, None)


def test_literal_rule_limit() -> None:
    permissions = Permissions(["webpubsub.sendToGroups.free*"])
    for number in range(MAX_LITERAL_RULES):
        permissions.grant(SEND, f"room{number}")
    permissions.grant(SEND, "room0")  # already a rule: fine
    permissions.grant(SEND, "free-1")  # the roles already allow it: no rule needed
    with pytest.raises(PermissionLimitError, match="targetName"):
        permissions.grant(SEND, "one-too-many")
    assert not permissions.can_send_to("one-too-many")
    permissions.revoke(SEND, "room0")  # drops a rule, freeing a slot
    permissions.grant(SEND, "one-too-many")
    assert permissions.can_send_to("one-too-many") and not permissions.can_send_to("room0")
    assert permissions.can_join_leave("x") is False  # the other permission has its own table


@pytest.mark.parametrize("bad", ["sendToGroups", "send", "", "joinLeave", "0", "3", "-1", "sendToGroup,joinLeaveGroup"])
def test_unknown_permission_names(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        parse_permission_name(bad)
    with pytest.raises(ValueError, match="unknown permission"):
        Permissions().grant(bad, "g")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("sendToGroup", SEND),
        ("SENDTOGROUP", SEND),
        ("sendtogroup", SEND),
        ("joinLeaveGroup", JOIN_LEAVE),
        ("JoinLeaveGroup", JOIN_LEAVE),
        ("1", SEND),  # the numeric forms of the SDKs' WebPubSubPermission enum (SendToGroup = 1)
        ("2", JOIN_LEAVE),
    ],
)
def test_permission_names(text: str, name: str) -> None:
    assert parse_permission_name(text) == name


def test_empty_target_is_refused() -> None:
    with pytest.raises(ValueError, match="targetName"):
        Permissions().grant(SEND, "")


# ------------------------------------------------------------------------------------------------------------
# Messages


def test_forbidden_send_message() -> None:
    assert Permissions().forbidden_reason("send", "ops") == (
        "No permission to send to group 'ops'. The connection needs role 'webpubsub.sendToGroup' or "
        "'webpubsub.sendToGroup.ops' (grant it in the client access token or via the REST API)."
    )


@pytest.mark.parametrize("action", ["join", "leave"])
def test_forbidden_join_leave_message(action: str) -> None:
    message = Permissions(["webpubsub.sendToGroup"]).forbidden_reason(action, "room.1")
    assert message.startswith(f"No permission to {action} group 'room.1'.")
    assert "'webpubsub.joinLeaveGroup' or 'webpubsub.joinLeaveGroup.room.1'" in message


def test_forbidden_message_mentions_a_rest_revoke_and_ignored_roles() -> None:
    permissions = Permissions(["webpubsub.sendToGroup", "webpubsub.joinLeaveGroups.a\\b"])
    permissions.revoke(SEND, "ops")
    assert "revoked via the REST API" in permissions.forbidden_reason("send", "ops")
    assert "revoked" not in permissions.forbidden_reason("join", "ops")
    join_message = permissions.forbidden_reason("join", "ab")
    assert "Role 'webpubsub.joinLeaveGroups.a\\b' was ignored: invalid group pattern" in join_message


def test_forbidden_reason_rejects_unknown_actions() -> None:
    with pytest.raises(ValueError, match="'join', 'leave' or 'send'"):
        Permissions().forbidden_reason("publish", "g")
