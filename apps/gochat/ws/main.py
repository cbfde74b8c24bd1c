"""`gochat ws [--workers N]`: the WebSocket gateway (default port 8082).

With `--workers N` the command supervises N gateway processes that share the port (SO_REUSEPORT:
the kernel spreads new connections over them; core/workers.py: signals forwarded once, a worker
that dies stops the service, no orphans), so every worker drains its own clients. Each worker
is a full gateway: sessions live in JetStream KV, so a client may resume on any worker of any
pod.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

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
        return _supervise(cfg, workers, argv)
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


def _supervise(cfg: config.WsConfig, workers: int, argv: list[str]) -> int:
    rest: list[str] = []
    skip_value = False
    for arg in argv:  # every option but --workers goes to the workers
        if skip_value:
            skip_value = False
        elif arg == "--workers":
            skip_value = True
        elif not arg.startswith("--workers="):
            rest.append(arg)
    # A draining worker spreads its clients' RECONNECTs over the drain window, then finishes.
    return server.run_workers(
        service="ws",
        cfg=cfg,
        count=workers,
        worker_args=[*rest, "--workers", "1"],
        grace_seconds=cfg.drain_window_seconds + cfg.shutdown_grace_seconds,
    )
