"""The ALB's identity headers, read from an ASGI scope or a WSGI environ."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cognito_auth_middleware.exceptions import InvalidTokenError

__all__ = [
    "ACCESS_TOKEN",
    "CLAIMS_HEADERS",
    "IDENTITY",
    "OIDC_DATA",
    "VERIFIED_ACCESS_CONTEXT",
    "AlbHeaders",
    "HeaderReader",
    "bearer_from_asgi",
    "bearer_from_environ",
    "from_asgi",
    "from_environ",
]

OIDC_DATA = "x-amzn-oidc-data"
ACCESS_TOKEN = "x-amzn-oidc-accesstoken"  # noqa: S105 (a header name)
IDENTITY = "x-amzn-oidc-identity"
VERIFIED_ACCESS_CONTEXT = "x-amzn-ava-user-context"
#: The header carrying the signed user claims, per ``provider`` setting.
CLAIMS_HEADERS = {"alb": OIDC_DATA, "verified-access": VERIFIED_ACCESS_CONTEXT}

AlbHeaders = tuple[str | None, str | None, str | None]


class HeaderReader:
    """Reads one provider's identity headers from an ASGI scope or a WSGI environ.

    For the ALB: ``(x-amzn-oidc-data, x-amzn-oidc-accesstoken, x-amzn-oidc-identity)``; for
    Verified Access: ``(x-amzn-ava-user-context, None, None)``. Any other header is ignored.

    Args:
        provider: The ``provider`` setting (``alb`` or ``verified-access``).
    """

    __slots__ = ("_asgi_names", "_environ_keys", "names")

    def __init__(self, provider: str = "alb") -> None:
        names = (
            (OIDC_DATA, ACCESS_TOKEN, IDENTITY)
            if provider == "alb"
            else (CLAIMS_HEADERS[provider],)
        )
        #: The header names read, in the order of the values returned.
        self.names = names
        self._asgi_names = {name.encode(): index for index, name in enumerate(names)}
        self._environ_keys = tuple("HTTP_" + name.upper().replace("-", "_") for name in names)

    def from_asgi(self, raw_headers: Iterable[tuple[bytes, bytes]]) -> tuple[AlbHeaders, str]:
        """The identity headers and the ``Accept`` value from ASGI headers.

        Raises:
            InvalidTokenError: an identity header appears more than once (the ALB sends each
                once and strips any a client sent, so a duplicate means something is wrong).
        """
        found: list[str | None] = [None, None, None]
        accept = ""
        names = self._asgi_names
        for name, value in raw_headers:
            index = names.get(name)
            if index is not None:
                if found[index] is not None:
                    raise InvalidTokenError(f"the {name.decode()} header appears more than once")
                found[index] = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
        return (found[0], found[1], found[2]), accept

    def from_environ(self, environ: Mapping[str, Any]) -> tuple[AlbHeaders, str]:
        """The identity headers and the ``Accept`` value from a WSGI environ.

        WSGI servers join repeated headers with commas, which no valid token contains, so a
        duplicate fails token parsing instead.
        """
        found = [environ.get(key) for key in self._environ_keys] + [None, None]
        return (found[0], found[1], found[2]), environ.get("HTTP_ACCEPT", "")


def _bearer(value: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value; ``None`` for another scheme."""
    scheme, _, token = value.strip(" ").partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip(" ")
    if not token:
        raise InvalidTokenError("the Authorization header names no bearer token")
    return token


def bearer_from_asgi(raw_headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The bearer token of the ``Authorization`` header, if it carries one.

    Raises:
        InvalidTokenError: the header appears more than once, or names an empty token.
    """
    found = [value for name, value in raw_headers if name == b"authorization"]
    if len(found) > 1:
        raise InvalidTokenError("the authorization header appears more than once")
    return _bearer(found[0].decode("latin-1")) if found else None


def bearer_from_environ(environ: Mapping[str, Any]) -> str | None:
    """The bearer token of a WSGI environ's ``Authorization`` header, if it carries one.

    Raises:
        InvalidTokenError: the header names an empty token (a repeated header, joined with a
            comma by the server, fails token parsing instead).
    """
    value = environ.get("HTTP_AUTHORIZATION")
    return _bearer(value) if isinstance(value, str) else None


_ALB = HeaderReader()
#: The ALB's headers from ASGI headers (see :meth:`HeaderReader.from_asgi`).
from_asgi = _ALB.from_asgi
#: The ALB's headers from a WSGI environ (see :meth:`HeaderReader.from_environ`).
from_environ = _ALB.from_environ
