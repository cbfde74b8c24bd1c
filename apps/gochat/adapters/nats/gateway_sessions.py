"""Gateway session records in JetStream KV, and the takeover request between gateway processes.

A session's record names the gateway holding it while it is live, and carries its resume point
once it is detached, so any gateway process can resume it. When a client resumes a session that
another gateway still holds (the old socket is not yet known dead), the new gateway asks the
holder over core NATS to let go; the holder detaches it and answers with the fresh record.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
import orjson
from nats.aio import client as nats_client
from nats.aio import msg as nats_msg
from nats.js import errors as js_errors

from gochat.adapters.nats import kv as kv_buckets

log = logging.getLogger(__name__)
BUCKET = "gochat_ws_sessions"
# Housekeeping only: whether a detached record may still be resumed is decided by its age
# against resume_window_seconds, so one bucket serves gateways with different windows.
RECORD_TTL_SECONDS = 24 * 3600
Record = dict[str, Any]
TakeoverHandler = Callable[[str], Awaitable[Record | None]]


def _control_subject(gateway_id: str) -> str:
    return f"gochat.wsctl.{gateway_id}.takeover"


class SessionRecords(kv_buckets.BucketStore):
    ttl_seconds = RECORD_TTL_SECONDS

    def __init__(self, client: nats_client.Client, *, bucket: str = BUCKET) -> None:
        super().__init__(client, bucket=bucket)

    async def put(self, session_id: str, record: Record) -> None:
        await self.kv.put(session_id, orjson.dumps(record))

    async def get(self, session_id: str) -> Record | None:
        try:
            entry = await self.kv.get(session_id)
        except js_errors.KeyNotFoundError:
            return None
        if not entry.value:
            return None
        record: Record = orjson.loads(entry.value)
        return record

    async def delete(self, session_id: str) -> None:
        with contextlib.suppress(js_errors.KeyNotFoundError):
            await self.kv.delete(session_id)

    async def serve_takeovers(
        self, gateway_id: str, handler: TakeoverHandler
    ) -> nats_client.Subscription:
        async def answer(msg: nats_msg.Msg) -> None:
            record = await handler(msg.data.decode())
            await msg.respond(orjson.dumps(record))

        return await self._client.subscribe(_control_subject(gateway_id), cb=answer)

    async def request_takeover(
        self, gateway_id: str, session_id: str, *, wait_seconds: float = 2.0
    ) -> Record | None:
        """The record after the holder detached the session; None when the holder is gone or
        no longer has it."""
        try:
            reply = await self._client.request(
                _control_subject(gateway_id), session_id.encode(), timeout=wait_seconds
            )
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
            return None
        record: Record | None = orjson.loads(reply.data)
        return record
