"""Attachments, as Discord's: ask for upload URLs, upload straight to storage, send a message
naming the uploads; download through short-lived signed URLs.

An upload's object lives at `uploads/<upload_name>` until a message takes it: then its size and
type are checked against what was declared (HEAD) and it is copied to
`attachments/<channel_id>/<attachment_id>`, the key the message records. An upload nobody
sends is deleted by the sweeper when it expires (and by the bucket's lifecycle rule on S3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from gochat import ports
from gochat.api import models
from gochat.api.context import ApiContext
from gochat.api.services import access
from gochat.core import errors
from gochat.core.permissions import Permission

log = logging.getLogger(__name__)

UPLOAD_PREFIX = "uploads/"
FINAL_PREFIX = "attachments/"
_REQUEST = Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES | Permission.ATTACH_FILES
_DOWNLOAD = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY
# How long a send holds its claimed uploads: past it, the sweeper may take them.
CLAIM_SECONDS = 300.0


class UploadSlot(BaseModel):
    """Where to upload one requested file (in the order requested)."""

    id: int = Field(description="The file's position in the request")
    upload_name: str = Field(description="Name the upload in the message's `attachments`")
    upload_url: str
    upload_method: str = Field(description="POST: a multipart form; PUT: the raw bytes")
    upload_fields: dict[str, str] = Field(
        description="POST: the form fields to send before the file (field `file`)"
    )
    upload_headers: dict[str, str] = Field(description="PUT: the headers to send")
    expires_at: datetime


class UploadSlots(BaseModel):
    attachments: list[UploadSlot]


class DownloadUrl(BaseModel):
    url: str
    expires_at: datetime


def type_prefix(allowed: Sequence[str], content_type: str) -> str | None:
    """The prefix the storage will hold the upload's Content-Type to (`image/` for a type
    allowed as `image/*`, the type itself when allowed exactly); None when not allowed."""
    content_type = content_type.lower()
    family = content_type.split("/", 1)[0] + "/*"
    if content_type in allowed:
        return content_type
    if family in allowed:
        return family[:-1]
    return None


async def request_uploads(
    ctx: ApiContext, *, channel_id: int, user_id: int, files: Sequence[models.UploadFile]
) -> UploadSlots:
    cfg = ctx.config
    async with ctx.directory.read("attachment_channel_access") as tx:
        found = await access.channel_access(tx, channel_id, user_id)
    found.require(_REQUEST)
    if len(files) > cfg.max_attachments_per_message:
        raise errors.ValidationFailed.for_field(
            "files", f"at most {cfg.max_attachments_per_message} files"
        )
    prefixes = []
    for i, file in enumerate(files):
        if file.size > cfg.max_attachment_bytes:
            raise errors.ValidationFailed.for_field(
                f"files[{i}].size", f"at most {cfg.max_attachment_bytes} bytes"
            )
        prefix = type_prefix(cfg.attachment_content_types, file.content_type)
        if prefix is None:
            raise errors.ValidationFailed.for_field(
                f"files[{i}].content_type",
                f"not an allowed type ({', '.join(cfg.attachment_content_types)})",
            )
        prefixes.append(prefix)
    ttl = cfg.attachment_upload_ttl_seconds
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
    pending, slots = [], []
    for i, (file, prefix) in enumerate(zip(files, prefixes, strict=True)):
        name = secrets.token_urlsafe(24)
        key = UPLOAD_PREFIX + name
        target = await ctx.blobs.upload_target(
            key,
            content_type=file.content_type.lower(),
            type_prefix=prefix,
            max_bytes=file.size,
            expires_in=ttl,
        )
        pending.append(
            ports.PendingUpload(
                upload_name=name,
                channel_id=channel_id,
                user_id=user_id,
                filename=file.filename,
                size=file.size,
                content_type=file.content_type.lower(),
                object_key=key,
                expires_at=expires_at,
            )
        )
        slots.append(
            UploadSlot(
                id=i,
                upload_name=name,
                upload_url=target.url,
                upload_method=target.method,
                upload_fields=target.fields,
                upload_headers=target.headers,
                expires_at=expires_at,
            )
        )
    await ctx.uploads.add(pending)
    return UploadSlots(attachments=slots)


async def discard_upload(
    ctx: ApiContext, *, channel_id: int, user_id: int, upload_name: str
) -> None:
    async with ctx.directory.read("attachment_channel_access") as tx:
        await access.channel_access(tx, channel_id, user_id)  # 404 for a hidden channel
    upload = await ctx.uploads.discard(upload_name, channel_id=channel_id, user_id=user_id)
    if upload is None:
        raise errors.NotFound("unknown upload", details={"upload_name": upload_name})
    await ctx.blobs.delete(upload.object_key)


async def take_uploads(
    ctx: ApiContext,
    *,
    channel_id: int,
    user_id: int,
    refs: Sequence[models.AttachmentRef],
    access_granted: Permission,
) -> tuple[list[ports.AttachmentRecord], list[ports.PendingUpload]]:
    """Claim, check and copy to their final keys the uploads a send names; returns the
    message's attachments and the uploads to `finish` once the message is stored.

    Raises ValidationFailed naming `attachments[i]` for an unknown, foreign, expired or already
    used upload, and for one whose object is missing or differs from what was declared (that
    one's object and pending record are deleted). Nothing is claimed after an error."""
    if not refs:
        return [], []
    records: list[ports.AttachmentRecord] = []
    if not access_granted & Permission.ATTACH_FILES:
        raise errors.MissingPermission("ATTACH_FILES")
    names = [ref.upload_name for ref in refs]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise errors.ValidationFailed.for_field(f"attachments[{i}].upload_name", "named twice")
    claimed = {
        u.upload_name: u
        for u in await ctx.uploads.claim(
            names, channel_id=channel_id, user_id=user_id, hold_seconds=CLAIM_SECONDS
        )
    }
    try:
        for i, name in enumerate(names):
            if name not in claimed:
                raise errors.ValidationFailed.for_field(
                    f"attachments[{i}].upload_name",
                    "no such upload in this channel (unknown, expired, or already sent)",
                )
        for i, name in enumerate(names):
            await _check_object(ctx, claimed[name], field=f"attachments[{i}]")
        for ref in refs:
            upload = claimed[ref.upload_name]
            attachment_id = ctx.ids.next_id()
            key = f"{FINAL_PREFIX}{channel_id}/{attachment_id}"
            await ctx.blobs.copy(upload.object_key, key)
            records.append(
                ports.AttachmentRecord(
                    id=attachment_id,
                    filename=ref.filename or upload.filename,
                    content_type=upload.content_type,
                    size=upload.size,
                    key=key,
                )
            )
    except BaseException:
        await abandon(ctx, records)
        await ctx.uploads.release(list(claimed))
        raise
    return records, list(claimed.values())


async def _check_object(ctx: ApiContext, upload: ports.PendingUpload, *, field: str) -> None:
    info = await ctx.blobs.head(upload.object_key)
    if info is None:
        reason = "not uploaded yet"
    elif info.size != upload.size:
        reason = f"uploaded {info.size} bytes, declared {upload.size}"
    elif info.content_type.lower() != upload.content_type:
        reason = f"uploaded as {info.content_type}, declared {upload.content_type}"
    else:
        return
    if info is not None:  # a file other than declared is never kept
        await ctx.uploads.remove([upload.upload_name])
        await ctx.blobs.delete(upload.object_key)
    raise errors.ValidationFailed.for_field(field, reason)


async def finish(ctx: ApiContext, uploads: Sequence[ports.PendingUpload]) -> None:
    """The message is stored: the pending records and upload objects go (an object left by a
    failure here is under uploads/, where the bucket's lifecycle rule ends it)."""
    await ctx.uploads.remove([u.upload_name for u in uploads])
    for upload in uploads:
        try:
            await ctx.blobs.delete(upload.object_key)
        except Exception:
            log.warning("could not delete sent upload %s", upload.object_key, exc_info=True)


async def abandon(ctx: ApiContext, records: Sequence[ports.AttachmentRecord]) -> None:
    """The message was not stored: its copies go (the uploads stay, claimed, until swept)."""
    for record in records:
        with contextlib.suppress(Exception):
            await ctx.blobs.delete(record.key)


async def delete_files(ctx: ApiContext, records: Sequence[ports.AttachmentRecord]) -> None:
    """A deleted message's files go with it (a failure is logged: the message is gone)."""
    for record in records:
        try:
            await ctx.blobs.delete(record.key)
        except Exception:
            log.warning("could not delete attachment %s", record.key, exc_info=True)


async def download_url(
    ctx: ApiContext, *, channel_id: int, message_id: int, attachment_id: int, user_id: int
) -> DownloadUrl:
    """A fresh signed URL, for a caller who can read the channel's history."""
    async with ctx.directory.read("attachment_channel_access") as tx:
        found = await access.channel_access(tx, channel_id, user_id)
    found.require(_DOWNLOAD)
    message = await ctx.messages.get(channel_id, message_id)
    attachment = next(
        (a for a in (message.attachments if message else ()) if a.id == attachment_id), None
    )
    if attachment is None:
        raise errors.NotFound("unknown attachment", details={"attachment_id": str(attachment_id)})
    ttl = ctx.config.attachment_download_ttl_seconds
    url = await ctx.blobs.download_url(attachment.key, filename=attachment.filename, expires_in=ttl)
    return DownloadUrl(url=url, expires_at=datetime.now(UTC) + timedelta(seconds=ttl))


async def sweep_once(ctx: ApiContext, *, limit: int = 500) -> int:
    """Delete expired pending uploads and their objects; how many were taken."""
    expired = await ctx.uploads.take_expired(limit=limit)
    for upload in expired:
        try:
            await ctx.blobs.delete(upload.object_key)
        except Exception:  # the bucket's lifecycle rule is the net under this one
            log.warning("could not delete abandoned upload %s", upload.object_key, exc_info=True)
    return len(expired)


async def start_housekeeping(ctx: ApiContext) -> asyncio.Task[None]:
    """Ask the storage to expire abandoned uploads itself (where it lets us), and start the
    sweeper. Every API worker sweeps; each expired upload is taken by one of them."""
    try:
        if not await ctx.blobs.expire_prefix(UPLOAD_PREFIX, days=ctx.config.s3_uploads_expire_days):
            log.info("blob store sets no lifecycle rule: the sweeper alone removes uploads")
    except Exception:
        log.warning("could not set the uploads lifecycle rule", exc_info=True)
    return asyncio.create_task(sweep_forever(ctx), name="attachment-sweeper")


async def stop_housekeeping(task: asyncio.Task[None]) -> None:
    """Cancel the sweeper and wait until it let go of its connection."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def sweep_forever(ctx: ApiContext) -> None:
    while True:
        try:
            while await sweep_once(ctx) > 0:
                pass
        except Exception:
            log.exception("sweeping abandoned uploads failed")
        await asyncio.sleep(ctx.config.attachment_sweep_seconds)
