"""The JetStream stream that holds every domain event (`gochat.ev.>`), created or brought up to
date at start by whoever needs it first (the API before its outbox relay runs).

Choices (defaults of StreamLimits):
- File storage: events must survive a NATS restart; the outbox already paid for durability.
- Limits retention, discard old: the stream is a replayable log, not a work queue. When full,
  the oldest events go, so a lagging consumer loses history instead of every writer stalling.
- max_age 7 days: long enough for the indexer to catch up after an outage over a weekend;
  WebSocket resumes need only minutes.
- max_bytes 4 GiB: a bound on disk; raise it for big deployments.
- duplicate_window (config `nats_duplicate_window_seconds`, 5 minutes by default): the relay
  deletes a row only after its PubAck, so after a lost PubAck, a crash or a takeover it may
  publish a row again; the `Nats-Msg-Id` header (the event id) makes JetStream drop that copy
  if it comes within the window. A takeover needs PostgreSQL to notice the dead leader (TCP
  keepalive, under a minute) plus the relay's back-off, well inside it; PostgreSQL down for
  longer after the PubAcks is not, and a copy after the window is stored again (consumers drop
  it by its GoChat-Scope and GoChat-Outbox-Seq headers). The relay exports the window as
  gochat_outbox_duplicate_window_seconds beside gochat_outbox_oldest_unpublished_age_seconds,
  so an alert can compare the two. Longer windows cost server memory per message id.
- max_msg_size 1 MiB: events are small; a huge one is a bug, refused rather than stored.
- replicas (config `nats_stream_replicas`, 1 by default; the operator sets 3 for a NATS cluster
  of 3 or more servers): JetStream acknowledges a publish once a majority of the replicas
  stored it, and the relay deletes outbox rows on that acknowledgement, so with one replica a
  host crash can lose acknowledged events (the server fsyncs only every `sync_interval`, a
  server-side setting, 2 minutes by default). A stream has no fsync setting of its own: its
  `persist_mode` can only weaken the server's (`async`, R1 only), and stays unset here. A
  changed count rescales the existing stream in place (docs/operator.md, "Stream durability").
- allow_atomic: the outbox relay sends a hot scope's run of events as one atomic batch
  (nats-server 2.12+; an older server does not report it, and the relay then never batches).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from nats.js import api as js_api
from nats.js import client as js_client
from nats.js import errors as js_errors

from gochat.core import config, events

log = logging.getLogger(__name__)


class StreamConfigError(Exception):
    """The stream exists with settings that cannot be changed in place (e.g. its storage)."""


@dataclass(frozen=True)
class StreamLimits:
    max_age: timedelta = timedelta(days=7)
    max_bytes: int = 4 * 1024**3
    max_msg_size: int = 1024**2
    duplicate_window: timedelta = timedelta(minutes=5)
    replicas: int = 1


def limits_for(settings: config.NatsSettings) -> StreamLimits:
    """The limits a service's configuration asks for; every service that ensures the stream
    passes these, so none brings it back to another value."""
    return StreamLimits(
        duplicate_window=timedelta(seconds=settings.nats_duplicate_window_seconds),
        replicas=settings.nats_stream_replicas,
    )


def desired_config(
    name: str, *, limits: StreamLimits, subjects: Sequence[str]
) -> js_api.StreamConfig:
    return js_api.StreamConfig(
        name=name,
        description="GoChat domain events, published from the PostgreSQL outbox",
        subjects=list(subjects),
        retention=js_api.RetentionPolicy.LIMITS,
        discard=js_api.DiscardPolicy.OLD,
        storage=js_api.StorageType.FILE,
        max_age=limits.max_age.total_seconds(),
        max_bytes=limits.max_bytes,
        max_msg_size=limits.max_msg_size,
        duplicate_window=limits.duplicate_window.total_seconds(),
        num_replicas=limits.replicas,
        allow_atomic=True,  # the relay sends a hot scope's events as atomic batches
    )


async def ensure_stream(
    js: js_client.JetStreamContext,
    name: str,
    *,
    limits: StreamLimits | None = None,
    subjects: Sequence[str] = (events.STREAM_SUBJECTS,),
) -> js_api.StreamInfo:
    """Create the stream, or update it when its subjects or limits differ; idempotent."""
    wanted = desired_config(name, limits=limits or StreamLimits(), subjects=subjects)
    try:
        info = await js.stream_info(name)
    except js_errors.NotFoundError:
        log.info("creating stream", extra={"stream": name})
        return await _refused_as_config_error(js.add_stream(wanted), name=name, wanted=wanted)
    current = info.config
    if current.storage != wanted.storage:
        raise StreamConfigError(
            f"stream {name} uses {current.storage} storage, not {wanted.storage}; "
            "move its data to a new stream: storage cannot change in place"
        )
    if _differs(current, wanted):
        log.info(
            "updating stream",
            extra={"stream": name, "replicas": f"{current.num_replicas}->{wanted.num_replicas}"},
        )
        return await _refused_as_config_error(js.update_stream(wanted), name=name, wanted=wanted)
    return info


async def _refused_as_config_error(
    request: Awaitable[js_api.StreamInfo], *, name: str, wanted: js_api.StreamConfig
) -> js_api.StreamInfo:
    """JetStream's refusal of the stream's settings, as an error that names the setting."""
    try:
        return await request
    except js_errors.APIError as exc:
        reason = exc.description or str(exc)
        if "replica" in reason.lower() or "peers" in reason.lower():
            reason += (
                f" (nats_stream_replicas is {wanted.num_replicas}: it may not exceed the "
                "JetStream servers of the NATS cluster, and a single server takes only 1)"
            )
        raise StreamConfigError(f"stream {name} refused by JetStream: {reason}") from exc


def _differs(current: js_api.StreamConfig, wanted: js_api.StreamConfig) -> bool:
    fields = (
        "subjects", "retention", "discard", "max_age", "max_bytes",
        "max_msg_size", "duplicate_window", "num_replicas", "allow_atomic",
    )  # fmt: skip
    return any(getattr(current, field) != getattr(wanted, field) for field in fields)
