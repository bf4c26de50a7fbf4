"""Parsing an OData filter: tokens, a recursive-descent parser that type-checks and compiles as it goes,
the limits, and error messages that say where and what to write instead.

The grammar and the semantics are in :mod:`.filter`; what the compiled filter runs is in :mod:`.filter_terms`.

>>> from wpsnb.protocol.filter_terms import ConnectionSnapshot
>>> predicate = compile_filter("'lab' in groups")
>>> predicate(ConnectionSnapshot("c1", None, {"lab"}))
True
>>> try:
...     compile_filter("userId == 'a'")
... except FilterError as error:
...     print(error)  # doctest: +ELLIPSIS
Invalid filter at position 7 ('== 'a''): '==' is not an operator here; write 'eq', ...
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, NamedTuple

from .filter_terms import (
    BOOL,
    COLLECTION,
    FUNCTIONS,
    IDENTIFIERS,
    INT,
    NULL,
    ORDERINGS,
    PYTHON_TYPES,
    STRING,
    ConnectionFacts,
    Evaluate,
    Term,
    all_of,
    any_of,
    derived,
    equality,
    literal,
    ordering,
)

MAX_FILTER_LENGTH = 8192
"""Longest accepted filter, in characters (it travels in a URL query string)."""
MAX_CLAUSES = 100
"""Most conditions joined by ``and``/``or``; an in-list counts as one condition however long."""
MAX_DEPTH = 32
"""Deepest nesting of parentheses, function calls and ``not``."""
MAX_TERMS = 500
"""Most values, identifiers and function calls (in-list items excluded)."""


class FilterError(ValueError):
    """A filter that cannot be parsed or type-checked; the service answers it with 400.

    ``position`` is the 0-based character offset of the offending part of ``expression``.

    >>> try:
    ...     compile_filter("length(userId) gt 'five'")
    ... except FilterError as error:
    ...     print(error.position)
    18
    """

    def __init__(self, message: str, expression: str, position: int) -> None:
        super().__init__(message)
        self.expression = expression
        self.position = position


def compile_filter(expression: str) -> Callable[[ConnectionFacts], bool]:
    """Parse, type-check and compile ``expression`` into a predicate; raise :class:`FilterError` if it is invalid."""
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
    return _Parser(expression).parse()


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


# ---- vocabulary --------------------------------------------------------------------------------

_LITERAL_WORDS: dict[str, tuple[str, Any]] = {
    "true": (BOOL, True),
    "false": (BOOL, False),
    "null": (NULL, None),
}
_COMPARISONS = frozenset({"eq", "ne", *ORDERINGS})
_KEYWORDS = frozenset({"and", "or", "not", "in", *_COMPARISONS})
_UNSUPPORTED_OPERATORS = frozenset({"has", "add", "sub", "mul", "div", "divby", "mod", "like"})
_OPERATOR_LIST = "eq, ne, gt, ge, lt, le, in, and, or"


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

    def _at_term(self, term: Term, detail: str) -> FilterError:
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

    def _require_bool(self, term: Term, hint: str) -> None:
        if term.type != BOOL:
            raise self._at_term(term, f"Type '{term.type}', expect 'bool'. {hint}")

    # -- grammar, loosest binding first

    def _or(self) -> Term:
        return self._logical("or", self._and, any_of)

    def _and(self) -> Term:
        return self._logical("and", self._comparison, all_of)

    def _logical(
        self, keyword: str, operand: Callable[[], Term], combine: Callable[[list[Evaluate]], Evaluate]
    ) -> Term:
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
        return derived(BOOL, evaluate, operands, operands[0].start, operands[-1].end)

    def _comparison(self) -> Term:
        left = self._unary()
        while self._at_word(*_COMPARISONS):
            token = self._advance()
            right = self._unary()
            left = self._compare(token, left, right)
        return left

    def _compare(self, token: _Token, left: Term, right: Term) -> Term:
        keyword = token.value
        if keyword in ("eq", "ne"):
            for side in (left, right):
                if side.type == COLLECTION:
                    raise self._at_term(
                        side,
                        f"Type 'collection' cannot be compared with '{token.text}'. "
                        "Test membership with 'g1' in groups, or count with length(groups).",
                    )
            equal = equality(left, right)
            evaluate = equal if keyword == "eq" else (lambda facts: not equal(facts))
        else:
            for side in (left, right):
                if side.type not in (INT, NULL):
                    raise self._at_term(
                        side,
                        f"Type '{side.type}', expect 'int'. '{token.text}' compares whole numbers only; "
                        "compare text with eq/ne, or compare a number such as "
                        f"length(userId) {token.text} 3.",
                    )
            evaluate = ordering(ORDERINGS[keyword], left, right)
        return derived(BOOL, evaluate, [left, right], left.start, right.end)

    def _unary(self) -> Term:
        if not self._at_word("not"):
            return self._membership()
        token = self._advance()
        self._enter(token)
        operand = self._unary()
        self._leave()
        if operand.type != BOOL:
            raise _term_error(
                self.expression,
                token.start,
                operand.end,
                f"Type '{operand.type}', expect 'bool'. {self._not_hint(operand)}",
            )
        test = operand.evaluate
        return derived(BOOL, lambda facts: not test(facts), [operand], token.start, operand.end)

    def _not_hint(self, operand: Term) -> str:
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

    def _membership(self) -> Term:
        left = self._primary()
        if not self._at_word("in"):
            return left
        token = self._advance()
        if left.type == COLLECTION:
            raise self._at_term(left, "Type 'collection', expect a single value. Test membership with 'g1' in groups.")
        if self._peek().kind == "(":
            return self._in_list(left)
        right = self._primary()
        if right.type != COLLECTION:
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
        return derived(BOOL, evaluate, [left, right], left.start, right.end)

    def _in_list(self, left: Term) -> Term:
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
        if left.type == NULL:
            allowed: frozenset[Any] = frozenset(value for value in values if value is None)
        else:
            # Keep only items of the left side's type (or null) so that Python's 1 == True cannot match.
            python_type = PYTHON_TYPES[left.type]
            allowed = frozenset(value for value in values if value is None or type(value) is python_type)
        member = left.evaluate
        evaluate = lambda facts: member(facts) in allowed  # noqa: E731
        return derived(BOOL, evaluate, [left], left.start, closing.end)

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

    def _primary(self) -> Term:
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
            return Term(inner.type, inner.evaluate, token.start, closing.end, inner.constant, inner.value)
        if token.kind == "string":
            return literal(STRING, token.value, token.start, token.end)
        if token.kind == "int":
            return literal(INT, token.value, token.start, token.end)
        if token.kind == "word":
            if token.value in _LITERAL_WORDS:
                value_type, value = _LITERAL_WORDS[token.value]
                return literal(value_type, value, token.start, token.end)
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

    def _identifier(self, token: _Token) -> Term:
        known = IDENTIFIERS.get(token.value)
        if known is None:
            raise _term_error(
                self.expression,
                token.start,
                token.end,
                f"Token '{token.text}' is not supported. Identifiers are userId, connectionId, groups and "
                f"protocol; write text in single quotes, e.g. '{token.text}'.",
            )
        field, value_type = known
        return Term(value_type, operator.attrgetter(field), token.start, token.end)

    def _call(self, name: _Token) -> Term:
        function = FUNCTIONS.get(name.value)
        if function is None:
            raise _term_error(
                self.expression,
                name.start,
                name.end,
                f"Function '{name.text}' is not supported. Use one of: {', '.join(sorted(FUNCTIONS))}.",
            )
        opening = self._advance()
        self._enter(name)
        args: list[Term] = []
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
        return derived(function.result, function.build(args), args, name.start, closing.end)
