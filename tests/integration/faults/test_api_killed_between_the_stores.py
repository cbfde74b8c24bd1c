"""The whole pipeline through a send whose API process is SIGKILLed between the Cassandra
write and the PostgreSQL statement that records its events: API (Cassandra store, outbox relay)
-> JetStream -> indexer (PostgreSQL search, or OpenSearch) and gateway -> a connected client.
After the API is started again its repair sweep completes the send: history holds the message
once, search finds it, and the client got exactly one MESSAGE_CREATE (docs/data-plane.md)."""

from __future__ import annotations

import signal

import httpx
import pytest

from gochat.client.gateway import Dispatch, GatewayClient
from tests.integration.faults import services
from tests.integration.faults.conftest import Platform

pytestmark = pytest.mark.timeout(240)
# The restarted API's sweep takes intents older than 1 s, every 0.5 s (the product: 30 s, 10 s).
QUICK_SWEEP = {"GOCHAT_TEST_REPAIR_AFTER_SECONDS": "1", "GOCHAT_TEST_REPAIR_EVERY_SECONDS": "0.5"}


@pytest.fixture(params=["postgres", "opensearch"])
def search_backend(request: pytest.FixtureRequest, platform: Platform) -> str:
    """The API and the indexer on this search backend (OpenSearch: the session's node, an index
    layout of the test's own)."""
    if request.param == "opensearch":
        server = request.getfixturevalue("opensearch_server")
        names = request.getfixturevalue("opensearch_names")
        chosen = {
            "search_backend": "opensearch",
            "opensearch_url": server.url,
            "opensearch_index_prefix": names.prefix,
        }
        platform.api.config |= chosen
        platform.indexer.config |= chosen
    return str(request.param)


async def test_a_send_whose_api_was_killed_midway_is_delivered_indexed_and_listed_once(
    platform: Platform, search_backend: str
) -> None:
    api, indexer, gateway = platform.api, platform.indexer, platform.gateway
    api.start(GOCHAT_TEST_CRASH_AT="after_timeline")
    await api.wait_ready()
    indexer.start()
    gateway.start()
    await indexer.wait_ready()
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
        owner = await services.member(platform.dsn, platform.keys_dir, http)
        reader = await services.member(platform.dsn, platform.keys_dir, http)
        guild_id, channel_id = await services.guild_of_two(owner, reader)
        client = await GatewayClient.connect(gateway.url)
        await client.identify(reader.token)
        seen: list[Dispatch] = []
        try:
            send = {"content": "survived the crash", "nonce": "crash-1"}
            with pytest.raises(httpx.TransportError):  # the API died before answering
                await owner.post(f"/channels/{channel_id}/messages", json=send)
            assert await api.exit_code() == -signal.SIGKILL, api.log()
            seen += await client.drain_dispatches(quiet=1.0)
            assert "MESSAGE_CREATE" not in [d.t for d in seen]  # written, not announced

            api.start(**QUICK_SWEEP)
            await api.wait_ready()
            created = await client.wait_for("MESSAGE_CREATE", timeout=30)
            seen.append(created)
            assert created.d["content"] == "survived the crash"
            message_id = created.d["id"]

            history = (await reader.get(f"/channels/{channel_id}/messages")).json()
            assert [(m["id"], m["content"]) for m in history] == [
                (message_id, "survived the crash")
            ]
            # The client's retry with its nonce gets that message, not a second one.
            retried = await owner.post(f"/channels/{channel_id}/messages", json=send)
            assert retried.status_code in (200, 201), retried.text
            assert retried.json()["id"] == message_id

            async def found() -> bool:
                search = f"/guilds/{guild_id}/messages/search"
                results = (await reader.get(search, params={"q": "survived"})).json()
                return [m["id"] for m in results["messages"]] == [message_id]

            await services.eventually(found, within=30, what="the message in search")
            seen += await client.drain_dispatches(quiet=1.5)
            assert [d.d["id"] for d in seen if d.t == "MESSAGE_CREATE"] == [message_id]
        finally:
            await client.close()
