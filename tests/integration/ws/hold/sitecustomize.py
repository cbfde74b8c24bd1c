"""Test-only hold points in a gateway process, for deterministic races (tests/integration/ws).

The harness puts this directory on PYTHONPATH of the gateways it starts with `hold_dir=...`;
Python imports `sitecustomize` at start-up, and this one wraps two gateway steps so that each
waits while a file of its name exists in GOCHAT_TEST_HOLD_DIR:

- `start`: the start of `GatewayProcess.start` (the process is up, before it is ready);
- `live`: the start of `Hub.catch_up` (READY or the resume point sent, the session not yet live).

A test creates the file before the step and removes it to let the gateway go on; a process that
reaches a hold while it is armed writes `<name>.<pid>.reached` there. Nothing here is imported
by the product.
"""

from __future__ import annotations

import asyncio
import functools
import os
from pathlib import Path
from typing import Any

HOLD_DIR = os.environ.get("GOCHAT_TEST_HOLD_DIR")


async def _wait_while(name: str) -> None:
    assert HOLD_DIR is not None
    marker = Path(HOLD_DIR) / name
    if marker.exists():
        (Path(HOLD_DIR) / f"{name}.{os.getpid()}.reached").touch()
    while marker.exists():  # noqa: ASYNC110 (a file another process removes: polled)
        await asyncio.sleep(0.02)


def _held(name: str, method: Any) -> Any:
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        await _wait_while(name)
        return await method(*args, **kwargs)

    return wrapper


if HOLD_DIR:
    from gochat.ws import app, hub

    app.GatewayProcess.start = _held("start", app.GatewayProcess.start)  # type: ignore[method-assign]
    hub.Hub.catch_up = _held("live", hub.Hub.catch_up)  # type: ignore[method-assign]
