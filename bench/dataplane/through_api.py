"""Through the REST API, served in-process over ASGI (httpx): the attachment round trip
(request -> upload -> send) on the local folder vs S3 (MinIO), and message sends on each
message store. Client and API share this process and its event loop, so these figures carry
the API's own per-request cost on top of the backend's: compare them side by side only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.dataplane import stats
from bench.ws import seed
from gochat.adapters.postgres import database
from gochat.api.app import build_app
from gochat.auth import keys
from gochat.core import config

BASE_URL = "http://api.test"
FILE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 256  # a 64 KiB "image"


@dataclass
class ApiUser:
    client: httpx.AsyncClient  # the API
    storage: httpx.AsyncClient  # where uploads go: the API itself (localfs) or MinIO
    headers: dict[str, str]
    channel_id: str


@contextlib.asynccontextmanager
async def api_user(
    *, pg_dsn: str, nats_url: str, keys_dir: Path, **overrides: Any
) -> AsyncIterator[ApiUser]:
    """The API on `overrides`, and a user who owns a guild (its #general is `channel_id`)."""
    cfg = config.ApiConfig(
        **{"pg_dsn": pg_dsn, "pg_pool_min": 0, "pg_pool_max": 20, "nats_url": nats_url,
           "jwks_url": "http://127.0.0.1:9/unused", "blob_public_url": BASE_URL} | overrides
    )  # fmt: skip
    db = await database.Database.connect(pg_dsn, service="bench-seed", max_size=2)
    try:
        [(_, token)] = await seed.create_users(db, keys_dir, 1)
    finally:
        await db.close()
    app = build_app(cfg)
    async with app.router.lifespan_context(app):
        app.state.ctx.verifier.load_jwks(keys.KeyRing.load_or_create(keys_dir).jwks())
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client,
            httpx.AsyncClient() as direct,
        ):
            headers = {"Authorization": f"Bearer {token}"}
            guild = (await client.post("/guilds", json={"name": "bench"}, headers=headers)).json()
            listed = await client.get(f"/guilds/{guild['id']}/channels", headers=headers)
            storage = client if cfg.blob_store == "localfs" else direct
            yield ApiUser(client, storage, headers, listed.json()[0]["id"])


async def attachment_round_trip(user: ApiUser) -> dict[str, float]:
    """Seconds of each step of sending one file, as a client does."""
    spec = {"filename": "cat.png", "size": len(FILE), "content_type": "image/png"}
    began = time.perf_counter()
    asked = await user.client.post(
        f"/channels/{user.channel_id}/attachments", json={"files": [spec]}, headers=user.headers
    )
    assert asked.status_code == 200, asked.text
    [slot] = asked.json()["attachments"]
    requested = time.perf_counter()
    if slot["upload_method"] == "POST":
        stored = await user.storage.post(
            slot["upload_url"], data=slot["upload_fields"], files={"file": ("blob", FILE)}
        )
    else:
        stored = await user.storage.put(
            slot["upload_url"], content=FILE, headers=slot["upload_headers"]
        )
    assert stored.status_code in (200, 204), stored.text
    uploaded = time.perf_counter()
    body = {"content": "a file", "attachments": [{"upload_name": slot["upload_name"]}]}
    sent = await user.client.post(
        f"/channels/{user.channel_id}/messages", json=body, headers=user.headers
    )
    assert sent.status_code == 201, sent.text
    done = time.perf_counter()
    return {
        "request": requested - began,
        "upload": uploaded - requested,
        "send": done - uploaded,
        "total": done - began,
    }


async def send_messages(user: ApiUser, *, count: int, senders: int) -> dict[str, float]:
    """`count` text messages by `senders` concurrent clients into the user's channel."""

    async def sender(mine: int) -> None:
        for n in range(mine):
            sent = await user.client.post(
                f"/channels/{user.channel_id}/messages",
                json={"content": f"bench api {n}"},
                headers=user.headers,
            )
            assert sent.status_code == 201, sent.text

    began = time.perf_counter()
    shares = [count // senders + (1 if i < count % senders else 0) for i in range(senders)]
    await asyncio.gather(*(sender(mine) for mine in shares))
    seconds = time.perf_counter() - began
    return {"messages": count, "senders": senders, "seconds": seconds,
            "messages_per_s": count / seconds}  # fmt: skip


async def measure_attachments(
    users: dict[str, ApiUser], *, trips: int, repetitions: int, say: Any
) -> dict[str, Any]:
    for user in users.values():  # first requests open pools and sign keys: not measured
        await attachment_round_trip(user)
    runs: list[dict[str, Any]] = []
    for repetition in range(repetitions):
        for name in stats.rotated(sorted(users), repetition):
            steps: dict[str, list[float]] = {}
            for _ in range(trips):
                for step, seconds in (await attachment_round_trip(users[name])).items():
                    steps.setdefault(step, []).append(seconds)
            run = {step: stats.latency_summary(values) for step, values in steps.items()}
            say(f"attachments {name}: total p50 {run['total']['p50_ms']:.1f} ms")
            runs.append({"backend": name, "repetition": repetition, **run})
    summary: dict[str, Any] = {"file_bytes": len(FILE), "trips_per_run": trips, "runs": runs}
    for step in ("request", "upload", "send", "total"):
        for quantile in ("p50_ms", "p99_ms"):
            flat = [{"backend": r["backend"], "value": r[step][quantile]} for r in runs]
            summary[f"median_{step}_{quantile}"] = stats.medians(flat, key="value")
    totals = summary["median_total_p50_ms"]
    summary["total_p50_s3_vs_localfs"] = totals["s3"] / totals["localfs"]
    return summary


async def measure_writes(
    users: dict[str, ApiUser], *, count: int, senders: int, repetitions: int, say: Any
) -> dict[str, Any]:
    for user in users.values():
        await send_messages(user, count=senders * 5, senders=senders)
    runs = []
    for repetition in range(repetitions):
        for name in stats.rotated(sorted(users), repetition):
            run = await send_messages(users[name], count=count, senders=senders)
            say(f"API writes {name}: {run['messages_per_s']:.0f} messages/s")
            runs.append({"backend": name, "repetition": repetition, **run})
    rates = stats.medians(runs, key="messages_per_s")
    return {
        "runs": runs,
        "median_messages_per_s": rates,
        "cassandra_vs_postgres": rates["cassandra"] / rates["postgres"],
    }
