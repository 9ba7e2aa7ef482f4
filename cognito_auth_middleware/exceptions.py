"""Exceptions raised when a request's ALB identity headers cannot be trusted.

The hierarchy, with the HTTP status each family maps to::

    AuthenticationError                 base: catch this for any failure (401)
    ├── MissingTokenError               a required header is absent (401)
    ├── InvalidTokenError               malformed, forged, or from another ALB / pool (401)
    ├── ExpiredTokenError               ``exp`` is in the past, beyond the leeway (401)
    ├── AccessDeniedError               authenticated, but not in an allowed group / user (403)
    └── KeysUnavailableError            signing keys could not be fetched right now (503)

    ConfigurationError (ValueError)     the settings are wrong; raised at start-up only

``MissingTokenError``, ``InvalidTokenError`` and ``ExpiredTokenError`` derive directly from
``AuthenticationError``, as in the ``cognito-auth`` library this package replaces, so code written
against that library's documentation keeps working.

Every exception carries a stable machine-readable ``code`` (used in JSON error bodies) and a
human message. Messages name what was expected and what was found for configuration values (an
issuer, a signer ARN, a client id) but never contain a token or a claim set.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "ConfigurationError",
    "ExpiredTokenError",
    "InvalidTokenError",
    "KeysUnavailableError",
    "MissingTokenError",
]


class AuthenticationError(Exception):
    """Base exception for all authentication errors.

    Catch it to handle any failure to establish who the user is::

        from cognito_auth_middleware import User
        from cognito_auth_middleware.exceptions import AuthenticationError

        try:
            user = User(oidc_data_header=oidc, access_token_header=access, region="eu-west-2")
        except AuthenticationError as e:
            print(f"Authentication failed: {e}")
    """

    code = "authentication_failed"
    #: A short hash of the request's ``x-amzn-oidc-data`` (or access token), set by the engine,
    #: so an operator can correlate log lines without the credential being logged.
    fingerprint: str | None = None

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The human-readable reason (never contains token text)."""
        return str(self.args[0]) if self.args else ""


class MissingTokenError(AuthenticationError):
    """Raised when a required Cognito / ALB header is missing from the request.

    Common causes: the application is not behind an ALB with OIDC authentication enabled, the
    headers are not forwarded by the load balancer or a proxy in front of the app, or a local run
    without dev mode.
    """

    code = "missing_token"


class InvalidTokenError(AuthenticationError):
    """Raised when a token is malformed or fails verification.

    Common causes: the signature does not match the public key, the token is malformed or
    corrupted, or it was not issued by the expected ALB or Cognito user pool (wrong ``signer``,
    ``iss``, ``client``/``client_id``, or an ALB token paired with another user's access token).
    """

    code = "invalid_token"


class ExpiredTokenError(AuthenticationError):
    """Raised when a token's ``exp`` lies in the past (beyond the configured leeway).

    Common causes: the user's session has timed out, or the clocks of the app host and AWS
    disagree by more than the leeway. Redirecting the user to sign in again resolves it.
    """

    code = "expired_token"


class AccessDeniedError(AuthenticationError):
    """Raised when the user is authenticated but is not allowed in (HTTP 403).

    The tokens are valid, but the user is in none of ``allowed_groups`` (or not in all of them when
    ``require_all`` is set) and is not listed in ``allowed_users``. Signing in again does not help.
    """

    code = "access_denied"


class KeysUnavailableError(AuthenticationError):
    """Raised when the signing keys needed to verify a token cannot be obtained (HTTP 503).

    The ALB public-key endpoint or the Cognito JWKS endpoint was unreachable, timed out, answered
    with a server error or with something that is not a key. Nothing is cached for the failure
    beyond a short back-off, so a later request tries again; clients receive ``Retry-After``.
    """

    code = "keys_unavailable"

    def __init__(self, message: str, *, retry_after: int = 5, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ConfigurationError(ValueError):
    """Raised at start-up when the settings are missing or inconsistent.

    The message names the keyword and its ``COGNITO_AUTH_`` environment variable.
    """
