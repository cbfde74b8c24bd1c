"""The real Cassandra node stops answering (SIGSTOP) while a client sends messages through the
API process: sends answer 503 with Retry-After, nothing is half-written (every message in
history was announced once, every announced message is in history, none answered 503 is
either), and sends succeed again once the node answers (SIGCONT), retries of the refused ones
with their nonces included (docs/data-plane.md)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import nats
import pytest

from gochat.core import config
from tests.fixtures.cassandra import CassandraServer
from tests.integration.events.pipeline import EventStream
from tests.integration.faults import services
from tests.integration.faults.conftest import Platform

pytestmark = pytest.mark.timeout(240)
# The sweep takes intents older than 8 s (the product: 30 s), longer than a send that meets
# the stopped node takes to answer 503 (1 s timeouts), so it never races a live send.
QUICK_SWEEP = {"GOCHAT_TEST_REPAIR_AFTER_SECONDS": "8", "GOCHAT_TEST_REPAIR_EVERY_SECONDS": "0.5"}


@dataclass
class Sent:
    nonce: str
    status: int
    message_id: str | None
    retry_after: str | None


@contextlib.contextmanager
def paused(server: CassandraServer) -> Iterator[None]:
    """The node stops answering (its process is stopped, its sockets stay open) until the end
    of the block, whatever happens in it."""
    assert server.node is not None and server.node.pid is not None
    pid = server.node.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def test_sends_while_cassandra_is_stopped_answer_503_and_leave_nothing_half_written(
    platform: Platform, cassandra_server: CassandraServer
) -> None:
    if cassandra_server.node is None:
        pytest.skip("an external Cassandra cluster is not ours to stop")
    api = platform.api
    api.config["cassandra_request_timeout_seconds"] = 1.0
    api.start(**QUICK_SWEEP)
    await api.wait_ready()
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
        owner = await services.member(platform.dsn, platform.keys_dir, http)
        reader = await services.member(platform.dsn, platform.keys_dir, http)
        _, channel_id = await services.guild_of_two(owner, reader)
        sent: list[Sent] = []

        async def send(nonce: str | None = None) -> Sent:
            nonce = nonce or f"n{len(sent)}"
            body = {"content": f"message {nonce}", "nonce": nonce}
            response = await owner.post(f"/channels/{channel_id}/messages", json=body)
            ok = response.status_code in (200, 201)
            outcome = Sent(
                nonce,
                response.status_code,
                response.json()["id"] if ok else None,
                response.headers.get("Retry-After"),
            )
            sent.append(outcome)
            return outcome

        async def send_until(status: int, *, count: int) -> None:
            async with asyncio.timeout(60):
                while sum(s.status == status for s in sent) < count:
                    await send()

        await send_until(201, count=3)
        before = len(sent)
        with paused(cassandra_server):
            await send_until(503, count=3)
        during = sent[before:]
        # Back: the first sends may still meet the driver reconnecting; then they succeed.
        await send_until(201, count=sum(s.status == 201 for s in sent) + 3)
        # The sweep removes the sends refused but not taken back at once (Cassandra away).
        await services.eventually(
            lambda: settled(platform.dsn), within=60, what="intents resolved, outbox published"
        )
        history = (await reader.get(f"/channels/{channel_id}/messages?limit=100")).json()
        refused = [s for s in sent if s.status != 201]
        assert {(s.status, s.retry_after) for s in refused} == {(503, "2")}, sent
        assert any(s.status == 503 for s in during)
        accepted = sorted(s.message_id for s in sent if s.status == 201 and s.message_id)
        assert sorted(m["id"] for m in history) == accepted  # no refused send in history
        # The client retries each refused send with its nonce, as Retry-After invites it to:
        # the nonce is free again (the refused message was taken out), so each is sent now.
        for each in refused:
            assert (await send(each.nonce)).status == 201, sent[-1]
        await services.eventually(lambda: settled(platform.dsn), what="the outbox published")
        history = (await reader.get(f"/channels/{channel_id}/messages?limit=100")).json()

    accepted = sorted(s.message_id for s in sent if s.status == 201 and s.message_id)
    assert sorted(m["id"] for m in history) == accepted
    assert sorted(m["nonce"] for m in history) == sorted({s.nonce for s in sent})
    client = await nats.connect(platform.nats_url)
    try:
        stream = EventStream(config.ApiConfig().nats_stream, client)
        created = [e for e in await stream.events() if e.type == "MESSAGE_CREATE"]
    finally:
        await client.close()
    assert sorted(str(e.data["id"]) for e in created) == accepted


async def settled(dsn: str) -> bool:
    """No send in flight, no event waiting for the relay."""
    db = await asyncpg.connect(dsn)
    try:
        left = await db.fetchval(
            "SELECT (SELECT count(*) FROM message_intents) + (SELECT count(*) FROM outbox)"
        )
    finally:
        await db.close()
    return bool(left == 0)
