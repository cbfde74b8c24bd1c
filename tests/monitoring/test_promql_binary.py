"""Where the monitoring tests get promtool and prometheus when the machine lacks them."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest

from tests.monitoring import promql

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installing needs root")


def test_a_missing_binary_is_installed_through_the_one_debian_installer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed: list[list[str]] = []
    on_path: set[str] = set()

    def install(packages: Sequence[str], *, log: object) -> None:
        installed.append(list(packages))
        on_path.add("promtool")

    monkeypatch.setattr(promql.debian, "install", install)
    monkeypatch.setattr(
        promql.shutil, "which", lambda name: f"/usr/bin/{name}" if name in on_path else None
    )
    assert promql.binary("promtool") == "/usr/bin/promtool"
    assert installed == [["prometheus"]]
