"""The mail templates: for each kind a subject, a plain-text body and an HTML body per locale,
rendered with Jinja2 (HTML autoescaped; a variable the template uses but the mail lacks is an
error, never an empty string).

Files live beside this module as `<locale>/<kind>.subject.txt`, `<kind>.txt` and `<kind>.html`.
Locale fallback: the mail's locale as given (`pt-br`, case and `_` normalized), then its
language (`pt`), then `en`. Every kind exists in `en`, so any locale renders.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from gochat import ports

CONFIRM_EMAIL = "confirm_email"
RESET_PASSWORD = "reset_password"
NOTIFICATION = "notification"
KINDS = frozenset({CONFIRM_EMAIL, RESET_PASSWORD, NOTIFICATION})
DEFAULT_LOCALE = "en"
_DIRECTORY = Path(__file__).parent
_SUFFIXES = (".subject.txt", ".txt", ".html")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


class TemplateError(ports.MailRejected):
    """The mail cannot be rendered; sending it again cannot help."""


class UnknownMailKind(TemplateError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"no mail template for kind {kind!r} (known: {', '.join(sorted(KINDS))})")
        self.kind = kind


class MissingMailVariable(TemplateError):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"mail {kind!r} lacks a variable its template uses: {detail}")
        self.kind = kind


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str
    locale: str  # the locale whose files were used, after fallback


class MailTemplates:
    """Renders `ports.OutgoingMail`s from a folder of templates (this package's by default)."""

    def __init__(self, directory: str | Path = _DIRECTORY) -> None:
        self._directory = Path(directory)
        loader = jinja2.FileSystemLoader(self._directory)
        common = {"loader": loader, "undefined": jinja2.StrictUndefined}
        self._html = jinja2.Environment(autoescape=True, **common)  # type: ignore[arg-type]
        self._text = jinja2.Environment(
            autoescape=False,
            keep_trailing_newline=True,
            **common,  # type: ignore[arg-type]
        )

    def resolve_locale(self, locale: str, *, kind: str = CONFIRM_EMAIL) -> str:
        """The locale whose templates of `kind` render `locale`: itself, its language, else
        `en` (a translation lacking this kind's files falls back too)."""
        wanted = locale.strip().lower().replace("_", "-")
        if _LOCALE.match(wanted):
            for candidate in (wanted, wanted.partition("-")[0]):
                folder = self._directory / candidate
                if all((folder / f"{kind}{suffix}").is_file() for suffix in _SUFFIXES):
                    return candidate
        return DEFAULT_LOCALE

    def render(self, mail: ports.OutgoingMail) -> RenderedMail:
        """Raises UnknownMailKind or MissingMailVariable (both MailRejected)."""
        if mail.kind not in KINDS:
            raise UnknownMailKind(mail.kind)
        locale = self.resolve_locale(mail.locale, kind=mail.kind)
        variables = dict(mail.variables)
        try:
            subject = self._text.get_template(f"{locale}/{mail.kind}.subject.txt")
            text = self._text.get_template(f"{locale}/{mail.kind}.txt")
            html = self._html.get_template(f"{locale}/{mail.kind}.html")
            return RenderedMail(
                # One line: a variable with a line break must not add a header.
                subject=" ".join(subject.render(variables).split()),
                text=text.render(variables),
                html=html.render(variables),
                locale=locale,
            )
        except jinja2.UndefinedError as exc:
            raise MissingMailVariable(mail.kind, str(exc)) from None


@functools.cache
def default() -> MailTemplates:
    """The templates shipped in this package (read once per process)."""
    return MailTemplates()


def render(mail: ports.OutgoingMail) -> RenderedMail:
    return default().render(mail)
