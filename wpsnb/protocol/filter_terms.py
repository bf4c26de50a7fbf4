"""What a parsed filter evaluates: the facts it reads about a connection, typed terms, functions, combinators.

The parser (:mod:`.filter_parser`) turns each sub-expression into a :class:`Term`: a static type and an
``evaluate`` closure over :class:`ConnectionFacts`. Terms whose inputs are all literals are folded into
literals while parsing, so what runs per recipient is a few nested closures.

>>> term = derived(BOOL, equality(literal(STRING, "a", 0, 3), literal(STRING, "a", 7, 10)), [], 0, 10)
>>> term.constant, term.value
(True, True)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol


class ConnectionFacts(Protocol):
    """What a filter can see about one connection (a service session has these attributes).

    ``protocol`` is the negotiated subprotocol, e.g. ``json.webpubsub.azure.v1``; ``None`` for raw
    WebSocket clients.
    """

    @property
    def connection_id(self) -> str: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def groups(self) -> Collection[str]: ...
    @property
    def protocol(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ConnectionSnapshot:
    """Facts about one connection as plain values (for tests, examples and callers without a session).

    >>> ConnectionSnapshot("conn1", user_id=None, groups=frozenset({"lab"})).protocol is None
    True
    """

    connection_id: str
    user_id: str | None
    groups: Collection[str]
    protocol: str | None = None


_NO_FACTS = ConnectionSnapshot("", None, ())  # what a constant term is evaluated with: it reads none

# ---- typed terms -------------------------------------------------------------------------------

BOOL, INT, STRING, NULL, COLLECTION = "bool", "int", "string", "null", "collection"
PYTHON_TYPES: dict[str, type] = {BOOL: bool, INT: int, STRING: str}

Evaluate = Callable[[ConnectionFacts], Any]


@dataclass(slots=True)
class Term:
    """A type-checked sub-expression compiled to ``evaluate``, with its source span for messages.

    Values of type string and int may still be ``None`` at run time (``userId`` of an anonymous
    connection); only literal ``null`` has type null.
    """

    type: str
    evaluate: Evaluate
    start: int
    end: int
    constant: bool = False
    value: Any = None


def literal(value_type: str, value: Any, start: int, end: int) -> Term:
    return Term(value_type, lambda _facts: value, start, end, constant=True, value=value)


def derived(value_type: str, evaluate: Evaluate, children: list[Term], start: int, end: int) -> Term:
    """A term computed from ``children``; folded into a literal when they all are literals."""
    if all(child.constant for child in children):
        return literal(value_type, evaluate(_NO_FACTS), start, end)
    return Term(value_type, evaluate, start, end)


IDENTIFIERS: dict[str, tuple[str, str]] = {  # lower-cased name -> (ConnectionFacts field, type)
    "userid": ("user_id", STRING),
    "connectionid": ("connection_id", STRING),
    "groups": ("groups", COLLECTION),
    "protocol": ("protocol", STRING),
}
ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}  # fmt: skip


# ---- functions ---------------------------------------------------------------------------------


class _Param(NamedTuple):
    types: frozenset[str]
    label: str


_TEXT = _Param(frozenset({STRING, NULL}), "'string'")
_NUMBER = _Param(frozenset({INT}), "'int'")
_TEXT_OR_COLLECTION = _Param(frozenset({STRING, NULL, COLLECTION}), "'string' or 'collection'")


class _Function(NamedTuple):
    signature: str
    params: tuple[_Param, ...]
    required: int
    result: str
    build: Callable[[list[Term]], Evaluate]


def _to_lower(text: str) -> str:
    if text.isascii():
        return text.lower()
    return "".join(low if len(low := char.lower()) == 1 else char for char in text)


def _to_upper(text: str) -> str:
    if text.isascii():
        return text.upper()
    return "".join(up if len(up := char.upper()) == 1 else char for char in text)


def _text_transform(transform: Callable[[str], str]) -> Callable[[list[Term]], Evaluate]:
    def build(args: list[Term]) -> Evaluate:
        text = args[0].evaluate
        return lambda facts: None if (value := text(facts)) is None else transform(value)

    return build


def _text_test(test: Callable[[str, str], bool]) -> Callable[[list[Term]], Evaluate]:
    def build(args: list[Term]) -> Evaluate:
        text, search = args[0].evaluate, args[1].evaluate
        return lambda facts: (
            (value := text(facts)) is not None and (part := search(facts)) is not None and test(value, part)
        )

    return build


def _build_length(args: list[Term]) -> Evaluate:
    value = args[0].evaluate
    if args[0].type == COLLECTION:
        return lambda facts: len(value(facts))
    return lambda facts: None if (text := value(facts)) is None else len(text)


def _build_indexof(args: list[Term]) -> Evaluate:
    text, search = args[0].evaluate, args[1].evaluate
    return lambda facts: -1 if (value := text(facts)) is None or (part := search(facts)) is None else value.find(part)


def _build_concat(args: list[Term]) -> Evaluate:
    first, second = args[0].evaluate, args[1].evaluate

    def concat(facts: ConnectionFacts) -> str | None:
        left, right = first(facts), second(facts)
        if left is None:
            return right
        if right is None:
            return left
        return left + right

    return concat


def _build_substring(args: list[Term]) -> Evaluate:
    text, start = args[0].evaluate, args[1].evaluate
    count = args[2].evaluate if len(args) == 3 else None

    def substring(facts: ConnectionFacts) -> str | None:
        value, begin = text(facts), start(facts)
        if value is None or begin is None or not 0 <= begin <= len(value):
            return None
        if count is None:
            return value[begin:]
        size = count(facts)
        if size is None or not 0 <= size <= len(value) - begin:
            return None
        return value[begin : begin + size]

    return substring


FUNCTIONS: dict[str, _Function] = {
    "tolower": _Function("tolower(text)", (_TEXT,), 1, STRING, _text_transform(_to_lower)),
    "toupper": _Function("toupper(text)", (_TEXT,), 1, STRING, _text_transform(_to_upper)),
    "trim": _Function("trim(text)", (_TEXT,), 1, STRING, _text_transform(str.strip)),
    "length": _Function("length(text or groups)", (_TEXT_OR_COLLECTION,), 1, INT, _build_length),
    "substring": _Function("substring(text, start[, length])", (_TEXT, _NUMBER, _NUMBER), 2, STRING, _build_substring),
    "concat": _Function("concat(text, text)", (_TEXT, _TEXT), 2, STRING, _build_concat),
    "indexof": _Function("indexof(text, search)", (_TEXT, _TEXT), 2, INT, _build_indexof),
    "startswith": _Function("startswith(text, prefix)", (_TEXT, _TEXT), 2, BOOL, _text_test(str.startswith)),
    "endswith": _Function("endswith(text, suffix)", (_TEXT, _TEXT), 2, BOOL, _text_test(str.endswith)),
    "contains": _Function("contains(text, search)", (_TEXT, _TEXT), 2, BOOL, _text_test(operator.contains)),
}

# ---- combinators -------------------------------------------------------------------------------


def any_of(tests: list[Evaluate]) -> Evaluate:
    if len(tests) == 2:
        first, second = tests
        return lambda facts: first(facts) or second(facts)
    return lambda facts: any(test(facts) for test in tests)


def all_of(tests: list[Evaluate]) -> Evaluate:
    if len(tests) == 2:
        first, second = tests
        return lambda facts: first(facts) and second(facts)
    return lambda facts: all(test(facts) for test in tests)


def equality(left: Term, right: Term) -> Evaluate:
    """Ordinal, type-strict equality (``1 eq true`` is false although Python says ``1 == True``)."""
    first, second = left.evaluate, right.evaluate
    if left.type != right.type and NULL not in (left.type, right.type):
        # Values of different types are never equal; only both being null can hold.
        if (left.constant and left.value is not None) or (right.constant and right.value is not None):
            return lambda _facts: False
        return lambda facts: first(facts) is None and second(facts) is None
    if right.constant:
        expected = right.value
        return lambda facts: first(facts) == expected
    if left.constant:
        expected = left.value
        return lambda facts: second(facts) == expected
    return lambda facts: first(facts) == second(facts)


def ordering(compare: Callable[[Any, Any], bool], left: Term, right: Term) -> Evaluate:
    """Integer ordering; false when either side is null."""
    first, second = left.evaluate, right.evaluate
    if NULL in (left.type, right.type) or (right.constant and right.value is None):
        return lambda _facts: False
    if right.constant:
        bound = right.value
        return lambda facts: (value := first(facts)) is not None and compare(value, bound)
    return lambda facts: (
        (value := first(facts)) is not None and (other := second(facts)) is not None and compare(value, other)
    )
