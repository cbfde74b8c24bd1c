"""A service process: refuses a bad config with one line, serves, and stops cleanly on SIGTERM
after finishing the requests in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from gochat.embedded import process

pytestmark = pytest.mark.slow


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "service died during start-up"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became ready")


def test_api_drains_in_flight_requests_on_sigterm(
    migrated_database: str, nats_server: object, tmp_path: Path
) -> None:
    port = process.free_port()
    env = {
        **os.environ,
        "GOCHAT_PG_DSN": migrated_database,
        "GOCHAT_PORT": str(port),
        "GOCHAT_NATS_URL": nats_server.url,  # type: ignore[attr-defined]
        "GOCHAT_SHUTDOWN_GRACE_SECONDS": "20",
    }
    env.pop("GOCHAT_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gochat", "api"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        results: list[int] = []

        def burst() -> None:
            with httpx.Client(timeout=30) as client:
                for _ in range(20):
                    try:
                        results.append(client.get(f"{url}/readyz").status_code)
                    except httpx.HTTPError:
                        results.append(-1)
                        return

        worker = threading.Thread(target=burst)
        worker.start()
        time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        worker.join(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.stdout.read().decode() if proc.stdout else ""
    assert code == 0, output
    # Requests either completed or were refused once the socket closed: never a 5xx.
    assert results and all(status in (200, -1) for status in results), results
    assert '"msg": "starting"' in output
