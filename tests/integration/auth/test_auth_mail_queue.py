"""Auth's mail queue: a mail is written with the change and sent by the background sender; a
relay outage delays it (deferred with doubling delays) and never loses it or the account; a
rejected mail is given up, counted and its token erased; a sender that dies mid-send leaves its
mail due again when the lease ends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gochat import ports
from gochat.adapters.localfs import mail_outbox
from gochat.adapters.postgres import accounts as pg_accounts
from gochat.adapters.postgres import mail_queue
from gochat.adapters.postgres.database import Database
from gochat.auth import mail_sender, mails, metrics
from tests.fixtures import accounts
from tests.integration.auth.conftest import Sql

ADA = {"username": "ada", "email": "ada@example.com", "password": "correct horse battery"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class ScriptedMailer:
    """Raises the scripted failures, one per send, then writes to the outbox."""

    def __init__(self, outbox: Path, *failures: Exception) -> None:
        self.failures = list(failures)
        self.sends = 0
        self._outbox = mail_outbox.OutboxMailer(outbox, sender="GoChat <no-reply@gochat.test>")

    async def send(self, mail: ports.OutgoingMail) -> None:
        self.sends += 1
        if self.failures:
            raise self.failures.pop(0)
        await self._outbox.send(mail)


def counted(kind: str, outcome: str) -> float:
    return float(metrics.MAIL_DELIVERIES.labels(kind, outcome)._value.get())


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def serve(
    migrated_database: str, tmp_path: Path, mailer: ScriptedMailer, clock: Clock, **cfg: Any
) -> Any:
    # The poll is slow: every delivery in these tests is one the test asks for.
    config = accounts.auth_config(migrated_database, tmp_path, mail_queue_poll_seconds=300, **cfg)
    return accounts.serve_auth(config, mailer=mailer, clock=clock)


def sender_of(service: accounts.AuthService) -> mail_sender.MailSender:
    sender: mail_sender.MailSender = service.app.state.auth.mail_sender
    return sender


async def test_a_relay_outage_defers_the_mail_with_backoff_and_never_loses_it(
    migrated_database: str, tmp_path: Path, clock: Clock
) -> None:
    mailer = ScriptedMailer(
        tmp_path / "mail", ConnectionRefusedError("relay down"), TimeoutError("relay slow")
    )
    sql = Sql(migrated_database)
    deferred, sent = counted("confirm_email", "deferred"), counted("confirm_email", "sent")

    async with await serve(migrated_database, tmp_path, mailer, clock) as service:
        response = await service.client.post("/auth/register", json=ADA)
        assert response.status_code == 201  # the account exists though the mail did not go
        assert mailer.sends == 1 and service.mails() == []
        assert await sql.value("SELECT attempts FROM mail_queue") == 1
        assert "relay down" in await sql.value("SELECT last_error FROM mail_queue")
        due = await sql.value("SELECT next_attempt_at FROM mail_queue")
        assert due == clock.now + timedelta(seconds=30)

        clock.now += timedelta(seconds=29)
        assert await sender_of(service).deliver_due() == 0
        assert mailer.sends == 1  # not due yet

        clock.now += timedelta(seconds=2)
        assert await sender_of(service).deliver_due() == 0  # fails again: twice the delay
        due = await sql.value("SELECT next_attempt_at FROM mail_queue")
        assert due == clock.now + timedelta(seconds=60)

        clock.now += timedelta(seconds=61)
        assert await sender_of(service).deliver_due() == 1
        token = service.latest_token(kind="confirm_email", to=ADA["email"])
        confirmed = await service.client.post("/auth/confirm-email", json={"token": token})

    assert confirmed.status_code == 200
    assert mailer.sends == 3
    assert await sql.count("mail_queue") == 0  # a sent mail leaves no copy of its token
    assert counted("confirm_email", "deferred") == deferred + 2
    assert counted("confirm_email", "sent") == sent + 1


async def test_a_rejected_mail_is_given_up_counted_and_its_token_erased(
    migrated_database: str, tmp_path: Path, clock: Clock
) -> None:
    mailer = ScriptedMailer(tmp_path / "mail", ports.MailRejected("550 no such mailbox"))
    sql = Sql(migrated_database)
    failed = counted("confirm_email", "failed")

    async with await serve(migrated_database, tmp_path, mailer, clock) as service:
        response = await service.client.post("/auth/register", json=ADA)
        row = await sql.value(
            "SELECT json_build_object('failed', failed_at IS NOT NULL, 'error', last_error, "
            "'variables', variables) FROM mail_queue"
        )
        clock.now += timedelta(days=1)
        assert await sender_of(service).deliver_due() == 0  # never tried again
        # The user asks again; this time the relay takes it.
        resend = await service.client.post(
            "/auth/resend-confirmation", json={"email": ADA["email"]}
        )

        assert len(service.mails(kind="confirm_email")) == 1

    assert response.status_code == 201 and resend.status_code == 202
    assert json.loads(row) == {"failed": True, "error": "550 no such mailbox", "variables": {}}
    assert mailer.sends == 2
    assert counted("confirm_email", "failed") == failed + 1
    assert await sql.count("mail_queue") == 1  # the failed one, kept for investigation


async def test_a_mail_out_of_attempts_is_given_up(
    migrated_database: str, tmp_path: Path, clock: Clock
) -> None:
    mailer = ScriptedMailer(tmp_path / "mail", *(OSError(f"down {n}") for n in range(5)))
    sql = Sql(migrated_database)

    async with await serve(
        migrated_database, tmp_path, mailer, clock, mail_queue_max_attempts=2
    ) as service:
        await service.client.post("/auth/register", json=ADA)
        clock.now += timedelta(hours=1)
        await sender_of(service).deliver_due()
        clock.now += timedelta(hours=1)
        await sender_of(service).deliver_due()

    assert mailer.sends == 2
    assert await sql.value("SELECT failed_at IS NOT NULL FROM mail_queue") is True
    assert await sql.value("SELECT last_error FROM mail_queue") == "OSError('down 1')"


@pytest.fixture
async def database(migrated_database: str) -> AsyncIterator[Database]:
    db = await Database.connect(migrated_database, service="auth", min_size=0, max_size=2)
    try:
        yield db
    finally:
        await db.close()


async def test_a_claimed_mail_is_leased_and_due_again_when_its_sender_dies(
    database: Database,
) -> None:
    now = datetime.now(UTC)
    async with database.transaction("test_enqueue") as conn:
        await pg_accounts.AccountsTx(conn).enqueue_mail(
            mails.password_reset(
                to="a@example.com", username="a", public_url="http://x", token="t"
            ),
            now=now,
        )
    queue = mail_queue.MailQueue(database)
    lease = timedelta(minutes=5)

    [first] = await queue.claim_due(now=now, lease=lease, limit=10)
    # The sender dies here, between the claim and the send. Another sender, meanwhile:
    during_lease = await queue.claim_due(now=now + timedelta(minutes=4), lease=lease, limit=10)
    [again] = await queue.claim_due(now=now + timedelta(minutes=6), lease=lease, limit=10)

    assert during_lease == []
    assert (first.id, first.attempts) == (again.id, 1) and again.attempts == 2
    assert again.mail == first.mail
    assert again.mail.variables["token"] == "t" and again.mail.kind == "reset_password"
