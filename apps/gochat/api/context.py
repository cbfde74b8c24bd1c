"""What every API request handler may use, built once at start-up and closed at shutdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.directory import Directory
from gochat.core.config import ApiConfig
from gochat.core.events import Event
from gochat.core.ids import SnowflakeGenerator
from gochat.core.tokens import TokenVerifier
from gochat.ports import MessageRecord, MessageStore, SearchIndex


class MentionCountingMessageStore(MessageStore, Protocol):
    """A message store that also counts the mentioned readers' unread mentions, atomically
    with the insert (the read states live in PostgreSQL beside the timeline). Belongs in
    `gochat.ports.MessageStore` itself; kept here until that file's owner takes it."""

    async def create(
        self,
        message: MessageRecord,
        *,
        events: Sequence[Event],
        mention_reader_ids: Sequence[int] = (),
    ) -> None:
        """Store a new message; raises DuplicateNonce when (channel, author, nonce) exists.
        Each of `mention_reader_ids` gets one more unread mention, only if the message is new."""


@dataclass
class ApiContext:
    config: ApiConfig
    db: Database
    directory: Directory
    messages: MentionCountingMessageStore
    search: SearchIndex | None
    verifier: TokenVerifier
    ids: SnowflakeGenerator
