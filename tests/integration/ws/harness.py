"""Real gateway processes (`python -m gochat ws`), a JWKS endpoint for them, and a small world
(users, a guild, channels) written straight to PostgreSQL, with events published to JetStream
the way the outbox relay publishes them."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import nats

from gochat.adapters.nats import publisher, stream
from gochat.adapters.postgres.directory import DirectoryTx
from gochat.core import events, ids, permissions, schemas
from gochat.embedded import process
from tests.fixtures import accounts

_ids = ids.SnowflakeGenerator(ids.default_worker_id())


def next_id() -> int:
    return _ids.next_id()


@contextlib.contextmanager
def jwks_server(keys_dir: Path) -> Iterator[str]:
    """Serve the JWKS of `keys_dir` over HTTP; yields its URL."""
    body = json.dumps(accounts.jwks(keys_dir)).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()


@dataclass
class GatewayProc:
    """One `python -m gochat ws` child process."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=process.free_port)
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait_ready: bool = True) -> None:
        env = {**os.environ, **self.env, "GOCHAT_PORT": str(self.port)}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gochat", "ws", *self.args],
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        if wait_ready and not process.wait_until(self._ready, timeout=20, alive=lambda: self.alive):
            self.stop()
            raise RuntimeError(f"gateway did not start:\n{process.log_tail(self.log_path)}")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def terminate(self) -> None:
        """SIGTERM: the gateway drains."""
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def hold_env(hold_dir: Path) -> dict[str, str]:
    """The environment that arms the test hold points (hold/sitecustomize.py) in a gateway."""
    hooks = str(Path(__file__).parent / "hold")
    path = os.pathsep.join(p for p in (hooks, os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "GOCHAT_TEST_HOLD_DIR": str(hold_dir)}


def log_has(log_path: Path, text: str) -> bool:
    return log_path.exists() and text in log_path.read_text(errors="replace")


def gateway_env(*, dsn: str, nats_url: str, jwks_url: str, **overrides: Any) -> dict[str, str]:
    values = {
        "pg_dsn": dsn,
        "pg_pool_min": 0,
        "pg_pool_max": 5,
        "nats_url": nats_url,
        "jwks_url": jwks_url,
        "log_format": "text",
        "heartbeat_interval_ms": 5000,
        "drain_window_seconds": 1.0,
        "presence_grace_seconds": 1.0,
        "resume_window_seconds": 60,
    } | overrides
    return {f"GOCHAT_{key.upper()}": str(value) for key, value in values.items()}


@dataclass
class Member:
    user_id: int
    token: str


@dataclass(frozen=True)
class StaffGuild:
    """A guild whose staff room only the staff role may view (World.staff_guild)."""

    owner: Member
    member: Member
    role_id: int
    general: int
    staff_room: int


@dataclass
class World:
    """A guild with an owner, members and channels; publishes events like the relay does."""

    dsn: str
    keys_dir: Path
    nats_url: str
    guild_id: int = 0
    owner: Member | None = None
    js: Any = None
    nc: Any = None

    async def open(self) -> None:
        self.nc = await nats.connect(self.nats_url)
        self.js = self.nc.jetstream()
        await stream.ensure_stream(self.js, "GOCHAT_EVENTS")

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.drain()

    async def user(self, **options: Any) -> Member:
        user_id, token = await accounts.create_confirmed_user(self.dsn, self.keys_dir, **options)
        return Member(user_id, token)

    @contextlib.asynccontextmanager
    async def tx(self) -> Any:
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                yield DirectoryTx(conn)
        finally:
            await conn.close()

    async def create_guild(self, owner: Member) -> int:
        self.owner = owner
        self.guild_id = next_id()
        async with self.tx() as tx:
            await tx.insert_guild(
                guild_id=self.guild_id, name="g", description=None, icon_url=None,
                owner_id=owner.user_id,
            )  # fmt: skip
            await tx.insert_role(
                role_id=self.guild_id, guild_id=self.guild_id, name="@everyone",
                permissions=int(permissions.DEFAULT_EVERYONE), position=0,
            )  # fmt: skip
            await tx.insert_member(guild_id=self.guild_id, user_id=owner.user_id)
        return self.guild_id

    async def add_member(self, member: Member) -> None:
        async with self.tx() as tx:
            await tx.insert_member(guild_id=self.guild_id, user_id=member.user_id)

    async def create_channel(self, name: str = "general") -> int:
        channel_id = next_id()
        async with self.tx() as tx:
            await tx.insert_channel(
                channel_id=channel_id, guild_id=self.guild_id, channel_type="text", name=name
            )
        return channel_id

    async def channel(self, channel_id: int) -> schemas.Channel:
        async with self.tx() as tx:
            found = await tx.get_channel(channel_id)
        assert found is not None
        return found

    async def publish(self, event: events.Event) -> int:
        ack = await self.js.publish(
            event.subject,
            event.model_dump_json().encode(),
            headers={publisher.MSG_ID_HEADER: str(event.id)},
        )
        return int(ack.seq)

    def message_event(self, channel_id: int, author: Member, content: str) -> events.Event:
        message = schemas.Message(
            id=next_id(),
            channel_id=channel_id,
            guild_id=self.guild_id,
            author=schemas.User(id=author.user_id, username="u", created_at=datetime.now(UTC)),
            content=content,
            created_at=datetime.now(UTC),
        )
        return events.build(
            "MESSAGE_CREATE", message, event_id=next_id(), scope="guild",
            scope_id=self.guild_id, guild_id=self.guild_id, channel_id=channel_id,
        )  # fmt: skip

    async def post(self, channel_id: int, author: Member, content: str) -> int:
        return await self.publish(self.message_event(channel_id, author, content))

    async def deny_view(self, channel_id: int, member: Member) -> None:
        """A member overwrite denying VIEW_CHANNEL, committed and announced."""
        async with self.tx() as tx:
            await tx.put_overwrite(
                channel_id=channel_id, target_id=member.user_id, target_type="member",
                allow=0, deny=int(permissions.Permission.VIEW_CHANNEL),
            )  # fmt: skip
        channel = await self.channel(channel_id)
        await self.publish(
            events.build(
                "CHANNEL_UPDATE",
                channel,
                event_id=next_id(),
                scope="guild",
                scope_id=self.guild_id,
                guild_id=self.guild_id,
                channel_id=channel_id,
            )
        )

    async def guild_event(self, event_type: str, payload: Any, **routing: Any) -> int:
        """Publish a guild-scoped event the way the API's outbox would."""
        return await self.publish(
            events.build(
                event_type, payload, event_id=next_id(), scope="guild", scope_id=self.guild_id,
                guild_id=self.guild_id, **routing,
            )
        )  # fmt: skip

    async def create_role(self, *, permissions_bits: int, name: str = "staff") -> int:
        role_id = next_id()
        async with self.tx() as tx:
            role = await tx.insert_role(
                role_id=role_id, guild_id=self.guild_id, name=name,
                permissions=permissions_bits, position=1,
            )  # fmt: skip
        await self.guild_event("GUILD_ROLE_CREATE", role)
        return role_id

    async def set_role_permissions(self, role_id: int, permissions_bits: int) -> None:
        async with self.tx() as tx:
            role = await tx.update_role(role_id, {"permissions": permissions_bits})
        await self.guild_event("GUILD_ROLE_UPDATE", role)

    async def delete_role(self, role_id: int) -> None:
        async with self.tx() as tx:
            await tx.delete_role(self.guild_id, role_id)
        await self.guild_event(
            "GUILD_ROLE_DELETE", events.RoleDeleted(guild_id=self.guild_id, role_id=role_id)
        )

    async def set_roles(self, member: Member, role_ids: list[int]) -> None:
        async with self.tx() as tx:
            updated = await tx.update_member(
                self.guild_id, member.user_id, nick=None, set_nick=False, role_ids=role_ids
            )
        assert updated is not None
        await self.guild_event("GUILD_MEMBER_UPDATE", updated)

    async def role_only_channel(self, role_id: int, name: str = "staff-room") -> int:
        """A channel @everyone may not view and `role_id` may, announced as created."""
        channel_id = await self.create_channel(name)
        view = int(permissions.Permission.VIEW_CHANNEL)
        async with self.tx() as tx:
            await tx.put_overwrite(
                channel_id=channel_id, target_id=self.guild_id, target_type="role",
                allow=0, deny=view,
            )  # fmt: skip
            await tx.put_overwrite(
                channel_id=channel_id, target_id=role_id, target_type="role", allow=view, deny=0
            )
        channel = await self.channel(channel_id)
        await self.guild_event("CHANNEL_CREATE", channel, channel_id=channel_id)
        return channel_id

    async def staff_guild(self, *, member_has_role: bool) -> StaffGuild:
        """An owner and a member, #general, and a staff room only the staff role may view."""
        owner, member = await self.user(), await self.user()
        await self.create_guild(owner)
        await self.add_member(member)
        general = await self.create_channel("general")
        role_id = await self.create_role(permissions_bits=0)
        staff_room = await self.role_only_channel(role_id)
        if member_has_role:
            await self.set_roles(member, [role_id])
        return StaffGuild(owner, member, role_id, general, staff_room)

    async def join(self, member: Member) -> None:
        """Add `member` to the current guild, committed and announced (GUILD_MEMBER_ADD)."""
        async with self.tx() as tx:
            added = await tx.insert_member(guild_id=self.guild_id, user_id=member.user_id)
        assert added is not None
        await self.guild_event("GUILD_MEMBER_ADD", added)

    async def kick(self, member: Member) -> None:
        async with self.tx() as tx:
            await tx.delete_member(self.guild_id, member.user_id)
        await self.publish(
            events.build(
                "GUILD_MEMBER_REMOVE",
                events.MemberRemoved(guild_id=self.guild_id, user_id=member.user_id, reason="kick"),
                event_id=next_id(),
                scope="guild",
                scope_id=self.guild_id,
                guild_id=self.guild_id,
            )
        )


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
