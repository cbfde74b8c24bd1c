"""Background work the API process runs beside request handling: the outbox relay.

NATS must answer at start (a pod that cannot reach it restarts, loudly); afterwards the client
reconnects by itself, and while NATS is away writes keep committing to the outbox, which the
relay drains in order once NATS is back. Readiness therefore depends on PostgreSQL only: an
API that refused traffic during a NATS blip would turn a delay into an outage. The backlog is
visible as `gochat_outbox_unpublished_events`.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio import client as nats_client

from gochat.adapters.nats import connection, publisher, stream
from gochat.adapters.postgres import outbox_relay
from gochat.api.context import ApiContext


@dataclass
class EventPipeline:
    client: nats_client.Client
    relay: outbox_relay.OutboxRelay

    async def stop(self, *, grace_seconds: float) -> None:
        await self.relay.stop(grace_seconds=grace_seconds)
        await self.client.drain()


async def start(ctx: ApiContext) -> EventPipeline:
    cfg = ctx.config
    client = await connection.connect_with(cfg, name="gochat-api")
    info = await stream.ensure_stream(
        client.jetstream(), cfg.nats_stream, limits=stream.limits_for(cfg)
    )
    # A server before 2.12 does not know allow_atomic (it reports it unset) and would store a
    # batch's events one by one, unchecked: batches only where the stream says it takes them.
    atomic = publisher.ATOMIC_BATCHES_IN_FLIGHT if info.config.allow_atomic else 0
    relay = outbox_relay.OutboxRelay(
        dsn=cfg.pg_dsn,
        database=ctx.db,
        publisher=publisher.JetStreamPublisher(
            client, stream=cfg.nats_stream, max_atomic_batches=atomic
        ),
        batch_size=cfg.outbox_batch_size,
        poll_seconds=cfg.outbox_poll_seconds,
        gather_seconds=cfg.outbox_gather_ms / 1000,
        duplicate_window_seconds=cfg.nats_duplicate_window_seconds,
    )
    await relay.start()
    return EventPipeline(client, relay)
