"""Background work the API process runs beside request handling (the outbox relay)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gochat.api.context import ApiContext


async def start(ctx: ApiContext) -> list[Any]:
    """Start background tasks; returns handles for `stop`."""
    return []


async def stop(tasks: list[Any]) -> None:
    for task in reversed(tasks):
        await task.stop()


def readiness_checks(
    holder: Mapping[str, ApiContext],
) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
    return []
