"""A real gateway process counts IDENTIFYs by outcome and observes each delivery of a message
by the age of its id."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from prometheus_client import parser

from gochat.client.gateway import GatewayClient
from gochat.core import events, ids, schemas
from gochat.ws.protocol import CloseCode
from tests.integration.events.pipeline import eventually


async def _samples(http_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{http_url}/metrics")).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in parser.text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _identified(http_url: str, sessions: int) -> bool:
    samples = await _samples(http_url)
    return _value(samples, "gochat_ws_identifies_total", outcome="ready") >= sessions


async def test_identify_outcomes_and_delivery_latency_reach_metrics(world, gateways):
    gateway = gateways()
    owner, member = await world.user(), await world.user()
    await world.create_guild(owner)
    await world.add_member(member)
    channel_id = await world.create_channel()

    refused = await GatewayClient.connect(gateway.url)
    await refused.send(2, {"token": "garbage"})
    assert (await refused.wait_closed())[0] == CloseCode.AUTHENTICATION_FAILED
    clients = [await GatewayClient.connect(gateway.url) for _ in range(2)]
    for client, user in zip(clients, (owner, member), strict=True):
        await client.identify(user.token)
    # READY goes out before the session is live: an event published at once can reach a session
    # through its catch-up replay, which is not observed (a replay's age is not a delivery's).
    # The identify counts "ready" once the session is live.
    await eventually(lambda: _identified(gateway.http, 2), within=10)

    # A message created 2 s ago (its snowflake's time) reaches both sessions now.
    sent_ms = time.time_ns() // 1_000_000 - 2000
    message = schemas.Message(
        id=ids.smallest_id_at(sent_ms) | 1, channel_id=channel_id, guild_id=world.guild_id,
        author=schemas.User(id=owner.user_id, username="u", created_at=datetime.now(UTC)),
        content="late", created_at=datetime.now(UTC),
    )  # fmt: skip
    await world.publish(
        events.build(
            "MESSAGE_CREATE", message, event_id=message.id, scope="guild",
            scope_id=world.guild_id, guild_id=world.guild_id, channel_id=channel_id,
        )
    )  # fmt: skip
    for client in clients:
        assert (await client.wait_for("MESSAGE_CREATE")).d["content"] == "late"

    samples = await _samples(gateway.http)
    name = "gochat_ws_identifies_total"
    assert _value(samples, name, outcome="ready") == 2
    assert _value(samples, name, outcome="auth_failed") == 1
    latency = "gochat_ws_message_delivery_seconds"
    assert _value(samples, f"{latency}_count", scope="guild") == 2
    assert _value(samples, f"{latency}_bucket", scope="guild", le="1.0") == 0
    assert _value(samples, f"{latency}_bucket", scope="guild", le="5.0") == 2
    assert 4 <= _value(samples, f"{latency}_sum", scope="guild") < 10
    for client in clients:
        await client.close()
