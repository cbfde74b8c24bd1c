"""Whether this pytest run includes the kind tier.

`make test` and `make e2e-kind` set ``GOCHAT_E2E_KIND=1``; a plain `pytest` leaves the tier out,
since it builds images and runs a real cluster (minutes, and root or a working Docker). Where the
tier is asked for but no engine can run a cluster, the harness skips with what is missing.
"""

from __future__ import annotations

import os

import pytest

ENV = "GOCHAT_E2E_KIND"


def requested() -> bool:
    return os.environ.get(ENV) == "1"


# For tests that make a cluster of their own (the `kube` fixture checks `requested()` itself).
only_when_requested = pytest.mark.skipif(
    not requested(),
    reason=f"the kind tier runs under `make test` and `make e2e-kind` ({ENV}=1)",
)
