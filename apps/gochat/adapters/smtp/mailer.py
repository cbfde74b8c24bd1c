"""A `Mailer` that hands each mail to an SMTP relay (optionally STARTTLS and login).

The standard library client runs in a worker thread; a connection per mail is plenty for
account mail (a handful per user, ever)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass

from gochat import ports
from gochat.adapters import email_message


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_seconds: float = 10.0


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def send(self, mail: ports.OutgoingMail) -> None:
        await asyncio.to_thread(self._deliver, mail)

    def _deliver(self, mail: ports.OutgoingMail) -> None:
        settings = self._settings
        message = email_message.build(mail, sender=settings.sender)
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            smtp.send_message(message)
