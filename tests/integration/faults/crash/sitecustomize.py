"""Test-only crash point and sweep timing in an API process (tests/integration/faults).

The fault harness puts this directory on PYTHONPATH of the API processes it starts; Python
imports `sitecustomize` at start-up, and this one:

- with GOCHAT_TEST_CRASH_AT=after_timeline, kills the process (SIGKILL, no clean-up of any
  kind) where a send to the Cassandra store has written the timeline and is about to record
  its completion in PostgreSQL (`relational.message_sent`), the cut the port tests make with
  os._exit in a sender process of their own;
- with GOCHAT_TEST_REPAIR_AFTER_SECONDS / GOCHAT_TEST_REPAIR_EVERY_SECONDS, runs the repair
  sweep sooner than the product's 30 s / 10 s, so a test does not wait for it.

Nothing here is imported by the product.
"""

from __future__ import annotations

import os
import signal
from typing import Any

CRASH_AT = os.environ.get("GOCHAT_TEST_CRASH_AT")
REPAIR_AFTER = os.environ.get("GOCHAT_TEST_REPAIR_AFTER_SECONDS")
REPAIR_EVERY = os.environ.get("GOCHAT_TEST_REPAIR_EVERY_SECONDS")


async def _die(*args: Any, **kwargs: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


if CRASH_AT == "after_timeline":
    from gochat.adapters.cassandra import relational

    relational.message_sent = _die  # type: ignore[assignment]
elif CRASH_AT:
    raise SystemExit(f"GOCHAT_TEST_CRASH_AT: unknown crash point {CRASH_AT!r}")

if REPAIR_AFTER or REPAIR_EVERY:
    from gochat.adapters.cassandra import messages, sweep

    if REPAIR_AFTER:
        sweep.REPAIR_AFTER_SECONDS = float(REPAIR_AFTER)
    every = float(REPAIR_EVERY or sweep.REPAIR_EVERY_SECONDS)
    repair_forever = messages.CassandraMessageStore.repair_forever

    async def _repair_sooner(self: messages.CassandraMessageStore, **kwargs: Any) -> None:
        await repair_forever(self, every=every)

    messages.CassandraMessageStore.repair_forever = _repair_sooner  # type: ignore[method-assign]
