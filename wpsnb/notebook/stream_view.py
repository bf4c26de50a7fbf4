"""StreamView: a live view of the messages a Web PubSub connection receives, inline in a notebook.

It negotiates, connects, joins the groups, and shows every message as it arrives: text as a
monospace log that keeps whitespace, JSON pretty-printed and collapsible, binary as its size and a
hex preview, with group and sender; system events (connected, disconnected, joined, state
changes) styled apart. The page has pause/resume, clear, filters by group and text, follow-tail
with "jump to latest", and a box to publish to a group (a refusal, e.g. ``Forbidden``, is shown
inline with the service's reason).

It is a training-log viewer too (the page's ``training_log.js``): text is drawn like a terminal
(a ``\r`` update redraws its line in place, so a progress bar is one row), ``LogHandler`` records
read ``time LEVEL logger: message`` coloured by level, with a level filter and a search that matches
what a row shows; a Metrics tab charts the numeric fields of JSON messages and of log records'
``extra``. On joining a group it asks the group's publishers for their last ``group_history`` lines
(wpsnb's history protocol, ``docs/history.md``) and shows them before the live messages, none twice;
wpsnb's control messages are never shown.

It stays fast and bounded: the kernel keeps the last ``limit`` messages (default 10,000) and sends
new ones to the page in batches at most ``max_rate`` times a second (see :mod:`.feed`); the page
keeps ``limit`` records and renders at most ``rows`` of them.

Example::

    import wpsnb
    service = wpsnb.LocalService()
    view = wpsnb.StreamView(service, groups=["lab"], roles=["webpubsub.sendToGroup.lab"])
    view                                    # the widget; in plain IPython a text summary
    view.publish("hello")                   # to the first group; shows up in the view
    view.close()                            # disconnects (re-running the cell does this too)

``source`` is what every wpsnb entry point accepts (a connection string, a ``LocalService``, a
``/negotiate`` URL, a client access URL) or an existing :class:`wpsnb.Client`; ``None`` means the
same default as ``%%publish``: the connection string in ``WebPubSubConnectionString``, else one
local service shared by the whole kernel (so ``StreamView(groups=["train"])`` shows what
``%%publish train`` sends, offline). A client that the
view creates is closed by ``view.close()``; a client you pass in is yours: the view only stops
listening to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import traitlets

from ..protocol.history import DEFAULT_HISTORY_LINES, HistoryMerger, is_control
from ..protocol.messages import RELIABLE_PROTOCOL
from ..web import css, widget_esm
from .live_widget import LiveWidget, Record
from .message_records import message_record, record_text
from .snapshot import snapshot_html, snapshot_text

SUMMARY_LINES = 5


class StreamView(LiveWidget):
    """Shows the messages a connection receives; see the module docs.

    ``client`` is the :class:`wpsnb.Client` underneath (``view.client.send_to_group(...)`` works),
    ``records()`` the display records the kernel keeps, ``count``/``rate``/``state`` what the header shows.

    >>> import wpsnb
    >>> service = wpsnb.LocalService()
    >>> view = StreamView(service, groups=["lab"])
    >>> view.count, view.state, view.groups
    (0, 'connected', ['lab'])
    >>> view.close(); service.stop()
    """

    _esm = widget_esm("stream_view.js")
    _css = css("widgets.css", "vendor/uPlot.min.css", "training_log.css", "stream_view.css")
    publish_box = traitlets.Bool(True, help="Show the box that publishes to a group").tag(sync=True)

    def __init__(
        self,
        source: Any = None,
        hub: str | None = None,
        groups: Iterable[str] = (),
        roles: Iterable[str] | None = None,
        user_id: str | None = None,
        protocol: str = RELIABLE_PROTOCOL,
        *,
        limit: int = 10_000,
        rows: int = 1_000,
        max_rate: float = 20.0,
        history: int = 500,
        title: str | None = None,
        publish_box: bool = True,
        key: str | None = None,
        timeout: float = 10.0,
        journal_size: int = 10_000,
        record_to: str | None = None,
        group_history: int = DEFAULT_HISTORY_LINES,
    ):
        if isinstance(groups, str):
            raise TypeError(f"groups must be a list of group names, not the string {groups!r}: use groups=[{groups!r}]")
        self._groups = list(dict.fromkeys(groups))
        self._count = 0
        self._reason: str | None = None  # why the last connection ended
        self._unsubscribe: list[Any] = []
        self.group_history = group_history
        # One history merge per joined group (protocol/history.py); fed under _history_lock.
        self._mergers: dict[str, HistoryMerger] = {}
        self._history_lock = threading.Condition()
        self._held_seq: dict[int, int | None] = {}
        self._snapshot_id: str | None = None  # the snapshot output's display_id, once shown
        self._snapshot_at: tuple[int, int] = (-2, -1)  # (last record index, count) it shows
        self.client, self._owns_client, self._token_groups = _attach_client(
            source, hub=hub, groups=self._groups, roles=roles, user_id=user_id, protocol=protocol,
            journal_size=journal_size, record_to=record_to, ask_history=group_history > 0,
        )  # fmt: skip
        self.hub: str = self.client.async_client.hub
        self._joined: list[str] = []
        super().__init__(
            limit=limit, rows=rows, max_rate=max_rate, history=history, key=key,
            title=title if title is not None else f"StreamView · hub {self.hub}", publish_box=publish_box,
        )  # fmt: skip
        try:
            self._listen()
            self._start(timeout)
        except BaseException:
            self.close()
            raise

    # -- showing it (the widget, and a static snapshot for saved notebooks: see snapshot.py) --

    def _ipython_display_(self, **kwargs: Any) -> None:
        from IPython import get_ipython
        from IPython.display import display

        data, metadata = self._repr_mimebundle_()
        display(data, metadata=metadata, raw=True)
        if self._snapshot_id is None:
            self._snapshot_id = f"wpsnb-snapshot-{self._key}"
            shell = get_ipython()
            if shell is not None:
                shell.events.register("post_run_cell", self._refresh_snapshot)
        display(self._snapshot_bundle(), raw=True, display_id=self._snapshot_id)

    def _snapshot_bundle(self) -> dict[str, str]:
        records = self.feed.records()
        self._snapshot_at = (records[-1]["i"] if records else -1, self._count)
        summary = f"hub {self.hub} · groups {', '.join(self._joined) or '-'} · {self._count:,} messages"
        return {
            "text/html": snapshot_html(self._key, self.title, summary, records),
            "text/plain": snapshot_text(self.title, summary, records),
        }

    def _refresh_snapshot(self, *_result: Any) -> None:
        """Rewrite the snapshot output if there is news (after every cell run, and on close)."""
        if self._snapshot_id is None:
            return
        self.feed.flush()
        records = self.feed.records()
        if (records[-1]["i"] if records else -1, self._count) == self._snapshot_at:
            return
        from IPython.display import update_display

        try:
            update_display(self._snapshot_bundle(), raw=True, display_id=self._snapshot_id)
        except Exception:  # never break the user's cell for a snapshot
            pass

    # -- what users call --

    @property
    def state(self) -> str:
        """The client's connection state (``"connected"``, ``"recovering"``, ``"disconnected"``...)."""
        return str(getattr(self.client, "state", "unknown"))

    @property
    def connection_id(self) -> str | None:
        return getattr(self.client, "connection_id", None)

    @property
    def user_id(self) -> str | None:
        return getattr(self.client, "user_id", None)

    @property
    def groups(self) -> list[str]:
        """The groups this view joined (or was put in by its token)."""
        return list(self._joined)

    @property
    def count(self) -> int:
        """Messages received since the view was created (``clear()`` does not reset it)."""
        return self._count

    @property
    def rate(self) -> float:
        """Messages per second over the last couple of seconds."""
        return float(self.header.get("rate", 0.0))

    def publish(
        self,
        data: Any,
        group: str | None = None,
        data_type: str | None = None,
        *,
        ack: bool = True,
        timeout: float = 10.0,
    ) -> None:
        """Send ``data`` to ``group`` (default: the first group) through this view's connection.

        ``data_type`` defaults to ``"text"`` for a str, ``"binary"`` for bytes and ``"json"`` otherwise.
        Raises :class:`wpsnb.WebPubSubError` when the service refuses (e.g. ``Forbidden``: the
        connection needs the role ``webpubsub.sendToGroup`` or ``webpubsub.sendToGroup.<group>``).

        >>> view.publish({"step": 1, "loss": 0.5})           # doctest: +SKIP
        """
        if group is None:
            if not self._groups:
                raise ValueError("this view has no group to publish to: pass group='name'")
            group = self._groups[0]
        self.client.send_to_group(group, data, data_type=data_type, ack=ack, timeout=timeout)

    # -- connecting --

    def _listen(self) -> None:
        client = self.client
        self._unsubscribe = [
            client.on_message(self._on_message),
            client.on_connected(self._on_connected),
            client.on_disconnected(self._on_disconnected),
            client.on_state(self._on_state),
        ]
        if self.group_history > 0:
            threading.Thread(target=self._run_history_timer, name="wpsnb-streamview-history", daemon=True).start()

    def _start(self, timeout: float) -> None:
        client = self.client
        if self.state != "connected":
            self._system("connecting", f"connecting to hub {self.hub}")
            client.connect(timeout=timeout)
        for group in self._groups:
            if group in self._token_groups:
                self._joined.append(group)
                self._system("joined", f"in group {group} (from the access token)", group=group)
                self._ask_history(group)
                continue
            try:
                client.join_group(group, timeout=timeout)
            except Exception as error:  # shown in the view: the user sees why, the rest still works
                name = getattr(error, "name", type(error).__name__)
                self._system("error", f"could not join group {group}: {name}: {error}", group=group, level="error")
            else:
                self._joined.append(group)
                self._system("joined", f"joined group {group}", group=group)
                self._ask_history(group)
        self.feed.flush()

    def _on_message(self, message: Any) -> None:
        if is_control(message.data_type, message.data):
            pass  # wpsnb's history requests and answers: never shown, never counted
        else:
            self._count += 1
        merger = self._mergers.get(message.group) if message.group else None
        if merger is None:
            self.feed.push(message)
            return
        with self._history_lock:
            entries = merger.receive(message.data_type, message.data, message.from_user_id, time.monotonic())
            if merger.waiting:
                self._history_lock.notify_all()  # an answer may have moved the deadline
            if merger.waiting and not is_control(message.data_type, message.data):
                # Held back until the history is in: remember its sequenceId (the merge drops it).
                self._held_seq[id(message.data)] = message.sequence_id
            if len(entries) == 1 and entries[0].kind == "live" and entries[0].data is message.data:
                self.feed.push(message)  # shown as it came
                return
            self._push_entries(message.group, entries)

    def _push_entries(self, group: str, entries: list[Any]) -> None:
        for entry in entries:
            if entry.kind == "history":
                self._count += 1  # shown like any message (the live ones were counted on arrival)
            self.feed.push(_GroupEntry(group, entry, self._held_seq))

    def _ask_history(self, group: str) -> None:
        """Ask ``group``'s publishers for their last lines (on joining, and after a new connection)."""
        if self.group_history <= 0:
            return
        with self._history_lock:
            merger = self._mergers.setdefault(group, HistoryMerger(limit=self.group_history))
            request = merger.request(time.monotonic())
            self._history_lock.notify_all()
        try:
            self.client.send_to_group(group, request.to_json(), "json", no_echo=True, ack=False)
        except Exception as error:  # without sendToGroup on the group: live messages only
            self._system("history", f"cannot ask group {group} for history: {error}", group=group, level="warning")

    def _run_history_timer(self) -> None:
        # Shows what the mergers hold back once their wait for history answers is over.
        lock = self._history_lock
        with lock:
            while not self._closed:
                deadlines = [m.deadline for m in self._mergers.values() if m.deadline is not None]
                if not deadlines:
                    lock.wait(1.0)
                    continue
                now = time.monotonic()
                if now < min(deadlines):
                    lock.wait(min(deadlines) - now)
                    continue
                for group, merger in self._mergers.items():
                    self._push_entries(group, merger.tick(now))

    def _on_connected(self, connected: Any) -> None:
        self._reason = None
        user = f"userId {connected.user_id}" if connected.user_id else "no userId"
        self._system("connected", f"connected: connectionId {connected.connection_id}, {user}")
        previous, self._connection = getattr(self, "_connection", None), connected.connection_id
        if previous is not None and previous != connected.connection_id:
            # A new connection (the session was lost): ask for what was missed meanwhile.
            for group in list(self._mergers):
                threading.Thread(target=self._ask_history, args=(group,), daemon=True).start()

    def _on_disconnected(self, disconnected: Any) -> None:
        self._reason = getattr(disconnected, "message", None) or None
        self._system("disconnected", f"disconnected{': ' + self._reason if self._reason else ''}", level="warning")

    def _on_state(self, state: str) -> None:
        if state in ("recovering", "reconnecting", "closed"):
            self._system("state", f"state: {state}", level="warning")

    def _system(self, event: str, text: str, *, group: str | None = None, level: str = "info") -> None:
        self.feed.push(_SystemEvent(event, text, group, level))

    def _release(self) -> None:
        if self._snapshot_id is not None:
            self._refresh_snapshot()
            try:
                from IPython import get_ipython

                shell = get_ipython()
                if shell is not None:
                    shell.events.unregister("post_run_cell", self._refresh_snapshot)
            except ValueError:  # not registered (another shell)
                pass
        with self._history_lock:
            self._history_lock.notify_all()  # the history timer sees _closed and ends
        for unsubscribe in self._unsubscribe:
            try:
                unsubscribe()
            except Exception:
                pass
        self._unsubscribe.clear()
        if self._owns_client:
            self.client.close()

    # -- page requests --

    def _handle(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "publish":
            # The ack may take a while: never make the kernel's shell thread wait for it.
            threading.Thread(target=self._publish_from_page, args=(content,), daemon=True).start()
        else:
            super()._handle(kind, content)

    def _publish_from_page(self, content: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"kind": "publish-result", "id": content.get("id"), "ok": True}
        try:
            self.publish(
                content.get("data"), group=content.get("group") or None, data_type=content.get("dataType") or None
            )
        except Exception as error:
            name = getattr(error, "name", type(error).__name__)
            reply.update(ok=False, error={"name": name, "message": str(error)})
        self.send(reply)

    # -- records --

    def _convert(self, item: Any, wall_time: float, index: int) -> Record | None:
        if isinstance(item, _GroupEntry):
            record = message_record(item, wall_time)
            if item.history:
                record["history"] = True
            return record
        if is_control(getattr(item, "data_type", ""), getattr(item, "data", None)):
            return None
        if isinstance(item, _SystemEvent):
            return {
                "kind": "system",
                "t": wall_time * 1000,
                "event": item.event,
                "text": item.text,
                "group": item.group,
                "level": item.level,
            }
        return message_record(item, wall_time)

    def _header(self) -> dict[str, Any]:
        return {
            "state": self.state, "connectionId": self.connection_id, "userId": self.user_id, "hub": self.hub,
            "groups": list(self._joined), "count": self._count, "reason": self._reason,
            # Calls the client had to drop because callbacks fell too far behind (a flood the kernel
            # could not keep up with): the page shows them rather than silently counting less.
            "dropped": self.client.stats.get("callbacks_dropped", 0),
        }  # fmt: skip

    def _summary(self) -> str:
        header = self._header_now()
        user = f", user {header['userId']}" if header["userId"] else ""
        who = f"connection {header['connectionId']}{user}" if header["connectionId"] else ""
        count = f"{header['count']:,} message{'' if header['count'] == 1 else 's'}"
        lines = [
            f"StreamView · hub {self.hub} · {header['state']}{f' ({who})' if who else ''}",
            f"groups: {', '.join(header['groups']) or '-'} · {count} · {header['rate']:g}/s"
            + (f" · {header['dropped']:,} dropped (the kernel fell behind)" if header["dropped"] else ""),
        ]
        for record in self.feed.records()[-SUMMARY_LINES:]:
            lines.append("  " + record_text(record))
        return "\n".join(lines)


class _GroupEntry:
    """A group message as the history merge hands it out (history items are marked)."""

    __slots__ = ("data", "data_type", "from_user_id", "group", "history", "sequence_id")
    source = "group"

    def __init__(self, group: str, entry: Any, held_seq: dict[int, int | None]):
        self.group, self.data_type, self.data = group, entry.data_type, entry.data
        self.from_user_id, self.history = entry.from_user_id, entry.kind == "history"
        self.sequence_id = None if self.history else held_seq.pop(id(entry.data), None)


class _SystemEvent:
    __slots__ = ("event", "group", "level", "text")

    def __init__(self, event: str, text: str, group: str | None, level: str):
        self.event, self.text, self.group, self.level = event, text, group, level


def _attach_client(
    source: Any,
    *,
    hub: str | None,
    groups: list[str],
    roles: Iterable[str] | None,
    user_id: str | None,
    protocol: str,
    journal_size: int,
    record_to: str | None,
    ask_history: bool = False,
) -> tuple[Any, bool, set[str]]:
    """``(client, the view owns it, groups the access token already puts it in)``."""
    from ..client import Client

    if isinstance(source, Client):
        options = {"hub": hub, "roles": roles, "user_id": user_id, "record_to": record_to}
        given = [name for name, value in options.items() if value is not None]
        if given:
            raise ValueError(
                f"{', '.join(given)} only apply when StreamView creates the client; this Client was made "
                "with its own: pass them to wpsnb.Client(...) instead, or pass the source itself"
            )
        return source, False, set()
    from ..source import Source
    from .default_source import source_or_default

    # None: the environment's connection string, else the shared LocalService.
    source = Source.of(source_or_default(source))
    # A minted token can hold the groups (no joinLeaveGroup role needed).
    token_groups = source.token_options(groups=groups).get("groups", [])
    roles = list(roles) if roles else []
    if token_groups and ask_history:
        # Asking a group's publishers for history is a message to the group (docs/history.md).
        roles += [f"webpubsub.sendToGroup.{group}" for group in groups if f"webpubsub.sendToGroup.{group}" not in roles]
    # message_buffer=0: the view listens through a callback; nothing reads client.messages().
    client = Client(
        source,
        hub=hub or "stream",
        user_id=user_id,
        roles=roles or None,
        groups=token_groups or None,
        protocol=protocol,
        journal_size=journal_size,
        record_to=record_to,
        message_buffer=0,
    )
    return client, True, set(token_groups)
