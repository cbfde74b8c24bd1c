"""`gochat api [--workers N]`: the REST API service.

With N workers (flag or config `workers`) the command supervises N API processes that share the
port (core/workers.py: SO_REUSEPORT, signals forwarded, a worker that dies stops the service
with a non-zero exit). Each worker is a whole API: its own pool, and its own outbox relay, whose
leader election lets one relay of the whole deployment publish.
"""

from __future__ import annotations

import argparse

from gochat.api.app import build_app
from gochat.core import config, ids, server


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gochat api", description="Run the REST API service.")
    parser.add_argument(
        "--workers", type=int, default=None, help="API processes sharing the port (config: workers)"
    )
    args = parser.parse_args(argv)
    cfg = server.load_or_exit(config.ApiConfig, service="api")
    # The flag wins over the config file and GOCHAT_* variables (the operator sets those).
    count = cfg.workers if args.workers is None else args.workers
    if count < 1:
        parser.error("--workers must be at least 1")
    if count == 1:
        return server.run_service(service="api", model=config.ApiConfig, build_app=build_app)
    # Snowflake ids embed a worker id: every worker leases its own at start (worker_lease.py);
    # a configured id becomes the first of N consecutive ids, one per worker.
    first = cfg.snowflake_worker_id
    return server.run_workers(
        service="api",
        cfg=cfg,
        count=count,
        worker_args=["--workers", "1"],
        env_for=lambda index: (
            {}
            if first is None
            else {"GOCHAT_SNOWFLAKE_WORKER_ID": str((first + index) % (ids.MAX_WORKER_ID + 1))}
        ),
    )
