"""Password reset by mail, and password change by a logged-in user."""

from __future__ import annotations

from datetime import timedelta

from gochat.adapters.postgres import accounts
from gochat.auth import failures, mails, opaque_tokens
from gochat.auth.context import AuthContext
from gochat.core import errors, tokens

RESET_PASSWORD = "reset_password"


async def request_reset(ctx: AuthContext, *, email: str, client_ip: str) -> None:
    """Queue a reset mail if the address has an account, nothing otherwise (the caller answers
    the same either way, and delivers queued mail after answering so the timing says nothing).
    """
    await ctx.limiter.hit(ctx.limits.mail_ip, client_ip)
    await ctx.limiter.hit(ctx.limits.mail_account, email.lower())
    token = opaque_tokens.new_token()
    now = ctx.clock()
    async with ctx.accounts.transaction("request_password_reset") as tx:
        account = await tx.account_by_email(email)
        if account is None:
            return
        await tx.insert_mail_token(
            token_hash=opaque_tokens.digest(token),
            user_id=account.user.id,
            purpose=RESET_PASSWORD,
            expires_at=now + timedelta(seconds=ctx.config.reset_token_ttl_seconds),
        )
        await tx.enqueue_mail(
            mails.password_reset(
                to=account.email,
                username=account.user.username,
                public_url=ctx.config.public_url,
                token=token,
                locale=ctx.config.mail_locale,
            ),
            now=ctx.clock(),
        )


async def confirm_reset(ctx: AuthContext, *, token: str, new_password: str) -> None:
    """Set the password and end every session of the account. Following the mailed link also
    proves the address, so an unconfirmed account becomes confirmed."""
    password_hash = await ctx.passwords.hash(new_password)
    now = ctx.clock()
    async with ctx.accounts.transaction("confirm_password_reset") as tx:
        use = await tx.use_mail_token(
            token_hash=opaque_tokens.digest(token), purpose=RESET_PASSWORD, now=now
        )
        if use.state is accounts.MailTokenState.EXPIRED:
            raise failures.MailTokenExpired()
        if use.state is not accounts.MailTokenState.VALID or use.user_id is None:
            raise failures.InvalidMailToken()
        await tx.set_password_hash(use.user_id, password_hash)
        await tx.mark_email_confirmed(use.user_id, now=now)
        await tx.retire_mail_tokens(use.user_id, purpose=RESET_PASSWORD, now=now)
        await tx.revoke_user_sessions(use.user_id, now=now)


async def change_password(
    ctx: AuthContext, *, claims: tokens.AccessClaims, current_password: str, new_password: str
) -> None:
    """Replace the password; every other session of the account ends, this one stays."""
    await ctx.limiter.hit(ctx.limits.login_account, str(claims.user_id))
    async with ctx.accounts.read("find_account") as tx:
        account = await tx.account_by_id(claims.user_id)
    if account is None:
        raise errors.Unauthorized("account no longer exists")
    if not await ctx.passwords.verify(account.password_hash, current_password):
        raise failures.WrongPassword()
    password_hash = await ctx.passwords.hash(new_password)
    async with ctx.accounts.transaction("change_password") as tx:
        await tx.set_password_hash(account.user.id, password_hash)
        await tx.revoke_user_sessions(
            account.user.id, now=ctx.clock(), keep_family_id=int(claims.session_id)
        )
