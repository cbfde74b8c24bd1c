from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from gochat.api import models
from gochat.api.deps import Caller, Context
from gochat.api.services import members
from gochat.core import http, schemas
from gochat.core.schemas import Snowflake

router = APIRouter(tags=["members"], route_class=http.StrictQueryRoute)
NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.get(
    "/guilds/{guild_id}/members",
    response_model=list[schemas.Member],
    summary="Members, ordered by user id; page with `after`",
)
async def list_members(
    guild_id: Snowflake,
    ctx: Context,
    caller: Caller,
    after: Annotated[Snowflake | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[schemas.Member]:
    return await members.list_members(
        ctx, guild_id=guild_id, user_id=caller.user_id, after=after, limit=limit
    )


@router.delete("/guilds/{guild_id}/members/@me", status_code=NO_CONTENT, summary="Leave a guild")
async def leave_guild(guild_id: Snowflake, ctx: Context, caller: Caller) -> Response:
    await members.leave_guild(ctx, guild_id=guild_id, user_id=caller.user_id)
    return Response(status_code=NO_CONTENT)


@router.get("/guilds/{guild_id}/members/{user_id:id}", response_model=schemas.Member)
async def get_member(
    guild_id: Snowflake, user_id: Snowflake, ctx: Context, caller: Caller
) -> schemas.Member:
    return await members.get_member(
        ctx, guild_id=guild_id, user_id=caller.user_id, target_id=user_id
    )


@router.patch(
    "/guilds/{guild_id}/members/{user_id:id}",
    response_model=schemas.Member,
    summary="Change a member's nick (own: CHANGE_NICKNAME) or roles (MANAGE_ROLES)",
)
async def update_member(
    guild_id: Snowflake,
    user_id: Snowflake,
    body: models.MemberUpdate,
    ctx: Context,
    caller: Caller,
) -> schemas.Member:
    return await members.update_member(
        ctx, guild_id=guild_id, user_id=caller.user_id, target_id=user_id, body=body
    )


@router.delete(
    "/guilds/{guild_id}/members/{user_id:id}",
    status_code=NO_CONTENT,
    summary="Kick a member (KICK_MEMBERS, below your highest role)",
)
async def kick_member(
    guild_id: Snowflake, user_id: Snowflake, ctx: Context, caller: Caller
) -> Response:
    await members.kick_member(ctx, guild_id=guild_id, user_id=caller.user_id, target_id=user_id)
    return Response(status_code=NO_CONTENT)


@router.get("/guilds/{guild_id}/bans", response_model=list[schemas.Ban])
async def list_bans(guild_id: Snowflake, ctx: Context, caller: Caller) -> list[schemas.Ban]:
    return await members.list_bans(ctx, guild_id=guild_id, user_id=caller.user_id)


@router.put(
    "/guilds/{guild_id}/bans/{user_id}",
    response_model=schemas.Ban,
    summary="Ban a user (BAN_MEMBERS); a member is removed at once",
)
async def ban_member(
    guild_id: Snowflake,
    user_id: Snowflake,
    ctx: Context,
    caller: Caller,
    body: models.BanCreate | None = None,
) -> schemas.Ban:
    return await members.ban_member(
        ctx,
        guild_id=guild_id,
        user_id=caller.user_id,
        target_id=user_id,
        body=body or models.BanCreate(),
    )


@router.delete("/guilds/{guild_id}/bans/{user_id}", status_code=NO_CONTENT)
async def unban_member(
    guild_id: Snowflake, user_id: Snowflake, ctx: Context, caller: Caller
) -> Response:
    await members.unban_member(ctx, guild_id=guild_id, user_id=caller.user_id, target_id=user_id)
    return Response(status_code=NO_CONTENT)
