"""A real PostgreSQL 16 (the binaries bundled in the `pgserver` wheel) on 127.0.0.1 TCP.

Used by `gochat dev` and by the integration-test fixtures. The data directory outlives the
process: `start()` runs initdb only when the directory is new, so `make dev` keeps its data.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from gochat.embedded import pg_runtime, process, server

SUPERUSER = "postgres"
# A dev and test server only: it listens on loopback and the password is no secret.
SUPERUSER_PASSWORD = "postgres"


def bin_dir() -> Path:
    """Where the wheel keeps initdb/postgres/psql (found without importing pgserver itself)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise process.ServerStartError("the pgserver wheel is not installed (run `make venv`)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def run_sql(dsn: str, sql: str, *, variables: Mapping[str, str] | None = None) -> str:
    """Run SQL through the bundled psql (stops at the first error); returns its output."""
    command = [str(bin_dir() / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", dsn]
    for name, value in (variables or {}).items():
        command += ["-v", f"{name}={value}"]
    result = subprocess.run(command, input=sql, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


_BOOTSTRAP_SQL = """
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'app_user', :'app_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'app_database', :'app_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'app_database') \\gexec
"""


class EmbeddedPostgres(server.EmbeddedServer):
    """One PostgreSQL server. `dsn` is the application's; `admin_dsn` the superuser's.

    As root the server runs as `system_user`. When that account cannot reach the binaries or
    `data_dir` (a checkout under /root or another 0700 directory), it runs a copy of the
    binaries and keeps its cluster under `runtime_root` (see pg_runtime.py): no permission of
    the user's directories is changed, and `pgdata` says where the cluster is once started.
    Avoid pytest's `tmp_path` for `data_dir`: each pytest session resets it to 0700.
    """

    display_name = "PostgreSQL"
    stop_signal = signal.SIGINT  # fast shutdown, as `pg_ctl stop -m fast`

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int,
        host: str = "127.0.0.1",
        database: str = "gochat",
        user: str = "gochat",
        password: str = "gochat",
        settings: Mapping[str, str] | None = None,
        system_user: str = "gochat-pg",
        runtime_root: Path = pg_runtime.RUNTIME_ROOT,
        start_timeout: float = 30.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.data_dir / "postgres.log"
        self.host, self.port = host, port
        self.database, self.user, self.password = database, user, password
        self.settings = dict(settings or {})
        self.system_user = system_user
        self.runtime_root = runtime_root
        self.bin_dir = Path()  # where initdb and postgres are run from, chosen by start()
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout

    @property
    def dsn(self) -> str:
        return self.dsn_for(self.database)

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://{SUPERUSER}:{SUPERUSER_PASSWORD}@{self.host}:{self.port}/postgres"

    def dsn_for(self, database: str) -> str:
        """The application role's DSN for another database on this server."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def start(self) -> None:
        """Start (initialising a new data directory first); a no-op when already running."""
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.bin_dir = bin_dir()
        account = self._server_account()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(account)
        process.stop_leftover_server(
            self.pgdata / "postmaster.pid",
            command_name="postgres",
            stop_signal=signal.SIGINT,
            timeout=self.stop_timeout,
        )
        self._require_free_ports(
            (self.port,),
            hint="choose another port, or point GOCHAT_PG_DSN at the server already there",
        )
        self._launch(
            self._server_command(),
            ready=self._accepting_connections,
            cwd=self.pgdata.parent,
            user=account,
            env=self._child_env(),
            parent_death_signal=signal.SIGINT,
        )
        run_sql(
            self.admin_dsn,
            _BOOTSTRAP_SQL,
            variables={
                "app_user": self.user,
                "app_password": self.password,
                "app_database": self.database,
            },
        )

    def _server_account(self) -> pwd.struct_passwd | None:
        """PostgreSQL refuses to run as root: as root, run it as an unprivileged system user,
        from binaries and a data directory that user can reach."""
        if not process.running_as_root():
            return None
        account = process.ensure_system_user(self.system_user)
        installed = pg_runtime.reachable_install(
            self.bin_dir.parent, account, root=self.runtime_root
        )
        self.bin_dir = installed / "bin"
        home = pg_runtime.reachable_data_dir(self.data_dir, account, root=self.runtime_root)
        os.chown(home, account.pw_uid, account.pw_gid)
        self.pgdata = home / "pgdata"
        if home != self.data_dir:
            (self.data_dir / "pgdata-location").write_text(
                f"{self.pgdata}\n(the server's account cannot enter this directory)\n"
            )
        if self.pgdata.exists() and self.pgdata.stat().st_uid != account.pw_uid:
            process.chown_tree(self.pgdata, account)
        return account

    def _initdb(self, account: pwd.struct_passwd | None) -> None:
        # A directory without PG_VERSION is a half-finished initdb: start over.
        shutil.rmtree(self.pgdata, ignore_errors=True)
        password_file = self.pgdata.parent / ".superuser-password"
        password_file.write_text(SUPERUSER_PASSWORD + "\n")
        if account is not None:
            os.chown(password_file, account.pw_uid, account.pw_gid)
        command = [
            str(self.bin_dir / "initdb"),
            f"--pgdata={self.pgdata}",
            f"--username={SUPERUSER}",
            f"--pwfile={password_file}",
            "--encoding=UTF8",
            "--locale=C",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",  # a crash during initdb just means initdb runs again
        ]
        try:
            with self.log_path.open("ab") as log:
                result = subprocess.run(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.pgdata.parent,
                    env=self._child_env(),
                    user=None if account is None else account.pw_uid,
                    group=None if account is None else account.pw_gid,
                    extra_groups=None if account is None else [],
                    check=False,
                )
        finally:
            password_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise process.ServerStartError(
                f"initdb failed for {self.pgdata}; last lines of {self.log_path}:\n"
                f"{process.log_tail(self.log_path)}"
            )

    def _server_command(self) -> list[str]:
        command = [str(self.bin_dir / "postgres"), "-D", str(self.pgdata)]
        command += ["-h", self.host, "-p", str(self.port)]
        # TCP only: no unix socket whose path length or directory could collide.
        settings = {"unix_socket_directories": "", **self.settings}
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        return command

    def _child_env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}

    def _accepting_connections(self) -> bool:
        # Line 8 of postmaster.pid says "ready" once the server accepts connections
        # (this is what `pg_ctl start -w` waits for).
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"
