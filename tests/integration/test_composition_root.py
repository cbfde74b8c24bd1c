"""A service started with a backend choice it has no adapter for (or without a key the choice
needs) stops at start, before connecting to anything, with one line naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Nothing listens on port 9: had the service tried to connect, it would fail differently.
UNREACHABLE = {
    "GOCHAT_PG_DSN": "postgresql://nobody@127.0.0.1:9/none",
    "GOCHAT_NATS_URL": "nats://127.0.0.1:9",
}


def start(service: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GOCHAT_")}
    return subprocess.run(
        [sys.executable, "-m", "gochat", service],
        env={**clean, **UNREACHABLE, "GOCHAT_PORT": "9", **env},
        cwd=cwd,  # no <service>_config.yaml here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("service", "env", "line"),
    [
        (
            "api",
            {"GOCHAT_SEARCH_BACKEND": "opensearch"},
            "gochat api: config error: search_backend: 'opensearch' is not implemented in "
            "this build (available: postgres)",
        ),
        (
            "api",
            {"GOCHAT_BLOB_STORE": "s3"},
            "gochat api: config error: s3_bucket: required when blob_store is s3",
        ),
        (
            "api",
            {"GOCHAT_MESSAGE_STORE": "cassandra", "GOCHAT_CASSANDRA_LOCAL_DC": "dc1"},
            "gochat api: config error: cassandra_hosts: required when message_store is "
            "cassandra",
        ),
        (
            "indexer",
            {"GOCHAT_SEARCH_BACKEND": "opensearch"},
            "gochat indexer: config error: search_backend: 'opensearch' is not implemented in "
            "this build (available: postgres)",
        ),
        (
            "auth",
            {"GOCHAT_MAILER": "sendpulse", "GOCHAT_SENDPULSE_CLIENT_SECRET": "s"},
            "gochat auth: config error: sendpulse_client_id: required when mailer is sendpulse",
        ),
    ],
)
def test_a_service_with_an_unimplemented_choice_exits_with_one_line_naming_the_key(
    service: str, env: dict[str, str], line: str, tmp_path: Path
) -> None:
    finished = start(service, env, tmp_path)

    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.splitlines() == [line]
