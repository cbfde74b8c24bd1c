"""Presence records and gateway leases (adapters/nats/presence.py) with the tracker that keeps
them (ws/presence.py), against the session's real NATS, in buckets of the test's own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import nats
import pytest

from gochat.adapters.nats import gateway_events
from gochat.adapters.nats import presence as presence_store
from gochat.core import events, ids
from gochat.ws import presence as ws_presence
from gochat.ws.presence import PresenceTracker
from tests.fixtures.servers import NatsServer

GUILD = 7


class RecordingFeed:
    """Collects the PRESENCE_UPDATE events a tracker would put on the stream."""

    def __init__(self) -> None:
        self.published: list[events.Event] = []

    async def publish(self, event: events.Event) -> None:
        self.published.append(event)

    def statuses_of(self, user_id: int) -> list[str]:
        return [e.data["status"] for e in self.published if int(e.data["user_id"]) == user_id]


@pytest.fixture
async def store_factory(
    nats_server: NatsServer,
) -> AsyncIterator[Callable[..., Any]]:
    client = await nats.connect(nats_server.url)
    suffix = uuid.uuid4().hex[:8]
    buckets = {"users_bucket": f"presence_users_{suffix}", "leases_bucket": f"leases_{suffix}"}

    async def make(*, lease_ttl_seconds: float = 60.0) -> presence_store.PresenceStore:
        store = presence_store.PresenceStore(client, **buckets, lease_ttl_seconds=lease_ttl_seconds)
        await store.open()
        return store

    try:
        yield make
    finally:
        js = client.jetstream()
        for bucket in buckets.values():
            await js.delete_key_value(bucket)
        await client.close()


async def _tracker(
    store: presence_store.PresenceStore, feed: RecordingFeed, *, grace: float = 0.0
) -> PresenceTracker:
    async def guild_size(guild_id: int) -> int:
        return 2

    async def guilds_of(user_id: int) -> list[int]:
        return [GUILD]

    tracker = PresenceTracker(
        store=store,
        feed=cast(gateway_events.EventFeed, feed),
        id_source=ids.SnowflakeGenerator(1),
        gateway_id=uuid.uuid4().hex[:12],
        grace_seconds=grace,
        guild_size=guild_size,
        guilds_of=guilds_of,
    )
    await tracker.start()
    return tracker


async def _status(tracker: PresenceTracker, user_id: int) -> events.PresenceUpdated:
    (found,) = await tracker.statuses([user_id], guild_id=GUILD)
    return found


async def test_a_user_goes_offline_only_when_their_last_gateway_lets_go(store_factory):
    store, feed = await store_factory(), RecordingFeed()
    first, second = await _tracker(store, feed), await _tracker(store, feed)

    await first.connected(1, "online")
    await second.connected(1, "dnd")
    first.disconnected(1)
    await first.settle(wait_seconds=5)
    assert (await _status(second, 1)).status == "dnd"

    second.disconnected(1)
    await second.settle(wait_seconds=5)
    gone = await _status(first, 1)
    assert gone.status == "offline" and gone.last_seen is not None
    # One announcement per change others can see: no second "online" when the user connected
    # through another gateway, no "offline" while one gateway still held them.
    assert feed.statuses_of(1) == ["online", "dnd", "offline"]


async def test_a_presence_outlives_the_lease_ttl_while_its_gateway_renews(store_factory):
    store, feed = await store_factory(lease_ttl_seconds=1.0), RecordingFeed()
    gateway = await _tracker(store, feed)
    await gateway.connected(2, "idle")
    for _ in range(6):
        await asyncio.sleep(0.4)
        await gateway.renew_lease()
    assert (await _status(gateway, 2)).status == "idle"

    gateway.disconnected(2)
    await gateway.settle(wait_seconds=5)
    await asyncio.sleep(1.5)  # records never expire: last-seen stays known
    assert (await store.read(2)).last_seen is not None


async def test_users_of_a_gateway_that_died_read_offline_once_its_lease_is_gone(
    store_factory, monkeypatch
):
    store, feed = await store_factory(lease_ttl_seconds=1.0), RecordingFeed()
    dead, alive = await _tracker(store, feed), await _tracker(store, feed)
    await dead.connected(3, "online")
    await alive.connected(4, "online")
    assert (await _status(alive, 3)).status == "online"

    monkeypatch.setattr(ws_presence, "LEASE_CACHE_SECONDS", 0.2)
    await asyncio.sleep(1.5)  # the dead gateway's lease expires; the live one renews
    await alive.renew_lease()
    assert (await _status(alive, 3)).status == "offline"
    assert (await _status(alive, 4)).status == "online"

    # The user's next connection drops the dead gateway from their record.
    await alive.connected(3, "online")
    assert set((await store.read(3)).gateways) == {alive.gateway_id}


async def test_gateways_racing_on_one_user_all_end_up_in_the_record(store_factory):
    store, feed = await store_factory(), RecordingFeed()
    trackers = [await _tracker(store, feed) for _ in range(12)]
    await asyncio.gather(*(t.connected(5, "online") for t in trackers))
    assert set((await store.read(5)).gateways) == {t.gateway_id for t in trackers}
    assert feed.statuses_of(5) == ["online"]


async def test_a_mass_disconnect_settles_without_a_consumer_per_user(store_factory, nats_server):
    store, feed = await store_factory(), RecordingFeed()
    gateway = await _tracker(store, feed)
    users = range(100, 2_100)
    for user_id in users:
        await gateway.connected(user_id, "online")
    for user_id in users:
        gateway.disconnected(user_id)
    await gateway.settle(wait_seconds=60)

    assert {(await store.read(u)).status for u in users} == {"offline"}
    assert sum(s == "offline" for s in (feed.statuses_of(u)[-1] for u in users)) == 2_000
    # Deciding "offline" reads one record: it must not list keys (a consumer per user).
    client = await nats.connect(nats_server.url)
    try:
        info = await client.jetstream().stream_info(f"KV_{store.users_bucket}")
        assert info.state.consumer_count == 0
    finally:
        await client.close()
    assert await store.held_by(gateway.gateway_id) == []  # each verdict released its user


async def test_users_of_a_gateway_that_died_are_announced_offline_by_one_sweep(
    store_factory, nats_server
):
    store, feed = await store_factory(lease_ttl_seconds=1.0), RecordingFeed()
    dead = await _tracker(store, feed)
    await dead.connected(6, "online")
    await dead.connected(7, "idle")
    sweepers = [await _tracker(store, feed) for _ in range(2)]
    await sweepers[0].connected(7, "online")  # 7 is still connected elsewhere
    await asyncio.sleep(1.5)  # the dead gateway's lease expires
    for sweeper in sweepers:
        await sweeper.renew_lease()

    await asyncio.gather(*(s.sweep() for s in sweepers))
    await sweepers[0].sweep()
    assert feed.statuses_of(6) == ["online", "offline"]  # once, though three sweeps ran
    assert (await store.read(6)).last_seen is not None
    assert (await store.read(7)).status == "online"
    assert set((await store.read(7)).gateways) == {sweepers[0].gateway_id}
    assert await store.held_by(dead.gateway_id) == []
    assert dead.gateway_id not in await store.registered_gateways()
    # The sweeps' listings leave no consumer behind for long (nats-py's default: 5 minutes).
    client = await nats.connect(nats_server.url)
    try:
        js, deadline = client.jetstream(), asyncio.get_running_loop().time() + 15
        while (await js.stream_info(f"KV_{store.users_bucket}")).state.consumer_count:
            assert asyncio.get_running_loop().time() < deadline, "listing consumers linger"
            await asyncio.sleep(0.5)
    finally:
        await client.close()


async def test_users_whose_verdict_a_stopping_gateway_left_pending_are_swept(store_factory):
    store, feed = await store_factory(), RecordingFeed()
    stopping = await _tracker(store, feed, grace=60.0)
    await stopping.connected(8, "online")
    stopping.disconnected(8)  # the offline verdict waits for its grace period
    await stopping.close()  # ... and is cancelled: the lease ends at once
    other = await _tracker(store, feed)
    await other.sweep()
    assert feed.statuses_of(8) == ["online", "offline"]
    assert await store.registered_gateways() == [other.gateway_id]


async def test_a_gateway_swept_while_cut_off_records_its_users_again(store_factory):
    store, feed = await store_factory(lease_ttl_seconds=1.0), RecordingFeed()
    cut_off, other = await _tracker(store, feed), await _tracker(store, feed)
    await cut_off.connected(9, "dnd")
    await asyncio.sleep(1.5)  # no renewal reached NATS for longer than the lease TTL
    await other.renew_lease()
    await other.sweep()
    assert feed.statuses_of(9) == ["dnd", "offline"]

    await cut_off.renew_lease()  # NATS is back
    assert feed.statuses_of(9) == ["dnd", "offline", "dnd"]
    assert set((await store.read(9)).gateways) == {cut_off.gateway_id}
    assert await store.held_by(cut_off.gateway_id) == [9]
