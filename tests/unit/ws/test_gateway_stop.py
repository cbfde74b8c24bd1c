"""Stopping a gateway process ends its tasks even when one swallows a cancellation (nats-py can,
inside a subscribe: a gateway stopped just after it started then hung until it was killed)."""

from __future__ import annotations

import asyncio
import contextlib

from gochat.ws import app


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again() -> None:
    forever: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # swallowed, as a library may
            await asyncio.sleep(60)
        await forever

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(app._cancel_all([task]), timeout=5)
    assert task.cancelled()


async def test_tasks_that_end_on_cancellation_need_one_round() -> None:
    tasks = [asyncio.create_task(asyncio.sleep(60)) for _ in range(3)]
    await asyncio.sleep(0)
    await asyncio.wait_for(app._cancel_all(tasks), timeout=app.CANCEL_WAIT_SECONDS / 2)
    assert all(t.cancelled() for t in tasks)
