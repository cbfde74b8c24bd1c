from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from gochat.api.deps import Caller, Context
from gochat.api.services import reactions
from gochat.core import http, schemas
from gochat.core.schemas import SPACE, STORABLE, Snowflake

router = APIRouter(tags=["pins and reactions"], route_class=http.StrictQueryRoute)
NO_CONTENT = status.HTTP_204_NO_CONTENT
REACTION = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}"
# 1-64 characters, none of them white space (str.isspace, which the service checks too).
Emoji = Annotated[str, Path(min_length=1, max_length=64, pattern=f"^[^{SPACE}\\u0000]+$"), STORABLE]


@router.get("/channels/{channel_id}/pins", response_model=list[schemas.Message])
async def list_pins(channel_id: Snowflake, ctx: Context, caller: Caller) -> list[schemas.Message]:
    return await reactions.list_pins(ctx, channel_id=channel_id, user_id=caller.user_id)


@router.put(
    "/channels/{channel_id}/pins/{message_id}",
    status_code=NO_CONTENT,
    summary="Pin a message (MANAGE_MESSAGES)",
)
async def pin_message(
    channel_id: Snowflake, message_id: Snowflake, ctx: Context, caller: Caller
) -> Response:
    await reactions.set_pinned(
        ctx, channel_id=channel_id, message_id=message_id, user_id=caller.user_id, pinned=True
    )
    return Response(status_code=NO_CONTENT)


@router.delete(
    "/channels/{channel_id}/pins/{message_id}",
    status_code=NO_CONTENT,
    summary="Unpin a message (MANAGE_MESSAGES)",
)
async def unpin_message(
    channel_id: Snowflake, message_id: Snowflake, ctx: Context, caller: Caller
) -> Response:
    await reactions.set_pinned(
        ctx, channel_id=channel_id, message_id=message_id, user_id=caller.user_id, pinned=False
    )
    return Response(status_code=NO_CONTENT)


@router.put(REACTION + "/@me", status_code=NO_CONTENT, summary="React (ADD_REACTIONS)")
async def add_reaction(
    channel_id: Snowflake, message_id: Snowflake, emoji: Emoji, ctx: Context, caller: Caller
) -> Response:
    await reactions.add_reaction(
        ctx, channel_id=channel_id, message_id=message_id, user_id=caller.user_id, emoji=emoji
    )
    return Response(status_code=NO_CONTENT)


@router.delete(REACTION + "/@me", status_code=NO_CONTENT, summary="Remove your reaction")
async def remove_own_reaction(
    channel_id: Snowflake, message_id: Snowflake, emoji: Emoji, ctx: Context, caller: Caller
) -> Response:
    await reactions.remove_reaction(
        ctx,
        channel_id=channel_id,
        message_id=message_id,
        user_id=caller.user_id,
        emoji=emoji,
        reactor_id=caller.user_id,
    )
    return Response(status_code=NO_CONTENT)


@router.delete(
    REACTION + "/{user_id:id}",
    status_code=NO_CONTENT,
    summary="Remove another user's reaction (MANAGE_MESSAGES)",
)
async def remove_reaction(
    channel_id: Snowflake,
    message_id: Snowflake,
    emoji: Emoji,
    user_id: Snowflake,
    ctx: Context,
    caller: Caller,
) -> Response:
    await reactions.remove_reaction(
        ctx,
        channel_id=channel_id,
        message_id=message_id,
        user_id=caller.user_id,
        emoji=emoji,
        reactor_id=user_id,
    )
    return Response(status_code=NO_CONTENT)


@router.get(REACTION, response_model=list[schemas.User], summary="Users who reacted")
async def reaction_users(
    channel_id: Snowflake,
    message_id: Snowflake,
    emoji: Emoji,
    ctx: Context,
    caller: Caller,
    after: Annotated[Snowflake | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> list[schemas.User]:
    return await reactions.reaction_users(
        ctx,
        channel_id=channel_id,
        message_id=message_id,
        user_id=caller.user_id,
        emoji=emoji,
        after=after,
        limit=limit,
    )
