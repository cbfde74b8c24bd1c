from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from gochat.api import models
from gochat.api.deps import Caller, Context
from gochat.api.services import roles
from gochat.core import http, schemas
from gochat.core.schemas import Snowflake

router = APIRouter(tags=["roles"], route_class=http.StrictQueryRoute)


@router.get("/guilds/{guild_id}/roles", response_model=list[schemas.Role])
async def list_roles(guild_id: Snowflake, ctx: Context, caller: Caller) -> list[schemas.Role]:
    return await roles.list_roles(ctx, guild_id=guild_id, user_id=caller.user_id)


@router.post(
    "/guilds/{guild_id}/roles",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Role,
    summary="Create a role (MANAGE_ROLES)",
)
async def create_role(
    guild_id: Snowflake, ctx: Context, caller: Caller, body: models.RoleCreate | None = None
) -> schemas.Role:
    return await roles.create_role(
        ctx, guild_id=guild_id, user_id=caller.user_id, body=body or models.RoleCreate()
    )


@router.patch(
    "/guilds/{guild_id}/roles",
    response_model=list[schemas.Role],
    summary="Reorder roles below your highest role (MANAGE_ROLES)",
)
async def reorder_roles(
    guild_id: Snowflake,
    body: Annotated[list[models.PositionChange], Body(min_length=1, max_length=250)],
    ctx: Context,
    caller: Caller,
) -> list[schemas.Role]:
    return await roles.reorder_roles(ctx, guild_id=guild_id, user_id=caller.user_id, changes=body)


@router.patch(
    "/guilds/{guild_id}/roles/{role_id}",
    response_model=schemas.Role,
    summary="Update a role below your highest role (MANAGE_ROLES)",
)
async def update_role(
    guild_id: Snowflake,
    role_id: Snowflake,
    body: models.RoleUpdate,
    ctx: Context,
    caller: Caller,
) -> schemas.Role:
    return await roles.update_role(
        ctx, guild_id=guild_id, user_id=caller.user_id, role_id=role_id, body=body
    )


@router.delete("/guilds/{guild_id}/roles/{role_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_role(
    guild_id: Snowflake, role_id: Snowflake, ctx: Context, caller: Caller
) -> Response:
    await roles.delete_role(ctx, guild_id=guild_id, user_id=caller.user_id, role_id=role_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
