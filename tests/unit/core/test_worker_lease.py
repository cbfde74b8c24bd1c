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


class UnreachableAtFirst:
    """A store that cannot be reached until `up` is set (the database starts after us)."""

    def __init__(self) -> None:
        self.up = False

    async def claim(self, *, holder: str, seconds: float, wanted: int | None = None) -> int | None:
        if not self.up:
            raise ConnectionRefusedError("store not up yet")
        return 7

    async def renew(self, *, worker_id: int, holder: str, seconds: float) -> bool:
        return True

    async def release(self, *, worker_id: int, holder: str) -> None:
        pass


async def test_a_store_unreachable_at_start_is_claimed_from_in_the_background() -> None:
    store = UnreachableAtFirst()
    lease = await worker_lease.WorkerIdLease.acquire(store, service="auth", seconds=0.3)
    try:
        with pytest.raises(ids.WorkerIdLapsed) as refused:
            lease.generator.next_id()
        assert refused.value.status == 503 and refused.value.headers["Retry-After"]
        with pytest.raises(RuntimeError):
            lease.check()

        store.up = True
        async with asyncio.timeout(5):
            while True:
                try:
                    lease.check()
                    break
                except RuntimeError:
                    await asyncio.sleep(0.01)
        assert lease.worker_id == 7
        lease.generator.next_id()
    finally:
        await lease.release()


async def test_every_id_taken_still_stops_the_start() -> None:
    class Full(UnreachableAtFirst):
        async def claim(self, *, holder: str, seconds: float, wanted: int | None = None) -> None:
            return None

    with pytest.raises(worker_lease.NoWorkerIdFree):
        await worker_lease.WorkerIdLease.acquire(Full(), service="auth")
