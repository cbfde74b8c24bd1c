"""A `Mailer` that sends through SendPulse's SMTP service HTTP API, each kind with a template
kept in SendPulse (its id from config) and the mail's variables filled in there.

API shape: `POST {api}/oauth/access_token` with the client credentials gives a bearer token
valid `expires_in` seconds; `POST {api}/smtp/emails` with `{"email": {"subject", "template":
{"id", "variables"}, "from", "to"}}` sends. The token is cached until shortly before it
expires and fetched again on a 401. A 429, a 5xx or a connection error is retried with backoff;
any other 4xx is permanent (`ports.MailRejected`). The subject comes from our own subject
template, so every mailer says the same in every locale."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from gochat import ports
from gochat.adapters import mail_retry, mail_templates

DEFAULT_API_URL = "https://api.sendpulse.com"
_EXPIRY_MARGIN_SECONDS = 30.0  # never send with a token about to expire in flight


class SendPulseUnavailable(Exception):
    """A transient failure (429, 5xx): retried, then left to the caller's queue."""


@dataclass(frozen=True, slots=True)
class SendPulseSettings:
    client_id: str
    client_secret: str
    sender: str
    template_ids: Mapping[str, int]  # "kind" or "kind.locale" -> SendPulse template id
    api_url: str = DEFAULT_API_URL
    timeout_seconds: float = 10.0
    backoff: mail_retry.Backoff = field(default_factory=mail_retry.Backoff)


def template_id(template_ids: Mapping[str, int], *, kind: str, locale: str) -> int | None:
    """The template for `kind` in `locale` (`kind.locale`, then `kind.language`), else the
    kind's default (`kind`); None when the kind has none."""
    wanted = locale.strip().lower().replace("_", "-")
    for key in (f"{kind}.{wanted}", f"{kind}.{wanted.partition('-')[0]}", kind):
        if key in template_ids:
            return template_ids[key]
    return None


def kinds_without_template(template_ids: Mapping[str, int]) -> list[str]:
    """The mail kinds `template_ids` gives no default template for (start-up check)."""
    return sorted(kind for kind in mail_templates.KINDS if kind not in template_ids)


class SendPulseMailer:
    def __init__(
        self,
        settings: SendPulseSettings,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_seconds)
        self._clock = clock
        self._token: str | None = None
        self._token_expires_at = 0.0

    async def send(self, mail: ports.OutgoingMail) -> None:
        payload = self._payload(mail)
        await mail_retry.with_retries(
            lambda: self._post_email(payload),
            backoff=self._settings.backoff,
            mailer="sendpulse",
            kind=mail.kind,
        )

    async def close(self) -> None:
        await self._client.aclose()

    def _payload(self, mail: ports.OutgoingMail) -> dict[str, Any]:
        settings = self._settings
        rendered = mail_templates.render(mail)  # checks kind and variables like the others
        chosen = template_id(settings.template_ids, kind=mail.kind, locale=mail.locale)
        if chosen is None:
            raise ports.MailRejected(f"no SendPulse template id for mail kind {mail.kind!r}")
        name, address = email.utils.parseaddr(settings.sender)
        return {
            "email": {
                "subject": rendered.subject,
                "template": {"id": chosen, "variables": dict(mail.variables)},
                "from": {"name": name or address, "email": address},
                "to": [{"email": mail.to}],
            }
        }

    async def _post_email(self, payload: dict[str, Any]) -> None:
        response = await self._authorized_post("/smtp/emails", payload)
        if response.status_code == 401:  # revoked or expired early: one fresh token, once
            self._token = None
            response = await self._authorized_post("/smtp/emails", payload)
        _raise_for(response, what="send")

    async def _authorized_post(self, path: str, payload: dict[str, Any]) -> httpx.Response:
        token = await self._access_token()
        return await self._client.post(
            self._url(path), json=payload, headers={"Authorization": f"Bearer {token}"}
        )

    async def _access_token(self) -> str:
        if self._token is not None and self._clock() < self._token_expires_at:
            return self._token
        settings = self._settings
        started = self._clock()
        response = await self._client.post(
            self._url("/oauth/access_token"),
            json={
                "grant_type": "client_credentials",
                "client_id": settings.client_id,
                "client_secret": settings.client_secret,
            },
        )
        _raise_for(response, what="token")
        body = response.json()
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise SendPulseUnavailable(f"token endpoint answered without a token: {body!r}")
        lifetime = float(body.get("expires_in", 3600))
        self._token = token
        self._token_expires_at = started + max(lifetime - _EXPIRY_MARGIN_SECONDS, 0.0)
        return token

    def _url(self, path: str) -> str:
        return f"{self._settings.api_url.rstrip('/')}{path}"


def _raise_for(response: httpx.Response, *, what: str) -> None:
    status = response.status_code
    if status < 300:
        return
    detail = f"sendpulse {what}: HTTP {status}: {response.text[:300]}"
    if status == 429 or status >= 500:
        raise SendPulseUnavailable(detail)
    raise ports.MailRejected(detail)
