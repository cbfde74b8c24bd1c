"""Coalescing requeue of clusters woken by child events or the periodic resync.

Creating one cluster produces a burst of child watch events; each key is reconciled once
per burst (a short debounce), never twice concurrently, with a global concurrency limit.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable

Key = tuple[str, str]  # (namespace, name)
logger = logging.getLogger(__name__)


class Workqueue:
    def __init__(
        self,
        work: Callable[[str, str], Awaitable[float | None]],
        *,
        concurrency: int = 8,
        debounce: float = 0.5,
    ) -> None:
        # `work` reconciles one key and returns when to run again (None: only on new events).
        self.work = work
        self.debounce = debounce
        self.slots = asyncio.Semaphore(concurrency)
        self.pending: dict[Key, asyncio.Task[None]] = {}

    def request(self, key: Key, *, delay: float | None = None) -> None:
        """Reconcile `key` after `delay` unless a run is already pending (coalesced)."""
        if key in self.pending:
            return
        wait = self.debounce if delay is None else delay
        self.pending[key] = asyncio.create_task(self._run(key, wait), name=f"reconcile {key}")

    async def _run(self, key: Key, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            # Events arriving while we reconcile must schedule another run.
            self.pending.pop(key, None)
        async with self.slots:
            try:
                again = await self.work(*key)
            except Exception:
                logger.exception("reconcile of %s/%s failed; retrying", *key)
                again = 10.0
        if again is not None:
            self.request(key, delay=again)

    async def resync_forever(self, keys: Callable[[], Iterable[Key]], *, interval: float) -> None:
        """Requeue every known cluster about once per `interval`, spread with jitter so the
        clusters never reconcile in lockstep."""
        while True:
            known = list(keys())
            step = interval / max(1, len(known))
            for key in known:
                self.request(key, delay=random.uniform(0, step))
                await asyncio.sleep(step)
            if not known:
                await asyncio.sleep(interval)

    async def close(self) -> None:
        for task in list(self.pending.values()):
            task.cancel()
        self.pending.clear()
