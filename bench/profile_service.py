"""Profile the wpsnb service under the fan-out load with py-spy (``pip install py-spy``).

``python -m bench.profile_service [--protocol plain|reliable] [--subscribers 100] [--groups 1] [--seconds 10]``
starts the service in a child process on CPU 0, connects the subscribers, attaches
``py-spy record`` to the service and keeps publishing bursts until it finishes. It prints the
functions with the most samples (self and inclusive) and writes the collapsed stacks (for a flame
graph) to ``--output``. It also prints the server's CPU time per delivered frame, which, unlike a
rate, does not move much when other processes share the machine.

Example::

    python -m bench.profile_service --protocol reliable --seconds 8 --output /tmp/reliable.txt
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .fanout import FanoutSettings, burst
from .machine import pin_to_cpu, raise_open_file_limit
from .servers import ServerProcess
from .targets import PLAIN, RELIABLE, Target

SERVICE_CODE = ("wpsnb/", "aiohttp/", "asyncio/")


def summarize(collapsed: Path, top: int = 25) -> str:
    """The functions with the most samples, self and inclusive, from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    lines = [f"{total} samples", "", "self %   function"]
    lines += [f"{100 * n / total:6.1f}   {name}" for name, n in own.most_common(top)]
    lines += ["", "incl %   function (wpsnb, aiohttp, asyncio)"]
    shown = [(name, n) for name, n in inclusive.most_common() if any(c in name for c in SERVICE_CODE)]
    lines += [f"{100 * n / total:6.1f}   {name}" for name, n in shown[:top]]
    return "\n".join(lines)


async def profile(protocol: str, subscribers: int, groups: int, seconds: float, output: Path, rate: int) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with ServerProcess("service", cpu=0) as service:
        target = await Target.service(service, protocol, groups=groups, subscribers=subscribers)
        settings = FanoutSettings(quiet_wait=0, retries=0, verbose=False)
        await burst(target, 200, service, settings=settings)  # warm-up
        recorder = subprocess.Popen(
            [
                py_spy,
                "record",
                "-p",
                str(service.pid),
                "-d",
                str(int(seconds)),
                "-r",
                str(rate),
                "-f",
                "raw",
                "-o",
                str(output),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        await asyncio.sleep(1.0)  # py-spy attaching
        delivered, cpu_before, start = 0, service.cpu(), time.perf_counter()
        while recorder.poll() is None:
            result = await burst(target, 2_000, service, settings=settings)
            delivered += 2_000 * target.per_group
            print(f"  {result.describe()}")
        used = service.cpu() - cpu_before
        elapsed = time.perf_counter() - start
        print(
            f"server CPU per delivered frame: {1e6 * used.total / delivered:.2f} us "
            f"(user {1e6 * used.user / delivered:.2f}, kernel {1e6 * used.system / delivered:.2f}); "
            f"{delivered / elapsed:,.0f} frames/s over {elapsed:.1f} s"
        )
        if recorder.returncode != 0:
            raise RuntimeError(f"py-spy failed: {recorder.stderr.read() if recorder.stderr else ''}")
        await target.close()
    print(summarize(output))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_service", description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", choices=("plain", "reliable"), default="plain")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--groups", type=int, default=1, help="spread the subscribers over this many groups")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--output", type=Path, default=Path("/tmp/wpsnb-service-profile.txt"))
    args = parser.parse_args(argv)
    pin_to_cpu(1)
    raise_open_file_limit()
    asyncio.run(
        profile(
            RELIABLE if args.protocol == "reliable" else PLAIN,
            args.subscribers,
            args.groups,
            args.seconds,
            args.output,
            args.rate,
        )
    )


if __name__ == "__main__":
    main()
