"""Which engine a kind run uses (unit tests: no Docker, no root needed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.kind import cluster, engine

PRIVATE_READY = engine.Probes(docker_info=False, root=True, linux=True, missing_programs=())


def choose(**changes: Any) -> engine.Choice:
    return engine.choose(dataclasses.replace(PRIVATE_READY, **changes))


def test_a_working_docker_is_used_even_as_root() -> None:
    assert choose(docker_info=True).engine is engine.Engine.USER_DOCKER
    assert choose(docker_info=True, root=False).engine is engine.Engine.USER_DOCKER


def test_a_working_docker_off_linux_skips_naming_the_binaries_the_images_carry() -> None:
    choice = choose(docker_info=True, root=False, linux=False)
    assert choice.engine is None and "must be Linux ones" in choice.reason


def test_without_docker_root_on_linux_uses_the_private_dockerd() -> None:
    assert choose().engine is engine.Engine.PRIVATE_DOCKERD


def test_without_docker_and_without_root_skips_naming_both() -> None:
    choice = choose(root=False)
    assert choice.engine is None
    assert "`docker info` fails" in choice.reason and "needs root" in choice.reason


def test_without_docker_off_linux_skips_naming_linux() -> None:
    choice = choose(linux=False)
    assert choice.engine is None and "needs Linux" in choice.reason


def test_missing_programs_are_named_with_the_packages_to_install() -> None:
    choice = choose(missing_programs=("dockerd", "buildah"))
    assert choice.engine is None
    assert "lacks dockerd, buildah" in choice.reason
    assert "apt-get install docker.io" in choice.reason


def test_forcing_the_private_path_ignores_a_working_docker() -> None:
    assert choose(docker_info=True, forced="private").engine is engine.Engine.PRIVATE_DOCKERD
    assert choose(docker_info=True, forced="private", root=False).engine is None


def test_forcing_docker_without_docker_skips_instead_of_falling_back() -> None:
    choice = choose(forced="docker")
    assert choice.engine is None and "GOCHAT_KIND_ENGINE=docker" in choice.reason


def test_an_unknown_forced_engine_is_an_error_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="GOCHAT_KIND_ENGINE='podman'"):
        choose(forced="podman")


def test_probe_reads_the_forced_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(engine.FORCE_VARIABLE, "private")
    monkeypatch.setattr(engine.docker_build, "answers", lambda: True)
    probes = engine.probe()
    assert probes.forced == "private" and probes.docker_info


TWO_NODES = cluster.REPO / "kind-config-two-nodes.yaml"


def test_one_node_config_keeps_the_control_plane_and_disables_kindnet_on_the_private_path() -> None:
    config = cluster.cluster_config(
        cluster.REPO / "kind-config.yaml", engine_used=engine.Engine.PRIVATE_DOCKERD
    )
    assert [node["role"] for node in config["nodes"]] == ["control-plane"]
    assert config["networking"]["disableDefaultCNI"] is True
    assert cluster.KUBELET_PATCH in config["kubeadmConfigPatches"]


def test_with_workers_each_node_gets_its_own_cni_folder(tmp_path: Path) -> None:
    config = cluster.cluster_config(
        TWO_NODES, engine_used=engine.Engine.PRIVATE_DOCKERD, workers=True, cni_root=tmp_path
    )
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker"]
    mounts = [node["extraMounts"] for node in config["nodes"]]
    assert mounts == [
        [{"hostPath": str(tmp_path / f"node-{i}"), "containerPath": "/etc/cni/net.d"}]
        for i in range(2)
    ]


def test_with_workers_a_cni_folder_is_required() -> None:
    with pytest.raises(ValueError, match="cni_root"):
        cluster.cluster_config(TWO_NODES, engine_used=engine.Engine.PRIVATE_DOCKERD, workers=True)


def test_the_users_docker_keeps_kindnet() -> None:
    config = cluster.cluster_config(TWO_NODES, engine_used=engine.Engine.USER_DOCKER, workers=True)
    assert "disableDefaultCNI" not in config.get("networking", {})
    assert all("extraMounts" not in node for node in config["nodes"])


def test_on_the_users_docker_the_nodes_publish_no_host_ports() -> None:
    one_node = cluster.cluster_config(
        cluster.REPO / "kind-config.yaml", engine_used=engine.Engine.USER_DOCKER
    )
    assert [node["role"] for node in one_node["nodes"]] == ["control-plane"]
    assert all("extraPortMappings" not in node for node in one_node["nodes"])
    # The private dockerd publishes them in its own network namespace: kept there.
    private = cluster.cluster_config(
        cluster.REPO / "kind-config.yaml", engine_used=engine.Engine.PRIVATE_DOCKERD
    )
    assert private["nodes"][0]["extraPortMappings"]


def test_the_cni_manifest_runs_the_node_images_helper() -> None:
    documents = list(yaml.safe_load_all(cluster.cni_manifest(cluster.cache.PINNED)))
    daemonset = next(doc for doc in documents if doc["kind"] == "DaemonSet")
    container = daemonset["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{cluster.node_image.HELPER_IMAGE}:{cluster.cache.PINNED.debian}"
    assert container["imagePullPolicy"] == "Never"


def provision(probes: list[engine.Probes]) -> tuple[engine.Probes, list[str]]:
    """``probe_and_provision`` over a scripted sequence of probes, recording installs."""
    installs: list[str] = []
    taken = iter(probes)
    result = engine.probe_and_provision(
        print, take=lambda: next(taken), install=lambda log: installs.append("apt-get")
    )
    return result, installs


MISSING = dataclasses.replace(PRIVATE_READY, missing_programs=("dockerd", "buildah"))


def test_missing_debian_packages_are_installed_then_probed_again() -> None:
    result, installs = provision([MISSING, PRIVATE_READY])
    assert installs == ["apt-get"]
    assert engine.choose(result).engine is engine.Engine.PRIVATE_DOCKERD


def test_nothing_is_installed_where_docker_works_or_nothing_is_missing() -> None:
    with_docker = dataclasses.replace(MISSING, docker_info=True)
    assert provision([with_docker]) == (with_docker, [])
    assert provision([PRIVATE_READY]) == (PRIVATE_READY, [])


def test_nothing_is_installed_without_root_or_off_linux_or_when_docker_is_forced() -> None:
    for probes in (
        dataclasses.replace(MISSING, root=False),
        dataclasses.replace(MISSING, linux=False),
        dataclasses.replace(MISSING, forced="docker"),
    ):
        assert provision([probes]) == (probes, [])


def test_forcing_the_private_path_installs_even_beside_a_working_docker() -> None:
    forced = dataclasses.replace(MISSING, docker_info=True, forced="private")
    _, installs = provision([forced, dataclasses.replace(PRIVATE_READY, forced="private")])
    assert installs == ["apt-get"]


def test_the_packages_named_cover_every_program_the_private_path_runs() -> None:
    # Debian package that ships each program (util-linux is Essential: every system has it).
    shipped_by = {
        "dockerd": "docker.io", "containerd": "containerd", "runc": "runc",
        "unshare": "util-linux", "nsenter": "util-linux", "ip": "iproute2",
        "iptables": "iptables", "zstd": "zstd", "debootstrap": "debootstrap", "buildah": "buildah",
    }  # fmt: skip
    assert set(shipped_by) == set(engine.PRIVATE_PROGRAMS)
    named = set(engine.PRIVATE_PACKAGES.split()) | {"util-linux"}
    assert set(shipped_by.values()) <= named
