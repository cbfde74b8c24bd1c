"""The embedded OpenSearch's launcher (apps/gochat/embedded/GochatOpenSearch.java, also compiled
into the backend-opensearch image): a cached jar is reused only for the same source, and the
launcher refuses arguments it cannot use. Needs a JDK and the runner's jars (cached after the
first OpenSearch start); starts no node."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gochat.embedded import opensearch


def test_a_changed_launcher_source_is_compiled_again_not_served_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = opensearch.ensure_jars()
    monkeypatch.setenv(opensearch.CACHE_ENV, str(tmp_path / "cache"))
    source = tmp_path / opensearch.LAUNCHER_SOURCE.name
    source.write_bytes(opensearch.LAUNCHER_SOURCE.read_bytes())
    monkeypatch.setattr(opensearch, "LAUNCHER_SOURCE", source)

    first = opensearch.ensure_launcher(lib)
    built_at = first.stat().st_mtime_ns
    assert opensearch.ensure_launcher(lib) == first  # same source: the cached jar
    assert first.stat().st_mtime_ns == built_at

    source.write_text(source.read_text() + "// changed\n")
    second = opensearch.ensure_launcher(lib)
    assert second != first
    assert second.exists() and second.parent == first.parent


def test_the_launcher_names_its_arguments_when_given_the_wrong_number(tmp_path: Path) -> None:
    lib = opensearch.ensure_jars()
    launcher = opensearch.ensure_launcher(lib)
    result = subprocess.run(
        [opensearch._jdk_tool("java"), "-cp", f"{launcher}:{lib}/*", opensearch.LAUNCHER_CLASS,
         str(tmp_path / "node"), "gochat"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "usage: GochatOpenSearch BASE_PATH CLUSTER_NAME HTTP_HOST HTTP_PORT" in result.stderr
    assert "got 2 arguments" in result.stderr
    assert not (tmp_path / "node").exists()  # nothing started, nothing written
