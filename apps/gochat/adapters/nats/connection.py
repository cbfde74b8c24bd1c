"""Connecting to NATS the way every service should: reconnect forever, log the transitions.

A relay or consumer that gives up reconnecting after a minute turns a short NATS outage into a
stuck process; the client keeps trying instead, and callers see timeouts they already retry.
"""

from __future__ import annotations

import logging

import nats
from nats.aio import client as nats_client

from gochat.core import config

log = logging.getLogger(__name__)


async def connect(
    url: str,
    *,
    credentials_file: str | None = None,
    name: str = "gochat",
    connect_timeout: float = 5.0,
) -> nats_client.Client:
    """A connected client; `url` may list several servers separated by commas.

    Raises OSError or nats.errors.NoServersError when no server answers the first time: at start
    a process should fail loudly; afterwards the client reconnects on its own.
    """
    servers = [server.strip() for server in url.split(",") if server.strip()]
    return await nats.connect(
        servers=servers,
        name=name,
        user_credentials=credentials_file,
        connect_timeout=int(max(1, connect_timeout)),
        allow_reconnect=True,
        max_reconnect_attempts=-1,  # forever: see the module docstring
        reconnect_time_wait=1,
        error_cb=_log_error,
        disconnected_cb=_log_disconnected,
        reconnected_cb=_log_reconnected,
    )


async def connect_with(settings: config.NatsSettings, *, name: str) -> nats_client.Client:
    """`connect` with a service's `nats_url` and `nats_credentials_file`."""
    return await connect(
        settings.nats_url, credentials_file=settings.nats_credentials_file, name=name
    )


async def _log_error(error: Exception) -> None:
    log.warning("nats error", extra={"error": repr(error)})


async def _log_disconnected() -> None:
    log.warning("nats disconnected; reconnecting")


async def _log_reconnected() -> None:
    log.info("nats reconnected")
