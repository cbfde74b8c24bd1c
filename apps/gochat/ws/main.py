"""`gochat ws [--workers N]`: the WebSocket gateway (default port 8082).

With `--workers N` the command starts N gateway processes that share the port (SO_REUSEPORT:
the kernel spreads new connections over them) and forwards SIGTERM/SIGINT to each, so every
worker drains its own clients. Each worker is a full gateway: sessions live in JetStream KV, so
a client may resume on any worker of any pod.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from types import FrameType

from gochat.core import config, logs, server, tracing
from gochat.ws import app, session
from gochat.ws import server as server_seam


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gochat ws", description="Run the WebSocket gateway.")
    parser.add_argument(
        "--workers", type=int, default=1, help="gateway processes sharing the port (default 1)"
    )
    parser.add_argument(
        "--server",
        choices=["native", "picows"],
        default=server_seam.DEFAULT_LIBRARY,
        help="WebSocket server implementation (default: native; see bench/ws/SERVER_CHOICE.md)",
    )
    parser.add_argument(
        "--flush-interval-ms",
        type=float,
        default=session.FLUSH_INTERVAL_SECONDS * 1000,
        help="how long queued frames wait to be coalesced into one write (default 20)",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    cfg = server.load_or_exit(config.WsConfig, service="ws")
    if args.workers > 1:
        return _supervise(args.workers, argv)
    logs.setup_logging(service="ws", level=cfg.log_level, fmt=cfg.log_format)
    tracing.setup_tracing(service="ws", otlp_endpoint=cfg.otlp_endpoint)
    asyncio.run(app.run(cfg, library=args.server, flush_interval=args.flush_interval_ms / 1000))
    return 0


def _supervise(workers: int, argv: list[str]) -> int:
    rest: list[str] = []
    skip_value = False
    for arg in argv:  # every option but --workers goes to the workers
        if skip_value:
            skip_value = False
        elif arg == "--workers":
            skip_value = True
        elif not arg.startswith("--workers="):
            rest.append(arg)
    metrics_dir = tempfile.mkdtemp(prefix="gochat-ws-metrics-")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    children = [
        subprocess.Popen([sys.executable, "-m", "gochat", "ws", *rest, "--workers", "1"], env=env)
        for _ in range(workers)
    ]

    def forward(signum: int, _: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return max(codes)
