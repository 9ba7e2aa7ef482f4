"""The one table from exception to HTTP answer, used by both middlewares.

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
naming ``text/html``) get a small HTML page, or a redirect to ``redirect_url`` for a 401 when one
is configured. Every answer carries ``Cache-Control: no-store``; a 503 carries ``Retry-After``.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass

from .exceptions import (
    AccessDeniedError,
    AuthenticationError,
    ExpiredTokenError,
    KeysUnavailableError,
    MissingTokenError,
)

__all__ = ["ErrorResponse", "error_response"]

logger = logging.getLogger("cognito_auth_middleware")

WS_POLICY_VIOLATION = 1008
WS_TRY_AGAIN_LATER = 1013

_TITLES = {401: "Sign-in required", 403: "Access denied", 503: "Service unavailable"}


def _public_message(exc: AuthenticationError, status: int) -> str:
    # What a client is told. The detailed reason (which may name an ALB ARN, an account or a
    # key URL) goes to the log and stays on the exception; clients learn what they can act on.
    if isinstance(exc, ExpiredTokenError):
        return "The sign-in session has expired; sign in again."
    if status == 403:
        return "You are signed in but not allowed to use this application."
    if status == 503:
        return "Sign-in cannot be verified right now; try again shortly."
    return "The sign-in token is not valid for this application."


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A refusal, ready for either protocol."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    websocket_close_code: int


def _status(exc: AuthenticationError) -> int:
    if isinstance(exc, AccessDeniedError):
        return 403
    if isinstance(exc, KeysUnavailableError):
        return 503
    return 401


def _html_page(status: int, message: str) -> bytes:
    title = _TITLES[status]
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{status} {title}</title>"
        "<body style='font-family:system-ui,sans-serif;max-width:40em;margin:4em auto'>"
        f"<h1>{title}</h1><p>{html.escape(message)}</p></body></html>"
    ).encode()


def error_response(
    exc: AuthenticationError, *, accept: str = "", redirect_url: str | None = None
) -> ErrorResponse:
    """Map a refusal to its HTTP answer, and log it once for the operator.

    Args:
        exc: The refusal.
        accept: The request's ``Accept`` header, to choose HTML or JSON.
        redirect_url: Where browsers go on a 401, if configured.
    """
    status = _status(exc)
    log = logger.warning if status == 503 else logger.info
    log(
        "request refused with %d (%s, token %s): %s",
        status,
        exc.code,
        exc.fingerprint or "-",
        exc.message,
    )
    headers = [("cache-control", "no-store")]
    if isinstance(exc, KeysUnavailableError):
        headers.append(("retry-after", str(exc.retry_after)))
    close_code = WS_TRY_AGAIN_LATER if status == 503 else WS_POLICY_VIOLATION
    wants_html = "text/html" in accept
    if wants_html and redirect_url is not None and status == 401:
        headers.append(("location", redirect_url))
        headers.append(("content-length", "0"))
        return ErrorResponse(302, headers, b"", close_code)
    message = exc.message if isinstance(exc, MissingTokenError) else _public_message(exc, status)
    if wants_html:
        body, content_type = _html_page(status, message), "text/html; charset=utf-8"
    else:
        payload = {"error": exc.code, "message": message, "status": status}
        body, content_type = json.dumps(payload).encode(), "application/json"
    headers += [("content-type", content_type), ("content-length", str(len(body)))]
    return ErrorResponse(status, headers, body, close_code)
