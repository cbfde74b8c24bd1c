"""The indexing loop: fetch a batch of message events, write it through the SearchIndex, ack.

Guarantees a caller may rely on:
- At-least-once: a message is acknowledged only after its change is in the index; anything
  unacknowledged at a crash is redelivered, and redelivery is harmless (document id = message
  id, versions and tombstones in the index).
- A poison message never blocks the stream: one that cannot be parsed goes to the dead-letter
  subject at once; one whose write keeps failing is retried with back-off and dead-lettered on
  its `max_deliveries`-th attempt. When a whole batch fails, it is retried message by message,
  so one bad message does not hold back the rest.
- An outage of the index is not the messages' fault: when the index's health check fails,
  the batch is handed back for later and nothing is dead-lettered.
- `stop()` lets the batch in hand finish and be acknowledged; `run()` then returns.

Batches are bounded by count and by time: after the first events arrive the worker keeps
fetching for up to `linger_seconds` or until it holds `max_batch` events, then writes them in
one go (one bulk request per kind of change on OpenSearch, one statement on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from gochat.indexer import documents, metrics
from gochat.ports import SearchIndex

log = logging.getLogger(__name__)
MAX_RETRY_DELAY = 30.0
LINGER_SECONDS = 0.02


class Delivery(Protocol):
    subject: str
    data: bytes
    deliveries: int
    pending: int

    async def ack(self) -> None: ...

    async def retry_later(self, delay: float) -> None: ...

    async def dead_letter(self, *, reason: str) -> None:
        """Move to the dead-letter subject; never delivered to the indexer again."""


class EventSource(Protocol):
    async def fetch(self, *, wait: float) -> Sequence[Delivery]: ...

    async def pending(self) -> int:
        """Events not yet handed to this consumer (the lag)."""


class IndexWorker:
    def __init__(
        self,
        *,
        source: EventSource,
        index: SearchIndex,
        index_healthy: Callable[[], Awaitable[object]],
        max_deliveries: int,
        poll_seconds: float = 1.0,
        retry_delay: float = 1.0,
        max_batch: int = 100,
        linger_seconds: float = LINGER_SECONDS,
    ) -> None:
        self._source = source
        self._index = index
        self._index_healthy = index_healthy
        self._max_deliveries = max_deliveries
        self._poll_seconds = poll_seconds
        self._retry_delay = retry_delay
        self._max_batch = max_batch
        self._linger_seconds = linger_seconds
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = await self._fetch_batch()
            except Exception:
                # NATS down or reconnecting: the client reconnects by itself; wait and retry.
                log.warning("fetching events failed; retrying", exc_info=True)
                await self._pause(self._retry_delay)
                continue
            if not batch:
                await self._record_idle_lag()
                continue
            try:
                await self.process(batch)
            except Exception:
                # E.g. acknowledgements on a connection that just closed: whatever was not
                # acknowledged is redelivered, so the loop must outlive this batch.
                log.exception("processing a batch failed; its messages will be redelivered")
                await self._pause(self._retry_delay)

    async def _fetch_batch(self) -> list[Delivery]:
        """The first events within `poll_seconds`, then more until the batch is full or
        `linger_seconds` have passed since the first arrived."""
        batch = list(await self._source.fetch(wait=self._poll_seconds))
        if not batch or self._linger_seconds <= 0:
            return batch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._linger_seconds
        while len(batch) < self._max_batch and not self._stopping.is_set():
            remaining = deadline - loop.time()
            if remaining < 0.001:
                break
            more = await self._source.fetch(wait=remaining)
            if not more:
                break
            batch.extend(more)
        return batch

    async def process(self, batch: Sequence[Delivery]) -> None:
        started = time.perf_counter()
        ready: list[tuple[Delivery, documents.Changes]] = []
        for delivery in batch:
            try:
                ready.append((delivery, documents.parse_changes(delivery.data)))
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                await self._dead_letter(delivery, reason=f"unparseable: {exc}", kind="unparseable")
        try:
            await self._apply(documents.merge([changes for _, changes in ready]))
        except Exception:
            log.warning("batch write failed; retrying message by message", exc_info=True)
            await self._settle_one_by_one(ready)
        else:
            metrics.INDEX_AVAILABLE.set(1)
            for delivery, _ in ready:
                await delivery.ack()
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.CONSUMER_LAG.set(batch[-1].pending)

    async def _apply(self, changes: documents.Changes) -> None:
        if changes.upserts:
            await self._index.upsert(changes.upserts)
            metrics.DOCUMENTS.labels("upsert").inc(len(changes.upserts))
        if changes.deletes:
            await self._index.delete(changes.deletes)
            metrics.DOCUMENTS.labels("delete").inc(len(changes.deletes))
        for channel_id in dict.fromkeys(changes.purged_channels):
            await self._index.purge(channel_id=channel_id)
            metrics.DOCUMENTS.labels("purge").inc()
        for guild_id in dict.fromkeys(changes.purged_guilds):
            await self._index.purge(guild_id=guild_id)
            metrics.DOCUMENTS.labels("purge").inc()

    async def _settle_one_by_one(self, ready: list[tuple[Delivery, documents.Changes]]) -> None:
        for position, (delivery, changes) in enumerate(ready):
            try:
                await self._apply(changes)
            except Exception as exc:
                if not await self._healthy():
                    metrics.INDEX_AVAILABLE.set(0)
                    log.warning("search index unavailable; handing the batch back")
                    for later, _ in ready[position:]:
                        await self._retry_later(later)
                    return
                if delivery.deliveries >= self._max_deliveries:
                    await self._dead_letter(delivery, reason=f"failing: {exc!r}", kind="failing")
                else:
                    await self._retry_later(delivery)
            else:
                await delivery.ack()

    async def _healthy(self) -> bool:
        try:
            await self._index_healthy()
        except Exception:
            return False
        return True

    async def _retry_later(self, delivery: Delivery) -> None:
        delay = min(MAX_RETRY_DELAY, self._retry_delay * 2 ** (delivery.deliveries - 1))
        metrics.RETRIES.inc()
        try:
            await delivery.retry_later(delay)
        except Exception:
            # Not acknowledged either way: the server redelivers after its ack wait.
            log.warning("nak failed", exc_info=True)

    async def _dead_letter(self, delivery: Delivery, *, reason: str, kind: str) -> None:
        where = {"subject": delivery.subject, "deliveries": delivery.deliveries}
        log.error("dead-lettering message", extra={**where, "reason": reason})
        try:
            await delivery.dead_letter(reason=reason)
        except Exception:
            log.warning("dead-lettering failed; the message will be redelivered", exc_info=True)
            return
        metrics.DEAD_LETTERS.labels(kind).inc()

    async def _record_idle_lag(self) -> None:
        try:
            metrics.CONSUMER_LAG.set(await self._source.pending())
        except Exception:
            log.debug("cannot read consumer lag", exc_info=True)

    async def _pause(self, seconds: float) -> None:
        # Returns early on stop(), so shutdown does not wait out a back-off.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
