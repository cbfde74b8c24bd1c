"""Brute-force limits: fixed-window counters kept in PostgreSQL so every replica shares them.

Every attempt counts (not only failures): the hit is recorded and counted in one statement, so
parallel guesses cannot slip past the limit. Buckets are keyed by account or by client IP;
requests naming an unknown account are keyed by what they name, so the answer (and the 429)
is the same whether or not the account exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gochat.adapters.postgres import accounts
from gochat.core import config, errors

FIFTEEN_MINUTES = 15 * 60
ONE_HOUR = 3600


@dataclass(frozen=True, slots=True)
class Limit:
    scope: str  # named in the 429's details, and the bucket prefix
    max_hits: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Limits:
    login_account: Limit
    login_ip: Limit
    register_ip: Limit
    mail_account: Limit  # password-reset and confirmation-mail requests
    mail_ip: Limit

    @classmethod
    def from_config(cls, cfg: config.AuthConfig) -> Limits:
        return cls(
            login_account=Limit("login_account", cfg.login_attempts_per_account, FIFTEEN_MINUTES),
            login_ip=Limit("login_ip", cfg.login_attempts_per_ip, FIFTEEN_MINUTES),
            register_ip=Limit("register_ip", cfg.register_per_ip, ONE_HOUR),
            mail_account=Limit("mail_account", cfg.reset_per_account, ONE_HOUR),
            mail_ip=Limit("mail_ip", cfg.reset_per_ip, ONE_HOUR),
        )


class RateLimiter:
    def __init__(self, store: accounts.Accounts, *, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    async def hit(self, limit: Limit, key: str) -> None:
        """Count one attempt; RateLimited (with the seconds until the window ends) when over."""
        now = self._clock()
        window_start = _window_start(now, limit.window_seconds)
        # Its own transaction: the hit stays counted even when the attempt then fails.
        async with self._store.transaction("rate_limit_hit") as tx:
            hits = await tx.count_hit(f"{limit.scope}:{key}", window_start=window_start)
        if hits > limit.max_hits:
            window_end = window_start + timedelta(seconds=limit.window_seconds)
            raise errors.RateLimited((window_end - now).total_seconds(), limit.scope)


def _window_start(now: datetime, window_seconds: int) -> datetime:
    epoch_seconds = int(now.timestamp())
    return datetime.fromtimestamp(epoch_seconds - epoch_seconds % window_seconds, tz=UTC)
