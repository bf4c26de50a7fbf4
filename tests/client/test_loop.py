"""The shared background loop of the synchronous clients."""

from __future__ import annotations

import asyncio
import threading

import pytest

from wpsnb.client.loop import in_loop_thread, run, shared_loop
from wpsnb.errors import WrongThread


def test_one_loop_in_one_daemon_thread() -> None:
    loop = shared_loop()
    assert shared_loop() is loop and loop.is_running()
    threads = [t for t in threading.enumerate() if t.name == "wpsnb-client-loop"]
    assert len(threads) == 1 and threads[0].daemon
    assert not in_loop_thread()
    assert run(_on_loop_thread(), timeout=5) is True


async def _on_loop_thread() -> bool:
    return in_loop_thread()


def test_run_returns_results_and_raises_the_coroutines_errors() -> None:
    assert run(asyncio.sleep(0, result=7), timeout=5) == 7
    with pytest.raises(KeyError):
        run(_raise(KeyError("k")), timeout=5)
    with pytest.raises(asyncio.TimeoutError):  # the coroutine's own TimeoutError is not the caller's timeout
        run(_raise(asyncio.TimeoutError()), timeout=5)


async def _raise(error: BaseException) -> None:
    raise error


def test_a_timeout_cancels_the_coroutine() -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError, match="did not finish within 0.05 s"):
        run(forever(), timeout=0.05, what="forever()")
    assert cancelled.wait(5)


def test_run_from_the_loop_thread_refuses_instead_of_deadlocking() -> None:
    async def nested() -> str:
        inner = asyncio.sleep(0)
        try:
            run(inner, timeout=1, what="join_group()")
        except WrongThread as error:
            return str(error)
        return "no error"

    said = run(nested(), timeout=5)
    assert "join_group() blocks" in said and "callback" in said


def test_works_while_the_caller_runs_its_own_loop() -> None:
    async def caller() -> int:  # like a Jupyter cell: a loop is running in this thread
        return run(asyncio.sleep(0, result=3), timeout=5)

    assert asyncio.run(caller()) == 3
