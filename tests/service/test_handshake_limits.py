"""Attacks on the HTTP front door (issue 16, items 2 and 3), against a service in its own process:

* slowloris — more half-open requests than the service has file descriptors: the handshake timeout
  frees them, ``accept()`` backs off instead of spinning, and a real client still gets in;
* log flooding — garbage and oversized requests from an unauthenticated client give one short,
  rate-limited log line, not a traceback each.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from official_sdk import mint_url
from service_wire import PLAIN, open_client

HERE = Path(__file__).parent


@contextmanager
def limited_service(*args: str) -> Iterator[tuple[dict[str, Any], subprocess.Popen[str]]]:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "limited_service.py"), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = json.loads(process.stdout.readline())  # type: ignore[union-attr]
        yield started, process
    finally:
        process.stdin.close()  # type: ignore[union-attr]
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime in clock ticks


async def test_slowloris_beyond_the_fd_limit_does_not_lock_clients_out() -> None:
    files, attackers = 64, 150  # more half-open requests than the service can hold at once
    with limited_service("--files", str(files), "--handshake-timeout", "1.0") as (started, process):
        port = started["port"]
        held: list[socket.socket] = []
        for _ in range(attackers):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /client/hubs/x HTTP/1.1\r\nHost: a\r\n")  # never finished
            held.append(sock)
        cpu_before, started_at = cpu_seconds(process.pid), time.monotonic()
        await asyncio.sleep(2.0)
        for sock in held:  # the attacker keeps trickling bytes and never lets go
            try:
                sock.send(b"X")
            except OSError:
                pass
        url = mint_url(started["connection_string"], "lockout")
        # The client waits in the listen backlog behind the attackers, who are let in (and timed out) in turn.
        async with asyncio.timeout(20):
            while True:
                try:
                    async with open_client(url, PLAIN) as client:
                        await client.send({"type": "ping"})
                        assert (await client.recv())["type"] == "pong"
                        break
                except TimeoutError:
                    continue  # the 5 s opening handshake ran out while queued; try again
        busy = (cpu_seconds(process.pid) - cpu_before) / (time.monotonic() - started_at)
        for sock in held:
            sock.close()
        assert busy < 0.5, f"the service used {busy:.0%} of a CPU while out of descriptors (spinning)"
    log = process.stderr.read()  # type: ignore[union-attr]
    assert "Traceback" not in log, log[-3000:]
    starving = [line for line in log.splitlines() if "cannot accept connections" in line]
    assert 1 <= len(starving) <= 3, starving  # once per interval, not once per failed accept()


async def test_garbage_and_oversized_requests_log_one_short_line() -> None:
    requests = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello on the HTTP port
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",  # header line too long
        b"GET /" + b"p" * 100_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",  # request line too long
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n",  # invalid header value
        b"NOT HTTP AT ALL\r\n\r\n",
    ] * 20
    with limited_service() as (started, process):
        for request in requests:
            with socket.create_connection(("127.0.0.1", started["port"])) as sock:
                try:
                    sock.sendall(request)
                    sock.settimeout(5)
                    sock.recv(4096)
                except OSError:
                    pass
    log = process.stderr.read()  # type: ignore[union-attr]
    assert "Traceback" not in log, log[:3000]
    refused = [line for line in log.splitlines() if "malformed HTTP request" in line]
    assert 1 <= len(refused) <= 2, log[:3000]  # one line per 10 s, whatever the number of requests
    assert all(len(line) < 400 for line in refused), refused
    assert len(log) < 2000, f"{len(log)} bytes of log for {len(requests)} bad requests"
