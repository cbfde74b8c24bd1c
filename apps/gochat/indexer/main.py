"""`gochat indexer`: the search indexer, with /healthz, /readyz and /metrics on its port."""

from __future__ import annotations

from gochat.core import config, server
from gochat.indexer.app import build_app


def main(argv: list[str]) -> int:
    return server.run_service(service="indexer", model=config.IndexerConfig, build_app=build_app)
