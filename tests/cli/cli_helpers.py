"""Running the ``wpsnb`` command as users do: a subprocess, with its output read as it comes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("wpsnb")
WPSNB = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "wpsnb.cli"]
SOURCE_VARIABLES = ("WebPubSubConnectionString", "WEBPUBSUB_CONNECTION_STRING")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any service variable (plus ``extra``)."""
    env = {key: value for key, value in os.environ.items() if key not in SOURCE_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_wpsnb(
    *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``wpsnb ARGS`` to completion."""
    data = input.decode() if isinstance(input, bytes) else input
    return subprocess.run(
        [*WPSNB, *args],
        input=data,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else clean_env(),
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], status: int, *phrases: str) -> str:
    """The command failed with ``status`` and said why in one line naming itself (no traceback)."""
    error = result.stderr.strip()
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "\n" not in error, f"more than one line: {result.stderr!r}"
    assert "Traceback" not in result.stderr
    command = next((arg for arg in result.args[len(WPSNB) :] if not arg.startswith("-")), "")
    assert error.startswith(f"wpsnb {command}: "), error
    for phrase in phrases:
        assert re.search(phrase, error), (phrase, error)
    return error


class Background:
    """A long-running ``wpsnb`` command (serve, demo, tail); its stdout/stderr collected line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None):
        self.args = args
        self.process = subprocess.Popen(
            [*WPSNB, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env if env is not None else clean_env(),
            bufsize=1,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, pipe: object, lines: list[str]) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            with self._changed:
                lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, stream: str = "stdout", timeout: float = 30) -> re.Match[str]:
        """Wait until ``pattern`` matches the output so far; return the match."""
        lines = self.stdout if stream == "stdout" else self.stderr
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                match = re.search(pattern, "".join(lines))
                if match:
                    return match
                if self.process.poll() is not None and not any(r.is_alive() for r in self._readers):
                    raise AssertionError(
                        f"wpsnb {' '.join(self.args)} exited with {self.process.returncode}:\n"
                        f"{''.join(self.stdout)}\n{''.join(self.stderr)}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{pattern!r} not in the {stream} of wpsnb {' '.join(self.args)} after "
                        f"{timeout} s:\n{''.join(lines)}\n--- stderr:\n{''.join(self.stderr)}"
                    )
                self._changed.wait(min(remaining, 0.2))

    def interrupt(self, timeout: float = 20) -> int:
        """Ctrl-C, as a user would; return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"wpsnb {' '.join(self.args)} did not stop on Ctrl-C") from None
        for reader in self._readers:
            reader.join(10)
        return status

    def output(self) -> str:
        return "".join(self.stdout)

    def errors(self) -> str:
        return "".join(self.stderr)


def seq(count: int) -> str:
    """What ``seq 1 COUNT`` prints."""
    return "".join(f"{n}\n" for n in range(1, count + 1))


__all__ = ["WPSNB", "Background", "assert_one_line_failure", "clean_env", "run_wpsnb", "seq"]
