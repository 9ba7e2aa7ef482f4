"""What a person sees when refused: the words, the HTML page, and the app's own template.

The refusal pages are read by the app's users, not its developers, so they say what happened
and what to do, in plain words, and nothing else: the technical reason stays in the log line
(with the token's fingerprint) and in the JSON ``message`` API clients get. One table holds the
words, for the HTML pages and for Streamlit's ``require_user``:

===================  ==================================  ====================================
refusal              title                               action
===================  ==================================  ====================================
401 missing/invalid  You are not signed in               Reload the page to sign in again
401 expired          Your session has expired            Reload the page to sign in again
403                  You don't have access to this app   Ask for access (``support_contact``)
503                  Sign-in is temporarily unavailable  Try again in a minute
===================  ==================================  ====================================

(The notices below hold the full texts; ``tests/test_pages.py`` keeps this table in step.)

On a 401 and a 503 the action is a link to the request's own path, which reloads the page
through the ALB (and the ALB signs the user in); on a 403 the ``support_contact``, if set, is
a ``mailto:`` or ``https`` link. Pages need no JavaScript and carry no token, header name or
configuration value other than ``support_contact``.

``error_template`` replaces the built-in page with an HTML file of the app's, read once when
a middleware is built, whose ``$status``, ``$title``, ``$message``, ``$action`` and ``$link``
are substituted HTML-escaped (``$$`` is a literal ``$``).
"""

from __future__ import annotations

import html
import string
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .exceptions import AuthenticationError, ConfigurationError, ExpiredTokenError
from .settings import Settings

__all__ = [
    "DENIED",
    "EXPIRED",
    "NOT_SIGNED_IN",
    "PLACEHOLDERS",
    "UNAVAILABLE",
    "Notice",
    "Pages",
    "notice_for",
    "reload_link",
]

#: The placeholders an ``error_template`` may use.
PLACEHOLDERS = frozenset({"status", "title", "message", "action", "link"})
#: The largest ``error_template`` accepted, in bytes: a refusal page is sent often, and small.
MAX_TEMPLATE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Notice:
    """What a refused person is told: a title, what happened, and what to do."""

    title: str
    message: str
    action: str

    def text(self) -> str:
        """The notice as one plain-text paragraph.

        Example:
            >>> UNAVAILABLE.text()[-47:]
            'your sign-in right now. Try again in a minute.'
        """
        return f"{self.title}. {self.message} {self.action}."


NOT_SIGNED_IN = Notice(
    "You are not signed in",
    "You need to be signed in to use this app.",
    "Reload the page to sign in again",
)
EXPIRED = Notice(
    "Your session has expired",
    "Sign-ins last a limited time, and yours has ended.",
    "Reload the page to sign in again",
)
DENIED = Notice(
    "You don't have access to this app",
    "You are signed in, but your account has not been given access to this app.",
    "Ask the people who run this app for access",
)
UNAVAILABLE = Notice(
    "Sign-in is temporarily unavailable",
    "This app cannot check your sign-in right now.",
    "Try again in a minute",
)
# The 403 action when there is a support_contact to name.
_ASK = "Ask for access"


def notice_for(exc: AuthenticationError) -> Notice:
    """The notice for a refusal, by its status (and, for a 401, whether it expired)."""
    if exc.status_code == 403:
        return DENIED
    if exc.status_code >= 500:
        return UNAVAILABLE
    return EXPIRED if isinstance(exc, ExpiredTokenError) else NOT_SIGNED_IN


def reload_link(path: str | bytes) -> str:
    """A link to the request's own path on the same site, to reload it through the ALB.

    Only the path: the query is dropped, and no scheme or host is written, so a forged ``Host``
    cannot send the user elsewhere. The path is percent-encoded, and leading slashes collapse to
    one, so ``//evil.example/`` (which a browser reads as another host) stays on this site.

    Args:
        path: The path as the browser sent it (a WSGI path as its latin-1 ``bytes``).

    Example:
        >>> reload_link("//evil.example/a b"), reload_link('/"><script>')
        ('/evil.example/a%20b', '/%22%3E%3Cscript%3E')
    """
    quoted = quote(path, safe="/-._~!$()*+,;=:@")
    return "/" + quoted.lstrip("/")


def _contact_link(contact: str) -> str:
    return contact if contact.startswith("https://") else f"mailto:{contact}"


_PAGE = string.Template(
    "<!doctype html><html lang=en><meta charset=utf-8>"
    "<meta name=viewport content='width=device-width,initial-scale=1'>"
    "<title>$title</title>"
    "<body style='font:1.1em/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff;"
    "max-width:36em;margin:3em auto;padding:0 1em'>"
    "<main><h1 style='font-size:1.6em'>$title</h1><p>$message</p><p>$action</p></main>"
    "</body></html>"
)


@dataclass(frozen=True, slots=True)
class Pages:
    """The refusal pages of one app: the built-in ones, or its ``error_template``.

    Args:
        support_contact: Named on the 403 page (already validated by :class:`Settings`).
        template: The app's template, or ``None`` for the built-in page.

    Example:
        >>> page = Pages().html(ExpiredTokenError("exp in the past"), "/reports")
        >>> b"<h1 style='font-size:1.6em'>Your session has expired</h1>" in page
        True
    """

    support_contact: str | None = None
    template: string.Template | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Pages:
        """The pages ``settings`` ask for, reading ``error_template`` once.

        Raises:
            ConfigurationError: the template cannot be read, is not UTF-8, is larger than
                64 KiB, or has a placeholder other than :data:`PLACEHOLDERS` (or a stray ``$``).
        """
        template = None
        if settings.error_template is not None:
            template = _read_template(settings.error_template)
        return cls(settings.support_contact, template)

    def text(self, exc: AuthenticationError) -> str:
        """The refusal in plain words, as one paragraph (for Streamlit's ``st.error``)."""
        notice = notice_for(exc)
        if notice is DENIED and self.support_contact:
            return f"{notice.title}. {notice.message} {_ASK}: {self.support_contact}"
        return notice.text()

    def html(self, exc: AuthenticationError, path: str | bytes) -> bytes:
        """The refusal page for a browser that asked for ``path``."""
        notice = notice_for(exc)
        action, link = notice.action, ""
        if notice is DENIED and self.support_contact:
            action, link = f"{_ASK}: {self.support_contact}", _contact_link(self.support_contact)
        elif notice is not DENIED:
            link = reload_link(path)
        if self.template is not None:
            values = {
                "status": str(exc.status_code),
                "title": notice.title,
                "message": notice.message,
                "action": action,
                "link": link,
            }
            escaped = {name: html.escape(value) for name, value in values.items()}
            return self.template.substitute(escaped).encode()
        if notice is DENIED and self.support_contact:
            shown = (
                f"{html.escape(_ASK)}: <a href='{html.escape(link)}'>"
                f"{html.escape(self.support_contact)}</a>"
            )
        elif link:
            shown = f"<a href='{html.escape(link)}'>{html.escape(action)}</a>"
        else:
            shown = html.escape(action) + "."
        page = _PAGE.substitute(
            title=html.escape(notice.title), message=html.escape(notice.message), action=shown
        )
        return page.encode()


def _read_template(path: str) -> string.Template:
    where = f"error_template (COGNITO_AUTH_ERROR_TEMPLATE) {path!r}"
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(f"{where} cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_TEMPLATE_BYTES:
        raise ConfigurationError(f"{where} is larger than {MAX_TEMPLATE_BYTES} bytes")
    try:
        template = string.Template(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigurationError(f"{where} is not UTF-8 text") from None
    if not template.is_valid():
        raise ConfigurationError(
            f"{where} has a '$' that starts no placeholder: write $$ for a literal '$'"
        )
    unknown = sorted(set(template.get_identifiers()) - PLACEHOLDERS)
    if unknown:
        raise ConfigurationError(
            f"{where} uses unknown placeholder(s) {', '.join('$' + name for name in unknown)} "
            f"(known: {', '.join('$' + name for name in sorted(PLACEHOLDERS))})"
        )
    return template
