"""Naming rules for hubs, groups, users, connections and hosts, with readable explanations.

>>> hub_name_problem("stream") is None
True
>>> group_name_problem("   ")
'group name is only whitespace; use 1 to 1024 characters that are not all whitespace'
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from .limits import MAX_GROUP_LENGTH

_HUB = re.compile(r"^[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}$")


def hub_name_problem(hub: Any) -> str | None:
    """Why ``hub`` is not a valid hub name, or ``None`` if it is.

    >>> hub_name_problem("1chat")
    "hub name '1chat' is invalid: start with a letter, then up to 127 letters, digits or _`,.[]"
    """
    if isinstance(hub, str) and _HUB.match(hub):
        return None
    return f"hub name {hub!r} is invalid: start with a letter, then up to 127 letters, digits or _`,.[]"


def hub_key(hub: str) -> str:
    """Hubs match case-insensitively (REST may say ``Chat_Hub``, a client ``chat_hub``).

    >>> hub_key("Chat_Hub")
    'chat_hub'
    """
    return hub.lower()


def group_name_problem(group: Any) -> str | None:
    """Why ``group`` is not a valid group name, or ``None`` if it is.

    >>> group_name_problem("lab") is None
    True
    """
    if not isinstance(group, str):
        return f"group name must be a string, got {type(group).__name__}"
    if not group:
        return "group name is empty; use 1 to 1024 characters that are not all whitespace"
    if len(group) > MAX_GROUP_LENGTH:
        return f"group name is {len(group)} characters long; the limit is {MAX_GROUP_LENGTH}"
    if group.isspace():
        return "group name is only whitespace; use 1 to 1024 characters that are not all whitespace"
    if not group.isascii():
        try:
            group.encode("utf-8")
        except UnicodeEncodeError as exc:
            # JSON allows "\ud800" escapes; such a name could never be sent back in a UTF-8 frame.
            return (
                f"group name has an unpaired surrogate {group[exc.start]!r} at position {exc.start}; "
                "use valid Unicode text"
            )
    return None


def id_problem(kind: str, value: Any) -> str | None:
    """Why a connectionId / userId is unusable (they only need to be non-empty strings).

    >>> id_problem("userId", "")
    "userId must be a non-empty string, got ''"
    """
    if isinstance(value, str) and value:
        return None
    return f"{kind} must be a non-empty string, got {value!r}"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an IP address) is this machine only: ``localhost`` or a loopback address.

    >>> is_loopback_host("127.0.0.1"), is_loopback_host("::1"), is_loopback_host("localhost")
    (True, True, True)
    >>> is_loopback_host("0.0.0.0"), is_loopback_host("example.org")
    (False, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
