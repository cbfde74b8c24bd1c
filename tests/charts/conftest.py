"""The helm binary chart tests run: the pinned build of tests/k8s/tools.py (built if missing)."""

from __future__ import annotations

import pytest

from tests.charts.helm_support import Helm
from tests.k8s import tools


@pytest.fixture(scope="session")
def helm() -> Helm:
    try:
        return Helm(tools.ensure() / "helm")
    except tools.ToolsError as error:
        raise pytest.UsageError(f"cannot build helm: {error}") from error
