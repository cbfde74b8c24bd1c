"""`gochat api`: the REST API service."""

from __future__ import annotations

from gochat.api.app import build_app
from gochat.core import config, server


def main(argv: list[str]) -> int:
    return server.run_service(service="api", model=config.ApiConfig, build_app=build_app)
