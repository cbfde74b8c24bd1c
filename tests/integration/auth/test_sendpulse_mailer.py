"""The SendPulse mailer against a local HTTP server that speaks SendPulse's API shape: the OAuth
client-credentials token endpoint and the SMTP send endpoint with a template id per kind, with
SendPulse's success and error bodies (sources in the mailer's docstring)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from gochat import ports
from gochat.adapters import mail_retry
from gochat.adapters.sendpulse import mailer as sendpulse_mailer
from gochat.api.services import notifications
from gochat.auth import mails
from gochat.embedded import process

CLIENT_ID, CLIENT_SECRET = "client-1", "secret-1"
TEMPLATES = {
    "confirm_email": 101,
    "reset_password": 102,
    "notification": 103,
    "confirm_email.pt": 201,
}
FAST = mail_retry.Backoff(attempts=3, first_delay_seconds=0.01, max_delay_seconds=0.05)


@dataclass
class FakeSendPulse:
    """Issues tokens `tok-1`, `tok-2`, ...; accepts a send only with a live token."""

    expires_in: int = 3600
    live_tokens: set[str] = field(default_factory=set)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    sends: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (token, body)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    fail_sends: list[int] = field(default_factory=list)  # statuses answered before accepting
    # Bodies answered (HTTP 200) instead of accepting, e.g. {"result": False, ...}.
    refuse_sends: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.token_requests.append(body)
        if body != {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }:
            return web.json_response(
                {
                    "error": "invalid_client",
                    "error_description": "Client authentication failed",
                    "message": "Client authentication failed",
                },
                status=401,
            )
        token = f"tok-{len(self.token_requests)}"
        self.live_tokens.add(token)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}
        )

    async def send(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        body = await request.json()
        self.sends.append((token, body))
        if token not in self.live_tokens:
            return web.json_response({"error": "invalid_token"}, status=401)
        invalid = self.invalid(body)
        if invalid is not None:
            code, message = invalid
            return web.json_response({"error_code": code, "message": message}, status=400)
        if self.fail_sends:
            status = self.fail_sends.pop(0)
            return web.json_response({"error_code": status, "message": "failed"}, status=status)
        if self.refuse_sends:
            return web.json_response(self.refuse_sends.pop(0))
        self.accepted.append(body)
        return web.json_response({"result": True, "id": f"m{len(self.accepted)}"})

    @staticmethod
    def invalid(body: Any) -> tuple[int, str] | None:
        """SendPulse's error code for a send body missing what a template send needs."""
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, dict):
            return 8, "No data"
        if not (email.get("from") or {}).get("email"):
            return 10, "Sender email address missing"
        recipients = email.get("to")
        if not recipients or not all(r.get("email") for r in recipients):
            return 11, "Can't find recipients addresses"
        template = email.get("template") or {}
        if not template.get("id") or not isinstance(template.get("variables"), dict):
            return 13, "Empty email message content field"
        return None


@pytest.fixture
async def sendpulse() -> AsyncIterator[FakeSendPulse]:
    fake = FakeSendPulse()
    app = web.Application()
    app.router.add_post("/oauth/access_token", fake.token)
    app.router.add_post("/smtp/emails", fake.send)
    runner = web.AppRunner(app)
    await runner.setup()
    port = process.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def clock() -> Clock:
    return Clock()


@pytest.fixture
async def mailer(
    sendpulse: FakeSendPulse, clock: Clock
) -> AsyncIterator[sendpulse_mailer.SendPulseMailer]:
    mailer = sendpulse_mailer.SendPulseMailer(
        sendpulse_mailer.SendPulseSettings(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            sender="GoChat <no-reply@gochat.test>",
            template_ids=TEMPLATES,
            api_url=sendpulse.url,
            backoff=FAST,
        ),
        clock=clock,
    )
    try:
        yield mailer
    finally:
        await mailer.close()


def confirmation(locale: str = "en") -> ports.OutgoingMail:
    return mails.confirmation(
        to="ada@example.com",
        username="ada",
        public_url="https://chat.example",
        token="tok-123",
        locale=locale,
    )


async def test_sends_the_kinds_template_with_the_variables_and_our_subject(
    sendpulse: FakeSendPulse, mailer: sendpulse_mailer.SendPulseMailer
) -> None:
    await mailer.send(confirmation())

    assert sendpulse.accepted == [
        {
            "email": {
                "subject": "Confirm your GoChat e-mail address",
                "template": {
                    "id": 101,
                    "variables": {
                        "username": "ada",
                        "link": "https://chat.example/confirm-email?token=tok-123",
                        "token": "tok-123",
                    },
                },
                "from": {"name": "GoChat", "email": "no-reply@gochat.test"},
                "to": [{"email": "ada@example.com"}],
            }
        }
    ]


async def test_a_locale_with_its_own_template_uses_it(
    sendpulse: FakeSendPulse, mailer: sendpulse_mailer.SendPulseMailer
) -> None:
    await mailer.send(confirmation("pt-BR"))
    await mailer.send(confirmation("de"))

    assert [body["email"]["template"]["id"] for body in sendpulse.accepted] == [201, 101]


async def test_the_token_is_cached_until_it_expires(
    sendpulse: FakeSendPulse, mailer: sendpulse_mailer.SendPulseMailer, clock: Clock
) -> None:
    sendpulse.expires_in = 3600
    await mailer.send(confirmation())
    clock.now += 3000
    await mailer.send(confirmation())
    assert len(sendpulse.token_requests) == 1

    clock.now += 600  # past expiry (less the safety margin): a new token before sending
    await mailer.send(confirmation())

    assert len(sendpulse.token_requests) == 2
    assert [token for token, _ in sendpulse.sends] == ["tok-1", "tok-1", "tok-2"]


async def test_a_token_the_server_no_longer_accepts_is_replaced_on_401(
    sendpulse: FakeSendPulse, mailer: sendpulse_mailer.SendPulseMailer
) -> None:
    await mailer.send(confirmation())
    sendpulse.live_tokens.clear()  # revoked or expired early on SendPulse's side

    await mailer.send(confirmation())

    assert [token for token, _ in sendpulse.sends] == ["tok-1", "tok-1", "tok-2"]
    assert len(sendpulse.accepted) == 2


async def test_a_5xx_is_retried_with_backoff_until_accepted(
    sendpulse: FakeSendPulse, mailer: sendpulse_mailer.SendPulseMailer
) -> None:
    sendpulse.fail_sends = [503, 502]
    retried = mail_retry.ATTEMPT_FAILURES.labels("sendpulse", "retried")._value.get()

    await mailer.send(confirmation())

    assert len(sendpulse.sends) == 3 and len(sendpulse.accepted) == 1
    assert mail_retry.ATTEMPT_FAILURES.labels("sendpulse", "retried")._value.get() == retried + 2


async def test_a_5xx_on_every_attempt_is_a_transient_error(
    sendpulse: FakeSendPulse, mailer: sendpulse_mailer.SendPulseMailer
) -> None:
    sendpulse.fail_sends = [500] * 5

    with pytest.raises(sendpulse_mailer.SendPulseUnavailable):
        await mailer.send(confirmation())

    assert len(sendpulse.sends) == FAST.attempts and sendpulse.accepted == []


async def test_a_4xx_is_rejected_at_once(
    sendpulse: FakeSendPulse, mailer: sendpulse_mailer.SendPulseMailer
) -> None:
    sendpulse.fail_sends = [400]

    with pytest.raises(ports.MailRejected, match="HTTP 400"):
        await mailer.send(confirmation())

    assert len(sendpulse.sends) == 1


async def test_a_send_sendpulse_does_not_confirm_with_result_true_is_a_rejection(
    sendpulse: FakeSendPulse, mailer: sendpulse_mailer.SendPulseMailer
) -> None:
    sendpulse.refuse_sends = [{"result": False, "error_code": 17, "message": "Sender not active"}]

    with pytest.raises(ports.MailRejected, match=r"Sender not active \(error 17\)"):
        await mailer.send(confirmation())

    assert len(sendpulse.sends) == 1 and sendpulse.accepted == []


async def test_a_4xx_rejection_carries_sendpulses_message(
    sendpulse: FakeSendPulse, mailer: sendpulse_mailer.SendPulseMailer
) -> None:
    sendpulse.fail_sends = [422]

    with pytest.raises(ports.MailRejected, match=r"HTTP 422: failed \(error 422\)"):
        await mailer.send(confirmation())


async def test_wrong_client_credentials_are_a_rejection(sendpulse: FakeSendPulse) -> None:
    mailer = sendpulse_mailer.SendPulseMailer(
        sendpulse_mailer.SendPulseSettings(
            client_id=CLIENT_ID,
            client_secret="wrong",
            sender="no-reply@gochat.test",
            template_ids=TEMPLATES,
            api_url=sendpulse.url,
            backoff=FAST,
        )
    )
    try:
        with pytest.raises(
            ports.MailRejected,
            match=r"token: HTTP 401: Client authentication failed \(error invalid_client\)",
        ):
            await mailer.send(confirmation())
    finally:
        await mailer.close()

    assert len(sendpulse.token_requests) == 1 and sendpulse.sends == []


async def test_a_kind_without_a_template_id_is_a_rejection_before_any_request(
    sendpulse: FakeSendPulse,
) -> None:
    mailer = sendpulse_mailer.SendPulseMailer(
        sendpulse_mailer.SendPulseSettings(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            sender="no-reply@gochat.test",
            template_ids={"confirm_email": 101},
            api_url=sendpulse.url,
        )
    )
    mail = notifications.notification(
        to="ada@example.com", username="ada", title="t", body="b", link="https://x"
    )
    try:
        with pytest.raises(ports.MailRejected, match="notification"):
            await mailer.send(mail)
    finally:
        await mailer.close()

    assert sendpulse.token_requests == [] and sendpulse.sends == []
