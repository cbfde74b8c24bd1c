"""Run the test control plane by hand, e.g. to develop the operator against it.

    python -m tests.k8s.up [--nodes N] [--run-dir DIR]

Prints the KUBECONFIG to export, then keeps the plane up until Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from . import cluster, tools


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.k8s.up", description=__doc__)
    parser.add_argument("--nodes", type=int, default=1, help="number of KWOK fake nodes")
    parser.add_argument(
        "--run-dir", type=Path, help="logs, PKI and etcd data (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="gochat-k8s-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        bin_dir = tools.ensure(log=lambda line: print(line, flush=True))
    except tools.ToolsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    plane = cluster.LocalControlPlane(
        run_dir=run_dir, bin_dir=bin_dir, nodes=args.nodes, log=lambda line: print(line, flush=True)
    )
    try:
        plane.start()
        print(f"export KUBECONFIG={plane.kubeconfig}")
        print(f"export PATH={bin_dir}:$PATH")
        print(f"logs in {run_dir / 'logs'}; Ctrl-C stops the control plane", flush=True)
        stop_requested.wait()
    except KeyboardInterrupt:
        pass
    except cluster.ControlPlaneError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
