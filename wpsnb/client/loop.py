"""The one background event loop that every synchronous :class:`~wpsnb.client.sync.Client` shares.

A daemon thread named ``wpsnb-client-loop`` runs it, started on first use. Because the loop has
its own thread, clients keep sending and receiving while the caller's thread is busy (a notebook
cell in a training loop), and calling from inside a running event loop (a Jupyter cell) is fine:
nothing here uses ``asyncio.run`` or re-enters the caller's loop.

Example::

    >>> async def answer() -> int:
    ...     return 42
    >>> run(answer(), timeout=5)
    42
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ..errors import WrongThread

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def shared_loop() -> asyncio.AbstractEventLoop:
    """The shared loop, started (in its daemon thread) on first call.

    >>> shared_loop() is shared_loop()
    True
    """
    global _loop, _thread
    loop = _loop
    if loop is not None:
        return loop
    with _lock:
        if _loop is None:
            ready = threading.Event()
            new_loop = asyncio.new_event_loop()

            def serve() -> None:
                asyncio.set_event_loop(new_loop)
                new_loop.call_soon(ready.set)
                new_loop.run_forever()

            _thread = threading.Thread(target=serve, name="wpsnb-client-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = new_loop
        return _loop


def in_loop_thread() -> bool:
    """Whether the caller runs on the shared loop's thread (inside a client callback).

    >>> in_loop_thread()
    False
    """
    return _thread is not None and threading.current_thread() is _thread


def run(coroutine: Coroutine[Any, Any, T], timeout: float | None = None, *, what: str = "this call") -> T:
    """Run ``coroutine`` on the shared loop and wait (at most ``timeout`` s) for its result.

    Raises :class:`~wpsnb.errors.WrongThread` if called from the loop thread itself, where waiting would
    deadlock; raises ``TimeoutError`` (and cancels the coroutine) when ``timeout`` passes.

    >>> import asyncio
    >>> run(asyncio.sleep(0, result=42), timeout=5)
    42
    """
    if in_loop_thread():
        coroutine.close()
        raise WrongThread(
            f"{what} blocks until the service answers, but it was called on the wpsnb event-loop "
            "thread (from a callback), where waiting would deadlock; use ack=False inside "
            "callbacks, or the AsyncClient"
        )
    future = asyncio.run_coroutine_threadsafe(coroutine, shared_loop())
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        if future.done():  # the coroutine itself raised a TimeoutError (e.g. AckTimeout)
            raise
        future.cancel()
        raise TimeoutError(f"{what} did not finish within {timeout:g} s") from None


def _forget_after_fork() -> None:
    # A forked child has no loop thread: start a new one on first use.
    global _loop, _thread, _lock
    _loop, _thread, _lock = None, None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


__all__ = ["in_loop_thread", "run", "shared_loop"]
