"""The OData ``filter`` subset that picks recipients of REST sends (docs/rest.md, filter): the public face.

A filter is parsed and type-checked once, then compiled into plain Python closures, so
``Filter.matches`` is cheap enough to run once per recipient of a send::

    >>> only_u1_in_lab = parse_filter("userId in ('u1','u2') and 'lab' in groups")
    >>> only_u1_in_lab.matches(ConnectionSnapshot("conn1", "u1", {"lab"}))
    True
    >>> only_u1_in_lab.matches(ConnectionSnapshot("conn2", None, {"lab"}))
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

from collections.abc import Callable
from functools import lru_cache

from .filter_parser import MAX_CLAUSES, MAX_DEPTH, MAX_FILTER_LENGTH, MAX_TERMS, FilterError, compile_filter
from .filter_terms import ConnectionFacts, ConnectionSnapshot

__all__ = [
    "MAX_CLAUSES",
    "MAX_DEPTH",
    "MAX_FILTER_LENGTH",
    "MAX_TERMS",
    "ConnectionFacts",
    "ConnectionSnapshot",
    "Filter",
    "FilterError",
    "parse_filter",
]


class Filter:
    """A parsed filter; call :meth:`matches` once per candidate recipient.

    >>> parse_filter("not ('banned' in groups)").matches(ConnectionSnapshot("c", "u", ["lab"]))
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

    >>> parse_filter("userId eq 'user''1'").matches(ConnectionSnapshot("c", "user'1", ()))
    True
    >>> try:
    ...     parse_filter("userId eq")
    ... except FilterError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    Invalid filter at position 9 (end of input): The filter ends after 'eq'; expected a value. ...
    """
    return Filter(expression, compile_filter(expression))
