"""The e-mail Mailer adapters against real servers: the outbox folder (embedded default) and
SMTP against aiosmtpd, plain, STARTTLS and implicit TLS with a certificate made for the test,
with AUTH; 4xx replies retried with backoff, 5xx replies rejected at once."""

from __future__ import annotations

import asyncio
import datetime
import email
import email.message
import email.policy
import ipaddress
import ssl
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gochat import ports
from gochat.adapters import mail_retry
from gochat.adapters.localfs import mail_outbox
from gochat.adapters.smtp import mailer as smtp_mailer
from gochat.auth import mails
from gochat.embedded import process
from tests.fixtures import accounts
from tests.fixtures.accounts import mail_token

SENDER = "GoChat <no-reply@gochat.test>"
FAST = mail_retry.Backoff(attempts=3, first_delay_seconds=0.01, max_delay_seconds=0.05)
USER, PASSWORD = "gochat", "relay secret"


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
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    assert "https://chat.example/confirm-email?token=tok-123" in plain.get_content()
    assert 'href="https://chat.example/confirm-email?token=tok-123"' in html.get_content()
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


async def test_outbox_mailer_rejects_a_mail_it_cannot_render_and_writes_nothing(
    tmp_path: Path,
) -> None:
    mailer = mail_outbox.OutboxMailer(tmp_path / "mail", sender=SENDER)

    with pytest.raises(ports.MailRejected):
        await mailer.send(ports.OutgoingMail(to="a@example.com", kind="confirm_email"))

    assert not (tmp_path / "mail").exists()


# --- a real SMTP server -------------------------------------------------------------------


class Inbox(Message):
    """Keeps delivered messages; answers the first `refuse` DATA commands with `reply`."""

    def __init__(self) -> None:
        super().__init__(email.message.EmailMessage)
        self.messages: list[email.message.Message] = []
        self.data_commands = 0
        self.refuse = 0
        self.reply = "451 4.3.0 try again later"
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_commands += 1
        if self.refuse > 0:
            self.refuse -= 1
            return self.reply
        result: str = await super().handle_DATA(server, session, envelope)
        return result

    def handle_message(self, message: email.message.Message) -> None:
        # Parsed again with the modern policy, as a mail client would (get_body, get_content).
        self.messages.append(
            email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
        )

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login, data.password))
            if (data.login, data.password) == (USER.encode(), PASSWORD.encode()):
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA and a server certificate for 127.0.0.1 and localhost, made for this test run."""
    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "GoChat test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = Certificates(directory / "ca.pem", directory / "server.pem", directory / "key.pem")
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Inbox]]:
    """A plain SMTP server without AUTH."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=process.free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(certificates: Certificates) -> Iterator[tuple[Controller, Inbox]]:
    """A submission server: STARTTLS required before anything, then AUTH required."""
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=process.free_port(),
        tls_context=certificates.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=inbox.authenticate,
    )
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture
def smtps_server(certificates: Certificates) -> Iterator[tuple[Controller, Inbox]]:
    """SMTPS: TLS from the first byte, then AUTH required."""
    inbox = Inbox()
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=process.free_port(),
        ssl_context=certificates.server_context(),
        auth_required=True,
        # aiosmtpd counts only STARTTLS as TLS for AUTH; here the socket is TLS from the start.
        auth_require_tls=False,
        authenticator=inbox.authenticate,
    )
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def mailer_for(controller: Controller, **settings: Any) -> smtp_mailer.SmtpMailer:
    settings.setdefault("backoff", FAST)
    return smtp_mailer.SmtpMailer(
        smtp_mailer.SmtpSettings(
            host=str(controller.hostname), port=int(controller.port), sender=SENDER, **settings
        )
    )


async def test_smtp_mailer_delivers_text_and_html_to_a_real_server(
    smtp_server: tuple[Controller, Inbox],
) -> None:
    controller, inbox = smtp_server

    await mailer_for(controller).send(confirmation_mail())

    [message] = inbox.messages
    assert isinstance(message, email.message.EmailMessage)
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Confirm your GoChat e-mail address"
    assert message["X-GoChat-Kind"] == "confirm_email"
    assert message["X-MailFrom"] == "no-reply@gochat.test"
    assert message["X-RcptTo"] == "ada@example.com"
    assert mail_token(message) == "tok-123"
    html = message.get_body(("html",))
    assert html is not None and "Confirm my address" in html.get_content()


async def test_smtp_mailer_upgrades_with_starttls_and_logs_in(
    starttls_server: tuple[Controller, Inbox], certificates: Certificates
) -> None:
    controller, inbox = starttls_server
    mailer = mailer_for(
        controller,
        security="starttls",
        ca_file=str(certificates.ca_file),
        username=USER,
        password=PASSWORD,
    )

    await mailer.send(confirmation_mail())

    [message] = inbox.messages
    assert isinstance(message, email.message.EmailMessage)
    assert mail_token(message) == "tok-123"
    assert inbox.logins == [(USER.encode(), PASSWORD.encode())]


async def test_smtp_mailer_without_starttls_is_refused_by_a_server_that_requires_it(
    starttls_server: tuple[Controller, Inbox],
) -> None:
    controller, inbox = starttls_server

    with pytest.raises(ports.MailRejected, match="530"):
        await mailer_for(controller).send(confirmation_mail())

    assert inbox.messages == []


async def test_smtp_mailer_does_not_trust_a_certificate_outside_its_ca_file(
    starttls_server: tuple[Controller, Inbox],
) -> None:
    controller, inbox = starttls_server
    mailer = mailer_for(controller, security="starttls", username=USER, password=PASSWORD)

    with pytest.raises(ssl.SSLCertVerificationError):
        await mailer.send(confirmation_mail())

    assert inbox.messages == [] and inbox.logins == []


async def test_smtp_mailer_speaks_implicit_tls_and_logs_in(
    smtps_server: tuple[Controller, Inbox], certificates: Certificates
) -> None:
    controller, inbox = smtps_server
    mailer = mailer_for(
        controller,
        security="tls",
        ca_file=str(certificates.ca_file),
        username=USER,
        password=PASSWORD,
    )

    await mailer.send(confirmation_mail())

    [message] = inbox.messages
    assert message["X-GoChat-Kind"] == "confirm_email"
    assert inbox.logins == [(USER.encode(), PASSWORD.encode())]


async def test_a_wrong_password_is_a_permanent_rejection(
    smtps_server: tuple[Controller, Inbox], certificates: Certificates
) -> None:
    controller, inbox = smtps_server
    mailer = mailer_for(
        controller,
        security="tls",
        ca_file=str(certificates.ca_file),
        username=USER,
        password="wrong",
    )

    retried = mail_retry.ATTEMPT_FAILURES.labels("smtp", "retried")._value.get()

    with pytest.raises(ports.MailRejected, match="535"):
        await mailer.send(confirmation_mail())

    assert set(inbox.logins) == {(USER.encode(), b"wrong")} and inbox.messages == []
    assert mail_retry.ATTEMPT_FAILURES.labels("smtp", "retried")._value.get() == retried


async def test_a_4xx_reply_is_retried_with_backoff_until_delivered(
    smtp_server: tuple[Controller, Inbox],
) -> None:
    controller, inbox = smtp_server
    inbox.refuse = 2
    retried = mail_retry.ATTEMPT_FAILURES.labels("smtp", "retried")._value.get()

    await mailer_for(controller).send(confirmation_mail())

    assert inbox.data_commands == 3
    assert len(inbox.messages) == 1
    assert mail_retry.ATTEMPT_FAILURES.labels("smtp", "retried")._value.get() == retried + 2


async def test_a_4xx_reply_on_every_attempt_raises_a_transient_error(
    smtp_server: tuple[Controller, Inbox],
) -> None:
    controller, inbox = smtp_server
    inbox.refuse = 10

    with pytest.raises(Exception) as caught:
        await mailer_for(controller).send(confirmation_mail())

    assert not isinstance(caught.value, ports.MailRejected)
    assert inbox.data_commands == FAST.attempts and inbox.messages == []


async def test_a_5xx_reply_is_rejected_at_once_and_not_retried(
    smtp_server: tuple[Controller, Inbox],
) -> None:
    controller, inbox = smtp_server
    inbox.refuse, inbox.reply = 10, "554 5.7.1 message refused"

    with pytest.raises(ports.MailRejected, match="554"):
        await mailer_for(controller).send(confirmation_mail())

    assert inbox.data_commands == 1 and inbox.messages == []


async def test_smtp_mailer_retries_then_raises_when_the_server_is_unreachable() -> None:
    port = process.free_port()
    mailer = smtp_mailer.SmtpMailer(
        smtp_mailer.SmtpSettings(
            host="127.0.0.1", port=port, sender=SENDER, timeout_seconds=2, backoff=FAST
        )
    )
    gave_up = mail_retry.ATTEMPT_FAILURES.labels("smtp", "gave_up")._value.get()

    with pytest.raises(OSError):
        await asyncio.wait_for(mailer.send(confirmation_mail()), timeout=10)

    assert mail_retry.ATTEMPT_FAILURES.labels("smtp", "gave_up")._value.get() == gave_up + 1


async def test_auth_sends_its_queued_mail_through_the_configured_relay(
    migrated_database: str,
    tmp_path: Path,
    starttls_server: tuple[Controller, Inbox],
    certificates: Certificates,
) -> None:
    controller, inbox = starttls_server
    cfg = accounts.auth_config(
        migrated_database,
        tmp_path,
        mailer="smtp",
        smtp_host=controller.hostname,
        smtp_port=controller.port,
        smtp_security="starttls",
        smtp_ca_file=str(certificates.ca_file),
        smtp_username=USER,
        smtp_password=PASSWORD,
    )
    account = {"username": "ada", "email": "ada@example.com", "password": "long enough"}

    async with accounts.serve_auth(cfg) as service:
        registered = await service.client.post("/auth/register", json=account)
        [message] = inbox.messages
        assert isinstance(message, email.message.EmailMessage)
        confirmed = await service.client.post(
            "/auth/confirm-email", json={"token": mail_token(message)}
        )

    assert registered.status_code == 201 and confirmed.status_code == 200
    assert message["To"] == "ada@example.com"
    assert inbox.logins == [(USER.encode(), PASSWORD.encode())]
