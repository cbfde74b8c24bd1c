"""Garbage-collector settings for the long-running services.

Start-up objects (modules, routes, schemas, pools, caches) live as long as the process, yet every
full collection walks them again. `gc.freeze()` once a service has started moves them out of
every later collection, and a higher generation-0 threshold makes collections rarer: our
services make few reference cycles, so a collection mostly walks live objects. Full collections
were the gateway's worst latency spikes, and in an API worker a 63 ms generation-2 pause landed
at the start of a burst of sends (bench/ws/FINDINGS.md).
"""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 50_000  # allocations between collections (Python's default: 700)


def freeze_startup_heap() -> None:
    """Call once, when the service has started (its pools and caches are built)."""
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, 20, 20)
