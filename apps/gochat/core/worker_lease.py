"""A process's snowflake worker id, leased so that no two live processes share one.

Two processes with the same worker id can issue the same id in the same millisecond; an event
id issued twice is dropped by JetStream as a duplicate. So each id-generating process (api and
each of its workers, auth, ws) leases a free id from `ports.WorkerIdLeases` at start, renews it
every third of its term and releases it on exit. The generator it hands out stops issuing ids
(ids.WorkerIdLapsed) once the lease may have run out: the deadline is counted from *before*
each claim or renewal was sent, so it always falls before the store's own expiry. A renewal
that finds the lease gone (the store was unreachable past the term, and the id may be someone
else's now) claims a new id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
import uuid

from gochat import ports
from gochat.core import ids

log = logging.getLogger(__name__)
LEASE_SECONDS = 30.0


class NoWorkerIdFree(RuntimeError):
    """Every worker id is leased by a live process (or the one asked for is)."""


class WorkerIdLease:
    """Holds one lease; `generator` issues ids under it. Use `acquire`, then `release`."""

    def __init__(
        self,
        store: ports.WorkerIdLeases,
        generator: ids.SnowflakeGenerator,
        *,
        holder: str,
        seconds: float,
    ) -> None:
        self.store, self.generator = store, generator
        self.holder, self.seconds = holder, seconds
        self._renewing: asyncio.Task[None] | None = None
        self._wanted: int | None = None
        self._held = False

    @classmethod
    async def acquire(
        cls,
        store: ports.WorkerIdLeases,
        *,
        service: str,
        wanted: int | None = None,
        seconds: float = LEASE_SECONDS,
    ) -> WorkerIdLease:
        """Lease `wanted` (or any free id) and start renewing it. Raises NoWorkerIdFree.

        A store that cannot be reached yet (the database starts after the service, as pods
        do) does not stop the start: the lease is then claimed in the background, the
        generator refuses ids (503) until it is held, and `check` fails the readiness probe.
        """
        holder = f"{service}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        lease = cls(
            store, ids.SnowflakeGenerator(0, valid_until=-math.inf), holder=holder, seconds=seconds
        )
        lease._wanted = wanted
        try:
            await lease._claim()
        except NoWorkerIdFree:
            raise
        except Exception as exc:
            log.warning(
                "worker id store unreachable at start; claiming a worker id in the background",
                extra={"error": repr(exc)},
            )
        lease._renewing = asyncio.create_task(lease._keep_renewing())
        return lease

    async def _claim(self) -> None:
        sent = time.monotonic()
        worker_id = await self.store.claim(
            holder=self.holder, seconds=self.seconds, wanted=self._wanted
        )
        if worker_id is None:
            raise NoWorkerIdFree(_refusal(self._wanted))
        self.generator.lease(worker_id, valid_until=sent + self.seconds)
        self._held = True
        log.info(
            "leased snowflake worker id", extra={"worker_id": worker_id, "holder": self.holder}
        )

    def check(self) -> None:
        """Readiness: raises while no id can be issued (not yet leased, or lapsed)."""
        if not self._held:
            raise RuntimeError("no snowflake worker id leased yet")
        self.generator.check()

    @property
    def worker_id(self) -> int:
        return self.generator.worker_id

    async def renew(self) -> None:
        """Extend the lease, or lease a new id when it has run out (raises NoWorkerIdFree)."""
        if not self._held:
            await self._claim()  # the store was unreachable at start
            return
        sent = time.monotonic()
        if await self.store.renew(
            worker_id=self.worker_id, holder=self.holder, seconds=self.seconds
        ):
            self.generator.lease(self.worker_id, valid_until=sent + self.seconds)
            return
        log.warning("snowflake worker id lease ran out", extra={"worker_id": self.worker_id})
        worker_id = await self.store.claim(holder=self.holder, seconds=self.seconds)
        if worker_id is None:
            raise NoWorkerIdFree(_refusal(None))
        self.generator.lease(worker_id, valid_until=sent + self.seconds)

    async def release(self) -> None:
        """Stop renewing and give the id back (a failure only leaves it to expire)."""
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
        if not self._held:
            return
        self.generator.lease(self.worker_id, valid_until=time.monotonic())
        try:
            await self.store.release(worker_id=self.worker_id, holder=self.holder)
        except Exception:
            log.warning("could not release the worker id lease; it expires on its own")

    async def _keep_renewing(self) -> None:
        while True:
            # Until an id is held, claim at a shorter interval: requests wait on it.
            await asyncio.sleep(self.seconds / 3 if self._held else min(1.0, self.seconds / 3))
            try:
                await self.renew()
            except Exception:
                # Retried at the next tick; past the term the generator refuses ids by itself.
                log.exception("could not renew the snowflake worker id lease")


def _refusal(wanted: int | None) -> str:
    if wanted is not None:
        return (
            f"snowflake_worker_id {wanted} is leased by another live process: "
            "leave snowflake_worker_id unset to lease any free id"
        )
    return (
        f"all {ids.MAX_WORKER_ID + 1} snowflake worker ids are leased by live processes: "
        "stop some id-generating processes (api, auth, ws) or wait for crashed ones' leases "
        f"to expire ({LEASE_SECONDS:g} s)"
    )
