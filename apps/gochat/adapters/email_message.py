"""The RFC 5322 message every e-mail `Mailer` sends, built once so the outbox files of
`make dev` are byte-for-byte what an SMTP relay would receive (headers, Message-ID domain,
a text part and its HTML alternative rendered from the kind's templates)."""

from __future__ import annotations

import email.message
import email.utils

from gochat import ports
from gochat.adapters import mail_templates


def build(
    mail: ports.OutgoingMail,
    *,
    sender: str,
    templates: mail_templates.MailTemplates | None = None,
) -> email.message.EmailMessage:
    """Raises mail_templates.TemplateError (a MailRejected) when the mail cannot render."""
    rendered = (templates or mail_templates.default()).render(mail)
    message = email.message.EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = rendered.subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain=_domain_of(sender))
    message["X-GoChat-Kind"] = mail.kind
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    message["Content-Language"] = rendered.locale  # after the bodies: set_content drops Content-*
    return message


def _domain_of(sender: str) -> str:
    return email.utils.parseaddr(sender)[1].partition("@")[2] or "gochat.local"
