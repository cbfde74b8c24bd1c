"""Sessions: login, refresh-token rotation, logout.

A session is a family of refresh tokens; its id (the first token's id) is the `sid` claim of
every access token issued for it. Presenting a token that was already rotated means two parties
hold it, so the whole family is revoked and both must log in again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gochat.adapters.postgres import accounts, accounts_sessions
from gochat.auth import failures, metrics, opaque_tokens
from gochat.auth.context import AuthContext
from gochat.core import errors, schemas


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    user: schemas.User
    session_id: int


async def login(ctx: AuthContext, *, login: str, password: str, client_ip: str) -> IssuedTokens:
    """Tokens for a confirmed account whose password matches; `login` is a username or e-mail."""
    try:
        await ctx.limiter.hit(ctx.limits.login_ip, client_ip)
        async with ctx.accounts.read("find_account") as tx:
            account = await (
                tx.account_by_email(login) if "@" in login else tx.account_by_username(login)
            )
        account_key = str(account.user.id) if account else login.lower()
        await ctx.limiter.hit(ctx.limits.login_account, account_key)
    except errors.RateLimited:
        metrics.LOGINS.labels("rate_limited").inc()
        raise
    if not await ctx.passwords.verify(account.password_hash if account else None, password):
        metrics.LOGINS.labels("invalid_credentials").inc()
        raise failures.InvalidCredentials()
    assert account is not None
    if account.email_confirmed_at is None:
        metrics.LOGINS.labels("email_not_confirmed").inc()
        raise failures.EmailNotConfirmed()
    if ctx.passwords.needs_rehash(account.password_hash):
        new_hash = await ctx.passwords.hash(password)
        async with ctx.accounts.transaction("rehash_password") as tx:
            await tx.set_password_hash(account.user.id, new_hash)
    family_id = ctx.ids.next_id()
    async with ctx.accounts.transaction("start_session") as tx:
        issued = await issue_tokens(ctx, tx, user=account.user, family_id=family_id)
    metrics.LOGINS.labels("ok").inc()
    return issued


async def refresh(ctx: AuthContext, *, refresh_token: str) -> IssuedTokens:
    """Rotate: the presented token is spent and a new pair of the same session returned."""
    now = ctx.clock()
    async with ctx.accounts.transaction("rotate_refresh_token") as tx:
        stored = await tx.refresh_token_for_update(opaque_tokens.digest(refresh_token))
        refusal = _refusal(stored, now=now)
        if stored is not None and refusal is None:
            account = await tx.account_by_id(stored.user_id)
            if account is not None:
                await tx.mark_rotated(stored.id, now=now)
                issued = await issue_tokens(ctx, tx, user=account.user, family_id=stored.family_id)
                metrics.TOKEN_REFRESHES.labels("ok").inc()
                return issued
        if stored is not None and refusal == "reused":
            await tx.revoke_family(stored.family_id, now=now)
    # Raised outside the transaction: the revocation above must commit.
    refusal = refusal or "revoked"  # the account is gone
    metrics.TOKEN_REFRESHES.labels(refusal).inc()
    if refusal == "reused":
        raise failures.RefreshTokenReused()
    raise failures.InvalidRefreshToken(refusal)


async def logout(ctx: AuthContext, *, refresh_token: str) -> None:
    """End the token's session (every token of its family). Logging out twice is fine."""
    async with ctx.accounts.transaction("logout") as tx:
        stored = await tx.refresh_token_for_update(opaque_tokens.digest(refresh_token))
        if stored is None:
            raise failures.InvalidRefreshToken("invalid")
        await tx.revoke_family(stored.family_id, now=ctx.clock())


async def issue_tokens(
    ctx: AuthContext, tx: accounts.AccountsTx, *, user: schemas.User, family_id: int
) -> IssuedTokens:
    """Store a new refresh token in the family and sign an access token for the session."""
    now = ctx.clock()
    refresh_token = opaque_tokens.new_token()
    await tx.insert_refresh_token(
        token_id=ctx.ids.next_id(),
        user_id=user.id,
        family_id=family_id,
        token_hash=opaque_tokens.digest(refresh_token),
        expires_at=now + timedelta(seconds=ctx.config.refresh_token_ttl_seconds),
    )
    ttl = ctx.config.access_token_ttl_seconds
    access_token = ctx.keys.sign_access_token(
        user_id=user.id,
        session_id=family_id,
        issuer=ctx.config.jwt_issuer,
        issued_at=now,
        ttl_seconds=ttl,
    )
    return IssuedTokens(access_token, ttl, refresh_token, user, family_id)


def _refusal(stored: accounts_sessions.RefreshToken | None, *, now: datetime) -> str | None:
    """Why a presented refresh token cannot be rotated, or None when it can."""
    if stored is None:
        return "invalid"
    if stored.revoked_at is not None:
        return "revoked"
    if stored.rotated_at is not None:
        return "reused"
    if stored.expires_at <= now:
        return "expired"
    return None
