"""The OData filter subset (docs/rest.md, filter): parsing, type checks, evaluation, errors and limits."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Callable

import pytest

from wpsnb.protocol.filter import (
    MAX_CLAUSES,
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    MAX_TERMS,
    ConnectionFacts,
    ConnectionSnapshot,
    Filter,
    FilterError,
    parse_filter,
)

JSON = "json.webpubsub.azure.v1"
RELIABLE = "json.reliable.webpubsub.azure.v1"


def facts(
    user_id: str | None = "alice",
    groups: tuple[str, ...] | frozenset[str] | list[str] | set[str] = (),
    protocol: str | None = JSON,
    connection_id: str = "conn-1",
) -> ConnectionSnapshot:
    return ConnectionSnapshot(connection_id, user_id, frozenset(groups), protocol)


def matches(expression: str, connection: ConnectionSnapshot | None = None) -> bool:
    return parse_filter(expression).matches(connection or facts())


def user(user_id: str | None) -> ConnectionSnapshot:
    return facts(user_id=user_id)


def error_of(expression: str) -> FilterError:
    with pytest.raises(FilterError) as caught:
        parse_filter(expression)
    return caught.value


# ---- public API ---------------------------------------------------------------------------------


def test_parse_returns_a_reusable_filter_that_keeps_its_expression() -> None:
    parsed = parse_filter("userId eq 'alice'")
    assert isinstance(parsed, Filter)
    assert parsed.expression == "userId eq 'alice'"
    assert repr(parsed) == "parse_filter(\"userId eq 'alice'\")"
    assert [parsed.matches(user(name)) for name in ("alice", "bob", None, "alice")] == [True, False, False, True]


def test_matches_returns_real_booleans() -> None:
    for expression in ("'g1' in groups", "userId in ('alice')", "userId eq 'alice' or true", "not (1 eq 2)"):
        assert parse_filter(expression).matches(facts(groups={"g1"})) is True
    for expression in ("'g9' in groups", "length(userId) gt 10", "userId eq 'x' and true", "contains(userId, 'z')"):
        assert parse_filter(expression).matches(facts()) is False


def test_same_expression_is_parsed_once() -> None:
    assert parse_filter("'cache' in groups") is parse_filter("'cache' in groups")


def test_filter_error_is_a_value_error_with_expression_and_position() -> None:
    error = error_of("userId eq gt 5")
    assert isinstance(error, ValueError)
    assert error.expression == "userId eq gt 5"
    assert error.position == 10
    assert str(error) == (
        "Invalid filter at position 10 ('gt 5'): Expected a value after 'eq', found the keyword 'gt'. "
        "(Parameter 'filter')"
    )


def test_connection_facts_are_frozen_and_protocol_defaults_to_none() -> None:
    connection = ConnectionSnapshot("c", None, ["g"])
    assert connection.protocol is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        connection.user_id = "x"  # type: ignore[misc]


@pytest.mark.parametrize("groups", [{"g1"}, frozenset({"g1"}), ["g1"], ("g1",)])
def test_groups_may_be_any_collection(groups: object) -> None:
    connection = ConnectionSnapshot("c", "u", groups)  # type: ignore[arg-type]
    assert parse_filter("'g1' in groups and length(groups) eq 1").matches(connection)


# ---- tokens and literals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "user_id", "expected"),
    [
        ("userId eq 'user''1'", "user'1", True),
        ("userId eq 'user''1'", "user''1", False),
        ("userId eq ''''", "'", True),
        ("userId eq ''''''", "''", True),
        ("userId eq ''", "", True),
        ("userId eq ''", None, False),
        ("userId eq 'a and b) or (true'", "a and b) or (true", True),
        ("userId eq 'Ünïcødé 😀 雪'", "Ünïcødé 😀 雪", True),
        ("userId eq 'A'", "a", False),  # ordinal, case-sensitive
        ("userId eq 'tab\there'", "tab\there", True),
        ("userId eq '\"quoted\"'", '"quoted"', True),
    ],
)
def test_string_literals(expression: str, user_id: str | None, expected: bool) -> None:
    assert matches(expression, user(user_id)) is expected


@pytest.mark.parametrize(
    "expression",
    [
        "userId eq 'alice'",
        "  userId   eq\t'alice'  ",
        "\nuserId\neq\n'alice'\n",
        "userId eq'alice'",
        "(userId eq 'alice')",
        "((((userId eq 'alice'))))",
        "not(userId eq 'bob')",
        "'g1'in groups",
        "userId in('alice','bob')",
        "USERID EQ 'alice'",
        "UserId Eq 'alice' AND NOT ('x' IN GROUPS) Or FALSE",
        "userid eq 'alice' and CONNECTIONID eq 'conn-1' and PROTOCOL eq 'json.webpubsub.azure.v1'",
        "ToLower(userId) eq 'alice' and TRUE and not (NULL eq userId)",
    ],
)
def test_whitespace_and_case_insensitive_keywords(expression: str) -> None:
    assert matches(expression, facts(groups={"g1"}))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("indexof(userId, 'z') eq -1", True),
        ("length(userId) eq 005", True),
        ("length(userId) eq 2147483647", False),
        ("-2147483648 lt length(userId)", True),
        ("length(userId) gt -1", True),
        ("true", True),
        ("false", False),
        ("TRUE eq true", True),
    ],
)
def test_number_and_boolean_literals(expression: str, expected: bool) -> None:
    assert matches(expression, user("alice")) is expected


@pytest.mark.parametrize(
    ("expression", "position", "detail"),
    [
        ("length(userId) eq 2147483648", 18, "does not fit in 32 bits"),
        ("length(userId) eq -2147483649", 18, "does not fit in 32 bits"),
        ("length(userId) gt 1.5", 18, "Only whole numbers"),
        ("length(userId) gt 1e3", 18, "Only whole numbers"),
        ("length(userId) gt 5L", 18, "Only whole numbers"),
        ("length(userId) gt - 1", 18, "'-' is only allowed directly before a number"),
        ("userId eq 'abc", 10, "Unterminated string"),
        ("userId eq 'it''s", 10, "Unterminated string"),
        ("'", 0, "Unterminated string"),
        ('userId eq "abc"', 10, "Strings use single quotes"),
        ("userId == 'a'", 7, "'==' is not an operator here; write 'eq'"),
        ("userId = 'a'", 7, "'=' is not an operator here; write 'eq'"),
        ("userId != 'a'", 7, "write 'ne'"),
        ("length(userId) >= 1", 15, "write 'ge'"),
        ("length(userId) < 1", 15, "write 'lt'"),
        ("userId eq 'a' && true", 14, "write 'and'"),
        ("userId eq 'a' || true", 14, "write 'or'"),
        ("!('g' in groups)", 0, "write 'not'"),
        ("groups/any(g: g eq 'a')", 6, "Paths and lambdas"),
        ("userId eq 'é' and €", 18, "Unexpected character '€'"),
        ("userId eq @alias", 10, "Unexpected character '@'"),
    ],
)
def test_tokenizer_errors_point_at_the_character(expression: str, position: int, detail: str) -> None:
    error = error_of(expression)
    assert error.position == position
    assert str(error).startswith(f"Invalid filter at position {position} (")
    assert detail in str(error)
    assert str(error).endswith("(Parameter 'filter')")


# ---- precedence ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("true or false and false", True),  # and binds tighter than or
        ("false and false or true", True),
        ("(true or false) and false", False),
        ("not false and false", False),  # (not false) and false
        ("not (false and false)", True),
        ("not not true", True),
        ("not true or true", True),
        ("not (true or true)", False),
        ("1 eq 1 eq true", True),  # comparisons associate to the left: (1 eq 1) eq true
        ("1 eq 2 eq false", True),
        ("false eq false eq true", True),
    ],
)
def test_precedence_with_literals(expression: str, expected: bool) -> None:
    assert matches(expression) is expected


def test_and_binds_tighter_than_or_on_connection_values() -> None:
    expression = "userId eq 'x' or userId eq 'alice' and connectionId eq 'nope'"
    assert matches(expression, user("x"))  # would be False if read as (x or alice) and nope
    assert not matches(expression, user("alice"))


def test_in_binds_tighter_than_not() -> None:
    assert matches("not 'g1' in groups", facts(groups=()))
    assert not matches("not 'g1' in groups", facts(groups={"g1"}))
    assert matches("not userId in ('bob', 'carol')", user("alice"))


def test_comparisons_bind_tighter_than_and() -> None:
    parsed = parse_filter("length(userId) gt 2 and length(userId) lt 6")
    assert [parsed.matches(user(name)) for name in ("al", "alice", "alexandra", None)] == [False, True, False, False]


def test_not_binds_tighter_than_comparisons() -> None:
    error = error_of("not length(userId) gt 5")
    assert str(error) == (
        "Invalid syntax for 'not length(userId)' at position 0: Type 'int', expect 'bool'. "
        "'not' binds tighter than 'gt'; write not (length(userId) gt 5). (Parameter 'filter')"
    )
    assert matches("not (length(userId) gt 5)", user("alice"))
    assert "write not (userId eq 'bob')" in str(error_of("not userId eq 'bob'"))


# ---- identifiers and equality -------------------------------------------------------------------


def test_identifiers_read_the_connection() -> None:
    connection = ConnectionSnapshot("conn-7", "u7", frozenset({"a", "b"}), RELIABLE)
    assert matches("connectionId eq 'conn-7'", connection)
    assert matches("userId eq 'u7'", connection)
    assert matches(f"protocol eq '{RELIABLE}'", connection)
    assert matches("length(groups) eq 2 and 'a' in groups and 'b' in groups", connection)
    assert not matches("connectionId eq 'conn-8'", connection)


def test_null_user_and_raw_protocol() -> None:
    anonymous_raw = facts(user_id=None, protocol=None)
    assert matches("userId eq null and protocol eq null", anonymous_raw)
    assert matches("null eq userId", anonymous_raw)
    assert not matches("userId ne null", anonymous_raw)
    assert matches("userId ne 'alice'", anonymous_raw)
    assert not matches("userId eq 'alice'", anonymous_raw)
    assert matches("userId ne null and protocol ne null", facts())


@pytest.mark.parametrize(
    ("expression", "user_id", "expected"),
    [
        ("userId eq 1", "1", False),  # different types are never equal
        ("userId ne 1", "1", True),
        ("1 eq true", None, False),  # Python's 1 == True must not leak through
        ("0 eq false", None, False),
        ("length(userId) eq true", "a", False),
        ("startswith(userId, 'a') eq 1", "a", False),
        ("startswith(userId, 'a') eq true", "a", True),
        ("null eq null", None, True),
        ("null ne null", None, False),
        ("length(userId) eq null", None, True),
        ("length(userId) eq null", "a", False),
        ("userId eq length(protocol)", None, False),  # protocol is set: int 23 vs null
        ("userId eq tolower(userId)", "abc", True),
        ("userId ne toupper(userId)", "abc", True),
    ],
)
def test_equality_is_ordinal_and_type_strict(expression: str, user_id: str | None, expected: bool) -> None:
    assert matches(expression, user(user_id)) is expected


def test_null_of_different_types_is_equal() -> None:
    # string null (userId) and int null (length of a raw protocol) are both null.
    assert matches("userId eq length(protocol)", facts(user_id=None, protocol=None))
    assert not matches("userId eq length(protocol)", facts(user_id="x", protocol=None))


# ---- ordering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("length(userId) gt 4", True),
        ("length(userId) gt 5", False),
        ("length(userId) ge 5", True),
        ("length(userId) ge 6", False),
        ("length(userId) lt 6", True),
        ("length(userId) lt 5", False),
        ("length(userId) le 5", True),
        ("length(userId) le 4", False),
        ("5 le length(userId)", True),
        ("indexof(userId, 'c') lt indexof(userId, 'e')", True),
        ("-3 lt -2", True),
    ],
)
def test_ordering_compares_integers(expression: str, expected: bool) -> None:
    assert matches(expression, user("alice")) is expected


@pytest.mark.parametrize("operator", ["gt", "ge", "lt", "le"])
def test_ordering_is_false_when_either_side_is_null(operator: str) -> None:
    for expression in (
        f"length(userId) {operator} 0",
        f"0 {operator} length(userId)",
        f"length(userId) {operator} length(userId)",
        f"null {operator} 1",
        f"1 {operator} null",
        f"null {operator} null",
    ):
        assert not matches(expression, user(None)), expression
        assert matches(f"not ({expression})", user(None)), expression


@pytest.mark.parametrize(
    ("expression", "position", "actual"),
    [
        ("userId lt 1", 0, "string"),
        ("1 lt userId", 5, "string"),
        ("length(userId) gt 'five'", 18, "string"),
        ("true gt 1", 0, "bool"),
        ("length(groups) gt groups", 18, "collection"),
        ("startswith(userId, 'a') le 1", 0, "bool"),
    ],
)
def test_ordering_rejects_non_integers(expression: str, position: int, actual: str) -> None:
    error = error_of(expression)
    assert error.position == position
    assert f"Type '{actual}', expect 'int'." in str(error)
    assert "compares whole numbers only" in str(error)


# ---- membership ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "user_id", "expected"),
    [
        ("userId in ('user1', 'user2')", "user2", True),
        ("userId in ('user1', 'user2')", "user3", False),
        ("userId in ('user1', 'user2')", None, False),
        ("userId in ('Doe, John', 'Alice')", "Doe, John", True),
        ("userId in ('Doe, John', 'Alice')", "Doe", False),
        ("userId in ('O''Brien, Jane', 'Alice')", "O'Brien, Jane", True),
        ("userId in ('a)', '(b')", "a)", True),
        ("userId in (null, 'a')", None, True),
        ("userId in ()", "a", False),
        ("userId in ( 'a' , 'b' )", "b", True),
        ("length(userId) in (1, 2, 3)", "ab", True),
        ("length(userId) in (true, '2')", "ab", False),  # items of other types never match
        ("startswith(userId, 'a') in (1)", "ab", False),  # True is not 1
        ("startswith(userId, 'a') in (true)", "ab", True),
        ("null in ('a', null)", "x", True),
        ("null in ('a')", "x", False),
        ("tolower(userId) in ('alice')", "ALICE", True),
        ("'x' in ('x', 'y')", None, True),
    ],
)
def test_in_list(expression: str, user_id: str | None, expected: bool) -> None:
    assert matches(expression, user(user_id)) is expected


def test_long_in_list_is_one_condition() -> None:
    names = [f"user{index}" for index in range(800)]
    expression = "userId in (" + ",".join(f"'{name}'" for name in names) + ")"
    assert len(expression) < MAX_FILTER_LENGTH
    parsed = parse_filter(expression)
    assert parsed.matches(user("user799"))
    assert parsed.matches(user("user0"))
    assert not parsed.matches(user("user800"))


@pytest.mark.parametrize(
    ("groups", "expression", "expected"),
    [
        ({"g1", "g2"}, "'g1' in groups", True),
        ({"g2"}, "'g1' in groups", False),
        (set(), "'g1' in groups", False),
        ({"G1"}, "'g1' in groups", False),  # group names are case-sensitive
        ({"it's"}, "'it''s' in groups", True),
        ({"g1"}, "tolower('G1') in groups", True),
        ({"alice"}, "userId in groups", True),  # the user's own name as a group
        ({"g1"}, "null in groups", False),
        ({"g1"}, "1 in groups", False),
        ({"g1", "g2"}, "'g1' in groups and 'g2' in groups", True),
        ({"g1"}, "not ('g1' in groups)", False),
        (set(), "length(groups) eq 0", True),
        ({"a", "b", "c"}, "length(groups) ge 3", True),
    ],
)
def test_group_membership(groups: set[str], expression: str, expected: bool) -> None:
    assert matches(expression, facts(groups=groups)) is expected


@pytest.mark.parametrize(
    ("expression", "position", "detail"),
    [
        ("groups in ('a')", 0, "Type 'collection', expect a single value."),
        ("'a' in userId", 7, "Type 'string', expect 'collection'."),
        ("'a' in 'abc'", 7, "Type 'string', expect 'collection'."),
        ("'a' in length(groups)", 7, "Type 'int', expect 'collection'."),
        ("groups eq 'a'", 0, "Type 'collection' cannot be compared with 'eq'."),
        ("'a' ne groups", 7, "Type 'collection' cannot be compared with 'ne'."),
        ("userId in ('a', userId)", 16, "holds literal values only"),
        ("userId in ('a', tolower('b'))", 16, "holds literal values only"),
        ("userId in ('a',)", 15, "remove the trailing comma"),
        ("userId in (,)", 11, "holds literal values only"),
        ("userId in ('a' 'b')", 15, "Expected ',' or ')' in the list opened at position 10"),
        ("userId in ('a'", 14, "Missing ')' to close the list opened at position 10"),
        ("userId in ('a',", 15, "The filter ends inside a list"),
        ("userId in", 9, "The filter ends after 'in'; expected a value."),
    ],
)
def test_membership_errors(expression: str, position: int, detail: str) -> None:
    error = error_of(expression)
    assert error.position == position
    assert detail in str(error)


# ---- functions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "user_id", "expected"),
    [
        # tolower / toupper / trim
        ("tolower(userId) eq 'alice'", "AlIcE", True),
        ("toupper(userId) eq 'ALICE'", "AlIcE", True),
        ("toupper(userId) eq 'ÉCOLE'", "école", True),
        ("tolower(userId) eq 'straße'", "STRAßE", True),
        ("toupper(userId) eq 'STRAßE' and length(toupper(userId)) eq 6", "straße", True),  # ß stays one char
        ("tolower(userId) eq null", None, True),
        ("toupper(userId) ne null", None, False),
        ("trim(userId) eq 'a b'", " \t a b \n", True),
        ("trim(userId) eq null", None, True),
        ("trim('  x ') eq 'x'", None, True),
        # length
        ("length(userId) eq 5", "alice", True),
        ("length(userId) eq 0", "", True),
        ("length(userId) eq 1", "😀", True),  # code points
        ("length(userId) eq null", None, True),
        ("length(null) eq null", "a", True),
        # substring, as the emulator does it: out of range gives null
        ("substring(userId, 1, 1) eq 'b'", "abc", True),
        ("substring(userId, 1) eq 'bc'", "abc", True),
        ("substring(userId, 0) eq 'abc'", "abc", True),
        ("substring(userId, 3) eq ''", "abc", True),
        ("substring(userId, 0, 3) eq 'abc'", "abc", True),
        ("substring(userId, 1, 0) eq ''", "abc", True),
        ("substring(userId, 1) eq 'b'", "", False),
        ("substring(userId, 4) eq null", "abc", True),
        ("substring(userId, -1) eq null", "abc", True),
        ("substring(userId, 1, 2) eq 'bc'", "a", False),
        ("substring(userId, 1, 3) eq null", "abc", True),
        ("substring(userId, 1, -1) eq null", "abc", True),
        ("substring(userId, 0, 1) eq null", None, True),
        ("substring(userId, length(protocol)) eq null", "abc", True),  # protocol is JSON: 23 > 3
        # concat
        ("concat(userId, '!') eq 'alice!'", "alice", True),
        ("concat('>', userId) eq '>alice'", "alice", True),
        ("concat(userId, '!') eq '!'", None, True),  # null side is skipped
        ("concat(userId, userId) eq null", None, True),  # both null: null
        ("concat(concat(userId, '@'), 'x') eq 'a@x'", "a", True),
        # indexof
        ("indexof(userId, 'li') eq 1", "alice", True),
        ("indexof(userId, 'z') eq -1", "alice", True),
        ("indexof(userId, '') eq 0", "alice", True),
        ("indexof(userId, 'a') eq -1", None, True),
        ("indexof('abc', userId) eq -1", None, True),
        ("indexof(userId, 'A') eq -1", "alice", True),
        # startswith / endswith / contains
        ("startswith(userId, 'al')", "alice", True),
        ("startswith(userId, 'Al')", "alice", False),
        ("endswith(userId, 'ce')", "alice", True),
        ("endswith(userId, 'al')", "alice", False),
        ("contains(userId, 'lic')", "alice", True),
        ("contains(userId, 'b')", "aaa", False),
        ("contains(userId, '')", "aaa", True),
        ("startswith(userId, 'a')", None, False),
        ("endswith(userId, 'a')", None, False),
        ("contains(userId, 'a')", None, False),
        ("contains('abc', userId)", None, False),
        ("not contains(userId, 'a')", None, True),
        ("startswith(userId, null)", "alice", False),
        # constants are folded but still right
        ("concat('a', 'b') eq 'ab'", None, True),
        ("length(substring('hello', 1, 3)) eq 3", None, True),
    ],
)
def test_functions(expression: str, user_id: str | None, expected: bool) -> None:
    assert matches(expression, user(user_id)) is expected


def test_substring_with_a_null_position_is_null() -> None:
    assert matches("substring(userId, length(protocol)) eq null", facts(user_id="abc", protocol=None))
    assert matches("substring(userId, 0, length(protocol)) eq null", facts(user_id="abc", protocol=None))
    assert matches("substring(userId, 0, length(protocol)) eq 'abc'", facts(user_id="abc", protocol="xyz"))


def test_functions_on_other_identifiers() -> None:
    connection = facts(connection_id="Conn-42", protocol=RELIABLE)
    assert matches("startswith(tolower(connectionId), 'conn-')", connection)
    assert matches("contains(protocol, '.reliable.')", connection)
    assert matches("endswith(connectionId, '42') and indexof(connectionId, '-') eq 4", connection)
    assert not matches("contains(protocol, '.reliable.')", facts(protocol=JSON))


@pytest.mark.parametrize(
    ("expression", "detail"),
    [
        ("tolower() eq 'a'", "'tolower' takes 1 argument, got 0. Usage: tolower(text)."),
        ("tolower(userId, 1) eq 'a'", "'tolower' takes 1 argument, got 2."),
        ("toupper(userId, userId) eq 'a'", "'toupper' takes 1 argument, got 2."),
        ("trim() eq 'a'", "'trim' takes 1 argument, got 0."),
        ("length(userId, 1) eq 1", "'length' takes 1 argument, got 2."),
        ("substring(userId) eq 'a'", "'substring' takes 2 or 3 arguments, got 1."),
        ("substring(userId, 1, 2, 3) eq 'a'", "'substring' takes 2 or 3 arguments, got 4."),
        ("concat(userId) eq 'a'", "'concat' takes 2 arguments, got 1."),
        ("concat('a', 'b', 'c') eq 'a'", "'concat' takes 2 arguments, got 3."),
        ("indexof(userId) eq 1", "'indexof' takes 2 arguments, got 1."),
        ("startswith(userId)", "'startswith' takes 2 arguments, got 1."),
        ("endswith(userId, 'a', 'b')", "'endswith' takes 2 arguments, got 3."),
        ("contains()", "'contains' takes 2 arguments, got 0."),
    ],
)
def test_function_arity(expression: str, detail: str) -> None:
    error = error_of(expression)
    assert error.position == 0
    assert detail in str(error)


@pytest.mark.parametrize(
    ("expression", "position", "detail"),
    [
        ("tolower(1) eq 'a'", 8, "Type 'int', expect 'string'. Usage: tolower(text)."),
        ("toupper(true) eq 'a'", 8, "Type 'bool', expect 'string'."),
        ("trim(groups) eq 'a'", 5, "Type 'collection', expect 'string'."),
        ("length(1) eq 1", 7, "Type 'int', expect 'string' or 'collection'."),
        ("length(true) eq 1", 7, "Type 'bool', expect 'string' or 'collection'."),
        ("substring(userId, '1') eq 'a'", 18, "Type 'string', expect 'int'."),
        ("substring(userId, 1, null) eq 'a'", 21, "Type 'null', expect 'int'."),
        ("substring(1, 1) eq 'a'", 10, "Type 'int', expect 'string'."),
        ("concat(userId, 1) eq 'a'", 15, "Type 'int', expect 'string'. Usage: concat(text, text)."),
        ("concat(groups, 'a') eq 'a'", 7, "Type 'collection', expect 'string'."),
        ("indexof(userId, 1) eq 1", 16, "Type 'int', expect 'string'."),
        ("startswith(groups, 'a')", 11, "Type 'collection', expect 'string'."),
        ("endswith(userId, true)", 17, "Type 'bool', expect 'string'."),
        ("contains(userId, userId eq 'a')", 17, "Type 'bool', expect 'string'."),
    ],
)
def test_function_argument_types(expression: str, position: int, detail: str) -> None:
    error = error_of(expression)
    assert error.position == position
    assert detail in str(error)


@pytest.mark.parametrize("name", ["year", "matchesPattern", "round", "cast", "any", "groups", "userId"])
def test_unknown_functions(name: str) -> None:
    error = error_of(f"{name}(userId) eq 1")
    assert error.position == 0
    assert str(error).startswith(f"Invalid syntax for '{name}' at position 0: Function '{name}' is not supported.")
    assert "concat, contains, endswith, indexof, length, startswith, substring, tolower, toupper, trim" in str(error)


# ---- whole-expression checks and syntax errors --------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "actual"),
    [
        ("userId", "string"),
        ("tolower(userId)", "string"),
        ("length(userId)", "int"),
        ("1", "int"),
        ("null", "null"),
        ("groups", "collection"),
        ("(('a'))", "string"),
    ],
)
def test_the_whole_filter_must_be_boolean(expression: str, actual: str) -> None:
    error = error_of(expression)
    assert str(error) == (
        f"Invalid syntax for '{expression}' at position 0: Type '{actual}', expect 'bool'. "
        "A filter is a condition, e.g. userId eq 'alice' or 'g1' in groups. (Parameter 'filter')"
    )


@pytest.mark.parametrize(
    ("expression", "position", "quoted", "actual"),
    [
        ("userId eq 'a' or protocol", 17, "protocol", "string"),
        ("userId and true", 0, "userId", "string"),
        ("true and length(groups)", 9, "length(groups)", "int"),
        ("( not 'a' )", 2, "not 'a'", "string"),
        ("not null", 0, "not null", "null"),
        ("not (userId)", 0, "not (userId)", "string"),
    ],
)
def test_logical_operands_must_be_boolean(expression: str, position: int, quoted: str, actual: str) -> None:
    error = error_of(expression)
    assert error.position == position
    assert str(error).startswith(
        f"Invalid syntax for '{quoted}' at position {position}: Type '{actual}', expect 'bool'."
    )


@pytest.mark.parametrize(
    ("expression", "detail"),
    [
        ("ab eq 1", "Token 'ab' is not supported."),
        ("user_id eq 'a'", "Token 'user_id' is not supported."),
        ("alice", "write text in single quotes, e.g. 'alice'"),
        ("groupz eq 1", "Identifiers are userId, connectionId, groups and protocol"),
    ],
)
def test_unknown_identifiers(expression: str, detail: str) -> None:
    error = error_of(expression)
    assert error.position == 0
    assert detail in str(error)


@pytest.mark.parametrize(
    ("expression", "position", "detail"),
    [
        ("", 0, "The filter is empty"),
        ("   \t ", 0, "The filter is empty"),
        ("userId eq", 9, "The filter ends after 'eq'; expected a value."),
        ("userId eq 'a' and", 17, "The filter ends after 'and'; expected a value."),
        ("not", 3, "The filter ends after 'not'; expected a value."),
        ("(", 1, "The filter ends after '('; expected a value."),
        ("and userId eq 'a'", 0, "Expected a value, found the keyword 'and'."),
        ("userId eq eq 'a'", 10, "Expected a value after 'eq', found the keyword 'eq'."),
        ("userId eq 'a' or or true", 17, "found the keyword 'or'"),
        ("()", 1, "Expected a value after '(', found ')'."),
        ("userId eq ,", 10, "found ','"),
        ("(userId eq 'a'", 14, "Missing ')' to close the '(' at position 0."),
        ("((userId eq 'a')", 16, "Missing ')' to close the '(' at position 0."),
        ("userId eq 'a')", 13, "Unmatched ')'"),
        ("userId eq 'a' 'b'", 14, "Unexpected string 'b'; expected an operator"),
        ("userId eq 'a' userId eq 'b'", 14, "Unexpected 'userId'; expected an operator"),
        ("(userId eq 'a' 5)", 15, "Unexpected number 5; expected an operator (eq, ne, gt, ge, lt, le, in, and,"),
        ("(userId eq 'a' 5)", 15, "or ')' to close the '(' at position 0."),
        ("userId has 'a'", 7, "The OData operator 'has' is not supported"),
        ("length(userId) add 1 eq 2", 15, "The OData operator 'add' is not supported"),
        ("tolower(userId eq 'a'", 21, "Missing ')' to close 'tolower(' at position 7."),
        ("concat(userId 'a') eq 'a'", 14, "Expected ',' or ')' in the arguments of 'concat('"),
        ("userId eq 'a',", 13, "Unexpected ','"),
    ],
)
def test_syntax_errors(expression: str, position: int, detail: str) -> None:
    error = error_of(expression)
    assert error.position == position
    assert error.expression == expression
    assert str(error).startswith(f"Invalid filter at position {position} (")
    assert detail in str(error)
    assert str(error).endswith(" (Parameter 'filter')")


def test_syntax_error_snippets_are_short() -> None:
    error = error_of("userId eq 'a' " + "x" * 100)
    assert f"('{'x' * 20}…')" in str(error)
    assert "(end of input)" in str(error_of("userId eq"))


# ---- limits -------------------------------------------------------------------------------------


def test_length_limit() -> None:
    filler = "x" * (MAX_FILTER_LENGTH - len("userId eq ''"))
    assert parse_filter(f"userId eq '{filler}'").matches(user(filler))
    error = error_of(f"userId eq '{filler}x'")
    assert error.position == MAX_FILTER_LENGTH
    assert f"the limit is {MAX_FILTER_LENGTH}" in str(error)


def test_clause_limit() -> None:
    allowed = " or ".join(f"userId eq 'u{index}'" for index in range(MAX_CLAUSES))
    assert parse_filter(allowed).matches(user(f"u{MAX_CLAUSES - 1}"))
    too_many = allowed + " and true"
    error = error_of(too_many)
    assert error.position == len(allowed) + 1
    assert f"More than {MAX_CLAUSES} conditions" in str(error)
    assert "in-list" in str(error)


@pytest.mark.parametrize(
    ("nested", "deepest"),
    [
        (lambda levels: "(" * levels + "true" + ")" * levels, MAX_DEPTH),
        (lambda levels: "not " * levels + "true", MAX_DEPTH),
        (lambda levels: "not (" * levels + "true" + ")" * levels, MAX_DEPTH // 2),  # two levels each
        (lambda levels: "startswith(" + "tolower(" * levels + "userId" + ")" * levels + ", 'a')", MAX_DEPTH - 1),
    ],
    ids=["parentheses", "not", "not-parentheses", "functions"],
)
def test_depth_limit(nested: Callable[[int], str], deepest: int) -> None:
    parse_filter(nested(deepest))
    error = error_of(nested(deepest + 1))
    assert f"nests deeper than {MAX_DEPTH} levels" in str(error)


def test_hostile_nesting_is_an_error_not_a_recursion_error() -> None:
    assert "nests deeper" in str(error_of("(" * 4000 + "true" + ")" * 4000))
    assert "nests deeper" in str(error_of("not " * 2000 + "true"))


def test_term_limit() -> None:
    assert matches("true" + " eq true" * (MAX_TERMS - 1))
    error = error_of("true" + " eq true" * MAX_TERMS)
    assert f"more than {MAX_TERMS} values" in str(error)


# ---- property-like comparison with plain Python ------------------------------------------------

USER_IDS = [None, "alice", "Bob", "o'neil", "ünï", "", " pad "]
GROUP_SETS = [(), ("g1",), ("g2", "it's"), ("g1", "g2", "it's")]
PROTOCOLS = [None, JSON, RELIABLE]
POPULATION = [
    ConnectionSnapshot(f"conn-{index}", user_id, groups if index % 2 else frozenset(groups), protocol)
    for index, (user_id, groups, protocol) in enumerate(itertools.product(USER_IDS, GROUP_SETS, PROTOCOLS))
]


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def lower(text: str | None) -> str | None:
    return None if text is None else text.lower()


Expectation = Callable[[ConnectionFacts], bool]


class Generated:
    """A random filter with the plain-Python function it should agree with."""

    def __init__(self, text: str, expect: Expectation, level: int, self_contained: bool) -> None:
        self.text, self.expect = text, expect
        self.level = level  # 1: or, 2: and, 3: comparison or tighter
        self.self_contained = self_contained  # can follow 'not' without parentheses


def random_condition(rng: random.Random) -> Generated:
    name = rng.choice([value for value in USER_IDS if value is not None])
    group = rng.choice(["g1", "g2", "it's", "none"])
    number = rng.randint(-1, 6)
    protocol = rng.choice([JSON, RELIABLE])
    picks = rng.sample([value for value in USER_IDS if value], 2)
    choices: list[tuple[str, Expectation, bool]] = [
        (f"userId eq {quote(name)}", lambda c: c.user_id == name, False),
        (f"userId ne {quote(name)}", lambda c: c.user_id != name, False),
        ("userId eq null", lambda c: c.user_id is None, False),
        ("protocol ne null", lambda c: c.protocol is not None, False),
        (f"protocol eq {quote(protocol)}", lambda c: c.protocol == protocol, False),
        (f"{quote(group)} in groups", lambda c: group in c.groups, True),
        (
            f"userId in ({quote(picks[0])}, {quote(picks[1])})",
            lambda c: c.user_id in picks,
            True,
        ),
        (
            f"length(userId) gt {number}",
            lambda c: c.user_id is not None and len(c.user_id) > number,
            False,
        ),
        (
            f"length(userId) le {number}",
            lambda c: c.user_id is not None and len(c.user_id) <= number,
            False,
        ),
        (f"length(groups) ge {number}", lambda c: len(c.groups) >= number, False),
        (
            f"tolower(userId) eq {quote(name.lower())}",
            lambda c: lower(c.user_id) == name.lower(),
            False,
        ),
        (
            f"startswith(userId, {quote(name[:1])})",
            lambda c: c.user_id is not None and c.user_id.startswith(name[:1]),
            True,
        ),
        (
            f"contains(connectionId, '{number}')",
            lambda c: str(number) in c.connection_id,
            True,
        ),
        (
            f"indexof(userId, 'o') ge {number}",
            lambda c: (-1 if c.user_id is None else c.user_id.find("o")) >= number,
            False,
        ),
        (
            f"trim(userId) eq {quote(name.strip())}",
            lambda c: c.user_id is not None and c.user_id.strip() == name.strip(),
            False,
        ),
    ]
    text, expect, self_contained = rng.choice(choices)
    return Generated(text, expect, 3, self_contained)


def keyword(rng: random.Random, word: str) -> str:
    return rng.choice([word, word.upper(), word.capitalize()])


def wrap(node: Generated, needed: bool) -> str:
    return f"({node.text})" if needed else node.text


def random_filter(rng: random.Random, depth: int) -> Generated:
    if depth == 0 or rng.random() < 0.3:
        return random_condition(rng)
    kind = rng.choice(["and", "or", "not", "paren"])
    if kind == "paren":
        inner = random_filter(rng, depth - 1)
        return Generated(f"({inner.text})", inner.expect, 3, True)
    if kind == "not":
        inner = random_filter(rng, depth - 1)
        text = f"{keyword(rng, 'not')} {wrap(inner, not inner.self_contained)}"
        return Generated(text, lambda c: not inner.expect(c), 3, True)
    left, right = random_filter(rng, depth - 1), random_filter(rng, depth - 1)
    level = 2 if kind == "and" else 1
    # Parentheses only where precedence needs them, so the parser's precedence is what is tested.
    text = f"{wrap(left, left.level < level)} {keyword(rng, kind)} {wrap(right, right.level < level)}"
    if kind == "and":
        return Generated(text, lambda c: left.expect(c) and right.expect(c), level, False)
    return Generated(text, lambda c: left.expect(c) or right.expect(c), level, False)


def test_random_filters_agree_with_plain_python() -> None:
    rng = random.Random(20240601)
    checked = 0
    outcomes: set[bool] = set()
    for _ in range(400):
        generated = random_filter(rng, depth=4)
        parsed = parse_filter(generated.text)
        for connection in POPULATION:
            expected = bool(generated.expect(connection))
            assert parsed.matches(connection) is expected, (generated.text, connection)
            outcomes.add(expected)
            checked += 1
    assert checked == 400 * len(POPULATION)
    assert outcomes == {True, False}


def test_negation_and_excluded_middle_hold_for_random_filters() -> None:
    rng = random.Random(7)
    for _ in range(100):
        text = random_filter(rng, depth=3).text
        positive, negative = parse_filter(text), parse_filter(f"not ({text})")
        always = parse_filter(f"({text}) or not ({text})")
        for connection in POPULATION:
            assert positive.matches(connection) is not negative.matches(connection), text
            assert always.matches(connection), text
