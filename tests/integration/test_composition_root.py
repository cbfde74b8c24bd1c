"""A service started with a backend choice it has no adapter for (or without a key the choice
needs) stops at start, before connecting to anything, with one line naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gochat import composition

# Nothing listens on port 9: had the service tried to connect, it would fail differently.
UNREACHABLE = {
    "GOCHAT_PG_DSN": "postgresql://nobody@127.0.0.1:9/none",
    "GOCHAT_NATS_URL": "nats://127.0.0.1:9",
}


# `gochat <service>` in a build whose composition root lacks one adapter (GOCHAT_TEST_DROP=
# <registry>:<choice>), so the test does not depend on which backends this build has.
_WITHOUT_ONE_ADAPTER = """
import os, sys
from gochat import cli, composition
registry, choice = os.environ.pop("GOCHAT_TEST_DROP").split(":")
getattr(composition, registry).pop(choice)
sys.exit(cli.main(sys.argv[1:]))
"""


def start(service: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GOCHAT_")}
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_ONE_ADAPTER, service],
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
            {"GOCHAT_TEST_DROP": "SEARCH_INDEXES:postgres"},
            "gochat api: config error: search_backend: 'postgres' is not implemented in "
            "this build (available: {available})",
        ),
        (
            "api",
            {
                "GOCHAT_TEST_DROP": "MESSAGE_STORES:cassandra",
                "GOCHAT_MESSAGE_STORE": "cassandra",
                "GOCHAT_CASSANDRA_HOSTS": "db",
                "GOCHAT_CASSANDRA_LOCAL_DC": "dc1",
            },
            "gochat api: config error: message_store: 'cassandra' is not implemented in "
            "this build (available: {available})",
        ),
        (
            "api",
            {
                "GOCHAT_TEST_DROP": "MAILERS:smtp",  # not one the API uses
                "GOCHAT_MESSAGE_STORE": "cassandra",
                "GOCHAT_CASSANDRA_LOCAL_DC": "dc1",
            },
            "gochat api: config error: cassandra_hosts: required when message_store is cassandra",
        ),
        (
            "indexer",
            {"GOCHAT_TEST_DROP": "SEARCH_INDEXES:postgres"},
            "gochat indexer: config error: search_backend: 'postgres' is not implemented in "
            "this build (available: {available})",
        ),
        (
            "auth",
            {"GOCHAT_TEST_DROP": "MAILERS:outbox"},
            "gochat auth: config error: mailer: 'outbox' is not implemented in this build "
            "(available: {available})",
        ),
    ],
)
def test_a_service_with_an_unimplemented_choice_exits_with_one_line_naming_the_key(
    service: str, env: dict[str, str], line: str, tmp_path: Path
) -> None:
    finished = start(service, env, tmp_path)

    registry, dropped = env["GOCHAT_TEST_DROP"].split(":")
    left = sorted(set(getattr(composition, registry)) - {dropped})
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.splitlines() == [line.format(available=", ".join(left))]
