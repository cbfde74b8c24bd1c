"""The services of the platform as real processes (`python -m gochat <service>`) for fault
tests, and the users and guild they serve. The API runs with the crash point and the shorter
sweep of crash/sitecustomize.py available (armed only by the variables it names)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gochat.embedded import process
from tests.fixtures import accounts

CRASH_HOOKS = Path(__file__).parent / "crash"


@dataclass
class ServiceProcess:
    """One `python -m gochat <service>`, configured through GOCHAT_* variables."""

    service: str
    config: dict[str, Any]
    log_path: Path
    port: int = field(default_factory=process.free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **test_env: str) -> None:
        """Start it; `test_env` adds variables (the crash point, the sweep's timing)."""
        values = self.config | {"port": self.port, "log_format": "text"}
        env = {**os.environ, "GOCHAT_CONFIG": ""}
        env |= {f"GOCHAT_{key.upper()}": str(value) for key, value in values.items()}
        path = os.pathsep.join(p for p in (str(CRASH_HOOKS), os.environ.get("PYTHONPATH")) if p)
        env |= {"PYTHONPATH": path, **test_env}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gochat", self.service],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_ready(self, *, within: float = 60) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:

            async def ready() -> bool:
                assert self.proc is not None and self.proc.poll() is None, self.log()
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, within=within, what=f"{self.service} to be ready")

    async def exit_code(self, *, within: float = 30) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + within
        while (code := self.proc.poll()) is None:
            assert time.monotonic() < deadline, f"{self.service} did not exit"
            await asyncio.sleep(0.05)
        self.proc = None
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def log(self) -> str:
        return process.log_tail(self.log_path, lines=40)


@dataclass
class Member:
    id: int
    token: str
    http: httpx.AsyncClient

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.post(path, headers=self._auth, **kw)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, headers=self._auth, **kw)

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def member(dsn: str, keys_dir: Path, http: httpx.AsyncClient) -> Member:
    account = await accounts.create_account(dsn, keys_dir)
    return Member(account.user_id, account.access_token, http)


async def guild_of_two(owner: Member, guest: Member) -> tuple[int, int]:
    """(guild id, its #general's id): `owner` made it over HTTP and `guest` joined it."""
    created = await owner.post("/guilds", json={"name": "faults"})
    assert created.status_code in (200, 201), created.text
    guild_id = created.json()["id"]
    channel_id = (await owner.get(f"/guilds/{guild_id}/channels")).json()[0]["id"]
    invite = (await owner.post(f"/channels/{channel_id}/invites", json={})).json()
    joined = await guest.post(f"/invites/{invite['code']}/accept")
    assert joined.status_code == 200, joined.text
    return int(guild_id), int(channel_id)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 30, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)
