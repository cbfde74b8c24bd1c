"""The helm binary chart tests run: the pinned build of tests/k8s/tools.py (built if missing),
or the one `GOCHAT_TEST_HELM` names (to check another approved Helm, e.g. v3.21.4)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.charts.helm_support import HELM_ENV, Helm
from tests.k8s import tools


@pytest.fixture(scope="session")
def helm() -> Helm:
    if os.environ.get(HELM_ENV):
        return Helm(Path(os.environ[HELM_ENV]))
    try:
        return Helm(tools.ensure() / "helm")
    except tools.ToolsError as error:
        raise pytest.UsageError(f"cannot build helm: {error}") from error
