"""Everything the auth service functions need, built once by the app factory and injected."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gochat import ports
from gochat.adapters.postgres import accounts
from gochat.auth import keys, limits, passwords
from gochat.core import config, ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuthContext:
    config: config.AuthConfig
    accounts: accounts.Accounts
    keys: keys.KeyRing
    passwords: passwords.PasswordHasher
    mailer: ports.Mailer
    ids: ids.SnowflakeGenerator
    limiter: limits.RateLimiter
    limits: limits.Limits
    clock: Callable[[], datetime]

    async def send_mail(self, mail: ports.OutgoingMail) -> None:
        """Send, logging a failure instead of raising: the account change is already committed
        and the caller can ask for the mail again (resend, new reset request)."""
        try:
            await self.mailer.send(mail)
        except Exception:
            log.exception("mail delivery failed", extra={"kind": mail.kind})
