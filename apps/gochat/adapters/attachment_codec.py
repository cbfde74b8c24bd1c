"""A message's attachments as every message store keeps them: one JSON array, in the order
sent (a jsonb column on PostgreSQL, a text cell on Cassandra)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from gochat import ports


def dumps(attachments: Sequence[ports.AttachmentRecord]) -> str:
    return json.dumps(
        [
            {
                "id": a.id,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "key": a.key,
            }
            for a in attachments
        ]
    )


def loads(stored: str | None) -> tuple[ports.AttachmentRecord, ...]:
    return tuple(ports.AttachmentRecord(**each) for each in json.loads(stored or "[]"))
