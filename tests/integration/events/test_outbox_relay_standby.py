"""A standby relay waits for leadership without holding back VACUUM.

A statement blocked in `pg_advisory_lock` keeps its snapshot for as long as it waits, and that
snapshot's xmin is the oldest the database must keep: while another replica led, no table could
be vacuumed or HOT-pruned (the outbox, channels' last_message_id, everything) and PostgreSQL's CPU
per send rose with the platform's age."""

from __future__ import annotations

import asyncio

from gochat.adapters.postgres import database
from tests.integration.events.pipeline import RelayFactory, wait_for

SAMPLES = 20


async def test_a_standby_relay_holds_no_snapshot_while_another_leads(
    make_relay: RelayFactory, db: database.Database
) -> None:
    leader = await make_relay()
    await wait_for(lambda: leader.is_leader)
    standby = await make_relay(standby_poll_seconds=0.1)
    await asyncio.sleep(0.3)  # the standby has tried the lock a few times by now
    assert not standby.is_leader

    held = 0
    for _ in range(SAMPLES):
        row = await db.fetchrow(
            "relay_snapshots",
            """SELECT count(*) FROM pg_stat_activity
                WHERE application_name = 'gochat-outbox-relay' AND backend_xmin IS NOT NULL""",
        )
        assert row is not None
        held += row[0]
        await asyncio.sleep(0.025)
    # A try-lock takes well under a millisecond of each 100 ms: a sample catching one is rare.
    # The blocking wait it replaced held its snapshot in every sample.
    assert held <= 2, f"relay connections held a snapshot in {held} of {SAMPLES} samples"


async def test_the_standby_takes_over_within_its_poll_interval(make_relay: RelayFactory) -> None:
    leader = await make_relay()
    await wait_for(lambda: leader.is_leader)
    standby = await make_relay(standby_poll_seconds=0.2)
    await asyncio.sleep(0.3)
    await leader.stop()
    await wait_for(lambda: standby.is_leader, within=2.0)
