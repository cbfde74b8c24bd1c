"""Everything the auth service functions need, built once by the app factory and injected."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gochat.adapters.postgres import accounts
from gochat.auth import keys, limits, mail_sender, passwords
from gochat.core import config, ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuthContext:
    config: config.AuthConfig
    accounts: accounts.Accounts
    keys: keys.KeyRing
    passwords: passwords.PasswordHasher
    mail_sender: mail_sender.MailSender
    ids: ids.SnowflakeGenerator
    limiter: limits.RateLimiter
    limits: limits.Limits
    clock: Callable[[], datetime]

    async def deliver_queued_mail(self) -> None:
        """Send the queued mail that is due, logging a failure instead of raising: the account
        change is committed with its mail in the queue, and the background sender retries."""
        try:
            await self.mail_sender.deliver_due()
        except Exception:
            log.exception("mail queue delivery failed")
