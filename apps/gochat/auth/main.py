"""`gochat auth`: serve the auth service (default port 8081)."""

from __future__ import annotations

import sys

from fastapi import FastAPI

from gochat.auth import app
from gochat.core import config, server


def main(argv: list[str] | None = None) -> int:
    if argv:
        print(
            f"gochat auth: takes no arguments (got {' '.join(argv)}); configure it with "
            "auth_config.yaml or GOCHAT_* variables",
            file=sys.stderr,
        )
        return 2
    return server.run_service(service="auth", model=config.AuthConfig, build_app=_build_or_exit)


def _build_or_exit(cfg: config.AuthConfig) -> FastAPI:
    try:
        return app.build_app(cfg)
    except config.ConfigError as exc:
        print(f"gochat auth: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
