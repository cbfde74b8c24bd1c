"""The kind tier's builds, run in the background while the rest of `make test` runs.

    python -m tests.e2e.kind.prebuild

From a cold cache the tier's builds (the node image's Go binaries and Debian base, skaffold,
Prometheus and its adapter, the backend and GoChat images) take most of an hour on two cores,
while the unit and integration tests before them leave much of the CPU idle, waiting on their
servers. ``start`` runs this module at the lowest CPU and I/O priority when a pytest session
has selected cluster scenarios; those scenarios run last (``conftest.py``), and find the cache
filled or wait on the same per-artifact locks the builders take, so nothing is built twice and
a half-built artifact is never used. A warm cache makes every step a lookup (seconds).

A step that fails here is only logged: the scenario that needs the artifact builds it again
and fails there, with the error where it matters.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from tests.images import build as images

from . import backend_images, base_image, binaries, cache, metrics_images

Step = tuple[str, Callable[[], object]]


def steps(versions: cache.Versions, log: cache.Log) -> list[Step]:
    """In the order the scenarios need them: the node image's parts (every cluster), GoChat's
    images, the developer loop's tools, then the backends' and the metrics path's images."""
    return [
        ("kind", lambda: binaries.kind(versions, log=log)),
        ("Kubernetes node binaries", lambda: binaries.kubernetes(versions, log=log)),
        ("etcd", lambda: binaries.etcd(versions, log=log)),
        ("coredns", lambda: binaries.coredns(versions, log=log)),
        ("pause", lambda: binaries.pause(versions, log=log)),
        ("local-path-provisioner", lambda: binaries.local_path_provisioner(versions, log=log)),
        ("kind module", lambda: base_image.kind_module(versions, log=log)),
        (
            "node base",
            lambda: base_image.base_tarball(
                versions, crictl=binaries.crictl(versions, log=log), log=log
            ),
        ),
        ("GoChat images", images.ensure_images),
        ("skaffold", lambda: binaries.skaffold(versions, log=log)),
        ("helm 3 for skaffold", lambda: binaries.skaffold_helm(versions, log=log)),
        # Both profiles: the production one (Cassandra, OpenSearch, MinIO) too.
        ("backend images", lambda: backend_images.ensure_images(backend_images.IMAGES)),
        ("metrics images", metrics_images.ensure_images),
    ]


def run(step_list: list[Step], log: cache.Log) -> list[str]:
    """Run every step, each timed; return the names of those that failed."""
    failed = []
    for name, step in step_list:
        started = time.monotonic()
        try:
            step()
        except Exception:
            failed.append(name)
            log(f"prebuild: {name} failed (the scenario needing it will build it again):")
            log(traceback.format_exc())
        else:
            log(f"prebuild: {name} ready in {time.monotonic() - started:.0f}s")
    return failed


def start(log_path: Path) -> subprocess.Popen[bytes]:
    """This module in a background process at idle CPU and I/O priority, output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = ["nice", "-n", "19", sys.executable, "-m", "tests.e2e.kind.prebuild"]
    if shutil.which("ionice"):
        command = ["ionice", "-c", "3", *command]
    with log_path.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=images.ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.nice(19),
            start_new_session=True,  # stopped as a group: its go and buildah children too
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a prebuild still running when the session ends (what it finished stays cached)."""
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def main() -> int:
    def log(line: str) -> None:
        print(line, flush=True)

    started = time.monotonic()
    failed = run(steps(cache.PINNED, log), log)
    log(f"prebuild: done in {time.monotonic() - started:.0f}s; failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
