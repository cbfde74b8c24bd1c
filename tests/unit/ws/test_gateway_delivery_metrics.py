"""The send->deliver histogram: one observation per session a MESSAGE_CREATE is queued for, of
the gateway's clock minus the message id's creation time; replays and other events are not
observed."""

from __future__ import annotations

import asyncio
import math
import time

import prometheus_client
from prometheus_client import Histogram

from gochat.core import ids
from gochat.ws import metrics
from gochat.ws.hub import Hub
from gochat.ws.session import Outbox
from tests.unit.ws import fakes
from tests.unit.ws.fakes import GUILD_ID, OWNER_ID

CHANNEL, MEMBER = 10, 2
NAME = "gochat_ws_message_delivery_seconds"


def _samples(registry: prometheus_client.CollectorRegistry) -> dict[tuple, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_recording_n_deliveries_equals_n_observations() -> None:
    weighted, plain = prometheus_client.CollectorRegistry(), prometheus_client.CollectorRegistry()
    buckets = (0.01, 0.1, 1.0)
    by_weight = Histogram("latency", "h", ["scope"], buckets=buckets, registry=weighted)
    by_observe = Histogram("latency", "h", ["scope"], buckets=buckets, registry=plain)
    recorder = metrics.DeliveryLatency(by_weight)
    for scope, seconds, count in [
        ("guild", 0.01, 3),  # on a bound: in that bucket, as `observe` puts it
        ("guild", 0.05, 1000),
        ("dm", 2.0, 2),  # past the last bound: +Inf only
        ("guild", -0.004, 5),  # a clock skew: counted as 0
    ]:
        recorder.record(scope, seconds, count)
        for _ in range(count):
            by_observe.labels(scope).observe(max(seconds, 0.0))
    got, want = _samples(weighted), _samples(plain)
    assert got.keys() == want.keys()
    for key, value in want.items():  # sums differ in the last digits (one product, n sums)
        assert math.isclose(got[key], value, rel_tol=1e-12), key


async def _hub_with_two_sessions() -> tuple[Hub, Outbox, list[fakes.RecordingTransport]]:
    tx = fakes.guild_tx(members={OWNER_ID: [], MEMBER: []}, channels=[CHANNEL])
    hub = Hub(directory=fakes.FakeDirectory(tx), replay=None)  # type: ignore[arg-type]
    outbox = Outbox(interval=0, queue_max=100, on_overflow=lambda s: None)
    transports = []
    for user_id in (OWNER_ID, MEMBER):
        session, transport = fakes.live_session(outbox, user_id)
        hub.add_session(session)
        await hub.attach(session, [GUILD_ID])
        transports.append(transport)
    return hub, outbox, transports


def _count(scope: str) -> float:
    value = prometheus_client.REGISTRY.get_sample_value(f"{NAME}_count", {"scope": scope})
    return value or 0.0


def _bucket(scope: str, le: str) -> float:
    labels = {"scope": scope, "le": le}
    return prometheus_client.REGISTRY.get_sample_value(f"{NAME}_bucket", labels) or 0.0


async def test_a_live_message_is_observed_once_per_session_with_its_age() -> None:
    hub, _, transports = await _hub_with_two_sessions()
    count, fast, slow = _count("guild"), _bucket("guild", "0.1"), _bucket("guild", "0.5")
    created_ms = time.time_ns() // 1_000_000 - 300  # sent 300 ms ago
    hub.handle(1, fakes.message(CHANNEL, "hello", event_id=ids.smallest_id_at(created_ms)))
    await asyncio.sleep(0)
    assert all(t.dispatches() for t in transports)
    assert _count("guild") == count + 2  # one per delivery
    assert _bucket("guild", "0.1") == fast  # not under 300 ms
    assert _bucket("guild", "0.5") == slow + 2


async def test_replayed_messages_and_other_events_are_not_observed() -> None:
    hub, outbox, _ = await _hub_with_two_sessions()
    before = _count("guild")
    edit = fakes.message(CHANNEL, "edited", event_id=999)
    hub.handle(1, edit.model_copy(update={"type": "MESSAGE_UPDATE"}))
    assert _count("guild") == before
    old_id = ids.smallest_id_at(time.time_ns() // 1_000_000 - 60_000)
    hub.handle(2, fakes.message(CHANNEL, "a minute old", event_id=old_id))
    assert _count("guild") == before + 2
    late, _ = fakes.live_session(outbox, OWNER_ID)
    late.skip_through = 0
    hub.add_session(late)
    await hub.attach(late, [GUILD_ID])
    assert await hub.catch_up(late, 0) == 2  # the edit and the message, from the ring
    assert _count("guild") == before + 2  # a replay is no live delivery
