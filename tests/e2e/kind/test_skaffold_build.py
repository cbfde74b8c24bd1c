"""skaffold's custom build step for the kind-buildah profile (unit tests: nothing is built)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.kind import cluster, skaffold_build
from tests.images import builders, docker_build


def test_the_repository_of_a_tag_keeps_a_registry_port() -> None:
    assert (
        skaffold_build.repository("docker.io/gochat/gochat:abc-dirty") == "docker.io/gochat/gochat"
    )
    assert skaffold_build.repository("localhost:5000/gochat:v1") == "localhost:5000/gochat"
    assert skaffold_build.repository("localhost:5000/gochat") == "localhost:5000/gochat"


def test_an_image_without_a_builder_is_an_error_naming_it_and_the_known_ones() -> None:
    with pytest.raises(skaffold_build.SkaffoldBuildError, match=r"IMAGE='docker\.io/x/y:1'.*known"):
        skaffold_build.builder_for("docker.io/x/y:1")


def test_without_image_or_when_asked_to_push_nothing_is_built() -> None:
    with pytest.raises(skaffold_build.SkaffoldBuildError, match="IMAGE is not set"):
        skaffold_build.main({})
    with pytest.raises(skaffold_build.SkaffoldBuildError, match="no registry"):
        skaffold_build.main({"IMAGE": "docker.io/gochat/gochat:t", "PUSH_IMAGE": "true"})


def test_the_loaded_reference_comes_from_the_archives_manifest(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    manifest = json.dumps([{"RepoTags": ["docker.io/gochat/backend-nats:2.15.1"]}]).encode()
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    assert skaffold_build.loaded_reference(archive) == "docker.io/gochat/backend-nats:2.15.1"


def test_every_image_skaffold_yaml_builds_has_a_buildah_builder() -> None:
    configs = list(yaml.safe_load_all((cluster.REPO / "skaffold.yaml").read_text()))
    for config in configs:
        images = {artifact["image"] for artifact in config["build"]["artifacts"]}
        profile = next(p for p in config["profiles"] if p["name"] == "kind-buildah")
        custom = {
            artifact["image"]: artifact["custom"] for artifact in profile["build"]["artifacts"]
        }
        assert set(custom) == images
        for image, step in custom.items():
            assert skaffold_build.builder_for(f"{image}:tag")
            assert step["buildCommand"].endswith("-m tests.e2e.kind.skaffold_build")


@pytest.fixture
def fresh_builder_choice(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(builders.VARIABLE, raising=False)  # restored afterwards
    builders.current.cache_clear()
    yield
    builders.current.cache_clear()


def test_the_step_builds_with_buildah_even_where_the_kind_docker_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_builder_choice: None
) -> None:
    """skaffold runs the step with DOCKER_HOST naming the private dockerd: `docker info` answers
    there, but a `docker build` on it reaches no registry."""
    monkeypatch.setattr(docker_build, "answers", lambda *args, **kwargs: True)
    assert builders.current().name == "docker"  # what the step would otherwise get
    builders.current.cache_clear()
    archive = tmp_path / "gochat.tar"
    chosen: list[str] = []

    def build() -> Path:
        chosen.append(builders.current().name)
        return archive

    ran: list[list[str]] = []
    monkeypatch.setitem(skaffold_build.BUILDERS, "docker.io/gochat/gochat", build)
    monkeypatch.setattr(skaffold_build, "loaded_reference", lambda _: "docker.io/gochat/gochat:1")
    monkeypatch.setattr(
        skaffold_build.subprocess,
        "run",
        lambda command, **_: ran.append(command) or subprocess.CompletedProcess(command, 0),
    )
    assert skaffold_build.main({"IMAGE": "docker.io/gochat/gochat:t"}) == 0
    assert chosen == ["buildah"]
    assert [command[:2] for command in ran] == [["docker", "load"], ["docker", "tag"]]
