"""Retries within one send: transient failures back off and retry, rejections never do."""

from __future__ import annotations

import pytest

from gochat import ports
from gochat.adapters import mail_retry
from gochat.adapters.sendpulse import mailer as sendpulse_mailer

BACKOFF = mail_retry.Backoff(attempts=4, first_delay_seconds=0.5, max_delay_seconds=1.5)


class Attempts:
    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.slept: list[float] = []

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "sent"

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def counted(outcome: str) -> float:
    value = mail_retry.ATTEMPT_FAILURES.labels("test", outcome)._value.get()
    return float(value)


async def test_transient_failures_are_retried_with_doubling_capped_delays() -> None:
    attempts = Attempts(ConnectionRefusedError(), TimeoutError(), OSError("reset"))
    retried = counted("retried")

    result = await mail_retry.with_retries(
        attempts, backoff=BACKOFF, mailer="test", kind="k", sleep=attempts.sleep
    )

    assert result == "sent"
    assert attempts.calls == 4
    assert attempts.slept == [0.5, 1.0, 1.5]
    assert counted("retried") == retried + 3


async def test_a_rejection_is_raised_at_once() -> None:
    attempts = Attempts(ports.MailRejected("550 no such user"))
    rejected = counted("rejected")

    with pytest.raises(ports.MailRejected):
        await mail_retry.with_retries(
            attempts, backoff=BACKOFF, mailer="test", kind="k", sleep=attempts.sleep
        )

    assert attempts.calls == 1 and attempts.slept == []
    assert counted("rejected") == rejected + 1


async def test_the_last_transient_error_is_raised_when_attempts_run_out() -> None:
    attempts = Attempts(*(ConnectionRefusedError(str(n)) for n in range(5)))
    gave_up = counted("gave_up")

    with pytest.raises(ConnectionRefusedError, match="3"):
        await mail_retry.with_retries(
            attempts, backoff=BACKOFF, mailer="test", kind="k", sleep=attempts.sleep
        )

    assert attempts.calls == 4
    assert counted("gave_up") == gave_up + 1


def test_sendpulse_template_ids_fall_back_from_locale_to_language_to_kind() -> None:
    ids = {"confirm_email": 1, "confirm_email.pt": 2, "confirm_email.pt-br": 3}

    def chosen(locale: str) -> int | None:
        return sendpulse_mailer.template_id(ids, kind="confirm_email", locale=locale)

    assert (chosen("pt_BR"), chosen("pt-PT"), chosen("de"), chosen("en")) == (3, 2, 1, 1)
    assert sendpulse_mailer.template_id(ids, kind="notification", locale="en") is None
    assert sendpulse_mailer.kinds_without_template(ids) == ["notification", "reset_password"]
