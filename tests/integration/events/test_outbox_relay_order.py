"""A scope's events reach the stream in commit order even when a batch is read again while some
of its rows are already stored and a row of that scope committed late (its seq is lower than
rows already sent): after a session cut before the DELETE, after PubAcks reported lost, and
with two relays overlapping.

The setup of each: the stream holds A B C (scope 202) whose rows were not deleted; X (scope 101)
got its seq between A and B but commits only now, followed by D and E (scope 101). The batch
read again is [A, X, B, C, D, E]: JetStream answers A, B, C as duplicates whatever any header
says, so a chain of expectations through the batch let D and E in before X."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from gochat import ports
from gochat.adapters.postgres import outbox_relay
from tests.integration.events import pipeline
from tests.integration.events.pipeline import RelayFactory, wait_for
from tests.integration.events.test_outbox_relay import terminate_lock_holder

LATE, OTHER = 101, 202


async def rows_with_a_late_one(writers: pipeline.Writers) -> pipeline.HeldWrite:
    """A committed; X (scope 101) holds a seq after A and stays uncommitted; B, C committed."""
    await writers.write(OTHER)
    late = await writers.begin(LATE)
    await writers.write(OTHER, count=2)
    return late


async def commit_late_row_and_more_of_its_scope(
    writers: pipeline.Writers, late: pipeline.HeldWrite
) -> None:
    await late.commit()
    await writers.write(LATE, count=2)


async def test_a_batch_read_again_after_a_session_cut_keeps_a_late_row_first_in_its_scope(
    make_relay: RelayFactory,
    writers: pipeline.Writers,
    event_stream: pipeline.EventStream,
    migrated_dsn: str,
) -> None:
    late = await rows_with_a_late_one(writers)
    cut = asyncio.Event()

    async def cut_before_the_delete(batch: Sequence[ports.OutboundEvent]) -> None:
        if not cut.is_set():
            cut.set()
            assert len(batch) == 3  # A, B, C: X is not visible yet
            assert await terminate_lock_holder(migrated_dsn) == 1
            await commit_late_row_and_more_of_its_scope(writers, late)

    relay = await make_relay(after_publish=cut_before_the_delete)
    await event_stream.wait_until_published(relay, expected=writers.total())
    assert cut.is_set()
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())


@dataclass
class AcksLostOnce:
    """The real publisher, except that its first batch, although stored, is reported as
    nothing acknowledged (a PubAck timeout); `meanwhile` runs before that report."""

    inner: ports.EventPublisher
    meanwhile: pipeline.HeldWrite
    writers: pipeline.Writers
    reported: bool = False

    async def publish_per_scope(
        self, events: Sequence[ports.OutboundEvent]
    ) -> ports.PublishOutcome:
        outcome = await self.inner.publish_per_scope(events)
        if self.reported:
            return outcome
        self.reported = True
        assert outcome.error is None
        assert len(outcome.acked) == 3  # A, B, C: X is not visible yet
        await commit_late_row_and_more_of_its_scope(self.writers, self.meanwhile)
        return ports.PublishOutcome(frozenset(), TimeoutError("no PubAck within 2 s"))


async def test_a_stored_batch_reported_as_an_ack_timeout_keeps_a_late_row_first_in_its_scope(
    make_relay: RelayFactory, writers: pipeline.Writers, event_stream: pipeline.EventStream
) -> None:
    late = await rows_with_a_late_one(writers)
    wrapped: list[AcksLostOnce] = []

    def lose_the_first_acks(inner: ports.EventPublisher) -> ports.EventPublisher:
        wrapped.append(AcksLostOnce(inner, late, writers))
        return wrapped[0]

    relay = await make_relay(wrap_publisher=lose_the_first_acks)
    await event_stream.wait_until_published(relay, expected=writers.total())
    assert wrapped[0].reported
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())


async def test_an_old_leader_with_a_stale_batch_and_a_new_one_with_a_late_row_keep_scope_order(
    make_relay: RelayFactory,
    writers: pipeline.Writers,
    event_stream: pipeline.EventStream,
    migrated_dsn: str,
) -> None:
    late = await rows_with_a_late_one(writers)
    old_leader_may_go_on = asyncio.Event()
    held_once = asyncio.Event()

    async def hold_the_old_leader(batch: Sequence[ports.OutboundEvent]) -> None:
        # The old leader stored its stale [A, B, C] and lost its session; until the new
        # leader is done it cannot reach its DELETE.
        if not held_once.is_set():
            held_once.set()
            assert await terminate_lock_holder(migrated_dsn) == 1
            await old_leader_may_go_on.wait()

    old = await make_relay(after_publish=hold_the_old_leader, standby_poll_seconds=0.02)
    await wait_for(held_once.is_set)
    await commit_late_row_and_more_of_its_scope(writers, late)
    new = await make_relay(standby_poll_seconds=0.02)
    await wait_for(lambda: new.is_leader)
    try:
        await event_stream.wait_until_published(new, expected=writers.total())
    finally:
        old_leader_may_go_on.set()
    await wait_for(lambda: not old.is_leader)
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())
    assert outbox_relay.OUTBOX_LEADER._value.get() in (0, 1)
