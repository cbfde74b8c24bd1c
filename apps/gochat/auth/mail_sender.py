"""The background sender of auth's mail queue: mails are written to the queue in the
transaction of the change (a new account, a reset request), never sent inside the request.

`deliver_due()` sends every due mail once; the service calls it right after answering a request
that queued a mail (so a mail normally leaves within the request's lifetime) and `run()` calls it
every `poll_seconds` for the rest (retries, mails of a crashed replica). A transient failure is
deferred with doubling delays; a permanent one (`ports.MailRejected`) or the last allowed attempt
marks the mail failed. A notification mail whose recipient has read every message it is about
by the time it would go is dropped unsent. Every outcome is logged and counted: the user's
action is never undone and a mail is never silently lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gochat import ports
from gochat.adapters.postgres import mail_queue
from gochat.auth import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    max_attempts: int = 8
    first_retry_seconds: float = 30.0
    max_retry_seconds: float = 3600.0
    lease_seconds: float = 300.0  # longer than one send with its in-send retries
    batch: int = 20
    poll_seconds: float = 5.0

    def retry_delay(self, attempts: int) -> timedelta:
        seconds = min(self.first_retry_seconds * 2 ** (attempts - 1), self.max_retry_seconds)
        return timedelta(seconds=seconds)


class MailSender:
    def __init__(
        self,
        queue: mail_queue.MailQueue,
        mailer: ports.Mailer,
        *,
        policy: QueuePolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._queue = queue
        self._mailer = mailer
        self._policy = policy
        self._clock = clock
        # One round at a time in this process: a caller of deliver_due() waits for a round
        # already running, so when it returns every mail due before it was called is handled.
        self._round = asyncio.Lock()

    async def deliver_due(self) -> int:
        """Send every mail due now (in batches); the number sent. Never raises for a mail."""
        sent = 0
        async with self._round:
            while True:
                claimed = await self._queue.claim_due(
                    now=self._clock(),
                    lease=timedelta(seconds=self._policy.lease_seconds),
                    limit=self._policy.batch,
                )
                for queued in claimed:
                    sent += await self._deliver(queued)
                if len(claimed) < self._policy.batch:
                    return sent

    async def run(self) -> None:
        """Deliver due mail every `poll_seconds` until cancelled; a failed round is logged."""
        while True:
            try:
                await self.deliver_due()
                metrics.MAIL_QUEUE_PENDING.set(await self._queue.pending())
            except Exception:
                log.exception("mail queue round failed")
            await asyncio.sleep(self._policy.poll_seconds)

    async def _deliver(self, queued: mail_queue.QueuedMail) -> int:
        mail = queued.mail
        if queued.read_meanwhile:  # a notification about messages read since it was queued
            await self._queue.delete(queued.id)
            metrics.MAIL_DELIVERIES.labels(mail.kind, "dropped").inc()
            log.info(
                "mail dropped: read meanwhile", extra={"kind": mail.kind, "mail_id": queued.id}
            )
            return 0
        try:
            await self._mailer.send(mail)
        except ports.MailRejected as exc:
            await self._give_up(queued, reason="rejected", error=str(exc))
            return 0
        except Exception as exc:
            if queued.attempts >= self._policy.max_attempts:
                await self._give_up(queued, reason="attempts_exhausted", error=repr(exc))
                return 0
            delay = self._policy.retry_delay(queued.attempts)
            await self._queue.defer(queued.id, until=self._clock() + delay, error=repr(exc))
            metrics.MAIL_DELIVERIES.labels(mail.kind, "deferred").inc()
            log.warning(
                "mail deferred",
                extra={"kind": mail.kind, "attempts": queued.attempts, "retry_in": str(delay)},
            )
            return 0
        await self._queue.delete(queued.id)
        metrics.MAIL_DELIVERIES.labels(mail.kind, "sent").inc()
        return 1

    async def _give_up(self, queued: mail_queue.QueuedMail, *, reason: str, error: str) -> None:
        await self._queue.fail(queued.id, now=self._clock(), error=error)
        metrics.MAIL_DELIVERIES.labels(queued.mail.kind, "failed").inc()
        log.error(
            "mail given up",
            extra={
                "kind": queued.mail.kind,
                "reason": reason,
                "attempts": queued.attempts,
                "error": error,
                "mail_id": queued.id,
            },
        )
