"""The private dockerd's network namespace and cgroup parent belong to the machine, so two
harness runs with different cache roots (two checkouts, or a cold-cache run beside a warm one)
must not both start a daemon in them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.kind import dockerd


def test_two_cache_roots_on_one_machine_take_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dockerd, "LOCK_DIR", tmp_path / "run-lock")
    first = dockerd.Dockerd(state_dir=tmp_path / "checkout-a" / "run" / "docker")
    second = dockerd.Dockerd(state_dir=tmp_path / "checkout-b" / "run" / "docker")
    with (
        first.exclusive(),
        pytest.raises(dockerd.DockerdError, match="namespace gochat-kind"),
        second.exclusive(),
    ):
        pass
    with second.exclusive():
        pass


def test_a_daemon_in_another_namespace_does_not_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dockerd, "LOCK_DIR", tmp_path / "run-lock")
    ours = dockerd.Dockerd(state_dir=tmp_path / "a", netns="gochat-kind")
    other = dockerd.Dockerd(state_dir=tmp_path / "b", netns="someone-else")
    with ours.exclusive(), other.exclusive():
        pass
