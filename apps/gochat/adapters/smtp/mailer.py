"""A `Mailer` that hands each mail to an SMTP relay: plain, STARTTLS or implicit TLS (SMTPS),
optionally with AUTH, the message rendered from the kind's templates (text + HTML).

The standard library client runs in a worker thread; a connection per mail is plenty for
account mail (a handful per user, ever). A 4xx reply or a connection error is retried with
backoff within the send; a 5xx reply is permanent (`ports.MailRejected`) and not retried."""

from __future__ import annotations

import asyncio
import email.message
import email.utils
import smtplib
import ssl
from dataclasses import dataclass, field
from typing import Literal

from gochat import ports
from gochat.adapters import email_message, mail_retry

Security = Literal["none", "starttls", "tls"]


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    security: Security = "none"  # starttls: upgrade after EHLO; tls: TLS from the first byte
    ca_file: str | None = None  # trust these CAs instead of the system's (a private relay)
    timeout_seconds: float = 10.0
    backoff: mail_retry.Backoff = field(default_factory=mail_retry.Backoff)


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def send(self, mail: ports.OutgoingMail) -> None:
        message = email_message.build(mail, sender=self._settings.sender)
        await mail_retry.with_retries(
            lambda: asyncio.to_thread(self._deliver, message, to=mail.to),
            backoff=self._settings.backoff,
            mailer="smtp",
            kind=mail.kind,
        )

    def _deliver(self, message: email.message.EmailMessage, *, to: str) -> None:
        settings = self._settings
        try:
            with self._connect() as smtp:
                if settings.security == "starttls":
                    smtp.starttls(context=self._tls_context())
                if settings.username:
                    smtp.login(settings.username, settings.password or "")
                smtp.send_message(message, _address(settings.sender), [to])
        except smtplib.SMTPRecipientsRefused as exc:
            replies = list(exc.recipients.values())
            if all(500 <= code < 600 for code, _ in replies):
                raise ports.MailRejected(f"smtp refused the recipient: {replies}") from exc
            raise
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                error = exc.smtp_error
                reply = error.decode(errors="replace") if isinstance(error, bytes) else error
                raise ports.MailRejected(f"smtp {exc.smtp_code}: {reply}") from exc
            raise
        except smtplib.SMTPNotSupportedError as exc:
            raise ports.MailRejected(f"smtp relay does not support it: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        settings = self._settings
        if settings.security == "tls":
            return smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                timeout=settings.timeout_seconds,
                context=self._tls_context(),
            )
        return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._settings.ca_file)


def _address(sender: str) -> str:
    return email.utils.parseaddr(sender)[1] or sender
