from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from gochat.api import models
from gochat.api.deps import Caller, Context
from gochat.api.services import channels
from gochat.core import http, schemas
from gochat.core.schemas import Snowflake

router = APIRouter(tags=["channels"], route_class=http.StrictQueryRoute)
NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.get(
    "/guilds/{guild_id}/channels",
    response_model=list[schemas.Channel],
    summary="The guild's channels the caller can view",
)
async def list_channels(guild_id: Snowflake, ctx: Context, caller: Caller) -> list[schemas.Channel]:
    return await channels.list_channels(ctx, guild_id=guild_id, user_id=caller.user_id)


@router.post(
    "/guilds/{guild_id}/channels",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Channel,
    summary="Create a text channel or category (MANAGE_CHANNELS)",
)
async def create_channel(
    guild_id: Snowflake, body: models.ChannelCreate, ctx: Context, caller: Caller
) -> schemas.Channel:
    return await channels.create_channel(ctx, guild_id=guild_id, user_id=caller.user_id, body=body)


@router.patch(
    "/guilds/{guild_id}/channels",
    response_model=list[schemas.Channel],
    summary="Reorder channels (MANAGE_CHANNELS)",
)
async def reorder_channels(
    guild_id: Snowflake,
    body: Annotated[list[models.PositionChange], Body(min_length=1, max_length=500)],
    ctx: Context,
    caller: Caller,
) -> list[schemas.Channel]:
    return await channels.reorder_channels(
        ctx, guild_id=guild_id, user_id=caller.user_id, changes=body
    )


@router.get("/channels/{channel_id}", response_model=schemas.Channel)
async def get_channel(channel_id: Snowflake, ctx: Context, caller: Caller) -> schemas.Channel:
    return await channels.get_channel(ctx, channel_id=channel_id, user_id=caller.user_id)


@router.patch(
    "/channels/{channel_id}",
    response_model=schemas.Channel,
    summary="Update a channel (MANAGE_CHANNELS)",
)
async def update_channel(
    channel_id: Snowflake, body: models.ChannelUpdate, ctx: Context, caller: Caller
) -> schemas.Channel:
    return await channels.update_channel(
        ctx, channel_id=channel_id, user_id=caller.user_id, body=body
    )


@router.delete(
    "/channels/{channel_id}", status_code=NO_CONTENT, summary="Delete a channel (MANAGE_CHANNELS)"
)
async def delete_channel(channel_id: Snowflake, ctx: Context, caller: Caller) -> Response:
    await channels.delete_channel(ctx, channel_id=channel_id, user_id=caller.user_id)
    return Response(status_code=NO_CONTENT)


@router.put(
    "/channels/{channel_id}/permissions/{target_id}",
    response_model=schemas.Channel,
    summary="Set a role's or member's overwrite (MANAGE_ROLES)",
)
async def put_overwrite(
    channel_id: Snowflake,
    target_id: Snowflake,
    body: models.OverwriteBody,
    ctx: Context,
    caller: Caller,
) -> schemas.Channel:
    return await channels.put_overwrite(
        ctx, channel_id=channel_id, user_id=caller.user_id, target_id=target_id, body=body
    )


@router.delete("/channels/{channel_id}/permissions/{target_id}", status_code=NO_CONTENT)
async def delete_overwrite(
    channel_id: Snowflake, target_id: Snowflake, ctx: Context, caller: Caller
) -> Response:
    await channels.delete_overwrite(
        ctx, channel_id=channel_id, user_id=caller.user_id, target_id=target_id
    )
    return Response(status_code=NO_CONTENT)
