"""The two Mailer adapters: the outbox folder (embedded default) and a real SMTP server."""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from gochat import ports
from gochat.adapters.localfs import mail_outbox
from gochat.adapters.smtp import mailer as smtp_mailer
from gochat.auth import mails
from gochat.embedded import process
from tests.fixtures.accounts import mail_token

SENDER = "GoChat <no-reply@gochat.test>"


def confirmation_mail() -> ports.OutgoingMail:
    return mails.confirmation(
        to="ada@example.com", username="ada", public_url="https://chat.example", token="tok-123"
    )


def read_outbox(directory: Path) -> list[email.message.EmailMessage]:
    messages = []
    for path in sorted(directory.iterdir()):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        messages.append(message)
    return messages


async def test_outbox_mailer_writes_a_parseable_eml_and_logs_the_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = tmp_path / "mail"
    mailer = mail_outbox.OutboxMailer(outbox, sender=SENDER)

    with caplog.at_level("INFO", logger=mail_outbox.__name__):
        await mailer.send(confirmation_mail())

    [message] = read_outbox(outbox)
    assert message["From"] == SENDER
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Confirm your GoChat e-mail address"
    assert message["X-GoChat-Kind"] == "confirm_email"
    assert message["Message-ID"].endswith("@gochat.test>")
    assert "https://chat.example/confirm-email?token=tok-123" in message.get_content()
    assert mail_token(message) == "tok-123"
    [record] = caplog.records
    assert record.__dict__["links"] == ["https://chat.example/confirm-email?token=tok-123"]


async def test_outbox_mailer_keeps_every_mail_in_sending_order(tmp_path: Path) -> None:
    mailer = mail_outbox.OutboxMailer(tmp_path, sender=SENDER)

    for n in range(3):
        await mailer.send(
            mails.password_reset(
                to=f"u{n}@example.com", username=f"u{n}", public_url="http://x", token=f"t{n}"
            )
        )

    assert [mail_token(m) for m in read_outbox(tmp_path)] == ["t0", "t1", "t2"]


class _Inbox(Message):
    def __init__(self) -> None:
        super().__init__(email.message.EmailMessage)
        self.messages: list[email.message.Message] = []

    def handle_message(self, message: email.message.Message) -> None:
        self.messages.append(message)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, _Inbox]]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=process.free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


async def test_smtp_mailer_delivers_to_a_real_server(
    smtp_server: tuple[Controller, _Inbox],
) -> None:
    controller, inbox = smtp_server
    mailer = smtp_mailer.SmtpMailer(
        smtp_mailer.SmtpSettings(host=controller.hostname, port=controller.port, sender=SENDER)
    )

    await mailer.send(confirmation_mail())

    [message] = inbox.messages
    assert message["To"] == "ada@example.com"
    assert message["X-GoChat-Kind"] == "confirm_email"
    assert message["X-MailFrom"] == "no-reply@gochat.test"
    assert message["X-RcptTo"] == "ada@example.com"
    assert "Token: tok-123" in message.get_payload()


async def test_smtp_mailer_raises_when_the_server_is_unreachable() -> None:
    mailer = smtp_mailer.SmtpMailer(
        smtp_mailer.SmtpSettings(
            host="127.0.0.1", port=process.free_port(), sender=SENDER, timeout_seconds=2
        )
    )

    with pytest.raises(OSError):
        await asyncio.wait_for(mailer.send(confirmation_mail()), timeout=10)
