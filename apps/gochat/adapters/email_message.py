"""The RFC 5322 message every e-mail `Mailer` sends, built once so the outbox files of
`make dev` are byte-for-byte what an SMTP relay would receive (headers, Message-ID domain)."""

from __future__ import annotations

import email.message
import email.utils

from gochat import ports


def build(mail: ports.OutgoingMail, *, sender: str) -> email.message.EmailMessage:
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
