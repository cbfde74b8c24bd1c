from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from gochat.api import models
from gochat.api.deps import Caller, Context
from gochat.api.services import invites
from gochat.core import http, schemas
from gochat.core.schemas import Snowflake

router = APIRouter(tags=["invites"], route_class=http.StrictQueryRoute)
InviteCode = Annotated[str, Path(min_length=4, max_length=32, pattern=r"^[A-Za-z0-9]+$")]


@router.post(
    "/channels/{channel_id}/invites",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Invite,
    summary="Create an invite (CREATE_INVITE)",
)
async def create_invite(
    channel_id: Snowflake, ctx: Context, caller: Caller, body: models.InviteCreate | None = None
) -> schemas.Invite:
    return await invites.create_invite(
        ctx, channel_id=channel_id, user_id=caller.user_id, body=body or models.InviteCreate()
    )


@router.get(
    "/guilds/{guild_id}/invites",
    response_model=list[schemas.Invite],
    summary="A guild's invites (MANAGE_GUILD)",
)
async def list_invites(guild_id: Snowflake, ctx: Context, caller: Caller) -> list[schemas.Invite]:
    return await invites.list_invites(ctx, guild_id=guild_id, user_id=caller.user_id)


@router.get(
    "/invites/{code}",
    response_model=invites.InvitePreview,
    summary="Preview an invite: its guild, and its channel if @everyone can view it",
)
async def get_invite(code: InviteCode, ctx: Context, caller: Caller) -> invites.InvitePreview:
    return await invites.get_invite(ctx, code=code, user_id=caller.user_id)


@router.post(
    "/invites/{code}/accept",
    response_model=schemas.Member,
    summary="Join the invite's guild (idempotent for members)",
)
async def accept_invite(code: InviteCode, ctx: Context, caller: Caller) -> schemas.Member:
    return await invites.accept_invite(ctx, code=code, user_id=caller.user_id)


@router.delete(
    "/invites/{code}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an invite (its creator, or MANAGE_GUILD)",
)
async def revoke_invite(code: InviteCode, ctx: Context, caller: Caller) -> Response:
    await invites.revoke_invite(ctx, code=code, user_id=caller.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
