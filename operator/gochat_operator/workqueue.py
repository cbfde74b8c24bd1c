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
        concurrency: int = 16,
        debounce: float = 1.0,
    ) -> None:
        # `work` reconciles one key and returns when to run again (None: only on new events).
        self.work = work
        self.debounce = debounce
        self.slots = asyncio.Semaphore(concurrency)
        self.pending: dict[Key, tuple[float, asyncio.Task[None]]] = {}

    def request(self, key: Key, *, delay: float | None = None) -> None:
        """Reconcile `key` after `delay`; runs already scheduled coalesce, earliest wins."""
        wait = self.debounce if delay is None else delay
        due = asyncio.get_running_loop().time() + wait
        scheduled = self.pending.get(key)
        if scheduled is not None:
            if scheduled[0] <= due:
                return
            scheduled[1].cancel()
        task = asyncio.create_task(self._run(key, wait), name=f"reconcile {key}")
        self.pending[key] = (due, task)

    async def _run(self, key: Key, delay: float) -> None:
        await asyncio.sleep(delay)
        # From here on, new events schedule another run instead of merging into this one.
        if self.pending.get(key, (0.0, None))[1] is asyncio.current_task():
            del self.pending[key]
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
        for _, task in list(self.pending.values()):
            task.cancel()
        self.pending.clear()
