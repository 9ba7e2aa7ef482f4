"""The ALB's identity headers, read from an ASGI scope or a WSGI environ."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cognito_auth_middleware.exceptions import InvalidTokenError

__all__ = ["ACCESS_TOKEN", "IDENTITY", "OIDC_DATA", "AlbHeaders", "from_asgi", "from_environ"]

OIDC_DATA = "x-amzn-oidc-data"
ACCESS_TOKEN = "x-amzn-oidc-accesstoken"  # noqa: S105 (a header name)
IDENTITY = "x-amzn-oidc-identity"

AlbHeaders = tuple[str | None, str | None, str | None]

_ASGI_NAMES = {
    name.encode(): index for index, name in enumerate((OIDC_DATA, ACCESS_TOKEN, IDENTITY))
}
_ENVIRON_KEYS = tuple(
    "HTTP_" + name.upper().replace("-", "_") for name in (OIDC_DATA, ACCESS_TOKEN, IDENTITY)
)


def from_asgi(raw_headers: Iterable[tuple[bytes, bytes]]) -> tuple[AlbHeaders, str]:
    """``(oidc_data, access_token, identity)`` and the ``Accept`` value from ASGI headers.

    Raises:
        InvalidTokenError: one of the three headers appears more than once (the ALB sends each
            once and strips any a client sent, so a duplicate means something is wrong).
    """
    found: list[str | None] = [None, None, None]
    accept = ""
    for name, value in raw_headers:
        index = _ASGI_NAMES.get(name)
        if index is not None:
            if found[index] is not None:
                raise InvalidTokenError(f"the {name.decode()} header appears more than once")
            found[index] = value.decode("latin-1")
        elif name == b"accept":
            accept = value.decode("latin-1")
    return (found[0], found[1], found[2]), accept


def from_environ(environ: Mapping[str, Any]) -> tuple[AlbHeaders, str]:
    """``(oidc_data, access_token, identity)`` and the ``Accept`` value from a WSGI environ.

    WSGI servers join repeated headers with commas, which no valid token contains, so a
    duplicate fails token parsing instead.
    """
    oidc, access, identity = (environ.get(key) for key in _ENVIRON_KEYS)
    return (oidc, access, identity), environ.get("HTTP_ACCEPT", "")
