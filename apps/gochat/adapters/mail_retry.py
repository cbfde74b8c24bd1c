"""Brief retries with exponential backoff around one delivery, shared by the mail adapters.

A mailer retries a transient failure (connection refused, timeout, SMTP 4xx, HTTP 5xx) a few
times within one `send`; a `ports.MailRejected` is raised at once. What still fails is left to
the caller's queue, which tries again much later (auth's mail queue)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import Counter

from gochat import ports

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTEMPT_FAILURES = Counter(
    "gochat_mail_attempt_failures_total",
    "Failed mail delivery attempts, by mailer and outcome (retried: tried again in the same "
    "send; rejected: permanent, not retried; gave_up: transient, attempts exhausted).",
    ["mailer", "outcome"],
)


@dataclass(frozen=True, slots=True)
class Backoff:
    attempts: int = 3
    first_delay_seconds: float = 0.5
    max_delay_seconds: float = 8.0

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after the n-th failed attempt (1, 2, ...): doubling, capped."""
        return float(
            min(self.first_delay_seconds * 2 ** (failed_attempts - 1), self.max_delay_seconds)
        )


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    mailer: str,
    kind: str,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """The result of the first successful attempt; re-raises MailRejected at once and the last
    transient error once `backoff.attempts` attempts have failed."""
    failed = 0
    while True:
        try:
            return await attempt()
        except ports.MailRejected as exc:
            ATTEMPT_FAILURES.labels(mailer, "rejected").inc()
            log.warning("mail rejected", extra={"mailer": mailer, "kind": kind, "error": str(exc)})
            raise
        except Exception as exc:
            failed += 1
            if failed >= backoff.attempts:
                ATTEMPT_FAILURES.labels(mailer, "gave_up").inc()
                log.warning(
                    "mail delivery failed, attempts exhausted",
                    extra={"mailer": mailer, "kind": kind, "attempts": failed, "error": repr(exc)},
                )
                raise
            ATTEMPT_FAILURES.labels(mailer, "retried").inc()
            delay = backoff.delay(failed)
            log.info(
                "mail delivery failed, retrying",
                extra={"mailer": mailer, "kind": kind, "delay": delay, "error": repr(exc)},
            )
            await sleep(delay)
