"""The OData ``filter`` subset that picks recipients of REST sends (docs/rest.md, filter).

A filter is parsed and type-checked once, then compiled into plain Python closures, so
``Filter.matches`` is cheap enough to run once per recipient of a send::

    >>> only_u1_in_lab = parse_filter("userId in ('u1','u2') and 'lab' in groups")
    >>> only_u1_in_lab.matches(ConnectionFacts("conn1", "u1", {"lab"}))
    True
    >>> only_u1_in_lab.matches(ConnectionFacts("conn2", None, {"lab"}))
    False

Grammar, loosest binding first (keywords, identifier and function names are case-insensitive)::

    or-expr    := and-expr ('or' and-expr)*
    and-expr   := comparison ('and' comparison)*
    comparison := unary (('eq'|'ne'|'gt'|'ge'|'lt'|'le') unary)*
    unary      := 'not' unary | membership
    membership := primary ['in' (primary | '(' literal (',' literal)* ')')]
    primary    := literal | identifier | function '(' args ')' | '(' or-expr ')'

So ``not`` binds tighter than comparisons: ``not length(userId) gt 5`` is rejected, write
``not (length(userId) gt 5)``; ``not 'g1' in groups`` works because ``in`` binds tighter still.

Values and their static types: ``userId``/``protocol`` are strings that may be null, ``connectionId`` a
string, ``groups`` a collection; literals are ``'text'`` (``''`` escapes a quote), 32-bit integers (``-1``),
``true``/``false`` and ``null``. Types are checked while parsing, so a filter either fails up front with a
:class:`FilterError` or never fails while matching.

Null handling (what the official emulator does, plus the cases it leaves undefined):

* ``eq``/``ne`` compare any two values ordinally; ``null eq null`` is true, values of different types
  (``userId eq 1``) are never equal.
* ``gt ge lt le`` take integers only and are false when either side is null.
* ``tolower``/``toupper``/``trim``/``length`` of null are null; ``concat`` skips a null side and is null
  only if both are; ``substring`` is null for a null text, a null position or a range outside the text.
* ``indexof`` is -1 and ``startswith``/``endswith``/``contains`` are false when an argument is null.
* ``x in ('a', null)`` matches a null ``x``; ``null in groups`` is false.

Deliberately stricter than the emulator, because these can never match what was meant: ``groups`` as an
operand of ``eq``/``ne`` or on the left of ``in``, a right side of ``in`` other than ``groups`` or a
parenthesised list of literals. Errors name the offending part and its 0-based position, as
``Invalid syntax for '<part>' at position N: <problem> <hint> (Parameter 'filter')`` for type errors and
``Invalid filter at position N ('<text there>'): <problem> <hint> (Parameter 'filter')`` for syntax errors.

Lengths and positions count Unicode code points (.NET counts UTF-16 units, which differs only outside
the Basic Multilingual Plane). Case mapping is per character and never changes a string's length, like
.NET's invariant culture: ``toupper('ß')`` stays ``'ß'``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

MAX_FILTER_LENGTH = 8192
"""Longest accepted filter, in characters (it travels in a URL query string)."""
MAX_CLAUSES = 100
"""Most conditions joined by ``and``/``or``; an in-list counts as one condition however long."""
MAX_DEPTH = 32
"""Deepest nesting of parentheses, function calls and ``not``."""
MAX_TERMS = 500
"""Most values, identifiers and function calls (in-list items excluded)."""


@dataclass(frozen=True, slots=True)
class ConnectionFacts:
    """What a filter can see about one connection.

    >>> ConnectionFacts("conn1", user_id=None, groups=frozenset({"lab"})).protocol is None
    True
    """

    connection_id: str
    user_id: str | None
    groups: Collection[str]
    protocol: str | None = None
    """The negotiated subprotocol, e.g. ``json.webpubsub.azure.v1``; ``None`` for raw WebSocket clients."""


class FilterError(ValueError):
    """A filter that cannot be parsed or type-checked; the service answers it with 400.

    ``position`` is the 0-based character offset of the offending part of ``expression``.

    >>> try:
    ...     parse_filter("length(userId) gt 'five'")
    ... except FilterError as error:
    ...     print(error.position)
    18
    """

    def __init__(self, message: str, expression: str, position: int) -> None:
        super().__init__(message)
        self.expression = expression
        self.position = position


class Filter:
    """A parsed filter; call :meth:`matches` once per candidate recipient.

    >>> parse_filter("not ('banned' in groups)").matches(ConnectionFacts("c", "u", ["lab"]))
    True
    """

    __slots__ = ("_predicate", "expression")

    def __init__(self, expression: str, predicate: Callable[[ConnectionFacts], bool]) -> None:
        self.expression = expression
        self._predicate = predicate

    def matches(self, facts: ConnectionFacts) -> bool:
        """Whether the connection described by ``facts`` passes the filter. Never raises."""
        return self._predicate(facts)

    def __repr__(self) -> str:
        return f"parse_filter({self.expression!r})"


@lru_cache(maxsize=256)
def parse_filter(expression: str) -> Filter:
    """Parse, type-check and compile ``expression``; raise :class:`FilterError` if it is not valid.

    Repeated sends usually repeat their filter, so recent results are cached (a Filter is immutable).

    >>> parse_filter("userId eq 'user''1'").matches(ConnectionFacts("c", "user'1", ()))
    True
    >>> try:
    ...     parse_filter("userId eq")
    ... except FilterError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    Invalid filter at position 9 (end of input): The filter ends after 'eq'; expected a value. ...
    """
    if len(expression) > MAX_FILTER_LENGTH:
        raise _syntax_error(
            expression,
            MAX_FILTER_LENGTH,
            f"The filter is {len(expression)} characters long; the limit is {MAX_FILTER_LENGTH}. "
            "Use an in-list or a group to target many connections.",
        )
    if not expression.strip():
        raise _syntax_error(
            expression, 0, "The filter is empty; leave the filter parameter out to match every connection."
        )
    return Filter(expression, _Parser(expression).parse())


# ---- error messages ----------------------------------------------------------------------------

_SNIPPET_LENGTH = 20
_QUOTE_LENGTH = 60


def _syntax_error(expression: str, position: int, detail: str) -> FilterError:
    """An error about the text at ``position`` (shown as a short snippet)."""
    snippet = expression[position : position + _SNIPPET_LENGTH]
    if position + _SNIPPET_LENGTH < len(expression):
        snippet += "…"
    where = f"'{snippet}'" if snippet else "end of input"
    message = f"Invalid filter at position {position} ({where}): {detail} (Parameter 'filter')"
    return FilterError(message, expression, position)


def _term_error(expression: str, start: int, end: int, detail: str) -> FilterError:
    """An error about a whole sub-expression, quoted like the official emulator does."""
    quoted = expression[start:end]
    if len(quoted) > _QUOTE_LENGTH:
        quoted = quoted[: _QUOTE_LENGTH - 1] + "…"
    message = f"Invalid syntax for '{quoted}' at position {start}: {detail} (Parameter 'filter')"
    return FilterError(message, expression, start)


# ---- tokens ------------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # "word", "string", "int", "(", ")", ",", "end"
    text: str  # as written
    value: Any  # lower-cased word, unescaped string, int
    start: int
    end: int


_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

# Operators people bring from other languages, with the OData word to use instead.
_FOREIGN_OPERATORS = {
    "==": "eq", "!=": "ne", "<>": "ne", ">=": "ge", "<=": "le", "&&": "and", "||": "or",
    "=": "eq", ">": "gt", "<": "lt", "&": "and", "|": "or", "!": "not",
}  # fmt: skip


def _tokenize(expression: str) -> list[_Token]:
    """Split ``expression`` into tokens, ending with an ``end`` token."""
    tokens: list[_Token] = []
    length = len(expression)
    i = 0
    while i < length:
        char = expression[i]
        if char.isspace():
            i += 1
        elif char == "'":
            end, value = _scan_string(expression, i)
            tokens.append(_Token("string", expression[i:end], value, i, end))
            i = end
        elif char in "(),":
            tokens.append(_Token(char, char, char, i, i + 1))
            i += 1
        elif _is_digit(char) or (char == "-" and i + 1 < length and _is_digit(expression[i + 1])):
            end, value = _scan_integer(expression, i)
            tokens.append(_Token("int", expression[i:end], value, i, end))
            i = end
        elif char.isalpha() or char == "_":
            end = i + 1
            while end < length and (expression[end].isalnum() or expression[end] == "_"):
                end += 1
            word = expression[i:end]
            tokens.append(_Token("word", word, word.lower(), i, end))
            i = end
        else:
            raise _unexpected_character(expression, i)
    tokens.append(_Token("end", "", None, length, length))
    return tokens


def _describe(token: _Token) -> str:
    if token.kind == "string":
        return f"string {token.text}"
    if token.kind == "int":
        return f"number {token.text}"
    return f"'{token.text}'"


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"


def _scan_string(expression: str, start: int) -> tuple[int, str]:
    """Read the string literal opening at ``start``; return where it ends and its value."""
    parts: list[str] = []
    i = start + 1
    while True:
        quote = expression.find("'", i)
        if quote < 0:
            raise _syntax_error(
                expression,
                start,
                "Unterminated string: add the closing ' (write a quote inside a string as '').",
            )
        parts.append(expression[i:quote])
        if expression.startswith("'", quote + 1):  # '' is an escaped quote
            parts.append("'")
            i = quote + 2
            continue
        return quote + 1, "".join(parts)


def _scan_integer(expression: str, start: int) -> tuple[int, int]:
    """Read the (optionally negative) integer literal at ``start``; return where it ends and its value."""
    end = start + 1
    while end < len(expression) and _is_digit(expression[end]):
        end += 1
    if end < len(expression) and (expression[end].isalnum() or expression[end] in "._"):
        raise _syntax_error(
            expression,
            start,
            "Only whole numbers are supported, e.g. 5 or -1 (no decimals, exponents or suffixes).",
        )
    value = int(expression[start:end])
    if not _INT_MIN <= value <= _INT_MAX:
        raise _syntax_error(
            expression, start, f"The number {value} does not fit in 32 bits ({_INT_MIN} to {_INT_MAX})."
        )
    return end, value


def _unexpected_character(expression: str, position: int) -> FilterError:
    pair, char = expression[position : position + 2], expression[position]
    foreign = pair if pair in _FOREIGN_OPERATORS else char if char in _FOREIGN_OPERATORS else None
    if foreign is not None:
        replacement = _FOREIGN_OPERATORS[foreign]
        detail = f"'{foreign}' is not an operator here; write '{replacement}', e.g. userId {replacement} 'alice'."
        if replacement in ("and", "or", "not"):
            detail = f"'{foreign}' is not an operator here; write '{replacement}'."
    elif char == '"':
        detail = "Strings use single quotes, e.g. 'alice'; double quotes are not supported."
    elif char == "/":
        detail = "Paths and lambdas such as groups/any(...) are not supported; write 'g1' in groups."
    elif char == "-":
        detail = "'-' is only allowed directly before a number, e.g. -1."
    else:
        detail = f"Unexpected character {char!r}."
    return _syntax_error(expression, position, detail)


# ---- typed terms -------------------------------------------------------------------------------

_BOOL, _INT, _STRING, _NULL, _COLLECTION = "bool", "int", "string", "null", "collection"
_PYTHON_TYPES: dict[str, type] = {_BOOL: bool, _INT: int, _STRING: str}

Evaluate = Callable[[ConnectionFacts], Any]


@dataclass(slots=True)
class _Term:
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


def _literal(value_type: str, value: Any, start: int, end: int) -> _Term:
    return _Term(value_type, lambda _facts: value, start, end, constant=True, value=value)


def _derived(value_type: str, evaluate: Evaluate, children: list[_Term], start: int, end: int) -> _Term:
    """A term computed from ``children``; folded into a literal when they all are literals."""
    if all(child.constant for child in children):
        return _literal(value_type, evaluate(None), start, end)  # type: ignore[arg-type]
    return _Term(value_type, evaluate, start, end)


_IDENTIFIERS: dict[str, tuple[str, str]] = {  # lower-cased name -> (ConnectionFacts field, type)
    "userid": ("user_id", _STRING),
    "connectionid": ("connection_id", _STRING),
    "groups": ("groups", _COLLECTION),
    "protocol": ("protocol", _STRING),
}
_LITERAL_WORDS: dict[str, tuple[str, Any]] = {
    "true": (_BOOL, True),
    "false": (_BOOL, False),
    "null": (_NULL, None),
}
_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}  # fmt: skip
_COMPARISONS = frozenset({"eq", "ne", *_ORDERINGS})
_KEYWORDS = frozenset({"and", "or", "not", "in", *_COMPARISONS})
_UNSUPPORTED_OPERATORS = frozenset({"has", "add", "sub", "mul", "div", "divby", "mod", "like"})
_OPERATOR_LIST = "eq, ne, gt, ge, lt, le, in, and, or"


# ---- functions ---------------------------------------------------------------------------------


class _Param(NamedTuple):
    types: frozenset[str]
    label: str


_TEXT = _Param(frozenset({_STRING, _NULL}), "'string'")
_NUMBER = _Param(frozenset({_INT}), "'int'")
_TEXT_OR_COLLECTION = _Param(frozenset({_STRING, _NULL, _COLLECTION}), "'string' or 'collection'")


class _Function(NamedTuple):
    signature: str
    params: tuple[_Param, ...]
    required: int
    result: str
    build: Callable[[list[_Term]], Evaluate]


def _to_lower(text: str) -> str:
    if text.isascii():
        return text.lower()
    return "".join(low if len(low := char.lower()) == 1 else char for char in text)


def _to_upper(text: str) -> str:
    if text.isascii():
        return text.upper()
    return "".join(up if len(up := char.upper()) == 1 else char for char in text)


def _text_transform(transform: Callable[[str], str]) -> Callable[[list[_Term]], Evaluate]:
    def build(args: list[_Term]) -> Evaluate:
        text = args[0].evaluate
        return lambda facts: None if (value := text(facts)) is None else transform(value)

    return build


def _text_test(test: Callable[[str, str], bool]) -> Callable[[list[_Term]], Evaluate]:
    def build(args: list[_Term]) -> Evaluate:
        text, search = args[0].evaluate, args[1].evaluate
        return lambda facts: (
            (value := text(facts)) is not None and (part := search(facts)) is not None and test(value, part)
        )

    return build


def _build_length(args: list[_Term]) -> Evaluate:
    value = args[0].evaluate
    if args[0].type == _COLLECTION:
        return lambda facts: len(value(facts))
    return lambda facts: None if (text := value(facts)) is None else len(text)


def _build_indexof(args: list[_Term]) -> Evaluate:
    text, search = args[0].evaluate, args[1].evaluate
    return lambda facts: -1 if (value := text(facts)) is None or (part := search(facts)) is None else value.find(part)


def _build_concat(args: list[_Term]) -> Evaluate:
    first, second = args[0].evaluate, args[1].evaluate

    def concat(facts: ConnectionFacts) -> str | None:
        left, right = first(facts), second(facts)
        if left is None:
            return right
        if right is None:
            return left
        return left + right

    return concat


def _build_substring(args: list[_Term]) -> Evaluate:
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


_FUNCTIONS: dict[str, _Function] = {
    "tolower": _Function("tolower(text)", (_TEXT,), 1, _STRING, _text_transform(_to_lower)),
    "toupper": _Function("toupper(text)", (_TEXT,), 1, _STRING, _text_transform(_to_upper)),
    "trim": _Function("trim(text)", (_TEXT,), 1, _STRING, _text_transform(str.strip)),
    "length": _Function("length(text or groups)", (_TEXT_OR_COLLECTION,), 1, _INT, _build_length),
    "substring": _Function("substring(text, start[, length])", (_TEXT, _NUMBER, _NUMBER), 2, _STRING, _build_substring),
    "concat": _Function("concat(text, text)", (_TEXT, _TEXT), 2, _STRING, _build_concat),
    "indexof": _Function("indexof(text, search)", (_TEXT, _TEXT), 2, _INT, _build_indexof),
    "startswith": _Function("startswith(text, prefix)", (_TEXT, _TEXT), 2, _BOOL, _text_test(str.startswith)),
    "endswith": _Function("endswith(text, suffix)", (_TEXT, _TEXT), 2, _BOOL, _text_test(str.endswith)),
    "contains": _Function("contains(text, search)", (_TEXT, _TEXT), 2, _BOOL, _text_test(operator.contains)),
}


# ---- combinators -------------------------------------------------------------------------------


def _any_of(tests: list[Evaluate]) -> Evaluate:
    if len(tests) == 2:
        first, second = tests
        return lambda facts: first(facts) or second(facts)
    return lambda facts: any(test(facts) for test in tests)


def _all_of(tests: list[Evaluate]) -> Evaluate:
    if len(tests) == 2:
        first, second = tests
        return lambda facts: first(facts) and second(facts)
    return lambda facts: all(test(facts) for test in tests)


def _equality(left: _Term, right: _Term) -> Evaluate:
    """Ordinal, type-strict equality (``1 eq true`` is false although Python says ``1 == True``)."""
    first, second = left.evaluate, right.evaluate
    if left.type != right.type and _NULL not in (left.type, right.type):
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


def _ordering(compare: Callable[[Any, Any], bool], left: _Term, right: _Term) -> Evaluate:
    """Integer ordering; false when either side is null."""
    first, second = left.evaluate, right.evaluate
    if _NULL in (left.type, right.type) or (right.constant and right.value is None):
        return lambda _facts: False
    if right.constant:
        bound = right.value
        return lambda facts: (value := first(facts)) is not None and compare(value, bound)
    return lambda facts: (
        (value := first(facts)) is not None and (other := second(facts)) is not None and compare(value, other)
    )


# ---- parser ------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the tokens, type-checking and compiling as it goes."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokenize(expression)
        self.index = 0
        self.depth = 0
        self.clauses = 1
        self.terms = 0

    def parse(self) -> Callable[[ConnectionFacts], bool]:
        term = self._or()
        token = self._peek()
        if token.kind != "end":
            raise self._unexpected(token, opening=None)
        self._require_bool(term, "A filter is a condition, e.g. userId eq 'alice' or 'g1' in groups.")
        return term.evaluate

    # -- token helpers

    def _peek(self) -> _Token:
        return self.tokens[min(self.index, len(self.tokens) - 1)]  # the end token repeats

    def _advance(self) -> _Token:
        token = self._peek()
        self.index += 1
        return token

    def _at_word(self, *words: str) -> bool:
        token = self._peek()
        return token.kind == "word" and token.value in words

    def _after_previous(self) -> str:
        return f" after {_describe(self.tokens[self.index - 2])}" if self.index >= 2 else ""

    def _enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._syntax(token, f"The filter nests deeper than {MAX_DEPTH} levels; flatten it.")

    def _leave(self) -> None:
        self.depth -= 1

    # -- errors

    def _syntax(self, token: _Token, detail: str) -> FilterError:
        return _syntax_error(self.expression, token.start, detail)

    def _at_term(self, term: _Term, detail: str) -> FilterError:
        return _term_error(self.expression, term.start, term.end, detail)

    def _unexpected(self, token: _Token, opening: _Token | None) -> FilterError:
        """Something other than an operator follows a complete value (inside ``opening``'s parentheses)."""
        if token.kind == "end" and opening is not None:
            return self._syntax(token, f"Missing ')' to close the '(' at position {opening.start}.")
        if token.kind == ")" and opening is None:
            return self._syntax(token, "Unmatched ')'; remove it or add the missing '('.")
        if token.kind == "word" and token.value in _UNSUPPORTED_OPERATORS:
            return self._syntax(token, f"The OData operator '{token.text}' is not supported; use {_OPERATOR_LIST}.")
        expected = f"an operator ({_OPERATOR_LIST})"
        expected += f" or ')' to close the '(' at position {opening.start}" if opening else " or the end"
        return self._syntax(token, f"Unexpected {_describe(token)}; expected {expected}.")

    def _require_bool(self, term: _Term, hint: str) -> None:
        if term.type != _BOOL:
            raise self._at_term(term, f"Type '{term.type}', expect 'bool'. {hint}")

    # -- grammar, loosest binding first

    def _or(self) -> _Term:
        return self._logical("or", self._and, _any_of)

    def _and(self) -> _Term:
        return self._logical("and", self._comparison, _all_of)

    def _logical(
        self, keyword: str, operand: Callable[[], _Term], combine: Callable[[list[Evaluate]], Evaluate]
    ) -> _Term:
        operands = [operand()]
        while self._at_word(keyword):
            token = self._advance()
            self.clauses += 1
            if self.clauses > MAX_CLAUSES:
                raise self._syntax(
                    token,
                    f"More than {MAX_CLAUSES} conditions joined by and/or; "
                    "match many values with one in-list such as userId in ('a','b') instead.",
                )
            hint = f"Each side of '{keyword}' is a condition, e.g. userId eq 'alice'."
            self._require_bool(operands[-1], hint)
            operands.append(operand())
            self._require_bool(operands[-1], hint)
        if len(operands) == 1:
            return operands[0]
        evaluate = combine([term.evaluate for term in operands])
        return _derived(_BOOL, evaluate, operands, operands[0].start, operands[-1].end)

    def _comparison(self) -> _Term:
        left = self._unary()
        while self._at_word(*_COMPARISONS):
            token = self._advance()
            right = self._unary()
            left = self._compare(token, left, right)
        return left

    def _compare(self, token: _Token, left: _Term, right: _Term) -> _Term:
        keyword = token.value
        if keyword in ("eq", "ne"):
            for side in (left, right):
                if side.type == _COLLECTION:
                    raise self._at_term(
                        side,
                        f"Type 'collection' cannot be compared with '{token.text}'. "
                        "Test membership with 'g1' in groups, or count with length(groups).",
                    )
            equal = _equality(left, right)
            evaluate = equal if keyword == "eq" else (lambda facts: not equal(facts))
        else:
            for side in (left, right):
                if side.type not in (_INT, _NULL):
                    raise self._at_term(
                        side,
                        f"Type '{side.type}', expect 'int'. '{token.text}' compares whole numbers only; "
                        "compare text with eq/ne, or compare a number such as "
                        f"length(userId) {token.text} 3.",
                    )
            evaluate = _ordering(_ORDERINGS[keyword], left, right)
        return _derived(_BOOL, evaluate, [left, right], left.start, right.end)

    def _unary(self) -> _Term:
        if not self._at_word("not"):
            return self._membership()
        token = self._advance()
        self._enter(token)
        operand = self._unary()
        self._leave()
        if operand.type != _BOOL:
            raise _term_error(
                self.expression,
                token.start,
                operand.end,
                f"Type '{operand.type}', expect 'bool'. {self._not_hint(operand)}",
            )
        test = operand.evaluate
        return _derived(_BOOL, lambda facts: not test(facts), [operand], token.start, operand.end)

    def _not_hint(self, operand: _Term) -> str:
        """Explain that ``not`` grabbed only the next term, showing the parenthesised fix if we can."""
        if not self._at_word(*_COMPARISONS):
            return "'not' negates a condition, e.g. not (userId eq 'alice') or not ('g1' in groups)."
        saved = self.index
        comparison = self._advance().text
        try:
            end = self._unary().end
            fixed = f"not ({self.expression[operand.start : end]})"
        except FilterError:
            fixed = f"not ({self.expression[operand.start : operand.end]} {comparison} ...)"
        finally:
            self.index = saved
        return f"'not' binds tighter than '{comparison}'; write {fixed}."

    def _membership(self) -> _Term:
        left = self._primary()
        if not self._at_word("in"):
            return left
        token = self._advance()
        if left.type == _COLLECTION:
            raise self._at_term(left, "Type 'collection', expect a single value. Test membership with 'g1' in groups.")
        if self._peek().kind == "(":
            return self._in_list(left)
        right = self._primary()
        if right.type != _COLLECTION:
            raise self._at_term(
                right,
                f"Type '{right.type}', expect 'collection'. The right side of '{token.text}' is groups "
                "or a list in parentheses, e.g. userId in ('a','b').",
            )
        member, members = left.evaluate, right.evaluate
        if left.constant:
            value = left.value
            evaluate: Evaluate = lambda facts: value in members(facts)  # noqa: E731
        else:
            evaluate = lambda facts: member(facts) in members(facts)  # noqa: E731
        return _derived(_BOOL, evaluate, [left, right], left.start, right.end)

    def _in_list(self, left: _Term) -> _Term:
        opening = self._advance()
        values: list[Any] = []
        closing = self._advance()
        if closing.kind != ")":
            while True:
                values.append(self._list_item(closing))
                separator = self._advance()
                if separator.kind == ")":
                    closing = separator
                    break
                if separator.kind == "end":
                    raise self._syntax(separator, f"Missing ')' to close the list opened at position {opening.start}.")
                if separator.kind != ",":
                    raise self._syntax(
                        separator, f"Expected ',' or ')' in the list opened at position {opening.start}."
                    )
                closing = self._advance()
                if closing.kind == ")":
                    raise self._syntax(closing, "Expected a value after ','; remove the trailing comma.")
        if left.type == _NULL:
            allowed: frozenset[Any] = frozenset(value for value in values if value is None)
        else:
            # Keep only items of the left side's type (or null) so that Python's 1 == True cannot match.
            python_type = _PYTHON_TYPES[left.type]
            allowed = frozenset(value for value in values if value is None or type(value) is python_type)
        member = left.evaluate
        evaluate = lambda facts: member(facts) in allowed  # noqa: E731
        return _derived(_BOOL, evaluate, [left], left.start, closing.end)

    def _list_item(self, token: _Token) -> Any:
        if token.kind in ("string", "int"):
            return token.value
        if token.kind == "word" and token.value in _LITERAL_WORDS:
            return _LITERAL_WORDS[token.value][1]
        if token.kind == "end":
            raise self._syntax(token, "The filter ends inside a list; close it with ')'.")
        raise self._syntax(
            token, f"A list after 'in' holds literal values only, e.g. ('a','b'); found {_describe(token)}."
        )

    def _primary(self) -> _Term:
        token = self._advance()
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self._syntax(token, f"The filter has more than {MAX_TERMS} values; simplify it.")
        if token.kind == "(":
            self._enter(token)
            inner = self._or()
            closing = self._advance()
            if closing.kind != ")":
                raise self._unexpected(closing, opening=token)
            self._leave()
            return _Term(inner.type, inner.evaluate, token.start, closing.end, inner.constant, inner.value)
        if token.kind == "string":
            return _literal(_STRING, token.value, token.start, token.end)
        if token.kind == "int":
            return _literal(_INT, token.value, token.start, token.end)
        if token.kind == "word":
            if token.value in _LITERAL_WORDS:
                value_type, value = _LITERAL_WORDS[token.value]
                return _literal(value_type, value, token.start, token.end)
            if token.value in _KEYWORDS:
                raise self._syntax(
                    token, f"Expected a value{self._after_previous()}, found the keyword '{token.text}'."
                )
            if self._peek().kind == "(":
                return self._call(token)
            return self._identifier(token)
        if token.kind == "end":
            raise self._syntax(token, f"The filter ends{self._after_previous()}; expected a value.")
        raise self._syntax(token, f"Expected a value{self._after_previous()}, found {_describe(token)}.")

    def _identifier(self, token: _Token) -> _Term:
        known = _IDENTIFIERS.get(token.value)
        if known is None:
            raise _term_error(
                self.expression,
                token.start,
                token.end,
                f"Token '{token.text}' is not supported. Identifiers are userId, connectionId, groups and "
                f"protocol; write text in single quotes, e.g. '{token.text}'.",
            )
        field, value_type = known
        return _Term(value_type, operator.attrgetter(field), token.start, token.end)

    def _call(self, name: _Token) -> _Term:
        function = _FUNCTIONS.get(name.value)
        if function is None:
            raise _term_error(
                self.expression,
                name.start,
                name.end,
                f"Function '{name.text}' is not supported. Use one of: {', '.join(sorted(_FUNCTIONS))}.",
            )
        opening = self._advance()
        self._enter(name)
        args: list[_Term] = []
        closing = self._advance() if self._peek().kind == ")" else None
        while closing is None:
            args.append(self._or())
            separator = self._advance()
            if separator.kind == ")":
                closing = separator
            elif separator.kind != ",":
                if separator.kind == "end":
                    raise self._syntax(separator, f"Missing ')' to close '{name.text}(' at position {opening.start}.")
                raise self._syntax(
                    separator,
                    f"Expected ',' or ')' in the arguments of '{name.text}(' at position {opening.start}.",
                )
        self._leave()
        if not function.required <= len(args) <= len(function.params):
            expected = str(function.required)
            if len(function.params) > function.required:
                expected += f" or {len(function.params)}"
            plural = "" if expected == "1" else "s"
            raise _term_error(
                self.expression,
                name.start,
                closing.end,
                f"'{name.text}' takes {expected} argument{plural}, got {len(args)}. Usage: {function.signature}.",
            )
        for arg, param in zip(args, function.params[: len(args)], strict=True):
            if arg.type not in param.types:
                raise self._at_term(arg, f"Type '{arg.type}', expect {param.label}. Usage: {function.signature}.")
        return _derived(function.result, function.build(args), args, name.start, closing.end)
