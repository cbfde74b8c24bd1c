from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import RedirectResponse

from gochat.api import models
from gochat.api.deps import Caller, Context
from gochat.api.services import attachments
from gochat.core import http
from gochat.core.schemas import Snowflake

router = APIRouter(tags=["attachments"], route_class=http.StrictQueryRoute)

UploadName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post(
    "/channels/{channel_id}/attachments",
    response_model=attachments.UploadSlots,
    summary="Upload URLs for files to send (ATTACH_FILES); then upload, then send the message",
)
async def request_uploads(
    channel_id: Snowflake, body: models.UploadsCreate, ctx: Context, caller: Caller
) -> attachments.UploadSlots:
    return await attachments.request_uploads(
        ctx, channel_id=channel_id, user_id=caller.user_id, files=body.files
    )


@router.delete(
    "/channels/{channel_id}/attachments/{upload_name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Discard an upload not sent yet (its object is deleted)",
)
async def discard_upload(
    channel_id: Snowflake, upload_name: UploadName, ctx: Context, caller: Caller
) -> Response:
    await attachments.discard_upload(
        ctx, channel_id=channel_id, user_id=caller.user_id, upload_name=upload_name
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/channels/{channel_id}/messages/{message_id}/attachments/{attachment_id}",
    response_model=attachments.DownloadUrl,
    summary="A fresh short-lived download URL (READ_MESSAGE_HISTORY): 302 to it, or JSON",
    responses={302: {"description": "Redirect to the signed URL (the default)"}},
)
async def download(
    channel_id: Snowflake,
    message_id: Snowflake,
    attachment_id: Snowflake,
    ctx: Context,
    caller: Caller,
    redirect: Annotated[bool, Query(description="false: the URL as JSON")] = True,
) -> Response | attachments.DownloadUrl:
    signed = await attachments.download_url(
        ctx,
        channel_id=channel_id,
        message_id=message_id,
        attachment_id=attachment_id,
        user_id=caller.user_id,
    )
    if redirect:
        return RedirectResponse(
            signed.url, status_code=status.HTTP_302_FOUND, headers={"Cache-Control": "no-store"}
        )
    return signed
