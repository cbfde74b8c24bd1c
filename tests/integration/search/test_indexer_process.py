"""`gochat indexer` as a real process: probes on its port, and restarts mid-stream that lose
nothing and duplicate nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.search import PostgresSearchIndex
from gochat.core import config
from gochat.embedded import process
from gochat.ports import SearchQuery
from tests.integration.search import support
from tests.integration.search.support import Chat, EventsOut, eventually

CHANNEL = support.next_id()
# uvicorn re-raises the stop signal after its orderly shutdown, so a clean stop by SIGTERM exits
# "killed by SIGTERM"; the log shows the shutdown completed.
CLEAN_EXIT = {0, -signal.SIGTERM}


class IndexerProcess:
    """One `python -m gochat indexer`, configured through GOCHAT_* variables."""

    def __init__(self, cfg: config.IndexerConfig, log_path: Path) -> None:
        self.port = process.free_port()
        self.log_path = log_path
        self.env = {
            **os.environ,
            "GOCHAT_CONFIG": "",
            "GOCHAT_PORT": str(self.port),
            "GOCHAT_PG_DSN": cfg.pg_dsn,
            "GOCHAT_NATS_URL": cfg.nats_url,
            "GOCHAT_NATS_STREAM": cfg.nats_stream,
            "GOCHAT_CONSUMER_NAME": cfg.consumer_name,
            "GOCHAT_BATCH_SIZE": "25",
            "GOCHAT_PG_POOL_MIN": "0",
            "GOCHAT_LOG_FORMAT": "text",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gochat", "indexer"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:

            async def ready() -> bool:
                assert self.proc is not None and self.proc.poll() is None, self.log()
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, within=30, what="the indexer to be ready")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.proc = None
        return code

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self) -> str:
        return process.log_tail(self.log_path, lines=40)


@pytest.fixture
def indexer_process(
    indexer_config: config.IndexerConfig, tmp_path: Path
) -> Iterator[IndexerProcess]:
    running = IndexerProcess(indexer_config, tmp_path / "indexer.log")
    try:
        yield running
    finally:
        running.kill_if_running()


async def test_probes_and_metrics_are_served_on_the_port(
    indexer_process: IndexerProcess, events_out: EventsOut, search_db: Database
) -> None:
    indexer_process.start()
    await indexer_process.wait_ready()
    chat = Chat()
    await events_out.send(chat.created(chat.message("metrics please", channel_id=CHANNEL)))
    index = PostgresSearchIndex(search_db)
    query = SearchQuery(guild_id=chat.guild_id, text="metrics", channel_ids=[CHANNEL])

    async def indexed() -> bool:
        return (await index.search(query)).total == 1

    await eventually(indexed, what="the message")
    async with httpx.AsyncClient(base_url=indexer_process.url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).json() == {"status": "ready"}
        exposition = (await client.get("/metrics")).text
    for name in (
        'gochat_indexer_documents_total{operation="upsert"}',
        "gochat_indexer_batch_duration_seconds_bucket",
        "gochat_indexer_consumer_lag",
        "gochat_indexer_dead_letters_total",
    ):
        assert name in exposition
    assert indexer_process.stop() in CLEAN_EXIT


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"]
)
async def test_restart_mid_stream_loses_nothing_and_duplicates_nothing(
    stop_signal: signal.Signals,
    indexer_process: IndexerProcess,
    indexer_config: config.IndexerConfig,
    events_out: EventsOut,
    search_db: Database,
) -> None:
    chat = Chat()
    total = 600
    messages = [chat.message(f"rolling message {n}", channel_id=CHANNEL) for n in range(total)]
    expected: dict[int, str] = {}

    async def publish() -> None:
        for n, message in enumerate(messages):
            created = chat.created(message)
            await events_out.send(created)
            expected[message.id] = message.content
            if n % 10 == 3:
                edited, edit = chat.edited(message, f"rolling message {n} revised")
                await events_out.send(edit)
                expected[message.id] = edited.content
            if n % 15 == 7:
                await events_out.send(chat.deleted(message))
                del expected[message.id]
            if n % 20 == 0:
                await asyncio.sleep(0.01)

    async def stored() -> int:
        row = await search_db.fetchrow(
            "count", "SELECT count(*) AS n FROM search_documents WHERE guild_id = $1", chat.guild_id
        )
        assert row is not None
        return int(row["n"])

    indexer_process.start()
    await indexer_process.wait_ready()
    publisher = asyncio.create_task(publish())

    async def some_indexed() -> bool:
        return await stored() >= 100

    await eventually(some_indexed, what="the first hundred documents")
    code = indexer_process.stop(stop_signal)
    stopped_at = await stored()
    if stop_signal == signal.SIGTERM:
        assert code in CLEAN_EXIT, indexer_process.log()
        assert "Application shutdown complete" in indexer_process.log()
        # Graceful: the batch in hand was finished and acknowledged before the process left.
        info = await events_out.js.consumer_info(events_out.stream, indexer_config.consumer_name)
        assert info.num_ack_pending == 0
    await publisher
    assert stopped_at < total, "the indexer should have been stopped mid-stream"

    indexer_process.start()
    await indexer_process.wait_ready()

    async def caught_up() -> bool:
        info = await events_out.js.consumer_info(events_out.stream, indexer_config.consumer_name)
        return info.num_pending == 0 and info.num_ack_pending == 0

    # After SIGKILL the unacknowledged batch comes back only after the consumer's ack wait.
    await eventually(caught_up, within=90, what="the indexer to catch up")
    index = PostgresSearchIndex(search_db)
    hits: list[int] = []
    snippets: dict[int, str] = {}
    for offset in range(0, total, 100):
        page = await index.search(
            SearchQuery(
                guild_id=chat.guild_id, text="", channel_ids=[CHANNEL], limit=100, offset=offset
            )
        )
        assert page.total == len(expected)
        hits += [hit.message_id for hit in page.hits]
        snippets |= {hit.message_id: hit.snippet for hit in page.hits}
    assert len(hits) == len(set(hits)), "a message was returned twice"
    assert set(hits) == set(expected)
    assert snippets == expected
    assert indexer_process.stop() in CLEAN_EXIT
