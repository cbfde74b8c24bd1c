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
from collections.abc import Callable
from types import FrameType

from gochat.core import config, logs, server, tracing
from gochat.ws import app


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gochat ws", description="Run the WebSocket gateway.")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="gateway processes sharing the port (config: workers)",
    )
    parser.add_argument(
        "--server",
        choices=["native", "picows"],
        default=None,
        help="WebSocket server implementation (config: server; see bench/ws/SERVER_CHOICE.md)",
    )
    parser.add_argument(
        "--flush-interval-ms",
        type=float,
        default=None,
        help="how long queued frames wait to be coalesced (config: flush_interval_ms)",
    )
    parser.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default=None,
        help="event loop (config: event_loop; uvloop costs ~12%% less CPU per delivery to "
        "small audiences, bench/ws/FINDINGS.md)",
    )
    args = parser.parse_args(argv)
    cfg = server.load_or_exit(config.WsConfig, service="ws")
    # Flags win over the config file and GOCHAT_* variables (the operator sets those).
    workers = cfg.workers if args.workers is None else args.workers
    library = args.server or cfg.server
    flush_ms = cfg.flush_interval_ms if args.flush_interval_ms is None else args.flush_interval_ms
    if workers < 1:
        parser.error("--workers must be at least 1")
    if workers > 1:
        return _supervise(workers, argv)
    logs.setup_logging(service="ws", level=cfg.log_level, fmt=cfg.log_format)
    tracing.setup_tracing(service="ws", otlp_endpoint=cfg.otlp_endpoint)
    with asyncio.Runner(loop_factory=_loop_factory(args.loop or cfg.event_loop)) as runner:
        runner.run(app.run(cfg, library=library, flush_interval=flush_ms / 1000))
    return 0


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name == "uvloop":
        import uvloop  # imported only when chosen

        return uvloop.new_event_loop
    return None  # asyncio's default


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
