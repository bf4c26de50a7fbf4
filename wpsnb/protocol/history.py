"""History for late watchers, over the group itself: the messages and the merging rules (sans-I/O).

Web PubSub keeps no history of a group, and a watcher that joins late would see nothing from before it
joined. So the *publisher* keeps its last lines, and a watcher asks for them with an ordinary group
message; the publisher answers on the group. Nothing but ``joinGroup`` and ``sendToGroup`` is used,
so it works on Azure exactly as on the local service (see ``docs/history.md``).

Control messages are JSON objects with a top-level ``"wpsnb"`` key; viewers hide them::

    {"wpsnb": "history-request", "v": 1, "request": "3f2a...", "limit": 1000}
    {"wpsnb": "history", "v": 1, "publisher": "9c1e...", "requests": ["3f2a..."], "through": 1234,
     "chunk": 0, "chunks": 2, "items": [[1233, "text", "epoch 3 loss 0.2\\n"], [1234, "json", {...}]]}

``through`` is the publisher's sequence number (its count of messages sent to the group) when it
answered; ``items`` are ``[seq, dataType, data]`` of its last messages, oldest first, cut into chunks
well under the service's 1 MB frame limit.

Merging (:class:`HistoryMerger`): a publisher sends its answer on the same connection as its live
messages, and one connection's messages reach a group in order. So of the messages a watcher receives
from that publisher, those before the answer are at most the tail of the history, and those after it
are new. The watcher shows the history items it has not already received live, then the live ones;
while it waits for answers (``wait`` seconds, less once one came) it holds the live messages back.
A publisher is known by ``publisher`` (a random id per publishing process: a restarted publisher is a
new one); its messages are recognised by the sender's ``fromUserId`` and their content. After a
reconnect the watcher asks again, and of each answer it shows only items past the last ``through``
it saw from that publisher and not received live since: the gap, in order, none twice.

Example::

    >>> log = HistoryLog(max_lines=1000)
    >>> log.record("text", "epoch 1\\n", lines=1), log.record("text", "epoch 2\\n", lines=1)
    (1, 2)
    >>> merger = HistoryMerger(wait=1.0)
    >>> request = merger.request(now=0.0)
    >>> merger.receive("text", "epoch 2\\n", "pub", now=0.1)       # live, held back while waiting
    []
    >>> answer = log.answer([request.request], publisher="p1")[0]
    >>> [e.data for e in merger.receive("json", answer, "pub", now=0.2)]
    []
    >>> [(e.kind, e.data) for e in merger.tick(now=1.5)]             # history first, nothing twice
    [('history', 'epoch 1\\n'), ('live', 'epoch 2\\n')]
"""

from __future__ import annotations

import json
import secrets
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

CONTROL_KEY = "wpsnb"
REQUEST = "history-request"
ANSWER = "history"
VERSION = 1
DEFAULT_HISTORY_LINES = 1_000
# An answer chunk's items, in characters of JSON: with the envelope and escaping, far under 1 MB.
MAX_CHUNK_CHARS = 256 * 1024
DEFAULT_WAIT = 1.0  # how long a watcher holds live messages back waiting for the first answer
DEFAULT_SETTLE = 0.25  # ... and after an answer, for other publishers' answers


def is_control(data_type: str, data: Any) -> bool:
    """Whether a group message is one of wpsnb's control messages (viewers hide them).

    >>> is_control("json", {"wpsnb": "history-request", "request": "x"}), is_control("json", {"step": 1})
    (True, False)
    """
    return data_type == "json" and isinstance(data, dict) and CONTROL_KEY in data


def new_id() -> str:
    """A random id for a request or a publishing process (16 hex digits).

    >>> len(new_id())
    16
    """
    return secrets.token_hex(8)


@dataclass(frozen=True)
class HistoryItem:
    """One message a publisher sent: its sequence number, ``dataType`` and data.

    >>> HistoryItem(3, "text", "a\\n").to_json()
    [3, 'text', 'a\\n']
    """

    seq: int
    data_type: str
    data: Any

    def to_json(self) -> list[Any]:
        return [self.seq, self.data_type, self.data]


@dataclass(frozen=True)
class HistoryRequest:
    """A watcher's request for the last ``limit`` lines (``None``: as many as the publisher keeps).

    >>> HistoryRequest("r1", 50).to_json()
    {'wpsnb': 'history-request', 'v': 1, 'request': 'r1', 'limit': 50}
    """

    request: str
    limit: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {CONTROL_KEY: REQUEST, "v": VERSION, "request": self.request, "limit": self.limit}


@dataclass(frozen=True)
class HistoryAnswer:
    """One chunk of a publisher's answer (see the module docs for the JSON)."""

    publisher: str
    requests: tuple[str, ...]
    through: int
    chunk: int
    chunks: int
    items: tuple[HistoryItem, ...]


def parse_control(data: Any) -> HistoryRequest | HistoryAnswer | None:
    """The control message in ``data`` (JSON data of a group message); ``None`` if it is not one we know.

    Malformed control messages are ``None`` too: another version's message must not stop a viewer.

    >>> parse_control({"wpsnb": "history-request", "v": 1, "request": "r1", "limit": 10})
    HistoryRequest(request='r1', limit=10)
    >>> parse_control({"step": 1}) is None
    True
    """
    if not isinstance(data, dict):
        return None
    kind = data.get(CONTROL_KEY)
    try:
        if kind == REQUEST:
            limit = data.get("limit")
            if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
                return None
            request = data["request"]
            return HistoryRequest(request, limit) if isinstance(request, str) else None
        if kind == ANSWER:
            items = tuple(
                HistoryItem(int(seq), str(data_type), value) for seq, data_type, value in data.get("items", ())
            )
            return HistoryAnswer(
                publisher=str(data["publisher"]),
                requests=tuple(str(r) for r in data.get("requests", ())),
                through=int(data["through"]),
                chunk=int(data["chunk"]),
                chunks=int(data["chunks"]),
                items=items,
            )
    except (KeyError, TypeError, ValueError):
        return None
    return None


# ---- the publisher's side --------------------------------------------------------------------------


@dataclass
class _Kept:
    item: HistoryItem
    lines: int
    chars: int


class HistoryLog:
    """What one publisher sent to its group: the last ``max_lines`` lines (at least), numbered.

    Call :meth:`record` for every message in the order they are sent, and :meth:`answer` to build the
    answer chunks for requests. Not thread-safe: the publisher records and answers under one lock, so an
    answer's ``through`` is exactly the messages sent before it. ``max_chars`` bounds the memory too.

    >>> log = HistoryLog(max_lines=2)
    >>> [log.record("text", f"{n}\\n", lines=1) for n in range(4)]
    [1, 2, 3, 4]
    >>> [item.data for item in log.items()]
    ['2\\n', '3\\n']
    """

    def __init__(self, max_lines: int = DEFAULT_HISTORY_LINES, max_chars: int = 8 * 1024 * 1024):
        if max_lines < 0:
            raise ValueError(f"max_lines must be >= 0, got {max_lines!r}")
        self.max_lines = max_lines
        self.max_chars = max_chars
        self.id = new_id()
        self.last_seq = 0
        self._kept: deque[_Kept] = deque()
        self._lines = 0
        self._chars = 0

    def record(self, data_type: str, data: Any, lines: int) -> int:
        """Number the message just sent and keep it; returns its sequence number."""
        self.last_seq += 1
        if self.max_lines == 0:
            return self.last_seq
        chars = len(data) if isinstance(data, (str, bytes)) else len(json.dumps(data, default=str))
        kept = self._kept
        kept.append(_Kept(HistoryItem(self.last_seq, data_type, data), lines, chars))
        self._lines += lines
        self._chars += chars
        # Keep at least max_lines lines: drop the oldest while the rest still hold them. Updates of a line
        # in progress count 0 lines, so the message count is bounded too.
        while len(kept) > 1 and (
            self._lines - kept[0].lines >= self.max_lines
            or self._chars > self.max_chars
            or len(kept) > 2 * self.max_lines + 16
        ):
            old = kept.popleft()
            self._lines -= old.lines
            self._chars -= old.chars
        return self.last_seq

    def items(self, limit: int | None = None) -> list[HistoryItem]:
        """The kept messages holding the last ``limit`` lines (default ``max_lines``), oldest first."""
        limit = self.max_lines if limit is None else min(limit, self.max_lines)
        if limit <= 0:
            return []
        chosen: list[HistoryItem] = []
        lines = 0
        for kept in reversed(self._kept):
            if lines >= limit and kept.lines:
                break
            chosen.append(kept.item)
            lines += kept.lines
        chosen.reverse()
        return chosen

    def answer(
        self, requests: list[str], limit: int | None = None, publisher: str | None = None
    ) -> list[dict[str, Any]]:
        """The answer to ``requests``: JSON chunks to send to the group, in order (at least one).

        >>> log = HistoryLog(); _ = log.record("text", "a\\n", 1)
        >>> chunk = log.answer(["r1"])[0]
        >>> chunk["through"], chunk["chunks"], chunk["items"]
        (1, 1, [[1, 'text', 'a\\n']])
        """
        pieces: list[list[list[Any]]] = [[]]
        size = 0
        for item in self.items(limit):
            encoded = item.to_json()
            item_size = len(json.dumps(encoded, default=str)) + 1
            if pieces[-1] and size + item_size > MAX_CHUNK_CHARS:
                pieces.append([])
                size = 0
            pieces[-1].append(encoded)
            size += item_size
        return [
            {
                CONTROL_KEY: ANSWER,
                "v": VERSION,
                "publisher": publisher or self.id,
                "requests": list(requests),
                "through": self.last_seq,
                "chunk": index,
                "chunks": len(pieces),
                "items": items,
            }
            for index, items in enumerate(pieces)
        ]


# ---- the watcher's side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """Something a watcher shows: a ``history`` item or a ``live`` message, in showing order.

    ``publisher`` and ``seq`` are known for history items (``None`` for live ones).
    """

    kind: Literal["history", "live"]
    data_type: str
    data: Any
    from_user_id: str | None = None
    publisher: str | None = None
    seq: int | None = None


@dataclass
class _Publisher:
    user: str | None
    through: int = 0  # the last answer's ``through``: items up to it have been shown or were superseded
    synced_at: int = 0  # the live-message counter when that answer was merged


@dataclass
class _Partial:
    user: str | None
    chunks: dict[int, HistoryAnswer] = field(default_factory=dict)


def _key(data_type: str, data: Any) -> tuple[str, Any]:
    if data_type == "json":
        return data_type, json.dumps(data, sort_keys=True, default=str)
    return data_type, data if isinstance(data, (str, bytes)) else repr(data)


class HistoryMerger:
    """A watcher's merge of publishers' history answers with live messages (see the module docs).

    Feed every group message to :meth:`receive` and call :meth:`tick` now and then (at
    :attr:`deadline`); both return the :class:`Entry` values to show, in order. Call :meth:`request`
    after joining (and after every new connection) and send the request it returns to the group.
    ``wait``: seconds to hold live messages back for the first answer; ``settle``: after an answer,
    how long to wait for other publishers' answers. ``keep_live``: live messages remembered for
    recognising them in a later answer.
    """

    def __init__(
        self,
        wait: float = DEFAULT_WAIT,
        settle: float = DEFAULT_SETTLE,
        limit: int | None = DEFAULT_HISTORY_LINES,
        keep_live: int = 10_000,
    ):
        self.wait = wait
        self.settle = settle
        self.limit = limit
        self.deadline: float | None = None  # when the held-back messages are shown (None: not waiting)
        self._request: str | None = None
        self._held_history: list[Entry] = []
        self._held_live: list[Entry] = []
        self._live: deque[tuple[int, str | None, tuple[str, Any]]] = deque(maxlen=keep_live)
        self._received = 0
        self._publishers: dict[str, _Publisher] = {}
        self._partial: dict[tuple[str, int, tuple[str, ...]], _Partial] = {}

    @property
    def waiting(self) -> bool:
        """Whether live messages are being held back for history answers."""
        return self.deadline is not None

    def request(self, now: float) -> HistoryRequest:
        """Start waiting for answers; returns the request to send to the group."""
        self._request = new_id()
        if self.deadline is None:
            self.deadline = now + self.wait
        return HistoryRequest(self._request, self.limit)

    def receive(self, data_type: str, data: Any, from_user_id: str | None, now: float) -> list[Entry]:
        """Take one group message; return what to show now (nothing while waiting, control messages hidden)."""
        if data_type == "json" and isinstance(data, dict) and CONTROL_KEY in data:
            control = parse_control(data)
            if isinstance(control, HistoryAnswer):
                return self._answer_chunk(control, from_user_id, now)
            return []
        self._received += 1
        self._live.append((self._received, from_user_id, _key(data_type, data)))
        entry = Entry("live", data_type, data, from_user_id)
        if self.deadline is not None:
            self._held_live.append(entry)
            return []
        return [entry]

    def tick(self, now: float) -> list[Entry]:
        """What to show at ``now``: the held-back history and live messages once the wait is over."""
        if self.deadline is None or now < self.deadline:
            return []
        return self.release()

    def release(self) -> list[Entry]:
        """Stop waiting and return everything held back: history first, then live messages."""
        self.deadline = None
        shown = self._held_history + self._held_live
        self._held_history, self._held_live = [], []
        return shown

    def _answer_chunk(self, chunk: HistoryAnswer, user: str | None, now: float) -> list[Entry]:
        key = (chunk.publisher, chunk.through, chunk.requests)
        partial = self._partial.setdefault(key, _Partial(user))
        partial.chunks[chunk.chunk] = chunk
        if len(partial.chunks) < chunk.chunks:
            return []
        del self._partial[key]
        if len(self._partial) > 64:  # chunks of answers that will never complete (a publisher died)
            for stale in list(self._partial)[:-64]:
                del self._partial[stale]
        items = [item for index in sorted(partial.chunks) for item in partial.chunks[index].items]
        entries = self._merge(chunk.publisher, partial.user, chunk.through, items)
        if self.deadline is not None:
            self._held_history += entries
            self.deadline = min(self.deadline, now + self.settle)
            return []
        return entries  # a late answer: its news shown at once, after what is already shown

    def _merge(self, publisher: str, user: str | None, through: int, items: list[HistoryItem]) -> list[Entry]:
        known = self._publishers.get(publisher)
        if known is None:
            known = self._publishers[publisher] = _Publisher(user)
        if through <= known.through:
            return []  # an answer to someone else's request with nothing we lack
        candidates = [item for item in items if item.seq > known.through]
        # The live messages from this sender since the last answer we merged: those the answer holds are a
        # subsequence of its tail. Match from the end, so each live message accounts for one item at most.
        positions: dict[tuple[str, Any], list[int]] = {}
        for index, (number, sender, content) in enumerate(self._live):
            if number > known.synced_at and sender == user:
                positions.setdefault(content, []).append(index)
        seen = [False] * len(candidates)
        limit = len(self._live)
        for index in range(len(candidates) - 1, -1, -1):
            item = candidates[index]
            places = positions.get(_key(item.data_type, item.data))
            if not places:
                continue
            at = bisect_left(places, limit) - 1
            if at < 0:
                continue
            seen[index] = True
            limit = places[at]
        known.through = through
        known.synced_at = self._received
        known.user = user
        return [
            Entry("history", item.data_type, item.data, user, publisher, item.seq)
            for item, was_seen in zip(candidates, seen, strict=True)
            if not was_seen
        ]


__all__ = [
    "ANSWER",
    "CONTROL_KEY",
    "DEFAULT_HISTORY_LINES",
    "MAX_CHUNK_CHARS",
    "REQUEST",
    "Entry",
    "HistoryAnswer",
    "HistoryItem",
    "HistoryLog",
    "HistoryMerger",
    "HistoryRequest",
    "is_control",
    "new_id",
    "parse_control",
]
