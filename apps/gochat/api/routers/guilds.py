from __future__ import annotations

from fastapi import APIRouter, Response, status

from gochat.api import models
from gochat.api.deps import Caller, Context
from gochat.api.services import guilds
from gochat.core import http, schemas
from gochat.core.schemas import Snowflake

router = APIRouter(tags=["guilds"], route_class=http.StrictQueryRoute)


@router.post(
    "/guilds",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Guild,
    summary="Create a guild; the caller becomes its owner",
)
async def create_guild(body: models.GuildCreate, ctx: Context, caller: Caller) -> schemas.Guild:
    return await guilds.create_guild(ctx, owner_id=caller.user_id, body=body)


@router.get(
    "/users/@me/guilds",
    response_model=list[schemas.Guild],
    tags=["users"],
    summary="Guilds the caller is a member of",
)
async def list_my_guilds(ctx: Context, caller: Caller) -> list[schemas.Guild]:
    return await guilds.my_guilds(ctx, user_id=caller.user_id)


@router.get("/guilds/{guild_id}", response_model=schemas.Guild)
async def get_guild(guild_id: Snowflake, ctx: Context, caller: Caller) -> schemas.Guild:
    return await guilds.get_guild(ctx, guild_id=guild_id, user_id=caller.user_id)


@router.patch(
    "/guilds/{guild_id}", response_model=schemas.Guild, summary="Update a guild (MANAGE_GUILD)"
)
async def update_guild(
    guild_id: Snowflake, body: models.GuildUpdate, ctx: Context, caller: Caller
) -> schemas.Guild:
    return await guilds.update_guild(ctx, guild_id=guild_id, user_id=caller.user_id, body=body)


@router.delete(
    "/guilds/{guild_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a guild (owner only)",
)
async def delete_guild(guild_id: Snowflake, ctx: Context, caller: Caller) -> Response:
    await guilds.delete_guild(ctx, guild_id=guild_id, user_id=caller.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
