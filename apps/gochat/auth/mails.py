"""The mails the auth service sends. Each carries the link for people and a `Token:` line that
tests and API clients without a browser can read."""

from __future__ import annotations

from urllib.parse import urlencode

from gochat import ports


def confirmation(*, to: str, username: str, public_url: str, token: str) -> ports.OutgoingMail:
    link = _link(public_url, "confirm-email", token)
    text = (
        f"Hello {username},\n\n"
        "Confirm your e-mail address for GoChat by opening this link:\n\n"
        f"{link}\n\n"
        "If you did not create this account, ignore this mail.\n\n"
        f"Token: {token}\n"
    )
    return ports.OutgoingMail(
        to=to, subject="Confirm your GoChat e-mail address", text=text, kind="confirm_email"
    )


def password_reset(*, to: str, username: str, public_url: str, token: str) -> ports.OutgoingMail:
    link = _link(public_url, "reset-password", token)
    text = (
        f"Hello {username},\n\n"
        "Someone asked to reset your GoChat password. To choose a new one, open this link:\n\n"
        f"{link}\n\n"
        "If it was not you, ignore this mail: your password stays as it is.\n\n"
        f"Token: {token}\n"
    )
    return ports.OutgoingMail(
        to=to, subject="Reset your GoChat password", text=text, kind="reset_password"
    )


def _link(public_url: str, page: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/{page}?{urlencode({'token': token})}"
