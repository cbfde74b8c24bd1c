"""`gochat ws [--workers N]`: the WebSocket gateway (default port 8082).

With `--workers N` the command starts N gateway processes that share the port (SO_REUSEPORT:
the kernel spreads new connections over them) and forwards SIGTERM/SIGINT to each, so every
worker drains its own clients. Each worker is a full gateway: sessions live in JetStream KV, so
a client may resume on any worker of any pod.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
from types import FrameType

from gochat.core import config, logs, server, tracing
from gochat.ws import app


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gochat ws", description="Run the WebSocket gateway.")
    parser.add_argument(
        "--workers", type=int, default=1, help="gateway processes sharing the port (default 1)"
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    cfg = server.load_or_exit(config.WsConfig, service="ws")
    if args.workers > 1:
        return _supervise(args.workers)
    logs.setup_logging(service="ws", level=cfg.log_level, fmt=cfg.log_format)
    tracing.setup_tracing(service="ws", otlp_endpoint=cfg.otlp_endpoint)
    asyncio.run(app.run(cfg))
    return 0


def _supervise(workers: int) -> int:
    children = [
        subprocess.Popen([sys.executable, "-m", "gochat", "ws", "--workers", "1"])
        for _ in range(workers)
    ]

    def forward(signum: int, _: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes)
