"""The flow a new user walks (tests/e2e/user_flow.py, shared with the kind e2e tier), against
the platform started exactly as `make dev` starts it: real PostgreSQL and NATS, `gochat
migrate`, every service as its own process, real HTTP and WebSocket, and a file shared through
the default blob store (signed upload and download URLs served by the API)."""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gochat import dev
from gochat.embedded import process
from tests.e2e import user_flow

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def platform() -> Iterator[dev.DevPlatform]:
    root = Path(tempfile.mkdtemp(prefix="gochat-e2e-"))
    services = [
        dev.Service(s.name, process.free_port(), s.command) for s in dev.available_services({})
    ]
    running = dev.DevPlatform(
        root=root,
        services=services,
        pg_port=process.free_port(),
        nats_port=process.free_port(),
        nats_monitor_port=process.free_port(),
        output=io.StringIO(),
        ready_timeout=90,
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_register_confirm_login_guild_invite_post_read_search_and_receive(
    platform: dev.DevPlatform,
) -> None:
    urls = platform.urls
    mail_dir = platform.root / "mail"
    endpoints = user_flow.Endpoints(auth=urls["auth"], api=urls["api"], ws=urls["ws"])
    with httpx.Client(timeout=30) as storage:  # the signed URLs are absolute: the dev blob store
        walked = user_flow.walk(
            endpoints,
            lambda: [path.read_bytes() for path in sorted(mail_dir.glob("*.eml"))],
            names=("alice", "bob"),
            storage=storage,
        )
    assert walked.shared is not None
    for name in ("api", "auth"):
        assert httpx.get(f"{urls[name]}/readyz", timeout=10).status_code == 200
        assert "gochat_http_requests_total" in httpx.get(f"{urls[name]}/metrics").text
