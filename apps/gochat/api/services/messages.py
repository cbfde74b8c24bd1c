"""Messages: send (nonce de-duplication, replies, mentions), read history, edit, delete.

Access comes from the directory; the timeline lives behind the `MessageStore` port, whose
mutations record their events atomically with the change.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel

from gochat.api import models
from gochat.api.context import ApiContext
from gochat.api.services import access, attachments, emit
from gochat.core import errors, events, schemas
from gochat.core.permissions import Permission
from gochat.ports import AttachmentRecord, DuplicateNonce, MessageRecord, ReactionSummary

_USER_MENTION = re.compile(r"<@!?(\d{1,19})>")
_SEND = Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES
MAX_MENTIONS = 50


@dataclass(frozen=True)
class Target:
    """A channel the caller may use, with what events about it need."""

    access: access.ChannelAccess
    recipient_ids: list[int]

    def event(self, ctx: ApiContext, event_type: str, payload: BaseModel) -> events.Event:
        if self.access.guild_id is None:
            return emit.dm_event(
                ctx,
                event_type,
                payload,
                channel_id=self.access.channel_id,
                recipient_ids=self.recipient_ids,
            )
        return emit.guild_event(
            ctx,
            event_type,
            payload,
            guild_id=self.access.guild_id,
            channel_id=self.access.channel_id,
        )


async def open_channel(
    ctx: ApiContext, *, channel_id: int, user_id: int, needed: Permission
) -> Target:
    async with ctx.directory.read("message_channel_access") as tx:
        found = await access.channel_access(tx, channel_id, user_id)
    return _usable(found, needed)


def _usable(found: access.ChannelAccess, needed: Permission) -> Target:
    found.require(needed)
    if found.channel_type == "category":
        raise errors.BadRequest("categories hold no messages")
    return Target(found, found.recipient_ids)


@dataclass(frozen=True)
class SendContext:
    """What a send needs before its one insert statement."""

    target: Target
    author: schemas.User
    mention_reader_ids: list[int]  # mentioned users who can see the channel (not the author)


async def _open_channel_as_author(
    ctx: ApiContext, *, channel_id: int, user_id: int, content: str
) -> SendContext:
    """`open_channel` plus the caller's profile and who of the mentioned can read the channel,
    on one pooled connection: each separate checkout costs round trips of its own."""
    async with ctx.directory.read("message_send_context") as tx:
        found, author = await access.channel_access_as(tx, channel_id, user_id)
        target = _usable(found, _SEND)
        _validate_content(ctx, content)
        readers = []
        for mentioned in _mentioned_users(content):
            if mentioned == user_id:
                continue
            try:
                await access.channel_access(tx, channel_id, mentioned)
            except (errors.NotFound, errors.Forbidden):
                continue  # a stranger, or someone the channel is hidden from: counts for nobody
            readers.append(mentioned)
    return SendContext(target, author, readers)


def _validate_content(ctx: ApiContext, content: str) -> str:
    if not content.strip():
        raise errors.ValidationFailed.for_field("content", "cannot be blank")
    if len(content) > ctx.config.max_message_length:
        raise errors.ValidationFailed.for_field(
            "content", f"at most {ctx.config.max_message_length} characters"
        )
    return content


def _mentioned_users(content: str) -> tuple[int, ...]:
    return tuple(dict.fromkeys(int(m) for m in _USER_MENTION.findall(content)))[:MAX_MENTIONS]


def _mentions(content: str, target: Target) -> tuple[tuple[int, ...], bool]:
    ids = _mentioned_users(content)
    everyone = ("@everyone" in content or "@here" in content) and bool(
        target.access.granted & Permission.MENTION_EVERYONE
    )
    return ids, everyone


async def to_schema(
    ctx: ApiContext,
    records: list[MessageRecord],
    *,
    viewer_id: int,
    reactions: dict[int, list[ReactionSummary]] | None = None,
    authors: dict[int, schemas.User] | None = None,
) -> list[schemas.Message]:
    if not records:
        return []
    if authors is None:
        async with ctx.directory.read("message_authors") as tx:
            authors = await tx.get_users(list({r.author_id for r in records}))
    if reactions is None:
        reactions = await ctx.messages.reactions([r.id for r in records], viewer_id=viewer_id)
    return [
        schemas.Message(
            id=r.id,
            channel_id=r.channel_id,
            guild_id=r.guild_id,
            author=authors[r.author_id],
            content=r.content,
            nonce=r.nonce,
            reply_to_id=r.reply_to_id,
            mention_ids=list(r.mention_ids),
            mention_everyone=r.mention_everyone,
            pinned=r.pinned_at is not None,
            created_at=r.created_at,
            edited_at=r.edited_at,
            reactions=[
                schemas.ReactionCount(emoji=x.emoji, count=x.count, me=x.me)
                for x in reactions.get(r.id, [])
            ],
            attachments=[_attachment(ctx, r, a) for a in r.attachments],
        )
        for r in records
    ]


def _attachment(
    ctx: ApiContext, record: MessageRecord, attachment: AttachmentRecord
) -> schemas.Attachment:
    # A stable address: each GET of it signs a fresh short-lived download URL.
    url = (
        f"{ctx.config.blob_public_url.rstrip('/')}/channels/{record.channel_id}"
        f"/messages/{record.id}/attachments/{attachment.id}"
    )
    return schemas.Attachment(
        id=attachment.id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        url=url,
    )


async def send_message(
    ctx: ApiContext,
    *,
    channel_id: int,
    user_id: int,
    content: str,
    nonce: str | None,
    reply_to_id: int | None,
    files: Sequence[models.AttachmentRef] = (),
) -> tuple[schemas.Message, bool]:
    """The stored message and whether it is new (False: a retry with the same nonce). Each
    mentioned user who can see the channel gets one more unread mention, in the insert's own
    statement: both happen or neither does, and a retry counts nothing again. `files` are
    uploads (services/attachments.py), checked and made permanent before the insert."""
    send = await _open_channel_as_author(
        ctx, channel_id=channel_id, user_id=user_id, content=content
    )
    target = send.target
    if reply_to_id is not None and await ctx.messages.get(channel_id, reply_to_id) is None:
        raise errors.ValidationFailed.for_field("reply_to_id", "no such message in this channel")
    mention_ids, mention_everyone = _mentions(content, target)
    message_id = ctx.ids.next_id()  # before the uploads are taken: nothing fails in between
    taken, uploads = await attachments.take_uploads(
        ctx,
        channel_id=channel_id,
        user_id=user_id,
        refs=files,
        access_granted=target.access.granted,
    )
    record = MessageRecord(
        id=message_id,
        channel_id=channel_id,
        guild_id=target.access.guild_id,
        author_id=user_id,
        content=content,
        created_at=datetime.now(UTC),
        nonce=nonce,
        reply_to_id=reply_to_id,
        mention_ids=mention_ids,
        mention_everyone=mention_everyone,
        attachments=tuple(taken),
    )
    [message] = await to_schema(
        ctx, [record], viewer_id=user_id, reactions={}, authors={user_id: send.author}
    )
    try:
        await ctx.messages.create(
            record,
            events=[target.event(ctx, "MESSAGE_CREATE", message)],
            mention_reader_ids=send.mention_reader_ids,
        )
    except BaseException as failure:
        if uploads:  # not stored: the copies go, the uploads stay usable
            await attachments.abandon(ctx, taken)
            await ctx.uploads.release([u.upload_name for u in uploads])
        if isinstance(failure, DuplicateNonce):
            [existing] = await to_schema(ctx, [failure.existing], viewer_id=user_id)
            return existing, False
        raise
    if uploads:
        await attachments.finish(ctx, uploads)
    return message, True


async def get_message(
    ctx: ApiContext, *, channel_id: int, message_id: int, user_id: int
) -> schemas.Message:
    await open_channel(
        ctx,
        channel_id=channel_id,
        user_id=user_id,
        needed=Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY,
    )
    record = await existing(ctx, channel_id, message_id)
    [message] = await to_schema(ctx, [record], viewer_id=user_id)
    return message


async def existing(ctx: ApiContext, channel_id: int, message_id: int) -> MessageRecord:
    record = await ctx.messages.get(channel_id, message_id)
    if record is None:
        raise errors.NotFound("unknown message", details={"message_id": str(message_id)})
    return record


async def list_messages(
    ctx: ApiContext,
    *,
    channel_id: int,
    user_id: int,
    before: int | None,
    after: int | None,
    around: int | None,
    limit: int,
) -> list[schemas.Message]:
    anchors = [
        name
        for name, value in (("before", before), ("after", after), ("around", around))
        if value is not None
    ]
    if len(anchors) > 1:
        raise errors.ValidationFailed.for_field(anchors[1], "use only one of before/after/around")
    await open_channel(
        ctx,
        channel_id=channel_id,
        user_id=user_id,
        needed=Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY,
    )
    records = await ctx.messages.list(
        channel_id, before=before, after=after, around=around, limit=limit
    )
    return await to_schema(ctx, records, viewer_id=user_id)


async def edit_message(
    ctx: ApiContext, *, channel_id: int, message_id: int, user_id: int, content: str
) -> schemas.Message:
    target = await open_channel(
        ctx, channel_id=channel_id, user_id=user_id, needed=Permission.VIEW_CHANNEL
    )
    record = await existing(ctx, channel_id, message_id)
    if record.author_id != user_id:
        raise errors.Forbidden("only the author can edit a message")
    _validate_content(ctx, content)
    mention_ids, mention_everyone = _mentions(content, target)
    edited_at = datetime.now(UTC)
    preview = dataclasses.replace(
        record,
        content=content,
        edited_at=edited_at,
        mention_ids=mention_ids,
        mention_everyone=mention_everyone,
    )
    [message] = await to_schema(ctx, [preview], viewer_id=user_id)
    await ctx.messages.edit(
        record,
        content=content,
        edited_at=edited_at,
        mention_ids=mention_ids,
        mention_everyone=mention_everyone,
        events=[target.event(ctx, "MESSAGE_UPDATE", message)],
    )
    return message


async def delete_message(
    ctx: ApiContext, *, channel_id: int, message_id: int, user_id: int
) -> None:
    target = await open_channel(
        ctx, channel_id=channel_id, user_id=user_id, needed=Permission.VIEW_CHANNEL
    )
    record = await existing(ctx, channel_id, message_id)
    if record.author_id != user_id:
        target.access.require(Permission.MANAGE_MESSAGES)
    deleted = events.MessageDeleted(
        id=message_id, channel_id=channel_id, guild_id=target.access.guild_id
    )
    await ctx.messages.delete(record, events=[target.event(ctx, "MESSAGE_DELETE", deleted)])
    await attachments.delete_files(ctx, record.attachments)
