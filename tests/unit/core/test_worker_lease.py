"""The lease holder: its generator stops before the store's lease can have run out."""

from __future__ import annotations

import asyncio
import time

import pytest

from gochat.core import ids, worker_lease


class UnreachableAfterClaim:
    """A store that grants one lease, then cannot be reached (PostgreSQL gone)."""

    def __init__(self) -> None:
        self.released: list[int] = []

    async def claim(self, *, holder: str, seconds: float, wanted: int | None = None) -> int | None:
        return 42 if wanted is None else wanted

    async def renew(self, *, worker_id: int, holder: str, seconds: float) -> bool:
        raise ConnectionError("store unreachable")

    async def release(self, *, worker_id: int, holder: str) -> None:
        self.released.append(worker_id)


async def test_ids_stop_when_the_lease_cannot_be_renewed_within_its_term() -> None:
    store = UnreachableAfterClaim()
    before = time.monotonic()
    lease = await worker_lease.WorkerIdLease.acquire(store, service="api", seconds=0.3)
    try:
        assert lease.worker_id == 42
        lease.generator.next_id()
        await asyncio.sleep(max(0.0, before + 0.3 - time.monotonic()) + 0.01)
        with pytest.raises(ids.WorkerIdLapsed):
            lease.generator.next_id()
    finally:
        await lease.release()
    assert store.released == [42]


async def test_a_released_lease_issues_no_more_ids() -> None:
    lease = await worker_lease.WorkerIdLease.acquire(UnreachableAfterClaim(), service="ws")
    await lease.release()
    with pytest.raises(ids.WorkerIdLapsed):
        lease.generator.next_id()
