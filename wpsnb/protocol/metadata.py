"""Message metadata: the small string map a message may carry, with the emulator's rules.

A client's ``sendToGroup`` / ``event`` may hold ``"metadata": {"key": "value"}``; a REST send carries it as
``X-WebPubSub-Metadata-<key>: <value>`` headers. Receivers get it as the message's ``metadata``. Keys are HTTP
token characters (letters, digits, ``!#$%&'*+-.^_`|~``), values ASCII; a key is at most 256 bytes, a value at
most 1,024, all of them together at most 8 KiB; a key may appear once.

>>> check_metadata([("trace-id", "abc"), ("stage", "train")])
{'trace-id': 'abc', 'stage': 'train'}
>>> check_metadata([("a", "1"), ("a", "2")])
Traceback (most recent call last):
ValueError: metadata key 'a' appears twice; give each key once
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MAX_KEY_BYTES = 256
MAX_VALUE_BYTES = 1024
MAX_TOTAL_BYTES = 8 * 1024
REST_HEADER_PREFIX = "x-webpubsub-metadata-"
_KEY = re.compile(r"^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$")


def check_metadata(pairs: Iterable[tuple[Any, Any]]) -> dict[str, str]:
    """The metadata as a dict, or ``ValueError`` saying which rule a key or value breaks."""
    result: dict[str, str] = {}
    total = 0
    for key, value in pairs:
        if not isinstance(value, str):
            raise ValueError(f"metadata value for key {key!r} must be a string, got {type(value).__name__}")
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(f"metadata key {key!r} has characters other than letters, digits and !#$%&'*+-.^_`|~")
        if not value.isascii():
            raise ValueError(f"metadata value for key {key!r} must be ASCII; percent-encode other text")
        if len(key) > MAX_KEY_BYTES:
            raise ValueError(f"metadata key {key[:32]!r}... is {len(key)} bytes; at most {MAX_KEY_BYTES}")
        if len(value) > MAX_VALUE_BYTES:
            raise ValueError(f"metadata value for key {key!r} is {len(value)} bytes; at most {MAX_VALUE_BYTES}")
        total += len(key) + len(value)
        if total > MAX_TOTAL_BYTES:
            raise ValueError(f"metadata is more than {MAX_TOTAL_BYTES} bytes (keys and values together)")
        if key in result:
            raise ValueError(f"metadata key {key!r} appears twice; give each key once")
        result[key] = value
    return result


def metadata_from_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str] | None:
    """The metadata of a REST send from its ``X-WebPubSub-Metadata-*`` headers (``None`` if there are none).

    Keys are lower-cased; a header given several times (or with commas) counts with its last value, as the
    emulator reads it.

    >>> metadata_from_headers([("X-WebPubSub-Metadata-Stage", "train"), ("Content-Type", "text/plain")])
    {'stage': 'train'}
    """
    items = headers.items() if isinstance(headers, Mapping) else headers
    found: dict[str, str] = {}
    for name, value in items:
        if len(name) > len(REST_HEADER_PREFIX) and name.lower().startswith(REST_HEADER_PREFIX):
            found[name[len(REST_HEADER_PREFIX) :].lower()] = value.rsplit(",", 1)[-1].strip()
    return check_metadata(found.items()) if found else None
