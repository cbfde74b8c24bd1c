"""The public keys api and ws verify access tokens with."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gochat.auth import models
from gochat.auth.routers.dependencies import Context
from gochat.core import http

router = APIRouter(tags=["keys"], route_class=http.StrictQueryRoute)


@router.get(
    "/.well-known/jwks.json",
    summary="Every public signing key (several during a rotation)",
)
async def jwks(ctx: Context, response: Response) -> models.Jwks:
    # Short cache: verifiers refetch on an unknown kid anyway, and a rotation shows up quickly.
    response.headers["Cache-Control"] = "public, max-age=60"
    return models.Jwks.model_validate(ctx.keys.jwks())
