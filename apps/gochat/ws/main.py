"""`gochat ws`: the WebSocket gateway (default port 8082)."""

from __future__ import annotations

import asyncio

from gochat.core import config, logs, server, tracing
from gochat.ws import app


def main(argv: list[str]) -> int:
    cfg = server.load_or_exit(config.WsConfig, service="ws")
    logs.setup_logging(service="ws", level=cfg.log_level, fmt=cfg.log_format)
    tracing.setup_tracing(service="ws", otlp_endpoint=cfg.otlp_endpoint)
    asyncio.run(app.run(cfg))
    return 0
