"""The machine as the benchmarks see it: CPU pinning, file-descriptor limits, CPU and memory use
of a process, and waiting for a quiet machine before a measurement.

The fan-out numbers are CPU-bound on a 2-core machine, so the server runs on CPU 0 and the load
generator on CPU 1 (as for the library baselines in docs/send-path.md), and a round during which other processes used
more than a fifth of a core is not to be trusted.

Example::

    pin_to_cpu(1)
    before = process_cpu(pid)
    ...                                   # the measurement
    used = process_cpu(pid) - before      # CPU seconds (user, system)
"""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FOREIGN_LOAD_LIMIT = 0.2  # share of one core other processes may use during a clean measurement


def pin_to_cpu(cpu: int | None, pid: int = 0) -> None:
    """Pin ``pid`` (0: this process) to one CPU, if the machine has it; ``None`` leaves it alone.

    A child inherits its parent's pinning, so this checks against every CPU of the machine.
    """
    if cpu is None:
        return
    if cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(pid, {cpu})


def raise_open_file_limit(wanted: int = 1 << 20) -> int:
    """Raise this process's RLIMIT_NOFILE soft limit as far as the hard limit allows; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds spent in user and kernel mode."""

    user: float
    system: float

    @property
    def total(self) -> float:
        return self.user + self.system

    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(self.user - other.user, self.system - other.system)


def process_cpu(pid: int | None = None) -> CpuTimes:
    """CPU time of a process and all its threads (``None``: this process)."""
    if pid is None:
        times = os.times()
        return CpuTimes(times.user, times.system)
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return CpuTimes(int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS)


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (from ``/proc/stat``)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of a process (``None``: this process)."""
    with open(f"/proc/{pid or 'self'}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass(frozen=True)
class CpuUse:
    """Who used the CPU during a measurement, in cores (CPU seconds per elapsed second)."""

    server: float
    server_kernel_share: float
    own: float
    foreign: float

    @property
    def clean(self) -> bool:
        """Whether other processes stayed under the foreign-load limit."""
        return self.foreign <= FOREIGN_LOAD_LIMIT


class CpuWatch:
    """Measures CPU use of a server process, this process and everyone else from now on.

    >>> watch = CpuWatch(server_pid)        # doctest: +SKIP
    >>> ...; use = watch.stop(elapsed)      # doctest: +SKIP
    """

    def __init__(self, server_pid: int):
        self._pid = server_pid
        self._server, self._own, self._busy = process_cpu(server_pid), process_cpu(), machine_busy_seconds()

    def stop(self, elapsed: float) -> CpuUse:
        server = process_cpu(self._pid) - self._server
        own = process_cpu() - self._own
        foreign = max(0.0, machine_busy_seconds() - self._busy - server.total - own.total)
        return CpuUse(
            server.total / elapsed,
            server.system / server.total if server.total else 0.0,
            own.total / elapsed,
            foreign / elapsed,
        )


def describe_cpu(use: CpuUse) -> str:
    """``server CPU 98% (kernel 20%)   load generator 60%   others 3%``"""
    return (
        f"server CPU {use.server:4.0%} (kernel {use.server_kernel_share:3.0%})   "
        f"load generator {use.own:4.0%}   others {use.foreign:4.0%}"
    )


def wait_for_quiet(max_wait: float, window: float = 0.3) -> float:
    """Wait until the machine's load over ``window`` is below the foreign-load limit.

    Returns the last measured load (in cores); gives up after ``max_wait`` seconds so a busy
    machine slows the benchmark down but never stalls it. ``max_wait <= 0`` does not wait at all.
    """
    if max_wait <= 0:
        return 0.0
    deadline = time.monotonic() + max_wait
    while True:
        start_busy, start = machine_busy_seconds(), time.monotonic()
        time.sleep(window)
        load = (machine_busy_seconds() - start_busy) / (time.monotonic() - start)
        if load < FOREIGN_LOAD_LIMIT or time.monotonic() >= deadline:
            return load


def describe() -> str:
    """One line about this machine for the results table."""
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs ({model or platform.machine()}), {memory:.0f} GiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )
