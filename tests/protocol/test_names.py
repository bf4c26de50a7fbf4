"""Naming rules for hubs, groups and ids (docs/protocol.md)."""

from __future__ import annotations

import pytest

from wpsnb.protocol.names import MAX_GROUP_LENGTH, group_name_problem, hub_key, hub_name_problem, id_problem


@pytest.mark.parametrize("hub", ["a", "stream", "Chat_Hub", "h1`,.[]", "H" + "x" * 127])
def test_valid_hub_names(hub: str) -> None:
    assert hub_name_problem(hub) is None


@pytest.mark.parametrize(
    "hub", ["", "1chat", "_chat", "chat-hub", "chat hub", "chat/hub", "é", "H" + "x" * 128, None, 5]
)
def test_invalid_hub_names_are_explained(hub: object) -> None:
    problem = hub_name_problem(hub)
    assert problem is not None
    assert repr(hub) in problem and "start with a letter" in problem


def test_hubs_match_case_insensitively() -> None:
    assert hub_key("Chat_Hub") == hub_key("chat_hub") == hub_key("CHAT_HUB")


@pytest.mark.parametrize(
    "group",
    ["g", "a.b.c", "Room 1", " padded ", "日本語", "emoji 🎉", "x" * MAX_GROUP_LENGTH, "with/slash", "\t tab inside"],
)
def test_valid_group_names(group: str) -> None:
    assert group_name_problem(group) is None


@pytest.mark.parametrize(
    ("group", "says"),
    [
        ("", "empty"),
        (" ", "only whitespace"),
        ("\t\n ", "only whitespace"),
        ("x" * (MAX_GROUP_LENGTH + 1), "1025 characters long; the limit is 1024"),
        (5, "must be a string, got int"),
        (None, "must be a string, got NoneType"),
        ("a\ud800b", "unpaired surrogate '\\ud800' at position 1"),
    ],
)
def test_invalid_group_names_are_explained(group: object, says: str) -> None:
    problem = group_name_problem(group)
    assert problem is not None and says in problem


def test_ids_need_a_non_empty_string() -> None:
    assert id_problem("userId", "ann") is None
    assert id_problem("userId", "") == "userId must be a non-empty string, got ''"
    assert "got None" in id_problem("connectionId", None)
