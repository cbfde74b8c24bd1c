"""Run a service: validate config, set up logs and tracing, serve with graceful shutdown; or
supervise several worker processes of it on one port (core/workers.py)."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from gochat.core import config as config_module
from gochat.core import logs, tracing, workers

ConfigT = TypeVar("ConfigT", bound=config_module.ServiceConfig)
log = logging.getLogger(__name__)


def load_or_exit(model: type[ConfigT], *, service: str) -> ConfigT:
    """Load the service's config; on a bad value print one line naming the key, exit 2."""
    try:
        return config_module.load_config(model, service=service)
    except config_module.ConfigError as exc:
        print(f"gochat {service}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run_service(
    *, service: str, model: type[ConfigT], build_app: Callable[[ConfigT], FastAPI]
) -> int:
    """Serve until SIGTERM/SIGINT. uvicorn stops accepting, lets in-flight requests finish within
    `shutdown_grace_seconds`, then runs the app's lifespan exit, which closes pools."""
    cfg = load_or_exit(model, service=service)
    logs.setup_logging(service=service, level=cfg.log_level, fmt=cfg.log_format)
    tracing.setup_tracing(service=service, otlp_endpoint=cfg.otlp_endpoint)
    try:
        app = build_app(cfg)
    except config_module.ConfigError as exc:  # e.g. a backend choice without an adapter
        print(f"gochat {service}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # A worker among several binds the port itself, in the group its siblings share.
    sockets = None
    if workers.worker_index() is not None:
        sockets = [workers.listening_socket(cfg.host, cfg.port, reuse_port=True)]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=cfg.host,
            port=cfg.port,
            # Both in C: uvloop's event loop and httptools' HTTP/1.1 parser spend less CPU per
            # request than asyncio and h11 (bench/api/FINDINGS.md). uvicorn's "auto" picks them
            # too but silently falls back when one is missing; named, a missing one fails loudly.
            loop=cfg.event_loop,
            http="httptools",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(cfg.shutdown_grace_seconds),
            proxy_headers=False,
            server_header=False,
        )
    )
    # uvicorn re-raises the stop signal once it has shut down gracefully; answering it with a
    # normal exit makes a clean stop exit 0, so supervisors can tell it from a crash.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _exit_cleanly)
    workers.accept_stop_signals()  # a supervised worker starts with them held
    log.info(
        "starting",
        extra={
            "host": cfg.host,
            "port": cfg.port,
            "loop": cfg.event_loop,
            "worker": workers.worker_index(),
        },
    )
    server.run(sockets=sockets)
    return 0


def run_workers(
    *,
    service: str,
    cfg: config_module.ServiceConfig,
    count: int,
    worker_args: list[str],
    env_for: Callable[[int], dict[str, str]] = lambda index: {},
    grace_seconds: float | None = None,
) -> int:
    """Supervise `count` processes of `gochat <service> <worker_args>` sharing `cfg.port`;
    a worker still running `grace_seconds` (default: the config's shutdown grace) after it was
    asked to stop is killed."""
    logs.setup_logging(service=service, level=cfg.log_level, fmt=cfg.log_format)
    return workers.supervise(
        service=service,
        count=count,
        command=[sys.executable, "-m", "gochat", service, *worker_args],
        host=cfg.host,
        port=cfg.port,
        grace_seconds=cfg.shutdown_grace_seconds if grace_seconds is None else grace_seconds,
        env_for=env_for,
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    log.info("stopped", extra={"signal": signal.Signals(signum).name})
    raise SystemExit(0)
