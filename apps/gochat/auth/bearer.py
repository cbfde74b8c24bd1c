"""Bearer access tokens presented to the auth service itself (password change)."""

from __future__ import annotations

import jwt

from gochat.auth.context import AuthContext
from gochat.core import errors, tokens


async def authenticate(ctx: AuthContext, *, access_token: str) -> tokens.AccessClaims:
    """Claims of an access token signed by one of our keys whose session is still open."""
    claims = tokens.decode_access_token(
        access_token, key=_verification_key(ctx, access_token), issuer=ctx.config.jwt_issuer
    )
    if not claims.session_id.isdigit():
        raise errors.Unauthorized("invalid token")
    async with ctx.accounts.read("check_session") as tx:
        active = await tx.session_is_active(
            user_id=claims.user_id, family_id=int(claims.session_id), now=ctx.clock()
        )
    if not active:
        raise errors.Unauthorized("session ended")
    return claims


def _verification_key(ctx: AuthContext, access_token: str) -> object:
    try:
        kid = jwt.get_unverified_header(access_token).get("kid")
    except jwt.PyJWTError:
        raise errors.Unauthorized("malformed token") from None
    if not isinstance(kid, str):
        raise errors.Unauthorized("token has no key id")
    key = ctx.keys.public_key(kid)
    if key is None and ctx.keys.reload():
        # Another replica may have picked up a rotated-in key before our periodic reload.
        key = ctx.keys.public_key(kid)
    if key is None:
        raise errors.Unauthorized("token signed by an unknown key")
    return key
