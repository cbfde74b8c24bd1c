"""The servers under test: the GoChat platform (PostgreSQL, NATS, migrations, auth and API as
`make dev` starts them; the indexer is left out so it does not compete for the two cores),
the gateway processes (N sharing one port with SO_REUSEPORT, as one pod would run them), and
the centrifuge anchor. Every process is ours, started on free 127.0.0.1 ports and stopped by
its recorded handle."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from gochat import dev
from gochat.embedded import process

HOST = "127.0.0.1"
PAGE_SIZE = 4096


def start_platform(
    root: Path, *, api_workers: int = 1, log_to: TextIO | None = None
) -> dev.DevPlatform:
    """`api_workers` > 1 runs `gochat api --workers N` (one port, SO_REUSEPORT), as a pod would."""
    wanted = {"api", "auth"}
    services = [
        dev.Service(s.name, process.free_port(), s.command + _workers_flag(s.name, api_workers))
        for s in dev.available_services({})
        if s.name in wanted
    ]
    platform = dev.DevPlatform(
        root=root,
        services=services,
        pg_port=process.free_port(),
        nats_port=process.free_port(),
        nats_monitor_port=process.free_port(),
        output=log_to or io.StringIO(),
        ready_timeout=120,
    )
    platform.start()
    return platform


def _workers_flag(service: str, api_workers: int) -> tuple[str, ...]:
    # Only when asked: code pinned to a commit older than `--workers` must still start.
    return ("--workers", str(api_workers)) if service == "api" and api_workers > 1 else ()


@dataclass
class Servers:
    """Processes of one target (the gateway's N, or the anchor's one) and where to reach them."""

    name: str
    port: int
    url: str
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_paths: list[Path] = field(default_factory=list)

    def rss_bytes(self) -> int:
        """Resident memory of all the target's processes, from /proc/<pid>/statm."""
        total = 0
        for child in self.children:
            pages = Path(f"/proc/{child.pid}/statm").read_text().split()[1]
            total += int(pages) * PAGE_SIZE
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time of all the target's processes so far (/proc/<pid>/stat)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for child in self.children:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return total / ticks

    def signal(self, signum: int) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signum)

    def alive(self) -> bool:
        return all(child.poll() is None for child in self.children)

    def stop(self) -> None:
        process.stop_processes(self.children, timeout=15)


def start_gateways(
    platform: dev.DevPlatform,
    *,
    count: int,
    run_dir: Path,
    env: dict[str, str] | None = None,
    profile_dir: Path | None = None,
    cprofile: bool = True,
) -> Servers:
    """`count` gateway processes on one port; with `profile_dir`, each runs under cProfile
    and writes gateway-<i>.prof there when stopped (SIGTERM lets it exit normally)."""
    port = process.free_port()
    servers = Servers("gochat", port, f"ws://{HOST}:{port}/ws")
    child_env = {**platform.child_env(port=port), **(env or {})}
    for index in range(count):
        log_path = run_dir / f"gateway-{index}.log"
        servers.log_paths.append(log_path)
        with log_path.open("wb") as log_file:
            servers.children.append(
                process.spawn(
                    [sys.executable, *_profiler(profile_dir, index, cprofile=cprofile)],
                    log_file=log_file.fileno(),
                    env=child_env,
                    cwd=run_dir,
                )
            )
    _wait_http(servers, f"http://{HOST}:{port}/readyz", count=count)
    return servers


def _profiler(profile_dir: Path | None, index: int, *, cprofile: bool) -> list[str]:
    """How to start gateway `index`: plainly, under the GC/memory probe (probe_gateway.py),
    or under cProfile and the probe."""
    if profile_dir is None:
        return ["-m", "gochat", "ws"]
    probe = [str(Path(__file__).resolve().parent / "probe_gateway.py"), str(profile_dir)]
    if not cprofile:
        return probe
    return ["-m", "cProfile", "-o", str(profile_dir / f"gateway-{index}.prof"), *probe]


def start_anchor(binary: Path, *, nats_url: str, run_dir: Path) -> Servers:
    port = process.free_port()
    servers = Servers("anchor", port, f"ws://{HOST}:{port}/connection/websocket")
    log_path = run_dir / "anchor.log"
    servers.log_paths.append(log_path)
    with log_path.open("wb") as log_file:
        servers.children.append(
            process.spawn(
                [str(binary), "-addr", f"{HOST}:{port}", "-nats", nats_url],
                log_file=log_file.fileno(),
                env={"GOMAXPROCS": "2", "PATH": "/usr/bin:/bin"},
                cwd=run_dir,
            )
        )
    _wait_http(servers, f"http://{HOST}:{port}/healthz", count=1)
    return servers


def _wait_http(servers: Servers, url: str, *, count: int, timeout: float = 60) -> None:
    """Until `url` answers 200 (for N processes on one port: until every process is up, which
    their logs show, and the port answers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not servers.alive():
            servers.stop()
            tails = "\n".join(process.log_tail(p) for p in servers.log_paths)
            raise RuntimeError(f"{servers.name} exited at start:\n{tails}")
        if _answers(url) and _all_listening(servers, count):
            return
        time.sleep(0.2)
    servers.stop()
    raise RuntimeError(f"{servers.name} not ready after {timeout:.0f} s")


def _all_listening(servers: Servers, count: int) -> bool:
    """Whether each process holds a listening socket on the port: with SO_REUSEPORT a
    /readyz answer only proves that one of them is up."""
    wanted = f":{servers.port:04X}"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(wanted) and fields[3] == "0A":  # 0A: LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    listening = 0
    for child in servers.children:
        fds = Path(f"/proc/{child.pid}/fd")
        links = set()
        for fd in fds.iterdir():
            try:
                links.add(str(fd.readlink()))
            except OSError:
                continue
        listening += bool(links & inodes)
    return listening >= count


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
