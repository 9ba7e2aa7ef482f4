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

Every exception carries its HTTP answer, as werkzeug's HTTP exceptions do: ``status_code``,
a stable machine-readable ``code`` (the JSON ``error``), ``websocket_close_code``, and
``retry_after`` (seconds, for a 503; ``None`` otherwise). :mod:`cognito_auth_middleware.responses`
reads them; there is no other table. Each also has a human ``message`` for the log, which names
what was expected and what was found for configuration values (an issuer, a signer ARN, a client
id) but never contains a token or a claim set, and a ``public_message`` for the client, which
tells it only what it can act on.
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

    #: The HTTP status of the refusal.
    status_code = 401
    #: The JSON body's ``error``: stable, machine-readable.
    code = "authentication_failed"
    #: The code a WebSocket handshake is closed with (1008: policy violation).
    websocket_close_code = 1008
    #: Seconds after which a retry may succeed (the ``Retry-After`` header), if it may.
    retry_after: int | None = None
    #: What a client is told; the detailed reason (which may name an ALB ARN, an account or a
    #: key URL) stays in :attr:`message`, for the log.
    client_message = "The sign-in token is not valid for this application."
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

    @property
    def public_message(self) -> str:
        """What the client is told (never contains token text or configuration values)."""
        return self.client_message


class MissingTokenError(AuthenticationError):
    """Raised when a required Cognito / ALB header is missing from the request.

    Common causes: the application is not behind an ALB with OIDC authentication enabled, the
    headers are not forwarded by the load balancer or a proxy in front of the app, or a local run
    without dev mode.
    """

    code = "missing_token"

    @property
    def public_message(self) -> str:
        """The message itself: it names the missing header, which helps whoever set up the app."""
        return self.message


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
    client_message = "The sign-in session has expired; sign in again."


class AccessDeniedError(AuthenticationError):
    """Raised when the user is authenticated but is not allowed in (HTTP 403).

    The tokens are valid, but the authorisation policy does not admit the user (see
    :class:`~cognito_auth_middleware.core.policy.Policy`: ``allowed_groups``,
    ``allowed_users``, ``require_all``, ``required_groups``). Signing in again does not help.
    """

    status_code = 403
    code = "access_denied"
    client_message = "You are signed in but not allowed to use this application."


class KeysUnavailableError(AuthenticationError):
    """Raised when the signing keys needed to verify a token cannot be obtained (HTTP 503).

    The ALB public-key endpoint or the Cognito JWKS endpoint was unreachable, timed out, answered
    with a server error or with something that is not a key. Nothing is cached for the failure
    beyond a short back-off, so a later request tries again; clients receive ``Retry-After``.
    """

    status_code = 503
    code = "keys_unavailable"
    websocket_close_code = 1013  # try again later
    client_message = "Sign-in cannot be verified right now; try again shortly."

    def __init__(self, message: str, *, retry_after: int = 5, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after: int = retry_after


class ConfigurationError(ValueError):
    """Raised at start-up when the settings are missing or inconsistent.

    The message names the keyword and its ``COGNITO_AUTH_`` environment variable.
    """
