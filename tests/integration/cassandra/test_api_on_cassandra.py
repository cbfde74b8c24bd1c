"""The API with `message_store: cassandra`: the composition root opens the Cassandra store,
messages sent over HTTP live in Cassandra's timeline, and /readyz checks Cassandra too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gochat.adapters.cassandra import messages as cassandra_messages
from gochat.adapters.cassandra import session as cassandra_session
from gochat.api.app import build_app
from gochat.core import ids
from tests.integration.api.conftest import Api, api_config


@pytest.fixture
async def api_on_cassandra(
    migrated_database: str,
    nats_server: Any,
    cassandra_keyspace: cassandra_session.Settings,
    tmp_path: Path,
) -> AsyncIterator[Api]:
    cfg = api_config(
        migrated_database,
        nats_server.url,
        message_store="cassandra",
        cassandra_hosts=list(cassandra_keyspace.hosts),
        cassandra_local_dc=cassandra_keyspace.local_dc,
        cassandra_keyspace=cassandra_keyspace.keyspace,
        cassandra_consistency="LOCAL_ONE",
    )
    app = build_app(cfg)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield Api(app, client, migrated_database, tmp_path / "jwt")


async def test_messages_sent_over_http_are_stored_in_cassandra_and_read_back(
    api_on_cassandra: Api,
    cassandra_db: cassandra_session.CassandraSession,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    api = api_on_cassandra
    assert isinstance(api.ctx.messages, cassandra_messages.CassandraMessageStore)
    owner = await api.user()
    _, channel = await api.guild_with_channel(owner)
    sent = [
        (await owner.post(f"/channels/{channel}/messages", json={"content": f"m{n}"})).json()
        for n in range(3)
    ]

    rows = await cassandra_db.run(
        "timeline",
        f"SELECT message_id, content FROM {cassandra_keyspace.keyspace}.messages "
        "WHERE channel_id = %s AND bucket = %s",
        (int(channel), ids.bucket_of(int(sent[0]["id"]))),
    )
    assert [(str(r["message_id"]), r["content"]) for r in rows] == [
        (m["id"], m["content"]) for m in reversed(sent)
    ]
    history = (await owner.get(f"/channels/{channel}/messages?limit=2")).json()
    assert [m["id"] for m in history] == [sent[2]["id"], sent[1]["id"]]
    edited = await owner.patch(
        f"/channels/{channel}/messages/{sent[0]['id']}", json={"content": "changed"}
    )
    assert edited.status_code == 200, edited.text
    deleted = await owner.delete(f"/channels/{channel}/messages/{sent[1]['id']}")
    assert deleted.status_code == 204
    history = (await owner.get(f"/channels/{channel}/messages")).json()
    assert [(m["id"], m["content"]) for m in history] == [
        (sent[2]["id"], "m2"),
        (sent[0]["id"], "changed"),
    ]


async def test_readyz_checks_cassandra_besides_postgres(api_on_cassandra: Api) -> None:
    assert (await api_on_cassandra.client.get("/readyz")).status_code == 200
    store = api_on_cassandra.ctx.messages
    assert isinstance(store, cassandra_messages.CassandraMessageStore)
    await store._db.close()  # the API's Cassandra connections are gone

    ready = await api_on_cassandra.client.get("/readyz")
    assert ready.status_code == 503
    assert list(ready.json()["error"]["details"]) == ["cassandra"]
