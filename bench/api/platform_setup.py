"""The platform under test, started exactly as `make dev` starts it (gochat.dev.DevPlatform), on
free ports in its own folder outside any pytest temp tree; and facts about the machine."""

from __future__ import annotations

import os
import platform as host_platform
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from gochat import dev
from gochat.embedded import process

# ws and indexer consume the event stream: they would compete with the API for the 2 cores
# without being on the request path, so the benchmark runs what a send and a read touch.
SERVICES = ("api", "auth")


def start(*, log_path: Path, api_command: Sequence[str] | None = None) -> dev.DevPlatform:
    """`api_command` replaces `gochat api` (to run it under a profiler or from another tree).
    Free ports are chosen before the servers bind them, and other work on a shared machine
    may take one in between: a failed start is retried with new ports, twice."""
    for attempt in range(3):
        try:
            return _start_once(log_path=log_path, api_command=api_command)
        except (dev.PlatformError, process.ServerStartError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_once(*, log_path: Path, api_command: Sequence[str] | None) -> dev.DevPlatform:
    root = Path(tempfile.mkdtemp(prefix="gochat-bench-api-"))
    services = [
        dev.Service(
            s.name,
            process.free_port(),
            tuple(api_command) if api_command and s.name == "api" else s.command,
        )
        for s in dev.available_services({})
        if s.name in SERVICES
    ]
    running = dev.DevPlatform(
        root=root,
        services=services,
        pg_port=process.free_port(),
        nats_port=process.free_port(),
        nats_monitor_port=process.free_port(),
        output=log_path.open("a"),
        ready_timeout=90,
    )
    try:
        running.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return running


def stop(running: dev.DevPlatform) -> None:
    try:
        running.stop()
    finally:
        shutil.rmtree(running.root, ignore_errors=True)


def watched_pids(running: dev.DevPlatform) -> dict[str, tuple[int, bool]]:
    """name -> (pid, include children) for the CPU split. The API's children count: with
    `--workers N` its process is the supervisor and the workers are its children."""
    assert running.postgres is not None and running.postgres.pid is not None
    assert running.nats is not None and running.nats.pid is not None
    return {
        "api": (running.children["api"].pid, True),
        "auth": (running.children["auth"].pid, False),
        "postgres": (running.postgres.pid, True),
        "nats": (running.nats.pid, False),
    }


async def set_synchronous_commit(running: dev.DevPlatform, *, on: bool) -> None:
    """Server-wide, applied to the pools' open sessions by a configuration reload."""
    assert running.postgres is not None
    conn = await asyncpg.connect(running.postgres.admin_dsn)
    try:
        await conn.execute(f"ALTER SYSTEM SET synchronous_commit = {'on' if on else 'off'}")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


async def postgres_settings(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method",
                 "shared_buffers", "max_connections", "commit_delay")  # fmt: skip
        return {name: await conn.fetchval(f"SHOW {name}") for name in names}
    finally:
        await conn.close()


def machine(data_dir: Path) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?"
    )
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "free_h": subprocess.run(["free", "-h"], capture_output=True, text=True).stdout,
        "kernel": host_platform.release(),
        "python": host_platform.python_version(),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "data_filesystem": subprocess.run(
            ["df", "-T", str(data_dir)], capture_output=True, text=True
        ).stdout.splitlines()[-1],
    }
