"""Random incidents, seeded: rows that commit late (held-open transactions), PubAcks lost after
the events were stored, events not sent at all, relay sessions cut between the PubAcks and the
DELETE, and a second relay stepping in while the first holds a stale batch. Whatever happens,
every committed event is stored exactly once and each scope's events in commit order.

The relays are stepped by hand (`OutboxRelay.publish_batch` on a session of the test's own),
so every interleaving is chosen by the seed, not by timing."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg
import pytest
from asyncpg.exceptions._base import InternalClientError
from nats.aio import client as nats_client

from gochat import ports
from gochat.adapters.nats import connection, publisher
from gochat.adapters.postgres import database, outbox_relay
from tests.fixtures import servers
from tests.integration.events import pipeline

# Seeds under which the relay before per-scope publishing reordered a scope (5 of the 8 seeds
# tried failed with it); any seed must pass now.
SEEDS = (20261204, 20261205)
ITERATIONS = 150
Hook = Callable[[], Awaitable[None]]


@dataclass
class FaultyPublisher:
    """The real publisher with the incident the test chose for the next call: a hook before
    or after it, PubAcks lost (a scope's events from some point on are stored but reported
    unacknowledged), or events withheld (from some point on a scope's events are not sent)."""

    inner: ports.EventPublisher
    rng: random.Random
    before: Hook | None = None
    after: Hook | None = None
    lose_acks: bool = False
    withhold: bool = False
    calls: int = field(default=0)

    async def publish_per_scope(
        self, events: Sequence[ports.OutboundEvent]
    ) -> ports.PublishOutcome:
        self.calls += 1
        before, after, self.before, self.after = self.before, self.after, None, None
        lose, withhold, self.lose_acks, self.withhold = self.lose_acks, self.withhold, False, False
        if before:
            await before()
        cut = self._scope_suffix(events) if lose or withhold else set()
        sent = [position for position in range(len(events)) if not (withhold and position in cut)]
        outcome = await self.inner.publish_per_scope([events[p] for p in sent])
        acked = {sent[i] for i in outcome.acked} - cut
        error = outcome.error
        if cut and error is None:
            error = TimeoutError("lost PubAck") if lose else ConnectionError("not sent")
        if after:
            await after()
        return ports.PublishOutcome(frozenset(acked), error, outcome.duplicates)

    def _scope_suffix(self, events: Sequence[ports.OutboundEvent]) -> set[int]:
        scope = self.rng.choice([event.scope for event in events])
        of_scope = [p for p, event in enumerate(events) if event.scope == scope]
        return set(of_scope[self.rng.randrange(len(of_scope)) :])


@dataclass
class SteppedRelay:
    relay: outbox_relay.OutboxRelay
    faults: FaultyPublisher
    dsn: str
    session: asyncpg.Connection | None = None

    async def step(self) -> None:
        """One look; a session cut on the way counts as the relay reconnecting."""
        if self.session is None or self.session.is_closed():
            self.session = await asyncpg.connect(self.dsn)
        try:
            await self.relay.publish_batch(self.session)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, InternalClientError):
            # The relay's loop reconnects after any of these (a cut session shows as one).
            self.session.terminate()
            self.session = None
        finally:  # an incident planned for a look that found nothing is dropped
            self.faults.before = self.faults.after = None
            self.faults.lose_acks = self.faults.withhold = False

    async def cut_session(self) -> None:
        assert self.session is not None
        pid = self.session.get_server_pid()
        killer = await asyncpg.connect(self.dsn)
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()


@pytest.mark.parametrize("seed", SEEDS)
async def test_random_incidents_keep_every_event_once_and_every_scope_in_commit_order(
    seed: int,
    db: database.Database,
    migrated_dsn: str,
    writers: pipeline.Writers,
    event_stream: pipeline.EventStream,
    nats_server: servers.NatsServer,
) -> None:
    rng = random.Random(seed)
    clients: list[nats_client.Client] = []
    relays: list[SteppedRelay] = []
    for name in ("first", "second"):
        client = await connection.connect(nats_server.url, name=f"test-relay-{name}")
        clients.append(client)
        # The first relay sends every run of two or more events of a scope as an atomic
        # batch, the second one event at a time.
        batching = publisher.ATOMIC_BATCHES_IN_FLIGHT if name == "first" else 0
        faults = FaultyPublisher(
            publisher.JetStreamPublisher(
                client,
                stream=event_stream.name,
                ack_timeout=5,
                max_atomic_batches=batching,
                min_atomic_batch=2,
            ),
            rng,
        )
        relay = outbox_relay.OutboxRelay(
            dsn=migrated_dsn, database=db, publisher=faults, batch_size=rng.choice([4, 8, 64])
        )
        relays.append(SteppedRelay(relay, faults, migrated_dsn))
    scopes = list(writers.committed)
    held: list[pipeline.HeldWrite] = []
    incidents: dict[str, int] = {}

    def free_scopes() -> list[int]:
        busy = {write.scope_id for write in held}
        return [scope for scope in scopes if scope not in busy]

    async def write_some() -> None:
        for _ in range(rng.randint(0, 3)):
            if free := free_scopes():
                await writers.write(rng.choice(free), count=rng.randint(1, 3))

    async def commit_late() -> None:
        if held:
            await held.pop(rng.randrange(len(held))).commit()
            if rng.random() < 0.7:
                await write_some()  # later rows of the late row's scope, often

    try:
        for _ in range(ITERATIONS):
            if rng.random() < 0.5 and (free := free_scopes()):
                held.append(await writers.begin(rng.choice(free), count=rng.randint(1, 2)))
            await write_some()
            if rng.random() < 0.3:
                await commit_late()
            first, second = rng.sample(relays, 2)
            incident = rng.choice(
                ["none", "lost_acks", "not_sent", "cut_session", "stale_leader", "overtaken"]
            )
            incidents[incident] = incidents.get(incident, 0) + 1
            if incident == "lost_acks":
                first.faults.lose_acks = True
            elif incident == "not_sent":
                first.faults.withhold = True
            elif incident == "cut_session":

                async def cut_then_commit(relay: SteppedRelay = first) -> None:
                    await relay.cut_session()
                    await commit_late()

                first.faults.after = cut_then_commit
            elif incident == "stale_leader":
                # `first` read its batch; before it publishes, a late row commits and
                # `second` publishes everything it sees (a takeover while `first` stalls).
                async def take_over(relay: SteppedRelay = second) -> None:
                    await commit_late()
                    await relay.step()

                first.faults.before = take_over
            elif incident == "overtaken":
                # `first` stored its batch but has not deleted it when `second` reads.
                async def overtake(relay: SteppedRelay = second) -> None:
                    await commit_late()
                    await relay.step()

                first.faults.after = overtake
            await first.step()
        while held:
            await commit_late()
        for _ in range(writers.total() + 10):  # drained long before: each step acks one
            if not await pipeline.outbox_event_ids(db):
                break
            await relays[0].step()
    finally:
        for stepped in relays:
            if stepped.session is not None:
                stepped.session.terminate()
        for client in clients:
            await client.close()

    assert not await pipeline.outbox_event_ids(db)
    assert set(incidents) == {
        "none", "lost_acks", "not_sent", "cut_session", "stale_leader", "overtaken"
    }  # fmt: skip
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())
