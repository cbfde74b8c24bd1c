"""The small interfaces services speak to; one adapter per backend implements each.

Mutations that must be announced take the events to publish: the adapter guarantees the events
are recorded if and only if the change is (PostgreSQL: same transaction as the outbox row).
A shared test suite per port (tests/integration/ports/) runs against every adapter.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from gochat.core.events import Event


@dataclass(frozen=True, slots=True)
class AttachmentRecord:
    """A file a message carries: its object is `key` in the BlobStore, final once sent."""

    id: int
    filename: str
    content_type: str
    size: int
    key: str


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str
    created_at: datetime
    nonce: str | None = None
    reply_to_id: int | None = None
    mention_ids: tuple[int, ...] = ()
    mention_everyone: bool = False
    pinned_at: datetime | None = None
    edited_at: datetime | None = None
    attachments: tuple[AttachmentRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class ReactionSummary:
    emoji: str
    count: int
    me: bool


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: list[MessageRecord]
    reactions: dict[int, list[ReactionSummary]] = field(default_factory=dict)


class DuplicateNonce(Exception):
    """The author already sent a message with this nonce in this channel."""

    def __init__(self, existing: MessageRecord) -> None:
        super().__init__("duplicate nonce")
        self.existing = existing


class MessageStore(Protocol):
    """Channel timelines. Ids are snowflakes, so id order is time order."""

    async def create(
        self,
        message: MessageRecord,
        *,
        events: Sequence[Event],
        mention_reader_ids: Sequence[int] = (),
    ) -> None:
        """Store a new message; raises DuplicateNonce when (channel, author, nonce) exists.
        Each of `mention_reader_ids` gets one more unread mention in the channel's read state
        if and only if the message is new (a nonce retry counts nothing)."""

    async def get(self, channel_id: int, message_id: int) -> MessageRecord | None: ...

    async def edit(
        self,
        message: MessageRecord,
        *,
        content: str,
        edited_at: datetime,
        mention_ids: tuple[int, ...],
        mention_everyone: bool,
        events: Sequence[Event],
    ) -> MessageRecord: ...

    async def delete(self, message: MessageRecord, *, events: Sequence[Event]) -> None: ...

    async def list(
        self,
        channel_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        around: int | None = None,
        limit: int = 50,
    ) -> builtins.list[MessageRecord]:
        """Newest first for before/around/none; oldest first for after (as Discord)."""

    async def set_pinned(
        self, message: MessageRecord, *, pinned_at: datetime | None, events: Sequence[Event]
    ) -> MessageRecord: ...

    async def pinned(self, channel_id: int) -> builtins.list[MessageRecord]: ...

    async def add_reaction(
        self, message: MessageRecord, *, emoji: str, user_id: int, events: Sequence[Event]
    ) -> bool:
        """True when added, False when the user had already reacted with this emoji."""

    async def remove_reaction(
        self, message: MessageRecord, *, emoji: str, user_id: int, events: Sequence[Event]
    ) -> bool: ...

    async def reactions(
        self, message_ids: Sequence[int], *, viewer_id: int
    ) -> dict[int, builtins.list[ReactionSummary]]: ...

    async def reaction_users(
        self, message_id: int, *, emoji: str, after: int | None, limit: int
    ) -> builtins.list[int]: ...


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """A mail to send, not yet rendered: each Mailer turns the kind's template (subject, text,
    HTML) and the variables into its own form (a MIME message, a provider's template id)."""

    to: str
    kind: str  # "confirm_email" | "reset_password" | "notification"; picks the template
    variables: Mapping[str, str] = field(default_factory=dict)
    locale: str = "en"  # a missing translation falls back to the language, then to "en"


class MailRejected(Exception):
    """Sending this mail cannot succeed by trying again (an SMTP 5xx, a provider's 4xx, an
    unknown template kind or a missing variable): the caller gives it up instead of retrying.
    Any other exception from `Mailer.send` is transient (relay down, 4xx, timeout)."""


class Mailer(Protocol):
    async def send(self, mail: OutgoingMail) -> None:
        """Deliver once, retrying transient failures briefly; raise MailRejected for a mail
        that can never go out, anything else when it may go out later."""


@dataclass(frozen=True, slots=True)
class SearchDocument:
    message_id: int
    guild_id: int | None
    channel_id: int
    author_id: int
    content: str
    mention_ids: tuple[int, ...]
    created_at: datetime
    has_attachment: bool = False  # at least one file (the `has=attachment` filter)
    # The id of the event that produced this state (a snowflake, so later events are larger):
    # an upsert older than what is stored is ignored, so a redelivered or reordered edit can
    # never overwrite a newer one.
    version: int = 0


SEARCH_TOTAL_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class SearchQuery:
    guild_id: int
    text: str  # blank: every document that passes the filters
    channel_ids: Sequence[int]  # the channels the caller may view; never empty
    author_id: int | None = None
    mentions: int | None = None
    has_attachment: bool = False  # True: only messages with at least one file
    before: int | None = None
    after: int | None = None
    limit: int = 25
    offset: int = 0


@dataclass(frozen=True, slots=True)
class SearchHit:
    message_id: int
    channel_id: int
    snippet: str  # with <mark>…</mark> around matches


@dataclass(frozen=True, slots=True)
class SearchResult:
    # Exact up to SEARCH_TOTAL_LIMIT, then that limit: counting every match of a common word in
    # a big guild costs more than the page (OpenSearch's default track_total_hits is 10,000 too).
    total: int
    hits: list[SearchHit]


class SearchIndex(Protocol):
    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        """Idempotent by message id: a redelivered event changes nothing. A document whose
        `version` is lower than the stored one, or whose message was deleted, is ignored."""

    async def delete(self, message_ids: Sequence[int]) -> None:
        """Remove for good: the id keeps a tombstone, so a create or edit delivered after the
        delete (redelivery, reordering) does not bring the message back."""

    async def purge(self, *, guild_id: int | None = None, channel_id: int | None = None) -> None:
        """Remove every document of a deleted guild or channel (exactly one is given): the
        system of record dropped their messages without a MESSAGE_DELETE each."""

    async def search(self, query: SearchQuery) -> SearchResult: ...


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where a client sends one file itself. POST: a multipart form of `fields` then the file
    (an S3 POST policy); PUT: the raw bytes with `headers`. The storage refuses a body larger
    than the size the target was made for, a key other than its own and a type outside it."""

    method: str  # "POST" | "PUT"
    url: str
    fields: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BlobInfo:
    size: int
    content_type: str


class BlobStore(Protocol):
    """Objects clients upload and download themselves through signed, expiring URLs; the
    service only signs, inspects (HEAD), copies and deletes."""

    async def upload_target(
        self, key: str, *, content_type: str, type_prefix: str, max_bytes: int, expires_in: int
    ) -> UploadTarget:
        """A signed target accepting one object at `key`, at most `max_bytes` long, whose
        Content-Type starts with `type_prefix`, for `expires_in` seconds."""

    async def head(self, key: str) -> BlobInfo | None:
        """Size and stored Content-Type; None when there is no such object."""

    async def copy(self, source: str, destination: str) -> None: ...

    async def delete(self, key: str) -> None:
        """Idempotent: deleting a missing object is no error."""

    async def download_url(self, key: str, *, filename: str, expires_in: int) -> str:
        """A signed GET for `expires_in` seconds, served as an attachment named `filename`."""

    async def expire_prefix(self, prefix: str, *, days: int) -> bool:
        """Ask the storage to delete objects under `prefix` older than `days` by itself (an S3
        lifecycle rule); False where the storage cannot or may not."""


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """A file a client was given an upload URL for, not yet sent with a message."""

    upload_name: str
    channel_id: int
    user_id: int
    filename: str
    size: int
    content_type: str
    object_key: str
    expires_at: datetime


class PendingUploads(Protocol):
    """Uploads not yet sent, each until it expires; a send claims its uploads before it
    checks them, so no two sends can take the same one."""

    async def add(self, uploads: Sequence[PendingUpload]) -> None: ...

    async def claim(
        self, names: Sequence[str], *, channel_id: int, user_id: int, hold_seconds: float
    ) -> builtins.list[PendingUpload]:
        """The caller's unexpired, unclaimed uploads among `names` in this channel, now
        claimed (and kept at least `hold_seconds` more); the others are not returned."""

    async def release(self, names: Sequence[str]) -> None:
        """Unclaim: a send that failed for another file's reason leaves these usable."""

    async def remove(self, names: Sequence[str]) -> None: ...

    async def discard(self, name: str, *, channel_id: int, user_id: int) -> PendingUpload | None:
        """Remove the caller's unclaimed upload; None when there is none by that name."""

    async def take_expired(self, *, limit: int) -> builtins.list[PendingUpload]:
        """Remove and return up to `limit` expired uploads (their objects are the caller's
        to delete)."""


@dataclass(frozen=True, slots=True)
class OutboundEvent:
    subject: str
    payload: bytes
    msg_id: str  # the event id: the backend drops a second copy with the same id
    headers: dict[str, str] = field(default_factory=dict)
    # Events of one scope are stored in the order given; "" is one scope like any other.
    scope: str = ""
    # Grows with commit order within the scope (the outbox seq); travels as a header.
    scope_seq: int | None = None


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    acked: frozenset[int] = frozenset()  # positions in the batch stored now or already held
    error: Exception | None = None  # the first failure; None when every event is acked
    duplicates: int = 0  # of the acked, how many the backend already held


class EventPublisher(Protocol):
    """Where the outbox relay sends committed events (JetStream in every deployment)."""

    async def publish_per_scope(self, events: Sequence[OutboundEvent]) -> PublishOutcome:
        """Store `events`, keeping the given order within each scope: an event is sent only
        once every earlier event of its scope in `events` is acknowledged (stored, or held
        already), so at most one per scope is in flight; scopes go on in parallel. When an
        event fails (refused, no acknowledgement in time, disconnected) the later events of
        its scope are not sent, and the other scopes go on. Never raises: a failure is the
        outcome's `error`; `acked` says which events need not be sent again."""


class WorkerIdLeases(Protocol):
    """Where a process leases its snowflake worker id, so that no two live processes share one
    (core/worker_lease.py holds and renews the lease)."""

    async def claim(self, *, holder: str, seconds: float, wanted: int | None = None) -> int | None:
        """Lease a free worker id (`wanted`, or any) to `holder` for `seconds`; None when
        none is free (or `wanted` is held by a live lease)."""

    async def renew(self, *, worker_id: int, holder: str, seconds: float) -> bool:
        """Extend `holder`'s lease by `seconds` from now; False when it has run out (the id
        may be someone else's by now)."""

    async def release(self, *, worker_id: int, holder: str) -> None:
        """Give the id back at once (a no-op when `holder` no longer holds it)."""
