"""The harness itself: it cleans up after a failed start and sessions do not collide."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from . import cluster, connection, tools

pytestmark = pytest.mark.k8s


def test_a_failed_start_stops_the_processes_already_started(tmp_path: Path) -> None:
    real = tools.ensure()
    broken_bin = tmp_path / "bin"
    broken_bin.mkdir()
    for name in tools.BINARIES:
        (broken_bin / name).symlink_to(real / name)
    (broken_bin / "kube-apiserver").unlink()
    (broken_bin / "kube-apiserver").write_text("#!/bin/sh\necho 'refusing to start' >&2\nexit 3\n")
    (broken_bin / "kube-apiserver").chmod(0o755)
    plane = cluster.LocalControlPlane(run_dir=tmp_path / "run", bin_dir=broken_bin)

    with pytest.raises(cluster.ControlPlaneError, match="refusing to start"):
        plane.start()

    recorded = dict(line.split() for line in (tmp_path / "run" / "pids").read_text().splitlines())
    assert set(recorded) == {"etcd", "kube-apiserver"}
    for pid in recorded.values():
        assert not process_exists(int(pid)), f"pid {pid} survived a failed start"


def test_a_second_control_plane_runs_beside_the_session_one(
    k8s_control_plane: connection.KubernetesCluster, tmp_path: Path
) -> None:
    if not k8s_control_plane.simulated_nodes:
        pytest.skip("the session cluster is an existing one (GOCHAT_TEST_KUBECONFIG)")
    plane = cluster.LocalControlPlane(run_dir=tmp_path, bin_dir=tools.ensure())
    try:
        second = plane.start()
        assert second.server != k8s_control_plane.server
        second.kubectl("create", "namespace", "only-in-the-second")
        first_sees = k8s_control_plane.kubectl(
            "get", "namespace", "only-in-the-second", check=False
        )
        assert first_sees.returncode != 0
    finally:
        plane.stop()
    pids = [int(line.split()[1]) for line in (tmp_path / "pids").read_text().splitlines()]
    assert len(pids) == 5
    assert not any(process_exists(pid) for pid in pids)
    k8s_control_plane.kubectl("get", "--raw", "/readyz")


def test_a_port_taken_between_choice_and_bind_is_retried_with_new_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_free_port = cluster.free_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        handed_out = iter([taken])  # etcd's client port, the first one chosen
        monkeypatch.setattr(
            cluster, "free_port", lambda: next(handed_out, None) or real_free_port()
        )
        plane = cluster.LocalControlPlane(run_dir=tmp_path, bin_dir=tools.ensure())
        try:
            retried = plane.start()
            retried.kubectl("get", "--raw", "/readyz")
        finally:
            plane.stop()
    # Both attempts are in the pid file: the failed etcd, then a whole control plane.
    started = [line.split()[0] for line in (tmp_path / "pids").read_text().splitlines()]
    assert started[0] == "etcd" and started[1:].count("etcd") == 1


def process_exists(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z" and os.path.exists(f"/proc/{pid}")
