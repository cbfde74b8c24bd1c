"""The embedded servers behind `make dev` and the test fixtures are real and durable."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import nats as nats_client
import pytest

from gochat.embedded import nats, pg_runtime, postgres, process
from tests.fixtures import servers


def new_postgres(data_dir: Path) -> postgres.EmbeddedPostgres:
    return postgres.EmbeddedPostgres(
        data_dir=data_dir, port=process.free_port(), settings=servers.TEST_PG_SETTINGS
    )


async def test_postgres_accepts_tcp_connections_as_the_application_role(
    pg_server: servers.PostgresServer,
) -> None:
    connection = await asyncpg.connect(pg_server.dsn)
    try:
        assert await connection.fetchval("SELECT current_user") == pg_server.user
        assert await connection.fetchval("SELECT current_database()") == "gochat"
    finally:
        await connection.close()


async def test_pg_database_is_a_fresh_database_the_application_role_owns(
    pg_database: str,
) -> None:
    connection = await asyncpg.connect(pg_database)
    try:
        await connection.execute("CREATE TABLE probe (id bigint PRIMARY KEY)")
        tables = await connection.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        assert tables == 1
    finally:
        await connection.close()


async def test_postgres_keeps_its_data_across_a_restart(server_tmp_path: Path) -> None:
    with new_postgres(server_tmp_path / "pg") as server:
        connection = await asyncpg.connect(server.dsn)
        await connection.execute("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('hi')")
        await connection.close()
        server.stop()
        server.start()
        connection = await asyncpg.connect(server.dsn)
        assert await connection.fetchval("SELECT note FROM kept") == "hi"
        await connection.close()


def test_postgres_takes_over_a_data_dir_whose_server_was_orphaned(server_tmp_path: Path) -> None:
    orphaned = new_postgres(server_tmp_path / "pg")
    orphaned.start()
    orphan_pid = orphaned.pid
    assert orphan_pid is not None
    successor = new_postgres(server_tmp_path / "pg")  # as a restarted `make dev` after a kill -9
    try:
        successor.start()
        assert successor.pid != orphan_pid
        assert postgres.run_sql(successor.dsn, "SELECT 1").strip() == "1"
    finally:
        successor.stop()
        orphaned.stop()


def test_postgres_ignores_a_stale_pid_file(server_tmp_path: Path) -> None:
    server = new_postgres(server_tmp_path / "pg")
    server.start()
    server.stop()
    # As after a crash whose pid was since reused by another program (here: pytest itself),
    # which PostgreSQL alone would refuse as "lock file already exists".
    (server.pgdata / "postmaster.pid").write_text(f"{os.getpid()}\n{server.pgdata}\n")
    try:
        server.start()
        assert server.running
    finally:
        server.stop()


def test_postgres_on_a_busy_port_fails_with_a_clear_error(
    server_tmp_path: Path, nats_server: servers.NatsServer
) -> None:
    busy_port = int(nats_server.url.rsplit(":", 1)[1])
    server = postgres.EmbeddedPostgres(data_dir=server_tmp_path / "pg", port=busy_port)
    with pytest.raises(process.ServerStartError, match="port is in use"):
        server.start()


def test_postgres_start_failure_shows_the_log_tail(server_tmp_path: Path) -> None:
    server = postgres.EmbeddedPostgres(
        data_dir=server_tmp_path / "pg",
        port=process.free_port(),
        settings={"shared_buffers": "bogus"},
    )
    with pytest.raises(process.ServerStartError, match="shared_buffers"):
        server.start()
    assert not server.running


def test_postgres_stop_leaves_no_server_process(server_tmp_path: Path) -> None:
    server = new_postgres(server_tmp_path / "pg")
    server.start()
    pid = server.pid
    assert pid is not None
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, signal.SIG_DFL)


async def test_nats_jetstream_keeps_a_streams_messages_across_a_restart(
    nats_server: servers.NatsServer,
) -> None:
    stream = "EMBEDDED_RESTART"
    client = await nats_client.connect(nats_server.url)
    jetstream = client.jetstream()
    await jetstream.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
    for number in range(3):
        await jetstream.publish(f"{stream.lower()}.event", str(number).encode())
    await client.close()

    host, port = urlsplit(nats_server.url).hostname, urlsplit(nats_server.url).port
    nats_server.stop()
    try:
        assert not process.port_in_use(str(host), int(port or 0))
    finally:
        nats_server.start()

    client = await nats_client.connect(nats_server.url)
    try:
        jetstream = client.jetstream()
        assert (await jetstream.stream_info(stream)).state.messages == 3
        message = await jetstream.get_msg(stream, seq=3)
        assert message.data == b"2"
        await jetstream.delete_stream(stream)
    finally:
        await client.close()


def test_nats_on_a_busy_port_fails_with_a_clear_error(
    tmp_path: Path, nats_server: servers.NatsServer
) -> None:
    busy_port = int(nats_server.url.rsplit(":", 1)[1])
    server = nats.EmbeddedNats(data_dir=tmp_path / "nats", port=busy_port)
    with pytest.raises(process.ServerStartError, match="port is in use"):
        server.start()


def test_nats_takes_over_a_store_whose_server_was_orphaned(tmp_path: Path) -> None:
    ports = {"port": process.free_port(), "monitor_port": process.free_port()}
    orphaned = nats.EmbeddedNats(data_dir=tmp_path / "nats", **ports)
    orphaned.start()
    successor = nats.EmbeddedNats(data_dir=tmp_path / "nats", **ports)
    try:
        successor.start()
        assert successor.running and not orphaned.running
    finally:
        successor.stop()
        orphaned.stop()


# Starts the embedded PostgreSQL in a fresh interpreter whose pgserver wheel (so initdb and
# postgres) is the copy on PYTHONPATH, as in a checkout's own `.venv`.
START_POSTGRES_FROM_COPY = """
import sys
from pathlib import Path
from gochat.embedded import postgres, process
assert str(postgres.bin_dir()).startswith(sys.argv[2]), postgres.bin_dir()
server = postgres.EmbeddedPostgres(data_dir=Path(sys.argv[1]), port=process.free_port())
with server:
    print(postgres.run_sql(server.dsn, "SELECT 'up'").strip())
    print(server.pgdata)
"""


def _modes(path: Path) -> dict[Path, int]:
    return {folder: folder.stat().st_mode for folder in [path, *path.parents]}


@pytest.mark.skipif(not process.running_as_root(), reason="only root hands the server over")
@pytest.mark.parametrize("data_inside_checkout", [True, False], ids=["make-dev", "test-fixture"])
def test_postgres_starts_from_a_checkout_other_users_cannot_enter(
    server_tmp_path: Path, *, data_inside_checkout: bool
) -> None:
    """As root in a clone under a 0700 directory (/root, `mktemp -d`): the server's own account
    cannot reach the checkout's `.venv`, and no directory of the user is opened up for it."""
    with servers.private_server_dir("gochat-home-") as home:
        home.chmod(0o700)  # as `mktemp -d` or /root
        checkout = home / "gochat"
        site = checkout / ".venv" / "site"
        wheel = postgres.bin_dir().parent.parent
        for folder in (wheel, wheel.with_name("pgserver.libs")):  # the binaries' RPATH
            shutil.copytree(folder, site / folder.name, ignore=shutil.ignore_patterns("include"))
        data_dir = checkout / ".gochat-dev" / "pg" if data_inside_checkout else server_tmp_path
        checkout.mkdir(exist_ok=True)
        before = _modes(checkout)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
        result = subprocess.run(
            [sys.executable, "-c", START_POSTGRES_FROM_COPY, str(data_dir), str(site)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        answer, pgdata = result.stdout.split()
        if pgdata.startswith(f"{pg_runtime.RUNTIME_ROOT}/data/"):
            shutil.rmtree(Path(pgdata).parent)
        assert answer == "up"
        assert _modes(checkout) == before
        assert (Path(pgdata).parent == data_dir) is not data_inside_checkout


def _fake_wheel(site: Path) -> Path:
    """A pgserver wheel's layout: pginstall/{bin,lib,share} and the RPATH's pgserver.libs."""
    for part, name in [("bin", "postgres"), ("lib", "libpgcommon.so"), ("share", "postgres.bki")]:
        (site / "pgserver" / "pginstall" / part).mkdir(parents=True)
        (site / "pgserver" / "pginstall" / part / name).write_text(f"{name} v1")
    (site / "pgserver.libs").mkdir()
    (site / "pgserver.libs" / "libpq.so").write_text("libpq")
    return site / "pgserver" / "pginstall"


@pytest.mark.skipif(not process.running_as_root(), reason="only root hands the server over")
def test_binaries_are_copied_once_where_the_account_can_reach_them(server_tmp_path: Path) -> None:
    account = process.ensure_system_user("gochat-pg")
    hidden = server_tmp_path / "home"
    hidden.mkdir(mode=0o700)
    pginstall = _fake_wheel(hidden / "site")
    root = server_tmp_path / "runtime"

    copied = pg_runtime.reachable_install(pginstall, account, root=root)
    assert (copied / "bin" / "postgres").read_text() == "postgres v1"
    assert (copied.parent.parent / "pgserver.libs" / "libpq.so").read_text() == "libpq"
    assert pg_runtime.can_traverse(copied / "bin", account)
    assert hidden.stat().st_mode & 0o777 == 0o700
    # Cached: a second start finds the verified copy instead of copying again.
    (copied / "bin" / "postgres").write_text("postgres v1")  # same size, so same fingerprint
    inode = (copied / "bin" / "postgres").stat().st_ino
    assert pg_runtime.reachable_install(pginstall, account, root=root) == copied
    assert (copied / "bin" / "postgres").stat().st_ino == inode
    # A copy whose marker does not match (an interrupted copy) is made again.
    (copied.parent.parent / pg_runtime.MARKER).write_text("half")
    assert pg_runtime.reachable_install(pginstall, account, root=root) == copied
    assert (copied / "bin" / "postgres").stat().st_ino != inode
    # A new wheel gets its own copy.
    (pginstall / "bin" / "postgres").write_text("postgres v2 (bigger)")
    upgraded = pg_runtime.reachable_install(pginstall, account, root=root)
    assert upgraded != copied
    assert (upgraded / "bin" / "postgres").read_text() == "postgres v2 (bigger)"


@pytest.mark.skipif(not process.running_as_root(), reason="only root hands the server over")
def test_a_runtime_directory_others_can_write_to_is_refused(server_tmp_path: Path) -> None:
    account = process.ensure_system_user("gochat-pg")
    hidden = server_tmp_path / "home"
    hidden.mkdir(mode=0o700)
    pginstall = _fake_wheel(hidden / "site")
    root = server_tmp_path / "runtime"
    root.mkdir()
    root.chmod(0o777)
    with pytest.raises(process.ServerStartError, match="nobody else can write to"):
        pg_runtime.reachable_install(pginstall, account, root=root)
    assert list(root.iterdir()) == []


@pytest.mark.skipif(not process.running_as_root(), reason="only root hands the server over")
def test_a_kept_cluster_is_deleted_once_its_data_directory_is_gone(server_tmp_path: Path) -> None:
    account = process.ensure_system_user("gochat-pg")
    hidden = server_tmp_path / "home"
    hidden.mkdir(mode=0o700)
    root = server_tmp_path / "runtime"
    (hidden / "kept" / "pg").mkdir(parents=True)
    kept = pg_runtime.reachable_data_dir(hidden / "kept" / "pg", account, root=root)
    (hidden / "gone" / "pg").mkdir(parents=True)
    gone = pg_runtime.reachable_data_dir(hidden / "gone" / "pg", account, root=root)
    assert kept != gone
    assert kept.parent == gone.parent == root / "data"
    shutil.rmtree(hidden / "gone")

    again = pg_runtime.reachable_data_dir(hidden / "kept" / "pg", account, root=root)
    assert again == kept
    assert sorted((root / "data").iterdir()) == [kept]
    assert kept.stat().st_uid == account.pw_uid
