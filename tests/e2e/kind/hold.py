"""Keep the harness's kind cluster up, with every e2e image loaded, until Ctrl-C / SIGTERM.

    python -m tests.e2e.kind.hold

For iterating on a scenario without paying for a cluster per run: it prints the variables that
point the e2e suite at this cluster (``GOCHAT_E2E_KUBECONFIG``, and ``GOCHAT_E2E_NETNS`` where the
API server listens inside the private dockerd's network namespace, or on the user's Docker
``GOCHAT_E2E_KIND_CLUSTER`` and the ``kind`` to load images with). On exit it deletes the cluster
and restores the host, as ``cluster.session()`` always does.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from tests.e2e.kind import backend_images, cluster, dockerd
from tests.images import build as images


def main() -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    backends = backend_images.ensure_images(backend_images.IMAGES)  # both profiles
    archives = [*images.ensure_images().values(), *backends.values()]
    outcome = cluster.Outcome()
    return _hold(archives, outcome, stop)


def _hold(archives: list[Path], outcome: cluster.Outcome, stop: threading.Event) -> int:
    # One kind cluster per machine: wait (up to an hour) for another harness run to end.
    with cluster.session(outcome=outcome, wait_for_lock=3600) as kind_cluster:
        kind_cluster.wait_usable()
        for archive in archives:
            kind_cluster._kind(["load", "image-archive", str(archive)])
        where = (
            f" GOCHAT_E2E_NETNS=/run/netns/{kind_cluster.daemon.netns}"
            if isinstance(kind_cluster.daemon, dockerd.Dockerd)
            # On the user's Docker the suite loads what a scenario builds (the metrics and the
            # upgrade's images) itself, with this kind and the cluster's name.
            else f" GOCHAT_E2E_KIND_CLUSTER={kind_cluster.name}"
            f" PATH={kind_cluster.kind.parent}:$PATH"
        )
        print(f"export GOCHAT_E2E_KUBECONFIG={kind_cluster.kubeconfig}{where}", flush=True)
        stop.wait()
    print(f"timings: {outcome.timings}; host differences: {outcome.host_differences}")
    return 1 if outcome.host_differences else 0


if __name__ == "__main__":
    sys.exit(main())
