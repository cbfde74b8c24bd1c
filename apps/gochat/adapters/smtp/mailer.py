"""A `Mailer` that hands each mail to an SMTP relay (optionally STARTTLS and login).

The standard library client runs in a worker thread; a connection per mail is plenty for
account mail (a handful per user, ever)."""

from __future__ import annotations

import asyncio
import email.message
import email.utils
import smtplib
import ssl
from dataclasses import dataclass

from gochat import ports


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
        message = _build_message(mail, sender=settings.sender)
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            smtp.send_message(message)


def _build_message(mail: ports.OutgoingMail, *, sender: str) -> email.message.EmailMessage:
    message = email.message.EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain=_domain_of(sender))
    message["X-GoChat-Kind"] = mail.kind
    message.set_content(mail.text)
    return message


def _domain_of(sender: str) -> str:
    return email.utils.parseaddr(sender)[1].partition("@")[2] or "gochat.local"
