"""Mail templates: every kind renders a subject, a text body and an escaped HTML body; an unknown
kind or a missing variable is an error at render; locales fall back to the language, then en."""

from __future__ import annotations

import email.message
from pathlib import Path

import pytest

from gochat import ports
from gochat.adapters import email_message, mail_templates
from gochat.api.services import notifications
from gochat.auth import mails

HOSTILE = 'Ada <script>alert("x")</script> & co'


def every_kind() -> list[ports.OutgoingMail]:
    common = {"to": "ada@example.com", "username": HOSTILE}
    return [
        mails.confirmation(**common, public_url="https://chat.example", token="tok-1"),
        mails.password_reset(**common, public_url="https://chat.example", token="tok-2"),
        notifications.notification(
            **common,
            title="New mention in #general",
            body="bob: <b>hi</b> & welcome",
            link="https://chat.example/channels/1?m=2&x=3",
        ),
    ]


def test_every_kind_has_a_template() -> None:
    assert {mail.kind for mail in every_kind()} == mail_templates.KINDS


@pytest.mark.parametrize("mail", every_kind(), ids=lambda mail: mail.kind)
def test_html_escapes_every_variable_and_the_text_version_keeps_them_verbatim(
    mail: ports.OutgoingMail,
) -> None:
    rendered = mail_templates.render(mail)

    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.locale == "en"
    assert f"Hello {HOSTILE}," in rendered.text
    assert "<script>" not in rendered.html
    assert "Ada &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in rendered.html
    assert rendered.html.lstrip().startswith("<!DOCTYPE html>")
    link = mail.variables["link"]
    assert link in rendered.text
    assert f'href="{link.replace("&", "&amp;")}"' in rendered.html


@pytest.mark.parametrize(
    ("mail", "subject", "text_lines"),
    [
        (
            every_kind()[0],
            "Confirm your GoChat e-mail address",
            ["https://chat.example/confirm-email?token=tok-1", "Token: tok-1"],
        ),
        (
            every_kind()[1],
            "Reset your GoChat password",
            ["https://chat.example/reset-password?token=tok-2", "Token: tok-2"],
        ),
        (
            every_kind()[2],
            "New mention in #general",
            ["bob: <b>hi</b> & welcome", "Open GoChat: https://chat.example/channels/1?m=2&x=3"],
        ),
    ],
    ids=["confirm_email", "reset_password", "notification"],
)
def test_each_kind_renders_its_subject_and_text(
    mail: ports.OutgoingMail, subject: str, text_lines: list[str]
) -> None:
    rendered = mail_templates.render(mail)

    assert rendered.subject == subject
    lines = rendered.text.splitlines()
    for line in text_lines:
        assert line in lines
    assert rendered.text.endswith("\n")


def test_notification_body_is_escaped_in_html() -> None:
    rendered = mail_templates.render(every_kind()[2])

    assert "bob: &lt;b&gt;hi&lt;/b&gt; &amp; welcome" in rendered.html
    assert "<b>hi</b>" not in rendered.html


def test_an_unknown_kind_is_an_error_at_render() -> None:
    mail = ports.OutgoingMail(to="a@example.com", kind="welcome", variables={"username": "a"})

    with pytest.raises(mail_templates.UnknownMailKind, match="'welcome'") as caught:
        mail_templates.render(mail)
    assert isinstance(caught.value, ports.MailRejected)


def test_a_missing_variable_is_an_error_at_render_not_an_empty_string() -> None:
    mail = ports.OutgoingMail(
        to="a@example.com",
        kind="confirm_email",
        variables={"username": "ada", "link": "https://chat.example/x"},  # no token
    )

    with pytest.raises(mail_templates.MissingMailVariable, match="token") as caught:
        mail_templates.render(mail)
    assert isinstance(caught.value, ports.MailRejected)


def test_a_line_break_in_a_variable_cannot_add_a_subject_line() -> None:
    mail = notifications.notification(
        to="a@example.com", username="a", title="Hi\r\nBcc: x@evil", body="b", link="l"
    )

    assert mail_templates.render(mail).subject == "Hi Bcc: x@evil"


@pytest.mark.parametrize(
    ("asked", "used"),
    [
        ("en", "en"),
        ("EN_us", "en"),
        ("fr", "en"),  # no French templates shipped: English
        ("../../etc", "en"),  # never a path
        ("", "en"),
    ],
)
def test_shipped_locales_fall_back_to_english(asked: str, used: str) -> None:
    mail = mails.confirmation(
        to="a@example.com", username="a", public_url="http://x", token="t", locale=asked
    )

    assert mail_templates.render(mail).locale == used


def test_a_locale_falls_back_to_its_language_then_to_english(tmp_path: Path) -> None:
    shipped = Path(mail_templates.__file__).parent / "en"
    for locale in ("en", "pt"):
        (tmp_path / locale).mkdir()
        for source in shipped.iterdir():
            (tmp_path / locale / source.name).write_text(source.read_text())
    (tmp_path / "pt" / "confirm_email.subject.txt").write_text("Confirme o seu e-mail\n")
    templates = mail_templates.MailTemplates(tmp_path)

    def subject(locale: str) -> str:
        mail = mails.confirmation(
            to="a@example.com", username="a", public_url="http://x", token="t", locale=locale
        )
        return templates.render(mail).subject

    assert subject("pt-BR") == subject("pt_br") == subject("pt") == "Confirme o seu e-mail"
    assert subject("de-DE") == "Confirm your GoChat e-mail address"


def test_a_translation_lacking_a_kind_falls_back_to_english_for_that_kind(
    tmp_path: Path,
) -> None:
    shipped = Path(mail_templates.__file__).parent / "en"
    (tmp_path / "en").mkdir()
    (tmp_path / "fr").mkdir()
    for source in shipped.iterdir():
        (tmp_path / "en" / source.name).write_text(source.read_text())
        if source.name.startswith("confirm_email"):
            (tmp_path / "fr" / source.name).write_text(source.read_text())
    (tmp_path / "fr" / "confirm_email.subject.txt").write_text("Confirmez votre adresse\n")
    templates = mail_templates.MailTemplates(tmp_path)
    confirm = mails.confirmation(
        to="a@example.com", username="a", public_url="http://x", token="t", locale="fr"
    )
    reset = mails.password_reset(
        to="a@example.com", username="a", public_url="http://x", token="t", locale="fr"
    )

    assert templates.render(confirm).subject == "Confirmez votre adresse"
    assert templates.render(reset).locale == "en"


def test_the_message_carries_the_text_and_its_html_alternative() -> None:
    message = email_message.build(every_kind()[0], sender="GoChat <no-reply@gochat.test>")

    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Confirm your GoChat e-mail address"
    assert message["Content-Language"] == "en"
    assert message["X-GoChat-Kind"] == "confirm_email"
    plain, html = (message.get_body((kind,)) for kind in ("plain", "html"))
    assert isinstance(plain, email.message.EmailMessage)
    assert isinstance(html, email.message.EmailMessage)
    assert "Token: tok-1" in plain.get_content()
    assert "&lt;script&gt;" in html.get_content()
