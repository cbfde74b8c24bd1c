"""The snapshot comparison and parsing behind the host-hygiene check (no root, no cluster)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.kind import host_state

MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
25 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
40 22 254:0 /run/netns /run/netns rw shared:1 - ext4 /dev/vda rw
"""


def snapshot(**categories: tuple[str, ...]) -> host_state.Snapshot:
    return host_state.Snapshot(categories=dict(categories))


def test_identical_snapshots_have_no_differences() -> None:
    state = snapshot(links=("1: lo",), sysctls=("kernel.panic = 1",))
    assert host_state.differences(state, state) == []


def test_a_changed_sysctl_shows_old_and_new_value() -> None:
    before = snapshot(sysctls=("kernel.panic = 1", "vm.overcommit_memory = 0"))
    after = snapshot(sysctls=("kernel.panic = 10", "vm.overcommit_memory = 0"))
    assert host_state.differences(before, after) == [
        "sysctls: -kernel.panic = 1",
        "sysctls: +kernel.panic = 10",
    ]


def test_a_category_missing_on_one_side_counts_as_empty() -> None:
    before = snapshot(paths=())
    after = snapshot(paths=("/usr/lib/modules",), processes=("dockerd (pid 7)",))
    assert host_state.differences(before, after) == [
        "paths: +/usr/lib/modules",
        "processes: +dockerd (pid 7)",
    ]


def test_recorded_sysctls_and_paths_read_back() -> None:
    state = snapshot(sysctls=("kernel.panic = 1", "fs.file-max = 9223372036854775807"))
    assert state.sysctls() == {"kernel.panic": "1", "fs.file-max": "9223372036854775807"}
    assert snapshot(paths=("/run/netns",)).existing_paths() == {"/run/netns"}


def test_mount_points_carry_their_filesystem_type() -> None:
    assert host_state.read_mount_points(MOUNTINFO) == ["/ ext4", "/proc proc", "/run/netns ext4"]


def test_only_the_harness_programs_count_as_leftover_processes(tmp_path: Path) -> None:
    for pid, name in ((10, "dockerd"), (11, "python3"), (12, "kubelet"), (13, "kube-apiserver")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(name + "\n")
    (tmp_path / "self").mkdir()
    assert sorted(host_state.harness_processes(tmp_path)) == [
        "dockerd (pid 10)",
        "kubelet (pid 12)",
    ]


def test_fixed_paths_list_children_before_their_parents() -> None:
    # restore() removes them in this order, so a parent is empty when its turn comes.
    paths = host_state.FIXED_PATHS
    for index, path in enumerate(paths):
        assert not any(path.startswith(parent + "/") for parent in paths[:index])
