"""`gochat dev`'s supervisor: starts everything, prints URLs, and leaves no process behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gochat import dev
from gochat.embedded import process
from tests.fixtures import servers

FAKE_SERVICE = Path(__file__).with_name("fake_service.py")

# Runs the supervisor as `gochat dev` does (dev.run: signal handlers, table, watch, stop),
# with fake services; the platform's arguments arrive as JSON.
DRIVER = """
import json, sys
from pathlib import Path
from gochat import dev
spec = json.loads(sys.argv[1])
services = [dev.Service(s["name"], s["port"], tuple(s["command"])) for s in spec.pop("services")]
platform = dev.DevPlatform(root=Path(spec.pop("root")), services=services, **spec)
raise SystemExit(dev.run(platform))
"""


class RunningDev:
    """`gochat dev` with fake services in a subprocess; its output collected line by line."""

    def __init__(self, spec: dict[str, object]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", DRIVER, json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def exit_code(self, *, timeout: float = 60) -> int:
        """Wait for the runner to exit and for its last line of output."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_output(self, text: str, *, timeout: float = 60) -> None:
        found = process.wait_until(
            lambda: any(text in line for line in self.lines),
            timeout=timeout,
            alive=lambda: self.process.poll() is None,
        )
        assert found or any(text in line for line in self.lines), "\n".join(self.lines)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def fake_services(report_dir: Path, *, die_after: float | None = None) -> list[dict[str, object]]:
    extra = [] if die_after is None else ["--die-after", str(die_after)]
    command = [sys.executable, str(FAKE_SERVICE), str(report_dir), *extra]
    return [
        {"name": "api", "port": process.free_port(), "command": command},
        {"name": "auth", "port": process.free_port(), "command": command},
    ]


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (services, their children, postgres, nats)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_stop_signal_ends_services_nats_and_postgres_leaving_no_process(
    server_tmp_path: Path, stop_signal: signal.Signals
) -> None:
    tmp_path = server_tmp_path  # PostgreSQL's data must stay reachable by its own user
    services = fake_services(tmp_path)
    runner = RunningDev(
        {
            "root": str(tmp_path / "gochat"),
            "services": services,
            "migrate_command": [sys.executable, "-c", "print('migrations up to date')"],
            "pg_port": process.free_port(),
            "nats_port": process.free_port(),
            "nats_monitor_port": process.free_port(),
        }
    )
    try:
        runner.wait_for_output("GoChat is up")
        for service in services:
            assert f"http://127.0.0.1:{service['port']}/docs" in runner.output
        assert "migrate | migrations up to date" in runner.output
        assert "api | fake service listening" in runner.output
        assert "postgresql://gochat:gochat@127.0.0.1:" in runner.output
        started = descendants(runner.process.pid)
        reports = [json.loads(p.read_text()) for p in tmp_path.glob("*.env.json")]
        assert {r["pid"] for r in reports} | {r["grandchild"] for r in reports} <= started
        assert len(started) >= 2 * 2 + 2  # services, their sleeps, nats, postgres (+ backends)

        runner.process.send_signal(stop_signal)
        assert runner.exit_code() == 0
        assert runner.lines[-1] == "GoChat stopped"
    finally:
        if runner.process.poll() is None:
            runner.process.kill()
    assert process.wait_until(lambda: not any(alive(pid) for pid in started), timeout=5), [
        pid for pid in started if alive(pid)
    ]
    assert (tmp_path / "gochat" / "pg" / "pgdata" / "PG_VERSION").exists()


def test_a_dying_service_brings_the_platform_down_with_a_failure(
    tmp_path: Path, pg_server: servers.PostgresServer, nats_server: servers.NatsServer
) -> None:
    runner = RunningDev(
        {
            "root": str(tmp_path / "gochat"),
            "services": fake_services(tmp_path, die_after=2.0),
            "migrate_command": None,
            "pg_dsn": pg_server.dsn,
            "nats_url": nats_server.url,
        }
    )
    try:
        exit_code = runner.exit_code()
    finally:
        if runner.process.poll() is None:
            runner.process.kill()
    assert re.search(r"dev \| (api|auth) exited unexpectedly with code 3", runner.output)
    assert exit_code == 1
    reports = [json.loads(p.read_text()) for p in tmp_path.glob("*.env.json")]
    assert reports and not any(alive(r["pid"]) or alive(r["grandchild"]) for r in reports)


def test_a_failed_migration_stops_before_any_service_starts(
    tmp_path: Path, pg_server: servers.PostgresServer, nats_server: servers.NatsServer
) -> None:
    runner = RunningDev(
        {
            "root": str(tmp_path / "gochat"),
            "services": fake_services(tmp_path),
            "migrate_command": [sys.executable, "-c", "raise SystemExit('bad migration')"],
            "pg_dsn": pg_server.dsn,
            "nats_url": nats_server.url,
        }
    )
    assert runner.exit_code() == 1
    assert "gochat dev: gochat migrate failed with exit code 1" in runner.output
    assert "migrate | bad migration" in runner.output
    assert not list(tmp_path.glob("*.env.json"))


def test_services_get_exactly_the_platform_settings(
    tmp_path: Path,
    pg_server: servers.PostgresServer,
    nats_server: servers.NatsServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [name for name in os.environ if name.startswith("GOCHAT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GOCHAT_DEV_API_PORT", "1")  # the runner's own knob stays with it
    services = fake_services(tmp_path)
    platform = dev.DevPlatform(
        root=tmp_path / "gochat",
        services=[dev.Service(s["name"], s["port"], tuple(s["command"])) for s in services],  # type: ignore[arg-type]
        migrate_command=None,
        pg_dsn=pg_server.dsn,
        nats_url=nats_server.url,
        output=open(os.devnull, "w"),  # noqa: SIM115
    )
    try:
        platform.start()
        api_port, auth_port = services[0]["port"], services[1]["port"]
        assert platform.urls["api"] == f"http://127.0.0.1:{api_port}"
        env = json.loads((tmp_path / f"{api_port}.env.json").read_text())["env"]
    finally:
        platform.stop()
    root = tmp_path / "gochat"
    assert env == {
        "GOCHAT_PG_DSN": pg_server.dsn,
        "GOCHAT_NATS_URL": nats_server.url,
        "GOCHAT_PORT": str(api_port),
        "GOCHAT_HOST": "127.0.0.1",
        "GOCHAT_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
        "GOCHAT_JWT_KEYS_DIR": str(root / "jwt"),
        "GOCHAT_MAIL_OUTBOX_DIR": str(root / "mail"),
        "GOCHAT_BLOB_DIR": str(root / "files"),
        "GOCHAT_BLOB_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
        "GOCHAT_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
    }
    assert not platform.children


def test_real_services_join_when_their_module_exists() -> None:
    names = [service.name for service in dev.available_services({"GOCHAT_DEV_API_PORT": "9990"})]
    assert "api" in names
    for name, (module, _) in dev.SERVICE_MODULES.items():
        assert (name in names) == dev.module_exists(module)
    api = next(
        s for s in dev.available_services({"GOCHAT_DEV_API_PORT": "9990"}) if s.name == "api"
    )
    assert api.port == 9990
    assert api.command[1:] == ("-m", "gochat", "api")


def test_gochat_dev_reads_its_ports_and_servers_from_the_environment(tmp_path: Path) -> None:
    platform = dev.platform_from_env(
        root=tmp_path,
        env={
            "GOCHAT_DEV_AUTH_PORT": "9991",
            "GOCHAT_DEV_PG_PORT": "9992",
            "GOCHAT_NATS_URL": "nats://127.0.0.1:9993",
        },
    )
    assert {s.name: s.port for s in platform.services}["auth"] == 9991
    assert platform.postgres is not None and platform.postgres.port == 9992
    assert platform.nats is None and platform.nats_url == "nats://127.0.0.1:9993"
    with pytest.raises(dev.PlatformError, match="GOCHAT_DEV_API_PORT"):
        dev.platform_from_env(root=tmp_path, env={"GOCHAT_DEV_API_PORT": "eighty"})


@pytest.mark.skipif(not process.running_as_root(), reason="only root hands PostgreSQL over")
def test_dev_runs_from_a_checkout_other_users_cannot_enter_and_leaves_it_closed() -> None:
    """As a newcomer's `make dev` as root in a clone under /root or `mktemp -d`."""
    with servers.private_server_dir("gochat-home-") as home:
        home.chmod(0o700)
        checkout = home / "gochat"
        checkout.mkdir()
        modes = {folder: folder.stat().st_mode for folder in [checkout, *checkout.parents]}
        runner = RunningDev(
            {
                "root": str(checkout / ".gochat"),
                "services": fake_services(home),
                "migrate_command": [sys.executable, "-c", "print('migrations up to date')"],
                "pg_port": process.free_port(),
                "nats_port": process.free_port(),
                "nats_monitor_port": process.free_port(),
            }
        )
        try:
            runner.wait_for_output("GoChat is up")
            runner.process.send_signal(signal.SIGTERM)
            assert runner.exit_code() == 0
        finally:
            if runner.process.poll() is None:
                runner.process.kill()
            location = checkout / ".gochat" / "pg" / "pgdata-location"
            if location.exists():  # the cluster kept where its account can reach it
                shutil.rmtree(Path(location.read_text().splitlines()[0]).parent)
        assert location.exists()
        assert {folder: folder.stat().st_mode for folder in modes} == modes
