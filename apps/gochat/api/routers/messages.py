from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from gochat.api import deps, models
from gochat.api.deps import Caller, Context
from gochat.api.services import messages
from gochat.core import http, schemas
from gochat.core.schemas import Snowflake

router = APIRouter(tags=["messages"], route_class=http.StrictQueryRoute)


@router.post(
    "/channels/{channel_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Message,
    summary="Send a message (SEND_MESSAGES); a repeated nonce returns the first copy",
    responses={
        200: {
            "description": "A retry: the message sent earlier with this nonce",
            "model": schemas.Message,
        }
    },
)
async def send_message(
    channel_id: Snowflake, body: models.MessageCreate, request: Request, caller: Caller
) -> Response:
    message, created = await messages.send_message(
        deps.context_of(request),  # not `ctx: Context`: one dependency less to solve
        channel_id=channel_id,
        user_id=caller.user_id,
        content=body.content,
        nonce=body.nonce,
        reply_to_id=body.reply_to_id,
        files=body.attachments,
    )
    # The busiest endpoint: `message` is a schemas.Message built and validated by the service,
    # so it is serialised here (the bytes FastAPI would write for `response_model`, which still
    # documents it) instead of being validated again and assembled into a response by FastAPI.
    return Response(
        _MESSAGE_JSON(message),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


_MESSAGE_JSON = schemas.Message.__pydantic_serializer__.to_json


@router.get(
    "/channels/{channel_id}/messages",
    response_model=list[schemas.Message],
    summary="History (READ_MESSAGE_HISTORY): newest first; `after` pages oldest first",
)
async def list_messages(
    channel_id: Snowflake,
    ctx: Context,
    caller: Caller,
    before: Annotated[Snowflake | None, Query()] = None,
    after: Annotated[Snowflake | None, Query()] = None,
    around: Annotated[Snowflake | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[schemas.Message]:
    return await messages.list_messages(
        ctx,
        channel_id=channel_id,
        user_id=caller.user_id,
        before=before,
        after=after,
        around=around,
        limit=limit,
    )


@router.get("/channels/{channel_id}/messages/{message_id}", response_model=schemas.Message)
async def get_message(
    channel_id: Snowflake, message_id: Snowflake, ctx: Context, caller: Caller
) -> schemas.Message:
    return await messages.get_message(
        ctx, channel_id=channel_id, message_id=message_id, user_id=caller.user_id
    )


@router.patch(
    "/channels/{channel_id}/messages/{message_id}",
    response_model=schemas.Message,
    summary="Edit your own message",
)
async def edit_message(
    channel_id: Snowflake,
    message_id: Snowflake,
    body: models.MessageUpdate,
    ctx: Context,
    caller: Caller,
) -> schemas.Message:
    return await messages.edit_message(
        ctx,
        channel_id=channel_id,
        message_id=message_id,
        user_id=caller.user_id,
        content=body.content,
    )


@router.delete(
    "/channels/{channel_id}/messages/{message_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a message (its author, or MANAGE_MESSAGES)",
)
async def delete_message(
    channel_id: Snowflake, message_id: Snowflake, ctx: Context, caller: Caller
) -> Response:
    await messages.delete_message(
        ctx, channel_id=channel_id, message_id=message_id, user_id=caller.user_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
