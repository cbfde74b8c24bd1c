"""`gochat migrate`: apply SQL migrations (the operator runs this as a versioned Job)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from gochat.adapters.postgres import migrations
from gochat.core import config, logs


def main(argv: list[str]) -> int:
    if argv:
        print(
            "usage: gochat migrate   (configured by GOCHAT_PG_DSN / GOCHAT_CONFIG)", file=sys.stderr
        )
        return 2
    try:
        cfg = config.load_config(config.MigrateConfig, service="migrate")
    except config.ConfigError as exc:
        print(f"gochat migrate: {exc}", file=sys.stderr)
        return 2
    logs.setup_logging(service="migrate", level=cfg.log_level, fmt=cfg.log_format)
    directory = os.environ.get("GOCHAT_MIGRATIONS_DIR")
    try:
        path = Path(directory) if directory else migrations.default_directory()
        applied = asyncio.run(migrations.apply(cfg.pg_dsn, path))
    except (migrations.MigrationError, OSError) as exc:
        logging.getLogger("gochat.migrate").error("migration failed: %s", exc)
        return 1
    logging.getLogger("gochat.migrate").info("migrations up to date", extra={"applied": applied})
    return 0
