"""A Cassandra send's intent (PostgreSQL, JSON) gives back the message it was made from, files
included: the repair sweep writes exactly that message again."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gochat import ports
from gochat.adapters.cassandra import relational


def test_an_intent_keeps_the_messages_attachments() -> None:
    message = ports.MessageRecord(
        id=1,
        channel_id=2,
        guild_id=None,
        author_id=3,
        content="look",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        mention_ids=(4,),
        attachments=(
            ports.AttachmentRecord(5, "a.png", "image/png", 3, "attachments/2/5"),
            ports.AttachmentRecord(6, "b.pdf", "application/pdf", 9, "attachments/2/6"),
        ),
    )
    stored = json.loads(json.dumps(relational.record_to_json(message)))
    assert relational.record_from_json(stored) == message
