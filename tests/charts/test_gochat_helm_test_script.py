"""The script of charts/gochat's `helm test` Pod (files/smoke_test.py), run as the Pod runs it
(the same env) against the platform started as `make dev` starts it: real PostgreSQL and NATS,
`gochat migrate`, every service as its own process."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gochat import dev
from gochat.embedded import process
from tests.charts.helm_support import CHARTS

pytestmark = pytest.mark.slow
SCRIPT = CHARTS / "gochat" / "files" / "smoke_test.py"


@pytest.fixture(scope="module")
def platform() -> Iterator[dev.DevPlatform]:
    root = Path(tempfile.mkdtemp(prefix="gochat-helm-test-"))
    services = [
        dev.Service(s.name, process.free_port(), s.command) for s in dev.available_services({})
    ]
    running = dev.DevPlatform(
        root=root,
        services=services,
        pg_port=process.free_port(),
        nats_port=process.free_port(),
        nats_monitor_port=process.free_port(),
        output=io.StringIO(),
        ready_timeout=90,
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


def run_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_helm_test_script_registers_logs_in_posts_and_reads_back(
    platform: dev.DevPlatform,
) -> None:
    urls = platform.urls
    env = {
        "GOCHAT_TEST_API": urls["api"],
        "GOCHAT_TEST_AUTH": urls["auth"],
        "GOCHAT_PG_DSN": urls["postgres"],
    }
    result = run_script(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "posted and read back" in result.stdout


def test_helm_test_script_fails_when_the_api_is_unreachable(platform: dev.DevPlatform) -> None:
    urls = platform.urls
    env = {
        "GOCHAT_TEST_API": f"http://127.0.0.1:{process.free_port()}",
        "GOCHAT_TEST_AUTH": urls["auth"],
        "GOCHAT_PG_DSN": urls["postgres"],
    }
    assert run_script(env).returncode != 0
