"""`gochat api --workers N`: N processes on one port, all serving, stopped together.

Real processes on a real PostgreSQL and NATS: SO_REUSEPORT, signal forwarding and orphans are
properties of processes, not of an app served in-process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gochat.embedded import process

pytestmark = pytest.mark.slow


@contextmanager
def api_processes(
    dsn: str, nats_url: str, cwd: Path, *args: str, loop: str = "uvloop"
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = process.free_port()
    env = {
        **os.environ,
        "GOCHAT_PG_DSN": dsn,
        "GOCHAT_PORT": str(port),
        "GOCHAT_NATS_URL": nats_url,
        "GOCHAT_SHUTDOWN_GRACE_SECONDS": "20",
        "GOCHAT_EVENT_LOOP": loop,
    }
    env.pop("GOCHAT_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gochat", "api", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        yield proc, url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, _output(proc)
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became ready")


def _output(proc: subprocess.Popen[bytes]) -> str:
    return proc.stdout.read().decode() if proc.stdout and proc.poll() is not None else ""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _workers_answering(url: str, tries: int = 200) -> set[str]:
    """Worker indexes seen over fresh connections (the kernel picks a worker per connection)."""
    seen: set[str] = set()
    for _ in range(tries):
        with httpx.Client(timeout=5) as client:
            seen.add(client.get(f"{url}/healthz").headers.get("x-gochat-worker", "none"))
        if len(seen) == 2:
            break
    return seen


def _burst(url: str, results: list[int]) -> None:
    with httpx.Client(timeout=30) as client:
        for _ in range(20):
            try:
                results.append(client.get(f"{url}/readyz").status_code)
            except httpx.HTTPError:
                results.append(-1)
                return


def test_two_workers_share_the_port_and_stop_together_on_sigterm(
    migrated_database: str, nats_server: Any, tmp_path: Path
) -> None:
    with api_processes(migrated_database, nats_server.url, tmp_path, "--workers", "2") as (
        proc,
        url,
    ):
        workers = _children(proc.pid)
        assert len(workers) == 2
        assert _workers_answering(url) == {"0", "1"}
        metrics = httpx.get(f"{url}/metrics").text
        assert "gochat_http_requests_total" in metrics  # summed over both workers
        code, results = _sigterm_during_a_burst(proc, url)
    output = _output(proc)
    assert code == 0, output
    assert results and all(status in (200, -1) for status in results), results
    assert not [pid for pid in workers if _alive(pid)], "orphaned workers"


def _sigterm_during_a_burst(proc: subprocess.Popen[bytes], url: str) -> tuple[int, list[int]]:
    """SIGTERM while a burst of requests is in flight: the exit code and each request's status
    (-1: the connection failed once the server stopped)."""
    results: list[int] = []
    burst = threading.Thread(target=_burst, args=(url, results))
    burst.start()
    time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    burst.join(timeout=30)
    return code, results


def test_a_worker_that_dies_stops_the_service_with_an_error(
    migrated_database: str, nats_server: Any, tmp_path: Path
) -> None:
    with api_processes(migrated_database, nats_server.url, tmp_path, "--workers", "2") as (
        proc,
        _,
    ):
        workers = _children(proc.pid)
        os.kill(workers[0], signal.SIGKILL)
        code = proc.wait(timeout=60)
    output = _output(proc)
    assert code == 128 + signal.SIGKILL, output
    assert "worker exited unexpectedly" in output
    assert not [pid for pid in workers if _alive(pid)], "orphaned workers"


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_one_process_drains_in_flight_requests_on_sigterm_with_either_loop(
    migrated_database: str, nats_server: Any, tmp_path: Path, loop: str
) -> None:
    with api_processes(migrated_database, nats_server.url, tmp_path, loop=loop) as (proc, url):
        assert "x-gochat-worker" not in httpx.get(f"{url}/healthz").headers
        code, results = _sigterm_during_a_burst(proc, url)
    output = _output(proc)
    assert code == 0, output
    assert results and all(status in (200, -1) for status in results), results
    assert f'"loop": "{loop}"' in output
