"""Sign-up and e-mail confirmation."""

from __future__ import annotations

from datetime import timedelta

from gochat.adapters.postgres import accounts
from gochat.auth import failures, mails, metrics, opaque_tokens
from gochat.auth.context import AuthContext
from gochat.core import schemas

CONFIRM_EMAIL = "confirm_email"


async def register(
    ctx: AuthContext, *, username: str, email: str, password: str, client_ip: str
) -> schemas.User:
    """Create an unconfirmed account and queue its confirmation mail (same transaction: the
    account never exists without its mail); the new user."""
    await ctx.limiter.hit(ctx.limits.register_ip, client_ip)
    password_hash = await ctx.passwords.hash(password)
    token = opaque_tokens.new_token()
    try:
        async with ctx.accounts.transaction("register") as tx:
            user = await tx.insert_user(
                user_id=ctx.ids.next_id(),
                username=username,
                email=email,
                password_hash=password_hash,
            )
            await _store_confirmation_token(ctx, tx, user_id=user.id, token=token)
            await tx.enqueue_mail(
                mails.confirmation(
                    to=email,
                    username=username,
                    public_url=ctx.config.public_url,
                    token=token,
                    locale=ctx.config.mail_locale,
                ),
                now=ctx.clock(),
            )
    except accounts.DuplicateAccount as exc:
        raise failures.EmailTaken() if exc.field == "email" else failures.UsernameTaken() from None
    metrics.REGISTRATIONS.inc()
    return user


async def confirm_email(ctx: AuthContext, *, token: str) -> schemas.User:
    """Spend a confirmation token; the now confirmed user."""
    now = ctx.clock()
    async with ctx.accounts.transaction("confirm_email") as tx:
        use = await tx.use_mail_token(
            token_hash=opaque_tokens.digest(token), purpose=CONFIRM_EMAIL, now=now
        )
        if use.state is accounts.MailTokenState.EXPIRED:
            raise failures.MailTokenExpired()
        if use.state is not accounts.MailTokenState.VALID or use.user_id is None:
            raise failures.InvalidMailToken()
        user = await tx.mark_email_confirmed(use.user_id, now=now)
        await tx.retire_mail_tokens(use.user_id, purpose=CONFIRM_EMAIL, now=now)
    if user is None:
        raise failures.InvalidMailToken()
    return user


async def resend_confirmation(ctx: AuthContext, *, email: str, client_ip: str) -> None:
    """Queue a fresh confirmation mail for an unconfirmed account, nothing for any other
    address. The caller answers the same either way and delivers queued mail after answering,
    so neither the answer nor its timing reveals whether an address is registered."""
    await ctx.limiter.hit(ctx.limits.mail_ip, client_ip)
    await ctx.limiter.hit(ctx.limits.mail_account, email.lower())
    token = opaque_tokens.new_token()
    async with ctx.accounts.transaction("resend_confirmation") as tx:
        account = await tx.account_by_email(email)
        if account is None or account.email_confirmed_at is not None:
            return
        await tx.retire_mail_tokens(account.user.id, purpose=CONFIRM_EMAIL, now=ctx.clock())
        await _store_confirmation_token(ctx, tx, user_id=account.user.id, token=token)
        await tx.enqueue_mail(
            mails.confirmation(
                to=account.email,
                username=account.user.username,
                public_url=ctx.config.public_url,
                token=token,
                locale=ctx.config.mail_locale,
            ),
            now=ctx.clock(),
        )


async def _store_confirmation_token(
    ctx: AuthContext, tx: accounts.AccountsTx, *, user_id: int, token: str
) -> None:
    await tx.insert_mail_token(
        token_hash=opaque_tokens.digest(token),
        user_id=user_id,
        purpose=CONFIRM_EMAIL,
        expires_at=ctx.clock() + timedelta(seconds=ctx.config.email_token_ttl_seconds),
    )
