"""``publish_output``: publish everything a block of code writes to stdout and stderr, live.

While the block runs, ``sys.stdout`` and ``sys.stderr`` are replaced by tees: what is written still
reaches the original stream (unless ``tee=False``) and is also queued for a
:class:`~wpsnb.publishing.Publisher`, whose thread cuts it into lines and publishes them to
the group. Logging handlers that write to the original
stdout/stderr (``logging.basicConfig()`` in an earlier cell) are pointed at the tees too, and an
uncaught exception's traceback is published before it propagates. At the end everything queued is
flushed and a one-line summary is printed and published: ``published N lines to group G (M dropped)``.

What subscribers receive is terminal text (see :mod:`wpsnb.publishing.lines`): complete lines
end with ``"\\n"``, progress-bar updates start with ``"\\r"``; lines waiting together share a message.
Writes made by wpsnb's own threads (``wpsnb-*``) are shown but not published, so the client's own
warnings can never feed back into the stream.

Example::

    >>> import wpsnb
    >>> with wpsnb.publish_output("train") as published:       # doctest: +SKIP
    ...     for epoch in range(3):
    ...         print(f"epoch {epoch} loss {1 / (epoch + 1):.2f}")
    epoch 0 loss 1.00
    epoch 1 loss 0.50
    epoch 2 loss 0.33
    published 3 lines to group train (0 dropped)
    >>> published.stats.lines                                   # doctest: +SKIP
    3
"""

from __future__ import annotations

import logging
import sys
import traceback
from dataclasses import replace
from types import TracebackType
from typing import Any, TextIO

from ..advice import explain
from ..publishing.progress import ProgressCapture
from ..publishing.publisher import Publisher, PublishStats, WhenFull
from ..publishing.shared import shared_publisher
from ..publishing.tee import TeeStream
from ..source import Source
from .default_source import source_or_default
from .run_stream import RunStream

_active: list[OutputPublisher] = []  # blocks running now, innermost last (log_metrics publishes to it)


def active_publisher() -> Publisher | None:
    """The publisher of the innermost running ``publish_output`` block / ``%%publish`` cell, if any."""
    return _active[-1].publisher if _active else None


class OutputPublisher:
    """The context manager :func:`publish_output` returns; ``stats`` holds the outcome after the block."""

    def __init__(
        self,
        group: str,
        *,
        source: Any = None,
        hub: str = "stream",
        tee: bool = True,
        when_full: WhenFull = "block",
        block_timeout: float | None = 0.1,
        max_queued: int = 20_000,
        update_interval: float = 0.2,
        flush_timeout: float = 30.0,
        summary: bool = True,
        capture_logging: bool = True,
        user_id: str | None = None,
        fail_soft: bool = True,
        stream: bool = False,
        **publisher_options: Any,
    ):
        self.group = group
        self.stream = stream
        self.tee = tee
        self.update_interval = update_interval
        self.flush_timeout = flush_timeout
        self.summary = summary
        self.capture_logging = capture_logging
        self.stats: PublishStats | None = None
        self.source = source_or_default(source)
        self.hub = hub
        self.publisher_options = dict(
            user_id=user_id,
            when_full=when_full,
            block_timeout=block_timeout,
            max_queued=max_queued,
            update_interval=update_interval,
            fail_soft=fail_soft,
            **publisher_options,
        )
        self.publisher: Publisher | None = None
        self._before: PublishStats | None = None
        self._streams: dict[str, TeeStream] = {}
        self._originals: dict[str, TextIO] = {}
        self._handlers: list[tuple[logging.StreamHandler[Any], TextIO]] = []
        self._progress: ProgressCapture | None = None
        self._run: RunStream | None = None  # the run as a group stream (stream=True)
        self._failed: BaseException | None = None

    def __enter__(self) -> OutputPublisher:
        # One publisher per group for the life of the process: it keeps the lines for late watchers.
        publisher = self.publisher = shared_publisher(self.group, self.source, hub=self.hub, **self.publisher_options)
        self._before = replace(publisher.stats)
        if publisher.connect_error is not None:
            source = Source.of(self.source)
            said = explain(publisher.connect_error, source.kind, "notebook", where=source.describe())
            print(
                f"wpsnb: cannot publish to group {self.group}: {said}. The cell runs anyway; publishing resumes "
                "once the service is reachable",
                file=sys.stderr,
            )
        sink: Any = publisher
        if self.stream:
            self._run = RunStream.open(publisher.client, self.group)
            if self._run is not None:
                sink = _BothSinks(publisher, self._run)
        for index, name in enumerate(("stdout", "stderr")):
            original = getattr(sys, name)
            stream = TeeStream(original, sink, index, tee=self.tee)
            self._originals[name] = original
            self._streams[name] = stream
            setattr(sys, name, stream)
        if self.capture_logging:
            self._redirect_logging()
        self._progress = ProgressCapture(publisher, first_stream=2).start()
        _active.append(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.publish_exception(exc)
        self.stop()

    def publish_exception(self, exc: BaseException, tb: TracebackType | None = None) -> None:
        """Publish ``exc``'s traceback (``tb``, default its own) as plain text lines, as Python prints it.

        With ``stream=True`` the run's group stream then ends with ``exc`` as its error."""
        self._failed = exc
        if self.publisher is None:
            return
        self.publisher.end_lines()
        text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
        for line in text.splitlines():
            self.publisher.put_text(line + "\n", 1)

    def stop(self) -> PublishStats:
        """Restore the streams, flush, print and publish the summary; return the stats (idempotent).

        The publisher stays open (it answers late watchers); ``stats`` counts this block only.
        """
        if self.stats is not None:
            return self.stats
        publisher = self.publisher
        assert publisher is not None and self._before is not None, "stop() before the block started"
        if self in _active:
            _active.remove(self)
        if self._progress is not None:
            self._progress.stop()
        self._restore_logging()
        for name, stream in self._streams.items():
            if getattr(sys, name) is stream:  # someone else may have replaced it meanwhile: leave theirs
                setattr(sys, name, self._originals[name])
        publisher.end_lines()
        if self._run is not None:
            self._run.finish(self._failed)
            self._run = None
        # Unreachable or reconnecting: do not hold the notebook for the whole flush timeout.
        reachable = publisher.connected and publisher.client is not None and publisher.client.state == "connected"
        flushed = publisher.flush(self.flush_timeout if reachable else min(self.flush_timeout, 1.0))
        stats = publisher.stats.since(self._before)
        if not flushed:
            stats.unconfirmed += publisher.pending_lines()
        if self.summary and flushed and publisher.connected:  # (published only when it is the whole truth)
            publisher.put_text(stats.summary() + "\n", 0)
        self.stats = stats
        if self.summary:
            print(stats.summary(), file=self._originals.get("stdout", sys.stdout))
        return stats

    # Handlers created before the block hold the original streams, not sys.stdout/sys.stderr.
    def _redirect_logging(self) -> None:
        targets = {id(self._originals[name]): self._streams[name] for name in self._originals}
        loggers: list[Any] = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        for logger in loggers:
            for handler in getattr(logger, "handlers", ()):
                stream = getattr(handler, "stream", None)
                if isinstance(handler, logging.StreamHandler) and id(stream) in targets:
                    self._handlers.append((handler, stream))
                    handler.setStream(targets[id(stream)])

    def _restore_logging(self) -> None:
        for handler, original in self._handlers:
            if handler.stream in self._streams.values():
                handler.setStream(original)
        self._handlers.clear()


def publish_output(
    group: str,
    *,
    source: Any = None,
    hub: str = "stream",
    tee: bool = True,
    when_full: WhenFull = "block",
    block_timeout: float | None = 0.1,
    max_queued: int = 20_000,
    update_interval: float = 0.2,
    flush_timeout: float = 30.0,
    summary: bool = True,
    capture_logging: bool = True,
    user_id: str | None = None,
    fail_soft: bool = True,
    stream: bool = False,
    **publisher_options: Any,
) -> OutputPublisher:
    """Publish what the ``with`` block writes to stdout/stderr to ``group``, line by line, while it runs.

    ``source``: connection string, ``LocalService``, ``/negotiate`` URL or client URL; default: the
    ``WebPubSubConnectionString`` / ``WEBPUBSUB_CONNECTION_STRING`` variable, else a local service started
    in this process. ``tee=False`` publishes without showing. ``when_full``/``block_timeout``/``max_queued``
    (counted in writes; a ``print`` is two): the full-queue policy (:mod:`wpsnb.publishing.publisher`).
    ``update_interval``: at most one update of a progress line per this many seconds. ``flush_timeout``: how
    long the end waits for acknowledgements.
    ``summary``: print and publish ``published N lines to group G (M dropped)``. ``fail_soft``: when the
    service cannot be reached, run the block anyway with one warning line (the summary counts what could
    not be published; publishing resumes once it is reachable). The publisher outlives the block: one per
    group for the life of the process, so watchers that open later get its last lines. ``stream=True`` also
    publishes the run as a group stream (:mod:`wpsnb.notebook.run_stream`): its start, its lines, and its
    end, aborted with the exception when the block raised. Further keywords
    (``max_message_chars``, ``linger``, ``history``) go to the :class:`Publisher`.

    >>> with publish_output("train", source=service):           # doctest: +SKIP
    ...     print("epoch 1")
    epoch 1
    published 1 line to group train (0 dropped)
    """
    return OutputPublisher(
        group,
        source=source,
        hub=hub,
        tee=tee,
        when_full=when_full,
        block_timeout=block_timeout,
        max_queued=max_queued,
        update_interval=update_interval,
        flush_timeout=flush_timeout,
        summary=summary,
        capture_logging=capture_logging,
        user_id=user_id,
        fail_soft=fail_soft,
        stream=stream,
        **publisher_options,
    )


class _BothSinks:
    """A tee's sink that queues for the publisher and hands the same write to the run's stream."""

    def __init__(self, publisher: Publisher, run: RunStream):
        self._put = publisher.put
        self._run_put = run.put

    def put(self, item: tuple[int, str]) -> bool:
        self._run_put(item)
        return self._put(item)


__all__ = ["OutputPublisher", "active_publisher", "publish_output"]
