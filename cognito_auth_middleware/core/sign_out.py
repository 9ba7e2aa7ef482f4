"""Signing out of an app behind the ALB: end the ALB's session, then the user pool's.

The ALB keeps a signed-in browser's session in its own cookie, ``AWSELBAuthSessionCookie``
(the action's ``SessionCookieName``), split into shards ``-0``, ``-1``, ... when it is large,
and signs the user in again from it on every request; the user pool keeps a session of its own
too. So a sign-out must do both, as AWS documents it: expire every shard of the ALB's cookie in
the browser, and send the browser to the pool's logout endpoint,
``https://{domain}/logout?client_id=...&logout_uri=...``, which ends the pool's session and
redirects to ``logout_uri`` (a sign-out URL registered on the app client). Without the second
step the next request would be signed in again at once, silently, by the pool.

An expired cookie is sent for every shard the browser presented (and for ``-0`` always), with
the attributes the ALB gives its cookie (``Path=/``, ``Secure``, ``HttpOnly``, no ``Domain``),
so that the browser replaces and drops exactly that cookie. The ALB's cookie is not the app's to
revoke: a copy taken before the sign-out stays valid at the ALB until it expires (AWS advises a
short session timeout on the listener rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cognito_auth_middleware.exceptions import ConfigurationError
from cognito_auth_middleware.settings import Settings

__all__ = ["MAX_SHARDS", "SignOut"]

#: The most shards expired per request: the ALB splits a cookie of up to 16 KiB into 4 KiB
#: shards, so a handful are real; more in one Cookie header are not the ALB's.
MAX_SHARDS = 16
_EXPIRED = "=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; Secure; HttpOnly"


@dataclass(frozen=True, slots=True)
class SignOut:
    """The sign-out answer: a redirect to the pool's logout endpoint, expiring the ALB's cookie.

    Args:
        logout_url: The user pool's logout endpoint, with ``client_id`` and ``logout_uri``.
        cookie: The ALB's session cookie name, without the shard suffix.

    Example:
        >>> sign_out = SignOut("https://auth.example.com/logout?client_id=abc", "C")
        >>> [value for name, value in sign_out.headers("C-1=x; other=y") if name == "set-cookie"]
        ... # doctest: +NORMALIZE_WHITESPACE
        ['C-0=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; Secure; HttpOnly',
         'C-1=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; Secure; HttpOnly']
    """

    logout_url: str
    cookie: str

    #: The status of the answer: a redirect the browser follows with GET.
    status = 302

    @classmethod
    def from_settings(cls, settings: Settings) -> SignOut | None:
        """The sign-out the settings configure, or ``None`` without ``cognito_domain``."""
        url = settings.logout_url
        return None if url is None else cls(url, settings.session_cookie)

    @classmethod
    def required(cls, settings: Settings) -> SignOut:
        """The sign-out the settings configure, for a sign-out route of the app's own.

        Raises:
            ConfigurationError: ``cognito_domain`` and ``logout_uri`` are not set.
        """
        sign_out = cls.from_settings(settings)
        if sign_out is None:
            raise ConfigurationError(
                "a sign-out route needs cognito_domain (COGNITO_AUTH_COGNITO_DOMAIN) and "
                "logout_uri (COGNITO_AUTH_LOGOUT_URI)"
            )
        return sign_out

    def shards(self, cookie_header: str | None) -> list[str]:
        """The names of the ALB cookie's shards to expire: those sent, and ``-0`` always."""
        shard = re.compile(rf"{re.escape(self.cookie)}-(0|[1-9][0-9]?)")
        numbers = {0}
        for pair in (cookie_header or "").split(";"):
            match = shard.fullmatch(pair.partition("=")[0].strip())
            if match is not None and len(numbers) < MAX_SHARDS:
                numbers.add(int(match[1]))
        return [f"{self.cookie}-{number}" for number in sorted(numbers)]

    def headers(self, cookie_header: str | None) -> list[tuple[str, str]]:
        """The answer's headers for a request that sent ``cookie_header`` (``None``: none)."""
        expired = [("set-cookie", name + _EXPIRED) for name in self.shards(cookie_header)]
        return [
            ("location", self.logout_url),
            ("cache-control", "no-store"),
            *expired,
            ("content-length", "0"),
        ]
