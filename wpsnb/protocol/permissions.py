"""What one connection may do with groups: roles from its token, plus REST grants and revokes.

Rules (docs/protocol.md, roles; the official emulator's ``GroupPermissionManager``):

* ``webpubsub.joinLeaveGroup`` / ``webpubsub.sendToGroup`` allow every group;
  ``webpubsub.joinLeaveGroup.<group>`` / ``webpubsub.sendToGroup.<group>`` allow exactly ``<group>``;
  ``webpubsub.joinLeaveGroups.<pattern>`` / ``webpubsub.sendToGroups.<pattern>`` allow groups matching a
  wildcard pattern (``?``, ``*`` not crossing ``.``, ``**``, ``\\`` escapes, at most 5 ``*``).
* A REST grant/revoke of one group overrides whatever the roles say for that group; with no group it
  replaces everything (grant → all groups, revoke → none).
* Role strings and group names are case-sensitive. Invalid permission roles are ignored
  (see ``Permissions.ignored_roles``).

>>> permissions = Permissions(["webpubsub.sendToGroups.room.*", "webpubsub.joinLeaveGroup"])
>>> permissions.can_send_to("room.a"), permissions.can_send_to("room.a.b"), permissions.can_join_leave("x")
(True, False, True)
>>> permissions.revoke(SEND, "room.a")
>>> permissions.can_send_to("room.a")
False
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .names import group_name_problem

JOIN_LEAVE = "joinLeaveGroup"
SEND = "sendToGroup"
MAX_PATTERN_ASTERISKS = 5
# The emulator caps literal REST rules per permission at 1000 and answers 409 beyond that.
MAX_LITERAL_RULES = 1000
_CACHE_LIMIT = 1024  # pattern results remembered per permission; cleared when full
_ROLE_PREFIX = "webpubsub."
_NUMERIC_NAMES = {"1": SEND, "2": JOIN_LEAVE}
_VERBS = {"join": (JOIN_LEAVE, "join"), "leave": (JOIN_LEAVE, "leave"), "send": (SEND, "send to")}


def parse_permission_name(text: str) -> str:
    """The canonical REST permission name for ``text`` (case-insensitive).

    The numeric forms of the REST spec's enum are accepted too: ``1`` is sendToGroup, ``2`` joinLeaveGroup
    (the emulator accepts them; ``0`` and ``3`` are not permissions).

    >>> parse_permission_name("SENDTOGROUP"), parse_permission_name("2")
    ('sendToGroup', 'joinLeaveGroup')
    """
    if text in _NUMERIC_NAMES:
        return _NUMERIC_NAMES[text]
    for name in (JOIN_LEAVE, SEND):
        if isinstance(text, str) and text.lower() == name.lower():
            return name
    raise ValueError(f"unknown permission {text!r}; use {SEND!r} (or 1) or {JOIN_LEAVE!r} (or 2)")


class PermissionLimitError(ValueError):
    """More than ``MAX_LITERAL_RULES`` per-group REST rules on one connection (the REST API answers 409)."""


def compile_group_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a wildcard group pattern to a regex that must ``fullmatch`` the group name.

    ``?`` is one character except ``.``; ``*`` is any run without ``.``; two or more ``*`` in a row (``**``,
    ``******``) are one token, any run including ``.``; ``\\`` escapes ``\\``, ``*`` and ``?``. At most 5
    ``*`` tokens (a run of stars counts once, as the emulator's tokenizer does). Raises ``ValueError``
    saying what is wrong.

    >>> bool(compile_group_pattern("clientA.**").fullmatch("clientA.alpha.room1"))
    True
    >>> bool(compile_group_pattern("chat-*").fullmatch("chat.1"))
    False
    """
    if not pattern:
        raise ValueError("the pattern is empty")
    parts: list[str] = []
    asterisks = 0
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if index + 1 == len(pattern):
                raise ValueError("the pattern ends with a lone '\\'; write '\\\\' for a backslash")
            escaped = pattern[index + 1]
            if escaped not in "\\*?":
                raise ValueError(f"invalid escape '\\{escaped}'; only '\\\\', '\\*' and '\\?' are escapes")
            parts.append(re.escape(escaped))
            index += 2
        elif char == "*":
            run = len(pattern) - index - len(pattern[index:].lstrip("*"))
            asterisks += 1  # a run of stars is one token
            parts.append(".*" if run >= 2 else "[^.]*")
            index += run
        elif char == "?":
            parts.append("[^.]")
            index += 1
        else:
            parts.append(re.escape(char))
            index += 1
    if asterisks > MAX_PATTERN_ASTERISKS:
        raise ValueError(
            f"the pattern has {asterisks} '*' wildcards; at most {MAX_PATTERN_ASTERISKS} are allowed "
            "(a run like '**' counts once)"
        )
    return re.compile("".join(parts), re.DOTALL)


def _literal_of(pattern: str) -> str | None:
    """The group a wildcard-free pattern stands for (``room\\*`` → ``room*``), else ``None``."""
    if re.search(r"(?<!\\)(?:\\\\)*[*?]", pattern):
        return None
    return re.sub(r"\\(.)", r"\1", pattern)


class _GroupRules:
    """Allow/deny per group for one permission: role-derived rules, then per-group REST overrides.

    Every table is created by its first entry: a service holds one of these per permission per connection,
    and most connections have one or two roles at most.
    """

    __slots__ = ("_cache", "_pattern", "allow_all", "literals", "overrides", "patterns")

    def __init__(self) -> None:
        self.allow_all = False
        self.literals: set[str] | None = None
        self.patterns: list[str] | None = None  # regex sources, combined into one alternation
        self.overrides: dict[str, bool] | None = None
        self._pattern: re.Pattern[str] | None = None
        self._cache: dict[str, bool] | None = None

    def add_literal(self, group: str) -> None:
        if self.literals is None:
            self.literals = set()
        self.literals.add(group)

    def add_pattern(self, regex: re.Pattern[str]) -> None:
        if self.patterns is None:
            self.patterns = []
        self.patterns.append(regex.pattern)
        self._pattern = re.compile("|".join(f"(?:{source})" for source in self.patterns), re.DOTALL)
        self._cache = None

    def by_roles(self, group: str) -> bool:
        if self.allow_all or (self.literals is not None and group in self.literals):
            return True
        if self._pattern is None:
            return False
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        cached = cache.get(group)
        if cached is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cached = cache[group] = self._pattern.fullmatch(group) is not None
        return cached

    def allows(self, group: str) -> bool:
        override = self.overrides.get(group) if self.overrides is not None else None
        return self.by_roles(group) if override is None else override

    def override(self, group: str) -> bool | None:
        """The REST grant (``True``) or revoke (``False``) for ``group``, if there is one."""
        return self.overrides.get(group) if self.overrides is not None else None

    def set(self, group: str | None, allowed: bool) -> None:
        if group is None:
            # Like the emulator's SetAll: one rule for every group, earlier rules forgotten.
            self.allow_all = allowed
            self.literals = self.patterns = self.overrides = self._pattern = self._cache = None
            return
        overrides = self.overrides
        if self.by_roles(group) == allowed:
            if overrides is not None:
                overrides.pop(group, None)  # the roles already say so; keep the table small
        elif overrides is None:
            self.overrides = {group: allowed}
        elif group in overrides or len(overrides) < MAX_LITERAL_RULES:
            overrides[group] = allowed
        else:
            raise PermissionLimitError(
                f"this connection already has {MAX_LITERAL_RULES} per-group "
                "permission rules; grant or revoke for all groups (no targetName) "
                "instead"
            )


_NO_RULES = _GroupRules()  # what a connection without rules for a permission asks; never changed


class Permissions:
    """What one connection may do, from its roles plus REST grants/revokes.

    ``roles`` keeps the roles as given (deduplicated); ``ignored_roles`` lists ``(role, why)`` for permission
    roles that were not understood, so the service can report them.

    >>> p = Permissions(["webpubsub.joinLeaveGroup.ops"])
    >>> p.can_join_leave("ops"), p.can_join_leave("Ops"), p.can_send_to("ops")
    (True, False, False)
    >>> p.grant("sendToGroup", "ops")
    >>> p.has("sendToGroup", "ops")
    True
    """

    # One per connection, so no instance dict, and each permission's rules are created by its first
    # role or REST grant/revoke (a connection without roles holds none).
    __slots__ = ("roles", "ignored_roles", "_join_leave", "_send")

    def __init__(self, roles: Iterable[str] = ()) -> None:
        if isinstance(roles, str):
            roles = [roles]  # a bare string is one role, not a list of letters
        self.roles: tuple[str, ...] = tuple(dict.fromkeys(roles))
        self._join_leave: _GroupRules | None = None
        self._send: _GroupRules | None = None
        ignored: list[tuple[str, str]] = []
        for role in self.roles:
            problem = self._add_role(role)
            if problem:
                ignored.append((role, problem))
        self.ignored_roles: tuple[tuple[str, str], ...] = tuple(ignored)

    def _rules(self, permission: str) -> _GroupRules:
        """The rules of ``permission`` (a shared, empty set of rules if it has none yet)."""
        rules = self._join_leave if permission == JOIN_LEAVE else self._send
        return _NO_RULES if rules is None else rules

    def _own_rules(self, permission: str) -> _GroupRules:
        """The rules of ``permission``, created for this connection if it has none yet."""
        if permission == JOIN_LEAVE:
            if self._join_leave is None:
                self._join_leave = _GroupRules()
            return self._join_leave
        if self._send is None:
            self._send = _GroupRules()
        return self._send

    def _add_role(self, role: str) -> str | None:
        """Apply one role; return why it was ignored, or ``None``."""
        if not isinstance(role, str):
            return f"roles must be strings, got {type(role).__name__}"
        if not role.startswith(_ROLE_PREFIX):
            return None  # an application role: not ours to judge
        for name in (JOIN_LEAVE, SEND):
            role_name = _ROLE_PREFIX + name
            if role.startswith(role_name + "s."):
                pattern = role[len(role_name) + 2 :]
                try:
                    regex = compile_group_pattern(pattern)
                except ValueError as error:
                    return f"invalid group pattern: {error}"
                literal = _literal_of(pattern)
                if literal is not None:
                    self._own_rules(name).add_literal(literal)
                elif pattern.strip("*") == "" and len(pattern) >= 2:
                    self._own_rules(name).allow_all = True  # '**' matches every group
                else:
                    self._own_rules(name).add_pattern(regex)
                return None
            if role == role_name:
                self._own_rules(name).allow_all = True
                return None
            if role.startswith(role_name + "."):
                group = role[len(role_name) + 1 :]
                problem = group_name_problem(group)
                if problem:
                    return problem
                self._own_rules(name).add_literal(group)
                return None
        return (
            f"not a Web PubSub role (role names are case-sensitive: webpubsub.{JOIN_LEAVE}[.<group>], "
            f"webpubsub.{SEND}[.<group>], webpubsub.{JOIN_LEAVE}s.<pattern>, "
            f"webpubsub.{SEND}s.<pattern>)"
        )

    def can_join_leave(self, group: str) -> bool:
        """Whether the connection may join or leave ``group``."""
        rules = self._join_leave
        return rules is not None and rules.allows(group)

    def can_send_to(self, group: str) -> bool:
        """Whether the connection may publish to ``group`` (O(1) for literal roles, cached for patterns)."""
        rules = self._send
        return rules is not None and rules.allows(group)

    def grant(self, permission: str, group: str | None) -> None:
        """REST grant of ``permission`` for ``group`` (``targetName``); ``None`` grants it for every group.

        Raises ``PermissionLimitError`` past ``MAX_LITERAL_RULES`` per-group rules, ``ValueError`` for an
        unknown permission or an empty group.
        """
        self._own_rules(parse_permission_name(permission)).set(_target(group), True)

    def revoke(self, permission: str, group: str | None) -> None:
        """REST revoke; a per-group revoke overrides a matching token role. ``None`` revokes every group.

        Existing group membership is not touched: that is the hub's business.
        """
        self._own_rules(parse_permission_name(permission)).set(_target(group), False)

    def has(self, permission: str, group: str | None) -> bool:
        """REST check. With ``group=None``: whether the permission covers every group."""
        rules = self._rules(parse_permission_name(permission))
        if group is None:
            return rules.allow_all and all((rules.overrides or {}).values())
        return rules.allows(group)

    def forbidden_reason(self, action: str, group: str) -> str:
        """A readable message for a refused ``join``/``leave``/``send`` on ``group``.

        >>> Permissions().forbidden_reason("send", "ops")  # doctest: +NORMALIZE_WHITESPACE
        "No permission to send to group 'ops'. The connection needs role 'webpubsub.sendToGroup' or
        'webpubsub.sendToGroup.ops' (grant it in the client access token or via the REST API)."
        """
        try:
            permission, verb = _VERBS[action]
        except KeyError:
            raise ValueError(f"unknown action {action!r}; use 'join', 'leave' or 'send'") from None
        role = _ROLE_PREFIX + permission
        message = (
            f"No permission to {verb} group '{group}'. The connection needs role '{role}' or "
            f"'{role}.{group}' (grant it in the client access token or via the REST API)."
        )
        if self._rules(permission).override(group) is False:
            message += f" Its {permission} permission for this group was revoked via the REST API."
        for ignored, why in self.ignored_roles:
            if isinstance(ignored, str) and ignored.startswith(role):
                message += f" Role '{ignored}' was ignored: {why}."
        return message

    def __repr__(self) -> str:
        return f"Permissions(roles={list(self.roles)!r})"


def _target(group: str | None) -> str | None:
    if group is not None and (not isinstance(group, str) or not group):
        raise ValueError(f"targetName must be a non-empty group name or omitted, got {group!r}")
    return group
