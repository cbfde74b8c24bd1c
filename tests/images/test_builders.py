"""The image builder port: which builder a machine gets, and the ``docker build`` adapter's
commands against a stand-in ``docker`` (the real one is exercised on the kind tier's Docker by
tests/e2e/kind/test_docker_builder.py; buildah by every image the other tests build)."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from pathlib import Path

import pytest

from tests.images import builders, docker_build

STAND_IN = f"""#!{sys.executable}
import json, os, sys
log = os.environ["STAND_IN_LOG"]
stdin = sys.stdin.read() if "-" in sys.argv[1:] else None
with open(log, "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "buildkit": os.environ.get("DOCKER_BUILDKIT"),
                          "host": os.environ.get("DOCKER_HOST"), "stdin": stdin}}) + "\\n")
if sys.argv[1] == os.environ.get("STAND_IN_FAILS"):
    print("step 3/7: uv sync: network unreachable", file=sys.stderr)
    sys.exit(1)
if sys.argv[1] == "buildx":
    sys.exit(0 if os.environ.get("STAND_IN_BUILDX") else 1)
if sys.argv[1] == "save":
    with open(sys.argv[sys.argv.index("--output") + 1], "w") as archive:
        archive.write("tarball")
"""


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in ``docker`` that logs each call (argv, BuildKit, DOCKER_HOST, stdin)."""
    cli = tmp_path / "docker"
    cli.write_text(STAND_IN)
    cli.chmod(0o755)
    monkeypatch.setenv("STAND_IN_LOG", str(tmp_path / "calls.jsonl"))
    return cli


def _calls(tmp_path: Path) -> list[dict[str, object]]:
    lines = (tmp_path / "calls.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _builder(cli: Path) -> docker_build.DockerBuild:
    return docker_build.DockerBuild(
        env={**os.environ, "DOCKER_HOST": "unix:///x.sock"}, cli=str(cli)
    )


@pytest.mark.parametrize(
    ("forced", "answers", "expected"),
    [
        (None, True, "docker"),
        (None, False, "buildah"),
        ("", False, "buildah"),
        ("buildah", True, "buildah"),
        ("docker", False, "docker"),
    ],
)
def test_docker_where_it_answers_buildah_otherwise_unless_forced(
    forced: str | None, answers: bool, expected: str
) -> None:
    assert builders.choose(forced, lambda: answers) == expected


def test_an_unknown_builder_is_an_error_naming_the_variable() -> None:
    with pytest.raises(ValueError, match=r"GOCHAT_IMAGE_BUILDER='podman': expected docker or"):
        builders.choose("podman", lambda: True)


def test_docker_answers_only_when_docker_info_succeeds(tmp_path: Path, docker: Path) -> None:
    assert not docker_build.answers(str(tmp_path / "no-such-docker"))
    assert docker_build.answers(str(docker))
    failing = tmp_path / "failing-docker"
    failing.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    failing.chmod(0o755)
    assert not docker_build.answers(str(failing))


@pytest.mark.parametrize("buildx", [False, True])
def test_build_uses_buildkit_on_the_named_docker_and_saves_the_tarball(
    tmp_path: Path, docker: Path, monkeypatch: pytest.MonkeyPatch, buildx: bool
) -> None:
    if buildx:
        monkeypatch.setenv("STAND_IN_BUILDX", "1")
    archive = tmp_path / "images" / "key" / "gochat-0.1.0.tar"
    _builder(docker).build(
        context=tmp_path,
        dockerfile=tmp_path / "Dockerfile",
        reference="docker.io/gochat/gochat:0.1.0",
        archive=archive,
        on_base=True,
    )
    calls = _calls(tmp_path)
    commands = [call["argv"][0] for call in calls]  # type: ignore[index]
    assert commands == ["buildx", "build", "save", "rmi"]
    assert {(call["buildkit"], call["host"]) for call in calls} == {("1", "unix:///x.sock")}
    argv = calls[1]["argv"]
    assert isinstance(argv, list)
    # buildx (Docker 23+) may have a docker-container builder selected: --load brings the
    # image back to the store `docker save` reads. Docker 20.10's client has no such flag.
    assert ("--load" in argv) is buildx
    # No --build-arg BASE: the Dockerfile's own default base is what Docker pulls.
    assert not any(arg.startswith("--build-arg") for arg in argv)
    assert argv[argv.index("--file") + 1] == str(tmp_path / "Dockerfile")
    assert argv[argv.index("--tag") + 1] == "docker.io/gochat/gochat:0.1.0"
    assert argv[-1] == str(tmp_path)
    assert calls[3]["argv"] == ["rmi", "docker.io/gochat/gochat:0.1.0"]
    assert archive.read_text() == "tarball"
    assert not archive.with_suffix(".partial").exists()


def test_a_failed_build_names_the_command_shows_its_output_and_leaves_no_tarball(
    tmp_path: Path, docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAND_IN_FAILS", "build")
    archive = tmp_path / "key" / "backend-nats-2.15.1.tar"
    with pytest.raises(docker_build.DockerBuildError, match="docker build") as failed:
        _builder(docker).build(context=tmp_path, reference="x/nats:1", archive=archive)
    assert "uv sync: network unreachable" in str(failed.value)
    assert not archive.exists() and not archive.with_suffix(".partial").exists()
    assert [call["argv"][0] for call in _calls(tmp_path)] == ["buildx", "build"]  # type: ignore[index]


def _docker_save(path: Path, *, tag: str, config: dict[str, object]) -> Path:
    """A minimal `docker save` tarball: manifest.json and the image config, no layers."""
    with tarfile.open(path, "w") as archive:
        for name, body in (
            ("config.json", {"config": config}),
            ("manifest.json", [{"Config": "config.json", "RepoTags": [tag], "Layers": []}]),
        ):
            data = json.dumps(body).encode()
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return path


def test_derive_builds_from_the_loaded_source_and_keeps_its_cmd(
    tmp_path: Path, docker: Path
) -> None:
    source = _docker_save(
        tmp_path / "gochat-0.1.0.tar",
        tag="docker.io/gochat/gochat:0.1.0",
        config={"Entrypoint": ["/opt/gochat/bin/gochat"], "Cmd": ["api"]},
    )
    archive = tmp_path / "gochat-broken.tar"
    _builder(docker).derive(
        source,
        reference="docker.io/gochat/gochat:broken",
        archive=archive,
        env={"GOCHAT_E2E_MARKER": "broken"},
        labels={"dev.gochat.e2e-marker": "broken"},
        entrypoint=["/bin/false"],
    )
    load, _, build, save, rmi, rmi_source = _calls(tmp_path)
    assert load["argv"] == ["load", "--quiet", "--input", str(source)]
    assert build["argv"] == ["build", "--tag", "docker.io/gochat/gochat:broken", "-"]
    assert build["stdin"] == (
        "FROM docker.io/gochat/gochat:0.1.0\n"
        'ENV GOCHAT_E2E_MARKER="broken"\n'
        'LABEL dev.gochat.e2e-marker="broken"\n'
        'ENTRYPOINT ["/bin/false"]\n'
        'CMD ["api"]\n'
    )
    assert save["argv"][:2] == ["save", "--output"]  # type: ignore[index]
    assert rmi["argv"] == ["rmi", "docker.io/gochat/gochat:broken"]
    # Neither tag stays in the user's Docker: the tarballs are the product.
    assert rmi_source["argv"] == ["rmi", "docker.io/gochat/gochat:0.1.0"]
    assert archive.read_text() == "tarball"
