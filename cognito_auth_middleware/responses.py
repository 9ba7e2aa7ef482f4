"""The one table from exception to HTTP answer, used by both middlewares and the helpers.

Each exception class carries its row (``status_code``, ``code``, ``websocket_close_code``,
``retry_after``, ``public_message``: see :mod:`cognito_auth_middleware.exceptions`); this module
only renders it. The table, as the classes hold it (``tests/test_responses.py`` keeps the two in
step):

=========================  ======  ==========================  ===============
exception                  status  JSON ``error`` code          WebSocket close
=========================  ======  ==========================  ===============
MissingTokenError          401     ``missing_token``           1008
InvalidTokenError          401     ``invalid_token``           1008
ExpiredTokenError          401     ``expired_token``           1008
AccessDeniedError          403     ``access_denied``           1008
KeysUnavailableError       503     ``keys_unavailable``        1013
=========================  ======  ==========================  ===============

API clients get JSON (``{"error": code, "message": ..., "status": ...}``); browsers (``Accept``
naming ``text/html``) get a page in plain words for the app's users (from
:mod:`cognito_auth_middleware.pages`), or a redirect to ``redirect_url`` for a 401 when one is
configured. Every answer carries ``Cache-Control: no-store``; a 503 carries ``Retry-After``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from .exceptions import AuthenticationError
from .pages import Pages

__all__ = ["ErrorResponse", "error_response"]

logger = logging.getLogger("cognito_auth_middleware")

_BUILT_IN = Pages()


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A refusal, ready for either protocol."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    websocket_close_code: int


def error_response(
    exc: AuthenticationError,
    *,
    accept: str = "",
    redirect_url: str | None = None,
    path: str | bytes = "/",
    pages: Pages = _BUILT_IN,
) -> ErrorResponse:
    """Map a refusal to its HTTP answer, and log it once for the operator.

    Args:
        exc: The refusal.
        accept: The request's ``Accept`` header, to choose HTML or JSON.
        redirect_url: Where browsers go on a 401, if configured.
        path: The request's path as the browser sent it, which the page links to.
        pages: The app's pages (:meth:`Pages.from_settings`); the built-in ones by default.
    """
    status = exc.status_code
    log = logger.warning if status == 503 else logger.info
    log(
        "request refused with %d (%s, token %s): %s",
        status,
        exc.code,
        exc.fingerprint or "-",
        exc.message,
    )
    headers = [("cache-control", "no-store")]
    if exc.retry_after is not None:
        headers.append(("retry-after", str(exc.retry_after)))
    close_code = exc.websocket_close_code
    wants_html = "text/html" in accept
    if wants_html and redirect_url is not None and status == 401:
        headers.append(("location", redirect_url))
        headers.append(("content-length", "0"))
        return ErrorResponse(302, headers, b"", close_code)
    if wants_html:
        body, content_type = pages.html(exc, path), "text/html; charset=utf-8"
    else:
        payload = {"error": exc.code, "message": exc.public_message, "status": status}
        body, content_type = json.dumps(payload).encode(), "application/json"
    headers += [("content-type", content_type), ("content-length", str(len(body)))]
    return ErrorResponse(status, headers, body, close_code)
