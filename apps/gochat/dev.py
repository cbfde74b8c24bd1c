"""`gochat dev` (behind `make dev`): the whole platform on one machine, every part a real process.

PostgreSQL and NATS start from their wheels (unless GOCHAT_PG_DSN / GOCHAT_NATS_URL name
servers already running); with `--backends production` (`make dev BACKENDS=production`)
Cassandra, OpenSearch and MinIO start too and the services use them for messages, search and
attachments (dev_backends.py). `gochat migrate` runs, then each service runs as its own process.
Data lives under `./.gochat/` and survives restarts. Nothing restarts silently: when any
child dies the platform says so and shuts down with a non-zero exit. Ctrl-C or SIGTERM stops
the services, then NATS, then PostgreSQL.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, TextIO

from gochat import dev_backends
from gochat.embedded import nats, postgres, process

HOST = "127.0.0.1"
SERVICE_MODULES = {
    "api": ("gochat.api.main", 8080),
    "auth": ("gochat.auth.main", 8081),
    "ws": ("gochat.ws.main", 8082),
    "indexer": ("gochat.indexer.main", 8083),
}
DEFAULT_PG_PORT = 15432  # not 5432: a developer's own PostgreSQL often sits there
DEFAULT_NATS_PORT = 14222
DEFAULT_NATS_MONITOR_PORT = 18222
BACKEND_CHOICES = ("embedded", "production")
SERVICE_STOP_TIMEOUT = 15.0  # the services' own shutdown grace is 10 s
# The runner's own knobs, and a config file meant for one service, must not reach the services.
_NOT_FOR_CHILDREN = ("GOCHAT_DEV_", "GOCHAT_TEST_", "GOCHAT_CONFIG")


class PlatformError(RuntimeError):
    """The platform could not start or a part of it died; the message says which and why."""


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    command: tuple[str, ...]


def available_services(env: Mapping[str, str]) -> list[Service]:
    """The real services whose module exists (ws and indexer join once they are written);
    ports from GOCHAT_DEV_<NAME>_PORT, else the fixed defaults."""
    services = []
    for name, (module, default_port) in SERVICE_MODULES.items():
        if not module_exists(module):
            continue
        port = _port(env, f"GOCHAT_DEV_{name.upper()}_PORT", default_port)
        services.append(Service(name, port, (sys.executable, "-m", "gochat", name)))
    return services


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its package (say gochat.ws) does not exist either
        return False


class DevPlatform:
    """Starts and supervises the platform exactly as `make dev` does (the e2e tests use it)."""

    def __init__(
        self,
        *,
        root: Path,
        services: Sequence[Service],
        backends: Sequence[dev_backends.Backend] = (),
        migrate_command: Sequence[str] | None = (sys.executable, "-m", "gochat", "migrate"),
        pg_dsn: str | None = None,
        nats_url: str | None = None,
        pg_port: int = DEFAULT_PG_PORT,
        nats_port: int = DEFAULT_NATS_PORT,
        nats_monitor_port: int = DEFAULT_NATS_MONITOR_PORT,
        output: TextIO | None = None,
        ready_timeout: float = 60.0,
    ) -> None:
        self.root = Path(root).absolute()
        self.services = list(services)
        self.backends = list(backends)
        self.migrate_command = migrate_command
        self.pg_dsn, self.nats_url = pg_dsn, nats_url
        self.postgres = None if pg_dsn else postgres.EmbeddedPostgres(
            data_dir=self.root / "pg", port=pg_port
        )  # fmt: skip
        self.nats = None if nats_url else nats.EmbeddedNats(
            data_dir=self.root / "nats", port=nats_port, monitor_port=nats_monitor_port
        )  # fmt: skip
        self.output = output or sys.stdout
        self.ready_timeout = ready_timeout
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._log_threads: list[threading.Thread] = []
        self._output_lock = threading.Lock()

    @property
    def urls(self) -> dict[str, str]:
        """Base URL of every running service, plus `postgres` (DSN) and `nats`."""
        urls = {service.name: f"http://{HOST}:{service.port}" for service in self.services}
        return {**urls, "postgres": self.pg_dsn or "", "nats": self.nats_url or ""}

    def start(self, stop_requested: threading.Event | None = None) -> None:
        """Start everything and wait until each service answers /readyz; raise PlatformError
        (after stopping what did start) when a part fails or `stop_requested` is set."""
        stop_requested = stop_requested or threading.Event()
        try:
            for folder in ("mail", "files", "jwt"):
                (self.root / folder).mkdir(parents=True, exist_ok=True)
            if self.postgres is not None:
                self.postgres.start()
                self.pg_dsn = self.postgres.dsn
                self._say(f"PostgreSQL ready (log: {self.postgres.log_path})")
            if self.nats is not None:
                self.nats.start()
                self.nats_url = self.nats.url
                self._say(f"NATS ready (log: {self.nats.log_path})")
            for backend in self.backends:
                self._raise_if_stopping(stop_requested)
                backend.start()
                self._say(f"{backend.name} ready at {backend.address()} (log: {backend.log_path})")
            self._migrate()
            for service in self.services:
                self._raise_if_stopping(stop_requested)
                self.children[service.name] = self._spawn(
                    service.name, service.command, port=service.port
                )
            for service in self.services:
                self._wait_ready(service, stop_requested)
        except BaseException:
            self.stop()
            raise

    def watch(self, stop_requested: threading.Event) -> int:
        """Block until a stop is requested (0) or any part of the platform dies (1)."""
        while not stop_requested.wait(0.2):
            died = self._first_dead_part()
            if died is not None:
                self._say(f"{died}; stopping the platform")
                return 1
        return 0

    def stop(self) -> None:
        """Services first (SIGTERM, wait, kill), then the production backends (last started,
        first stopped), then NATS, then PostgreSQL. Idempotent."""
        process.stop_processes(list(self.children.values()), timeout=SERVICE_STOP_TIMEOUT)
        self.children.clear()
        for thread in self._log_threads:
            thread.join(timeout=5)
        self._log_threads.clear()
        for backend in reversed(self.backends):
            backend.stop()
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def child_env(self, *, port: int) -> dict[str, str]:
        ports = {service.name: service.port for service in self.services}
        auth_port = ports.get("auth", SERVICE_MODULES["auth"][1])
        api_port = ports.get("api", SERVICE_MODULES["api"][1])
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_FOR_CHILDREN)}
        backends = {k: v for backend in self.backends for k, v in backend.settings().items()}
        return {
            **inherited,
            **backends,
            "PYTHONUNBUFFERED": "1",  # so a child's log lines stream as they happen
            "GOCHAT_PG_DSN": self.pg_dsn or "",
            "GOCHAT_NATS_URL": self.nats_url or "",
            "GOCHAT_PORT": str(port),
            "GOCHAT_HOST": HOST,
            "GOCHAT_JWKS_URL": f"http://{HOST}:{auth_port}/.well-known/jwks.json",
            "GOCHAT_JWT_KEYS_DIR": str(self.root / "jwt"),
            "GOCHAT_MAIL_OUTBOX_DIR": str(self.root / "mail"),
            "GOCHAT_BLOB_DIR": str(self.root / "files"),
            "GOCHAT_BLOB_PUBLIC_URL": f"http://{HOST}:{api_port}",
            "GOCHAT_PUBLIC_URL": f"http://{HOST}:{api_port}",
        }

    def url_table(self) -> str:
        lines = [f"GoChat is up (data in {self.root}; Ctrl-C stops everything)"]
        for service in self.services:
            base = f"http://{HOST}:{service.port}"
            lines.append(f"  {service.name:<10} {base:<28} docs {base}/docs")
        lines.append(f"  {'postgres':<10} {self.pg_dsn}")
        lines.append(f"  {'nats':<10} {self.nats_url}")
        for backend in self.backends:
            lines.append(f"  {backend.name:<10} {backend.address()}")
        lines.append(f"  {'mail':<10} {self.root / 'mail'} (outbox of sent e-mails)")
        return "\n".join(lines)

    def _migrate(self) -> None:
        if self.migrate_command is None:
            return
        migration = self._spawn("migrate", self.migrate_command, port=0)
        code = migration.wait()
        self._log_threads[-1].join(timeout=5)
        if code != 0:
            raise PlatformError(f"gochat migrate failed with exit code {code}")

    def _spawn(self, name: str, command: Sequence[str], *, port: int) -> subprocess.Popen[bytes]:
        child = process.spawn(list(command), log_file=None, env=self.child_env(port=port))
        assert child.stdout is not None
        thread = threading.Thread(
            target=self._stream_log, args=(name, child.stdout), name=f"log-{name}", daemon=True
        )
        thread.start()
        self._log_threads.append(thread)
        return child

    def _stream_log(self, name: str, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                self._say(raw.decode(errors="replace").rstrip("\n"), prefix=name)

    def _say(self, text: str, *, prefix: str = "dev") -> None:
        with self._output_lock:
            self.output.write(f"{prefix:>8} | {text}\n")
            self.output.flush()

    def _wait_ready(self, service: Service, stop_requested: threading.Event) -> None:
        child = self.children[service.name]
        deadline = time.monotonic() + self.ready_timeout
        while not _answers_ready(service.port):
            self._raise_if_stopping(stop_requested)
            if child.poll() is not None:
                raise PlatformError(f"{service.name} exited with code {child.returncode} at start")
            if time.monotonic() > deadline:
                raise PlatformError(f"{service.name} not ready after {self.ready_timeout:.0f} s")
            time.sleep(0.1)

    def _first_dead_part(self) -> str | None:
        for name, child in self.children.items():
            if child.poll() is not None:
                return f"{name} exited unexpectedly with code {child.returncode}"
        for backend in self.backends:
            if not backend.running:
                return f"{backend.name} exited unexpectedly (log: {backend.log_path})"
        if self.nats is not None and not self.nats.running:
            return f"NATS exited unexpectedly (log: {self.nats.log_path})"
        if self.postgres is not None and not self.postgres.running:
            return f"PostgreSQL exited unexpectedly (log: {self.postgres.log_path})"
        return None

    @staticmethod
    def _raise_if_stopping(stop_requested: threading.Event) -> None:
        if stop_requested.is_set():
            raise PlatformError("stop requested while starting")


def _answers_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def run(platform: DevPlatform) -> int:
    """Start, print the URLs, supervise until Ctrl-C/SIGTERM (0) or a death (1); always stop."""
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        platform.start(stop_requested)
        platform.output.write(platform.url_table() + "\n")
        platform.output.flush()
        return platform.watch(stop_requested)
    except (PlatformError, process.ServerStartError) as exc:
        if stop_requested.is_set():
            return 0
        platform.output.write(f"gochat dev: {exc}\n")
        return 1
    finally:
        platform.stop()
        platform.output.write("GoChat stopped\n")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def platform_from_env(
    *,
    root: Path,
    env: Mapping[str, str],
    output: TextIO | None = None,
    backends: str = "embedded",
) -> DevPlatform:
    """The platform `gochat dev` runs, configured from `env` as the command is (tests pass
    their own mapping: GOCHAT_DEV_<NAME>_PORT, GOCHAT_DEV_PG_PORT, GOCHAT_DEV_NATS_PORT,
    GOCHAT_DEV_NATS_MONITOR_PORT, GOCHAT_PG_DSN, GOCHAT_NATS_URL; with `backends`
    "production" also the keys of dev_backends.DEFAULT_PORTS)."""
    if backends not in BACKEND_CHOICES:
        raise PlatformError(f"backends={backends!r}: choose one of {', '.join(BACKEND_CHOICES)}")
    extra: list[dev_backends.Backend] = []
    if backends == "production":
        ports = {
            key: _port(env, key, default) for key, default in dev_backends.DEFAULT_PORTS.items()
        }
        extra = dev_backends.production(Path(root).absolute(), ports)
    return DevPlatform(
        root=root,
        services=available_services(env),
        backends=extra,
        pg_dsn=env.get("GOCHAT_PG_DSN") or None,
        nats_url=env.get("GOCHAT_NATS_URL") or None,
        pg_port=_port(env, "GOCHAT_DEV_PG_PORT", DEFAULT_PG_PORT),
        nats_port=_port(env, "GOCHAT_DEV_NATS_PORT", DEFAULT_NATS_PORT),
        nats_monitor_port=_port(env, "GOCHAT_DEV_NATS_MONITOR_PORT", DEFAULT_NATS_MONITOR_PORT),
        output=output,
    )


def _port(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise PlatformError(f"{key}={raw!r} is not a port number (1-65535)")
    return int(raw)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gochat dev", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(".gochat"))
    parser.add_argument(
        "--backends",
        choices=BACKEND_CHOICES,
        default=os.environ.get("GOCHAT_DEV_BACKENDS", "embedded"),
        help="embedded: PostgreSQL for messages and search, a local folder for files "
        "(default); production: Cassandra, OpenSearch and MinIO (S3) started locally",
    )
    args = parser.parse_args(argv)
    try:
        platform = platform_from_env(root=args.data_dir, env=os.environ, backends=args.backends)
    except PlatformError as exc:
        print(f"gochat dev: {exc}", file=sys.stderr)
        return 2
    return run(platform)
