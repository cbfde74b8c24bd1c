"""`build.cli`, the one `ensure|paths` command line of the three image builders
(tests/images/build.py, tests/e2e/kind/backend_images.py, tests/e2e/kind/metrics_images.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.images import build


def _cli(argv: list[str], built: list[str], tmp_path: Path) -> int:
    archive = tmp_path / "a-1.tar"
    archive.write_bytes(b"x" * 2**20)

    def ensure() -> dict[str, Path]:
        built.append("ensure")
        return {"docker.io/x/a:1": archive}

    return build.cli(ensure, lambda: [archive], prog="tests.x", argv=argv)


def test_ensure_is_the_default_and_prints_reference_tarball_and_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built: list[str] = []
    for argv in ([], ["ensure"]):
        assert _cli(argv, built, tmp_path) == 0
        assert capsys.readouterr().out == f"docker.io/x/a:1 {tmp_path / 'a-1.tar'} 1 MiB\n"
    assert built == ["ensure", "ensure"]


def test_paths_prints_the_tarballs_without_building(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built: list[str] = []
    assert _cli(["paths"], built, tmp_path) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'a-1.tar'}\n"
    assert built == []


def test_anything_else_prints_the_usage_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built: list[str] = []
    assert _cli(["build"], built, tmp_path) == 2
    assert capsys.readouterr().err == "usage: python -m tests.x [ensure|paths]\n"
    assert built == []


@pytest.mark.parametrize(
    "module",
    ["tests.images.build", "tests.e2e.kind.backend_images", "tests.e2e.kind.metrics_images"],
)
def test_each_builder_uses_it(module: str) -> None:
    usage = subprocess.run(
        [sys.executable, "-m", module, "nonsense"],
        capture_output=True,
        text=True,
        cwd=build.ROOT,
        check=False,
    )
    assert (usage.returncode, usage.stderr) == (2, f"usage: python -m {module} [ensure|paths]\n")
