"""A `Mailer` that sends through SendPulse's SMTP service HTTP API, each kind with a template
kept in SendPulse (its id from config) and the mail's variables filled in there.

API shape, as SendPulse documents it and its official clients use it:
- `POST {api}/oauth/access_token` with JSON `{"grant_type": "client_credentials", "client_id",
  "client_secret"}` answers `{"access_token", "token_type": "Bearer", "expires_in"}` (seconds,
  3600 by default); bad credentials answer 401 `{"error": "invalid_client",
  "error_description", "message"}`. The token goes in `Authorization: Bearer <token>`.
- `POST {api}/smtp/emails` with JSON `{"email": {"subject", "template": {"id", "variables"},
  "from": {"name", "email"}, "to": [{"email"}]}}` answers `{"result": true, "id": "<email id>"}`;
  an error answers `{"error_code", "message"}` (or `{"result": false, ...}`), a spent token 401.
Sources: https://sendpulse.com/integrations/api (authorization, error codes) and
https://sendpulse.com/integrations/api/smtp ("Sending an email", the "system template with
custom variables" example); the official clients github.com/sendpulse/sendpulse-rest-api-php
(`src/Auth/TokenManager.php`, `src/Generated/Operation/Smtp/SendSmtpEmail.php`: JSON body,
`src/Generated/Model/Smtp/SentEmail.php`: `result`, `id`; `src/Client.php`: one retry with a
fresh token on 401; `src/Response/ResponseValidator.php`: 401, 403, 429, other), and
sendpulse-rest-api-node.js (`api/sendpulse.js`: JSON token request, `invalid_client` on 401).
The legacy python/node clients post `email` as a serialized string; the JSON object above is
what the documentation and the current PHP client send.

The token is cached until shortly before it expires and fetched again on a 401. A 429, a 5xx or
a connection error is retried with backoff; any other 4xx, or a 2xx without `"result": true`,
is permanent (`ports.MailRejected`) and carries SendPulse's `message`. The subject comes from
our own subject template, so every mailer says the same in every locale."""

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
        body = _json(response)
        if not isinstance(body, dict) or body.get("result") is not True:
            # A 2xx that does not say the mail was taken: SendPulse did not send it.
            raise ports.MailRejected(f"sendpulse send: not accepted: {_explain(response)}")

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
    detail = f"sendpulse {what}: HTTP {status}: {_explain(response)}"
    if status == 429 or status >= 500:
        raise SendPulseUnavailable(detail)
    raise ports.MailRejected(detail)


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _explain(response: httpx.Response) -> str:
    """SendPulse's own words: `error_code` and `message` (API errors), `error` and
    `error_description` (OAuth errors); the raw body when it is not that JSON."""
    body = _json(response)
    if isinstance(body, dict):
        code = body.get("error_code", body.get("error"))
        message = body.get("message") or body.get("error_description")
        if code is not None or message:
            return f"{message or ''} (error {code})" if code is not None else str(message)
    return response.text[:300]
