"""A real Prometheus scraping the services started as `make dev` starts them, and a small load.

`tests/monitoring/test_dashboards_live.py` asks it every dashboard query; `render_dashboard.py`
draws the same series for the README.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from gochat import dev
from gochat.client import gateway
from gochat.contract import services as contract
from gochat.embedded import process
from tests.fixtures import accounts
from tests.monitoring import promql

SCRAPE_INTERVAL = "1s"


@dataclass
class Stack:
    platform: dev.DevPlatform
    prometheus_url: str
    keys_dir: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.prometheus_url}/api/v1/query", params={"query": expr})
        body = response.json()
        assert body.get("status") == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def query_range(self, expr: str, *, start: float, end: float, step: float) -> list[Any]:
        params = {"query": expr, "start": start, "end": end, "step": step}
        body = httpx.get(f"{self.prometheus_url}/api/v1/query_range", params=params).json()
        assert body.get("status") == "success", (expr, body)
        result: list[Any] = body["data"]["result"]
        return result

    def scraped_all_targets(self) -> bool:
        try:
            up = self.query("up")
        except (httpx.HTTPError, ValueError):
            return False
        return len(up) == len(self.platform.services) and all(s["value"][1] == "1" for s in up)


def prometheus_config(services: list[dev.Service]) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": f"gochat-{service.name}",
                "metrics_path": contract.METRICS_PATH,
                "static_configs": [{"targets": [f"{dev.HOST}:{service.port}"]}],
            }
            for service in services
        ],
    }


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    """The platform (real PostgreSQL, NATS and every service as its own process) and a real
    Prometheus scraping each service every second; both stopped on exit."""
    root = Path(tempfile.mkdtemp(prefix="gochat-monitoring-"))
    services = [
        dev.Service(s.name, process.free_port(), s.command) for s in dev.available_services({})
    ]
    platform = dev.DevPlatform(
        root=root,
        services=services,
        pg_port=process.free_port(),
        nats_port=process.free_port(),
        nats_monitor_port=process.free_port(),
        output=io.StringIO(),
        ready_timeout=90,
    )
    config = root / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(services)))
    port = process.free_port()
    prometheus: subprocess.Popen[bytes] | None = None
    try:
        platform.start()
        prometheus = subprocess.Popen(
            [
                promql.binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={root / 'prometheus'}",
                f"--web.listen-address={dev.HOST}:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(root / "prometheus.log").open("wb"),
        )
        stack = Stack(platform, f"http://{dev.HOST}:{port}", root / "jwt")
        assert process.wait_until(stack.scraped_all_targets, timeout=30), (
            root / "prometheus.log"
        ).read_text()[-3000:]
        yield stack
    finally:
        if prometheus is not None:
            process.stop_processes([prometheus], timeout=10)
        platform.stop()
        shutil.rmtree(root, ignore_errors=True)


_serial = itertools.count(1)


async def load(stack: Stack, *, seconds: float) -> None:
    """What a few users do: register, log in (and fail until refused), make a guild and a
    channel, send messages that a gateway client receives, type, resume, and break protocol."""
    urls = stack.platform.urls
    dsn = stack.platform.urls["postgres"]
    ws_url = urls["ws"].replace("http://", "ws://") + contract.WS_PATH
    n = next(_serial)
    async with (
        httpx.AsyncClient(base_url=urls["auth"], timeout=30) as auth,
        httpx.AsyncClient(base_url=urls["api"], timeout=30) as api,
    ):
        password = "correct horse battery"
        registered = await auth.post(
            "/auth/register",
            json={"username": f"load{n}", "email": f"load{n}@example.com", "password": password},
        )
        assert registered.status_code == 201, registered.text
        user = await accounts.create_account(dsn, stack.keys_dir, password=password)
        login = await auth.post("/auth/login", json={"login": user.username, "password": password})
        assert login.status_code == 200, login.text
        for _ in range(15):  # wrong passwords until the per-account limit answers 429
            await auth.post("/auth/login", json={"login": f"load{n}", "password": "wrong" * 4})
        headers = {"Authorization": f"Bearer {user.access_token}"}
        guild = (await api.post("/guilds", json={"name": "load"}, headers=headers)).json()
        channel = await api.post(
            f"/guilds/{guild['id']}/channels", json={"name": "load"}, headers=headers
        )
        channel_id = channel.json()["id"]
        await api.get("/channels/1/messages", headers=headers)  # a 4xx

        rude = await gateway.GatewayClient.connect(ws_url)
        await rude.send(99, None)  # an op the gateway does not take: it closes the connection
        await rude.wait_closed()
        client = await gateway.GatewayClient.connect(ws_url)
        await client.identify(user.access_token)
        deadline = time.monotonic() + seconds
        sent = 0
        while time.monotonic() < deadline:
            response = await api.post(
                f"/channels/{channel_id}/messages",
                json={"content": f"message {sent}"},
                headers=headers,
            )
            assert response.status_code == 201, response.text
            await client.wait_for("MESSAGE_CREATE")
            await client.typing(channel_id)
            sent += 1
            if sent % 20 == 0:  # a dropped connection, resumed on a new one
                client = await resumed(client, ws_url, user.access_token)
            await asyncio.sleep(0.05)
        await client.close()


async def resumed(client: gateway.GatewayClient, url: str, token: str) -> gateway.GatewayClient:
    """The connection dropped without a close frame, the session resumed on a new one."""
    assert client.session_id is not None
    await client.abort()
    again = await gateway.GatewayClient.connect(url)
    await again.resume(token, client.session_id, client.seq)
    return again
