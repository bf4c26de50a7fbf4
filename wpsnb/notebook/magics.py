"""``%%publish GROUP``: publish a cell's output to a group while the cell runs.

``%load_ext wpsnb`` registers it. Options::

    %%publish GROUP [--hub HUB] [--no-tee] [--stream] [--source SOURCE] [--when-full block|drop] [--max-queued N]

``--source`` is a connection string, a ``/negotiate`` or client URL, or the name of a variable holding
one (or a ``wpsnb.LocalService``); by default the ``WebPubSubConnectionString`` variable, else a local
service started in this kernel. The cell runs as any cell does (IPython syntax, ``await``, the value of
its last line shown); its stdout, stderr, logging and progress bars are published line by line (see
:func:`wpsnb.publish_output`), and so is its traceback if it fails — the cell still fails as usual.
``--stream`` also publishes the run as a group stream: watchers see its start, its lines and its end,
aborted with the error when the cell fails (:mod:`wpsnb.notebook.run_stream`).

Example (in a notebook)::

    %load_ext wpsnb

    %%publish train
    for epoch in range(3):
        print(f"epoch {epoch}")
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import Any

import IPython
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..source import environment_connection_string
from .default_source import shared_local_service, shared_local_service_started, source_or_default
from .output_capture import publish_output

_IPYTHON_DIR = str(Path(IPython.__file__).parent)


class CellFailed(Exception):
    """Raised by ``%%publish`` after its cell failed (the cell's own traceback was shown and published)."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the real one is already on screen.
        return [str(self)]


@magics_class
class PublishMagics(Magics):
    """The ``%%publish`` cell magic."""

    @magic_arguments()
    @argument("group", help="the group to publish the cell's output to")
    @argument("--hub", default="stream", help="the hub (default: stream)")
    @argument("--no-tee", action="store_true", help="publish without showing the output in the notebook")
    @argument(
        "--stream", action="store_true", help="also publish the run as a group stream (start, lines, end or error)"
    )
    @argument(
        "--source",
        default=None,
        help="connection string, /negotiate URL, client URL, or the name of a variable holding one or a "
        "LocalService (default: $WebPubSubConnectionString, else a local service in this kernel)",
    )
    @argument(
        "--when-full",
        choices=("block", "drop"),
        default="block",
        help="when the publish queue is full: wait briefly for room (block, default) or drop the line",
    )
    @argument(
        "--max-queued", type=int, default=20_000, help="writes the publish queue holds (a print is two; default 20000)"
    )
    @cell_magic
    def publish(self, line: str, cell: str) -> Any:
        """Publish what this cell writes (stdout, stderr, logging, progress bars, traceback) to a group."""
        args = parse_argstring(self.publish, line)
        if _needs_async(self.shell, cell):
            raise UsageError(
                "top-level await cannot run inside %%publish (the cell would need the kernel's own "
                "event loop, which is busy running this cell); in an async cell use\n"
                f"  with wpsnb.publish_output({args.group!r}):\n      await ..."
            )
        source = self._source(args.source)
        announce = source is None and not shared_local_service_started() and environment_connection_string() is None
        publisher = publish_output(
            args.group,
            source=source,
            hub=args.hub,
            tee=not args.no_tee,
            when_full=args.when_full,
            max_queued=args.max_queued,
            stream=args.stream,
        )
        if announce:
            service = shared_local_service()
            where = f"--hub {args.hub} --connection-string '{service.connection_string}'"
            print(
                f"wpsnb: publishing to a local service in this kernel ({service.endpoint}); watch it in a "
                f"terminal or a browser with\n  wpsnb tail {args.group} {where}\n  wpsnb watch {args.group} {where}",
                file=sys.stdout,
            )
        failed: BaseException | None = None
        with publisher, _output_recorded_once(self.shell):
            result = self.shell.run_cell(cell, store_history=False)
            failed = result.error_before_exec or result.error_in_exec
            if failed is not None:
                publisher.publish_exception(failed, _user_frames(failed.__traceback__))
        if failed is not None:
            said = " ".join(str(failed).split())
            raise CellFailed(
                f"the %%publish {args.group} cell failed with {type(failed).__name__}"
                f"{': ' + said if said else ''} (traceback above; published to group {args.group})"
            )
        return None

    def _source(self, value: str | None) -> Any:
        if value is None:
            return None
        value = value.strip("'\"")
        if value.isidentifier() and value in self.shell.user_ns:
            return self.shell.user_ns[value]
        return source_or_default(value)


def _needs_async(shell: Any, cell: str) -> bool:
    try:
        return bool(shell.should_run_async(cell, transformed_cell=shell.transform_cell(cell)))
    except Exception:  # a syntax error: let run_cell report it as usual
        return False


@contextmanager
def _output_recorded_once(shell: Any) -> Iterator[None]:
    """Run a nested ``run_cell`` without IPython wrapping ``sys.stdout.write`` / ``sys.stderr.write`` again.

    IPython 9 keeps each cell's output in its history by wrapping the streams' ``write`` for the length of
    ``run_cell`` (``InteractiveShell._tee``). This cell's own ``run_cell`` has already wrapped the stream
    the tee writes through to; a nested one would wrap the tee too, recording every write a second time
    (under the next cell's execution count) and putting another Python call in front of each write:
    about a quarter of a ``print`` in a kernel.
    """
    if not callable(getattr(shell, "_tee", None)):  # an IPython without output history
        yield
        return
    missing = object()
    before = shell.__dict__.get("_tee", missing)
    shell._tee = _not_recorded
    try:
        yield
    finally:
        if before is missing:
            del shell._tee
        else:
            shell._tee = before


def _not_recorded(channel: str) -> nullcontext[None]:
    return nullcontext()


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback without IPython's own leading frames (the published one starts in the cell)."""
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_IPYTHON_DIR):
        tb = tb.tb_next
    return tb


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%publish`` (``%load_ext wpsnb`` calls this).

    Example, in a notebook::

        %load_ext wpsnb
    """
    ipython.register_magics(PublishMagics)


__all__ = ["CellFailed", "PublishMagics", "load_ipython_extension"]
