"""Pruning the kind cache when pins change (unit tests on a temporary cache root)."""

from __future__ import annotations

import dataclasses
import fcntl
from pathlib import Path

from tests.e2e.kind import binaries, cache

OLD = dataclasses.replace(
    cache.PINNED, kubernetes="v1.34.4", coredns="v1.12.0", skaffold="v2.13.0", recipe=2
)
NEW = cache.PINNED


def fill(root: Path, versions: cache.Versions) -> list[Path]:
    """What a complete build of ``versions`` leaves in the cache, with its lock files."""
    made = []
    for folder, names in versions.current_entries().items():
        for name in names:
            entry = root / folder / name
            if folder == "bin":
                entry.mkdir(parents=True, exist_ok=True)
                (entry / "tool").write_text("binary")
            else:
                entry.parent.mkdir(parents=True, exist_ok=True)
                entry.write_text("tarball")
            (root / folder / f".{name}.lock").touch()
            made.append(entry)
    return made


def test_prune_keeps_the_current_pins_and_removes_the_entries_only_older_pins_used(
    tmp_path: Path,
) -> None:
    old = set(fill(tmp_path, OLD))
    new = set(fill(tmp_path, NEW))
    removed = cache.prune(NEW, root=tmp_path, log=lambda line: None)
    assert set(removed) == old - new
    # kind, etcd, crictl... are pinned the same in both: they stay.
    assert old & new
    assert all(path.exists() for path in new)
    assert not any(path.exists() for path in old - new)
    assert not any((path.parent / f".{path.name}.lock").exists() for path in old - new)


def test_prune_leaves_run_logs_and_unknown_folders_alone(tmp_path: Path) -> None:
    for folder in ("run/docker", "logs/kind-1", "other"):
        (tmp_path / folder).mkdir(parents=True)
    fill(tmp_path, OLD)
    cache.prune(NEW, root=tmp_path, log=lambda line: None)
    assert all((tmp_path / folder).is_dir() for folder in ("run/docker", "logs/kind-1", "other"))


def test_prune_skips_an_entry_another_run_holds_the_build_lock_of(tmp_path: Path) -> None:
    fill(tmp_path, OLD)
    held = tmp_path / "node" / OLD.node_tarball
    with open(held.parent / f".{held.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        removed = cache.prune(NEW, root=tmp_path, log=lambda line: None)
    assert held.exists() and held not in removed
    assert removed  # the others went


def test_prune_on_an_empty_root_does_nothing(tmp_path: Path) -> None:
    assert cache.prune(NEW, root=tmp_path / "absent", log=lambda line: None) == []


def test_every_cached_binary_is_named_by_the_pins() -> None:
    """binaries.py caches each tool under ``bin_entries``: a pin change renames the entry."""
    names = NEW.bin_entries
    assert names["skaffold"] == f"skaffold-{NEW.skaffold}"
    assert names["etcd"] == "etcd-v3.6.6"
    assert len(set(names.values())) == len(names)


# The plugins kubeadm's default Corefile names (prometheus is the metrics plugin's directive).
KUBEADM_COREFILE_DIRECTIVES = (
    "errors", "health", "ready", "kubernetes", "prometheus", "forward", "cache", "loop",
    "reload", "loadbalance",
)  # fmt: skip


def test_the_kind_coredns_build_has_every_plugin_kubeadms_corefile_names() -> None:
    packages = {"prometheus": "metrics"}
    main = binaries.coredns_main(cache.PINNED.coredns_plugins)
    for directive in KUBEADM_COREFILE_DIRECTIVES:
        package = packages.get(directive, directive)
        assert f'_ "github.com/coredns/coredns/plugin/{package}"' in main, directive


def test_another_coredns_plugin_set_is_another_cache_entry_and_node_image() -> None:
    fewer = dataclasses.replace(NEW, coredns_plugins=NEW.coredns_plugins[:-1])
    assert fewer.bin_entries["coredns"] != NEW.bin_entries["coredns"]
    assert fewer.node_tarball != NEW.node_tarball
