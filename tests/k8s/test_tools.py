"""The binary cache: built once, renamed into place whole, never left half-made."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from . import gobuild, tools


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GOCHAT_K8S_CACHE", str(tmp_path))
    return tmp_path


def fake_build(calls: list[Path]) -> Callable[..., None]:
    def build(versions: tools.Versions, *, staging: Path, log: gobuild.Log) -> None:
        calls.append(staging)
        (staging / "bin").mkdir()
        for name in tools.BINARIES:
            (staging / "bin" / name).write_text("#!/bin/sh\n")
            (staging / "bin" / name).chmod(0o755)

    return build


def test_cache_key_names_every_version() -> None:
    key = tools.Versions().cache_key
    for version in ("v1.35.4", "v3.6.6", "v0.8.0", "v4.3.2"):
        assert version in key


def test_ensure_builds_once_then_answers_from_the_cache(
    cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(tools, "build_all", fake_build(calls))

    first = tools.ensure(log=lambda line: None)
    second = tools.ensure(log=lambda line: None)

    assert first == second == tools.bin_dir()
    assert len(calls) == 1
    assert tools.missing_binaries(first) == []
    assert not list(cache_root.glob(".staging-*"))


def test_a_failed_build_leaves_neither_a_key_directory_nor_staging(
    cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(versions: tools.Versions, *, staging: Path, log: gobuild.Log) -> None:
        (staging / "bin").mkdir()
        (staging / "bin" / "etcd").write_text("half")
        raise gobuild.BuildError("build kube-apiserver failed: out of memory")

    monkeypatch.setattr(tools, "build_all", failing)

    with pytest.raises(tools.ToolsError, match="out of memory"):
        tools.ensure(log=lambda line: None)
    assert not tools.bin_dir().parent.exists()
    assert not list(cache_root.glob(".staging-*"))


def test_the_remains_of_a_killed_build_are_removed(
    cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    abandoned = cache_root / f".staging-{tools.Versions().cache_key}-killed"
    (abandoned / "bin").mkdir(parents=True)
    monkeypatch.setattr(tools, "build_all", fake_build([]))

    tools.ensure(log=lambda line: None)

    assert not abandoned.exists()


def test_without_go_the_error_says_what_is_missing(
    cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    with pytest.raises(tools.ToolsError, match="`go` is not on PATH"):
        tools.ensure(log=lambda line: None)
