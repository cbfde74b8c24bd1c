"""The domain-event stream is created as documented, brought up to date, and de-duplicates."""

from __future__ import annotations

import typing
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from nats.aio import client as nats_client
from nats.js import api as js_api

from gochat import ports
from gochat.adapters.nats import publisher, stream
from gochat.adapters.postgres import database, outbox_relay
from gochat.core import config
from tests.integration.events import pipeline


@pytest.fixture
async def stream_name(client: nats_client.Client) -> AsyncIterator[str]:
    name = f"TEST_{uuid.uuid4().hex[:12].upper()}"
    await pipeline.remove_streams_capturing_events(client)
    try:
        yield name
    finally:
        await client.jetstream().delete_stream(name)


async def test_ensure_stream_creates_a_file_stream_capturing_every_domain_event(
    client: nats_client.Client, stream_name: str
) -> None:
    info = await stream.ensure_stream(client.jetstream(), stream_name)

    config = info.config
    assert config.subjects == ["gochat.ev.>"]
    assert config.storage == js_api.StorageType.FILE
    assert config.retention == js_api.RetentionPolicy.LIMITS
    assert config.discard == js_api.DiscardPolicy.OLD
    assert config.duplicate_window == timedelta(minutes=5).total_seconds()
    assert config.max_age == timedelta(days=7).total_seconds()
    assert config.max_bytes == stream.StreamLimits().max_bytes


async def test_ensure_stream_is_idempotent_and_applies_changed_limits(
    client: nats_client.Client, stream_name: str
) -> None:
    js = client.jetstream()
    first = await stream.ensure_stream(js, stream_name)
    again = await stream.ensure_stream(js, stream_name)
    assert again.config == first.config

    shorter = stream.StreamLimits(max_age=timedelta(days=1), max_bytes=1024**3)
    updated = await stream.ensure_stream(js, stream_name, limits=shorter)
    assert (updated.config.max_age, updated.config.max_bytes) == (86400, 1024**3)


async def test_ensure_stream_lets_an_existing_stream_take_atomic_batches(
    client: nats_client.Client, stream_name: str
) -> None:
    # A stream created before the relay sent atomic batches has allow_atomic unset.
    js = client.jetstream()
    await js.add_stream(name=stream_name, subjects=["gochat.ev.>"])
    assert not (await js.stream_info(stream_name)).config.allow_atomic
    info = await stream.ensure_stream(js, stream_name)
    assert info.config.allow_atomic is True


async def test_ensure_stream_refuses_to_change_the_storage_of_an_existing_stream(
    client: nats_client.Client, stream_name: str
) -> None:
    js = client.jetstream()
    await js.add_stream(
        name=stream_name, subjects=["gochat.ev.>"], storage=js_api.StorageType.MEMORY
    )
    with pytest.raises(stream.StreamConfigError, match="storage"):
        await stream.ensure_stream(js, stream_name)


async def test_a_republished_event_is_stored_once(
    client: nats_client.Client, stream_name: str
) -> None:
    js = client.jetstream()
    await stream.ensure_stream(js, stream_name)
    events_publisher = publisher.JetStreamPublisher(client, stream=stream_name)
    first = ports.OutboundEvent(
        subject="gochat.ev.guild.1.GUILD_UPDATE",
        payload=b"{}",
        msg_id="123",
        headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
    )
    for _ in range(3):
        outcome = await events_publisher.publish_per_scope([first])
        assert (outcome.acked, outcome.error) == ({0}, None)
    second = ports.OutboundEvent(
        subject="gochat.ev.guild.1.GUILD_UPDATE", payload=b"{}", msg_id="124"
    )
    assert await events_publisher.publish_per_scope([second]) == ports.PublishOutcome(
        frozenset({0})
    )

    info = await js.stream_info(stream_name)
    assert info.state.messages == 2
    stored = await js.get_msg(stream_name, 1)
    assert stored.headers is not None
    assert stored.headers["Nats-Msg-Id"] == "123"
    assert stored.headers["traceparent"].startswith("00-111")


async def test_publishing_to_a_subject_outside_the_stream_fails(
    client: nats_client.Client, stream_name: str
) -> None:
    await stream.ensure_stream(client.jetstream(), stream_name)
    events_publisher = publisher.JetStreamPublisher(client, stream=stream_name, ack_timeout=1)
    outcome = await events_publisher.publish_per_scope(
        [ports.OutboundEvent(subject="elsewhere.1", payload=b"{}", msg_id="1")]
    )
    assert not outcome.acked
    assert outcome.error is not None  # no stream answers: the client's error varies


async def test_the_duplicate_window_is_the_configured_one_and_exported_for_the_alert(
    client: nats_client.Client, stream_name: str
) -> None:
    cfg = config.load_config(
        config.ApiConfig, service="api", env={"GOCHAT_NATS_DUPLICATE_WINDOW_SECONDS": "120"}
    )
    info = await stream.ensure_stream(
        client.jetstream(), stream_name, limits=stream.limits_for(cfg)
    )
    assert info.config.duplicate_window == 120

    outbox_relay.OutboxRelay(
        dsn="postgresql://unused",
        database=typing.cast(database.Database, None),
        publisher=publisher.JetStreamPublisher(client, stream=stream_name),
        duplicate_window_seconds=cfg.nats_duplicate_window_seconds,
    )
    assert outbox_relay.OUTBOX_DUPLICATE_WINDOW._value.get() == 120


def test_a_duplicate_window_out_of_bounds_is_refused_naming_the_key() -> None:
    for bad in ("0", "86401", "soon"):
        with pytest.raises(config.ConfigError, match="nats_duplicate_window_seconds"):
            config.load_config(
                config.IndexerConfig,
                service="indexer",
                env={"GOCHAT_NATS_DUPLICATE_WINDOW_SECONDS": bad},
            )
