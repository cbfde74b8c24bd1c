"""The mails the auth service sends, as template kinds and variables (the templates live in
`gochat.adapters.mail_templates`; the notification mail is the API's, built in
`gochat.api.services.notifications`). Each carries a link for people and a token that the text
version shows on a `Token:` line for tests and API clients without a browser."""

from __future__ import annotations

from urllib.parse import urlencode

from gochat import ports
from gochat.adapters import mail_templates


def confirmation(
    *, to: str, username: str, public_url: str, token: str, locale: str = "en"
) -> ports.OutgoingMail:
    return ports.OutgoingMail(
        to=to,
        kind=mail_templates.CONFIRM_EMAIL,
        variables={
            "username": username,
            "link": _link(public_url, "confirm-email", token),
            "token": token,
        },
        locale=locale,
    )


def password_reset(
    *, to: str, username: str, public_url: str, token: str, locale: str = "en"
) -> ports.OutgoingMail:
    return ports.OutgoingMail(
        to=to,
        kind=mail_templates.RESET_PASSWORD,
        variables={
            "username": username,
            "link": _link(public_url, "reset-password", token),
            "token": token,
        },
        locale=locale,
    )


def _link(public_url: str, page: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/{page}?{urlencode({'token': token})}"
