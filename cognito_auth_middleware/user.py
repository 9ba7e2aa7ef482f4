"""The authenticated user, built only from claims whose signatures have been verified."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from .exceptions import InvalidTokenError

__all__ = ["User"]


def _optional_str(claims: Mapping[str, Any], name: str, label: str) -> str | None:
    value = claims.get(name)
    if value is None or isinstance(value, str):
        return value
    raise InvalidTokenError(f"{label}: claim {name!r} must be a string")


def _email_verified(value: object) -> bool:
    # Cognito's userinfo endpoint (which the ALB relays) sends the string "true".
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value is None:
        return False
    raise InvalidTokenError("ALB token: claim 'email_verified' must be a boolean")


def _groups(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(group, str) for group in value):
        return tuple(value)
    raise InvalidTokenError("access token: claim 'cognito:groups' must be a list of strings")


class User:
    """A user whose ALB and Cognito tokens have been verified.

    The middlewares put one at ``request.state.user`` (ASGI) and
    ``environ["cognito_auth.user"]`` (WSGI). It also satisfies Starlette's user protocol
    (``is_authenticated``, ``display_name``, ``identity``), so ``request.user`` works.

    The documented constructor of the ``cognito-auth`` library verifies headers directly::

        user = User(oidc_data_header=oidc, access_token_header=access, region="eu-west-2")

    It reads the rest of the configuration from keywords or ``COGNITO_AUTH_*`` variables and
    shares one verifier (and its key cache) per configuration across calls.

    Args:
        oidc_data_header: The ``x-amzn-oidc-data`` header value.
        access_token_header: The ``x-amzn-oidc-accesstoken`` header value.
        region: AWS region of the ALB and user pool (or set ``alb_arn`` / ``user_pool_id``).
        verify_tokens: Must stay ``True``; ``False`` is refused (use ``User.create_mock``-style
            fixtures from :mod:`cognito_auth_middleware.testing` in tests instead).
        identity_header: The ``x-amzn-oidc-identity`` value; if given it must equal ``sub``.
        **settings: Any other :class:`~cognito_auth_middleware.settings.Settings` field.

    Raises:
        MissingTokenError: a header is missing or empty.
        ExpiredTokenError: a token has expired.
        InvalidTokenError: a token is malformed, forged, or from another ALB or pool.
        KeysUnavailableError: the signing keys could not be fetched.
        ConfigurationError: the configuration is incomplete or inconsistent.
    """

    __slots__ = (
        "_access_claims",
        "_oidc_claims",
        "email",
        "email_verified",
        "exp",
        "family_name",
        "given_name",
        "groups",
        "issuer",
        "name",
        "sub",
        "username",
    )

    sub: str
    username: str | None
    email: str | None
    email_verified: bool
    name: str | None
    given_name: str | None
    family_name: str | None
    groups: tuple[str, ...]
    exp: float
    issuer: str
    _oidc_claims: Mapping[str, Any]
    _access_claims: Mapping[str, Any]

    def __init__(
        self,
        oidc_data_header: str | None = None,
        access_token_header: str | None = None,
        region: str | None = None,
        verify_tokens: bool = True,
        *,
        identity_header: str | None = None,
        **settings: Any,
    ) -> None:
        if not verify_tokens:
            raise ValueError(
                "verify_tokens=False is not supported: unverified headers can be forged by "
                "anyone. In tests, mint real headers with cognito_auth_middleware.testing."
            )
        from .sync_verifier import shared_verifier  # the verifier module imports this one

        verified = shared_verifier(region=region, **settings).authenticate(
            oidc_data_header, access_token_header, identity_header
        )
        self._copy_from(verified)

    @classmethod
    def from_claims(cls, oidc_claims: Mapping[str, Any], access_claims: Mapping[str, Any]) -> User:
        """Build a user from claim sets whose signatures and bindings were already verified.

        Raises:
            InvalidTokenError: a claim has the wrong type.
        """
        sub = oidc_claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidTokenError("ALB token: claim 'sub' must be a non-empty string")
        expiries = [
            float(exp)
            for exp in (oidc_claims.get("exp"), access_claims.get("exp"))
            if isinstance(exp, int | float) and not isinstance(exp, bool)
        ]
        fields = {
            "sub": sub,
            "username": _optional_str(oidc_claims, "username", "ALB token")
            or _optional_str(access_claims, "username", "access token"),
            "email": _optional_str(oidc_claims, "email", "ALB token"),
            "email_verified": _email_verified(oidc_claims.get("email_verified")),
            "name": _optional_str(oidc_claims, "name", "ALB token"),
            "given_name": _optional_str(oidc_claims, "given_name", "ALB token"),
            "family_name": _optional_str(oidc_claims, "family_name", "ALB token"),
            "groups": _groups(access_claims.get("cognito:groups")),
            "exp": min(expiries) if expiries else math.inf,
            "issuer": str(access_claims.get("iss", "")),
            # Kept as given (the engine never mutates them); the properties hand out copies.
            "_oidc_claims": oidc_claims,
            "_access_claims": access_claims,
        }
        user = cls.__new__(cls)
        for name, value in fields.items():
            object.__setattr__(user, name, value)
        return user

    @classmethod
    def create_mock(
        cls,
        *,
        email: str = "dev@example.com",
        sub: str = "00000000-0000-4000-8000-000000000000",
        username: str = "dev",
        name: str | None = "Dev User",
        given_name: str | None = "Dev",
        family_name: str | None = "User",
        groups: list[str] | tuple[str, ...] = (),
    ) -> User:
        """A user that no token vouches for: for unit tests and dev mode only.

        Its ``issuer`` is ``"mock"`` and it never expires.

        Example:
            >>> User.create_mock(email="alice@example.com", groups=["admins"]).is_in("admins")
            True
        """
        if not isinstance(groups, list | tuple) or not all(isinstance(g, str) for g in groups):
            raise ValueError("groups must be a list of strings")
        oidc = {
            "sub": sub,
            "email": email,
            "email_verified": True,
            "username": username,
            "name": name,
            "given_name": given_name,
            "family_name": family_name,
        }
        access = {"sub": sub, "username": username, "cognito:groups": list(groups), "iss": "mock"}
        return cls.from_claims({k: v for k, v in oidc.items() if v is not None}, access)

    def _copy_from(self, other: User) -> None:
        for slot in User.__slots__:
            object.__setattr__(self, slot, getattr(other, slot))

    def __reduce__(self) -> tuple[Any, ...]:
        # Immutable objects need an explicit recipe to be pickled (Gradio, multiprocessing).
        return (User.from_claims, (dict(self._oidc_claims), dict(self._access_claims)))

    def __setattr__(self, name: str, value: object) -> None:
        # One User may serve many requests of the same session: it must not be changed.
        raise AttributeError(f"User is immutable; cannot set {name!r}")

    @property
    def email_domain(self) -> str | None:
        """The part of ``email`` after the last ``@``, lower-cased, or ``None``."""
        if not self.email or "@" not in self.email:
            return None
        return self.email.rsplit("@", 1)[1].lower()

    @property
    def oidc_claims(self) -> dict[str, Any]:
        """A copy of the verified ALB (userinfo) claims."""
        return copy.deepcopy(dict(self._oidc_claims))

    @property
    def access_claims(self) -> dict[str, Any]:
        """A copy of the verified access-token claims."""
        return copy.deepcopy(dict(self._access_claims))

    def is_in(self, group: str) -> bool:
        """Whether the user is in Cognito group ``group`` (exact, case-sensitive)."""
        return group in self.groups

    # Starlette's BaseUser protocol, so ``request.user`` and ``@requires`` work.
    @property
    def is_authenticated(self) -> bool:
        """Always ``True``: a ``User`` exists only after verification."""
        return True

    @property
    def display_name(self) -> str:
        """The best human-readable name available."""
        return self.name or self.username or self.email or self.sub

    @property
    def identity(self) -> str:
        """The stable identifier, ``sub``."""
        return self.sub

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, User):
            return NotImplemented
        return self.sub == other.sub and self.issuer == other.issuer

    def __hash__(self) -> int:
        return hash((self.sub, self.issuer))

    def __repr__(self) -> str:
        return (
            f"User(sub={self.sub!r}, username={self.username!r}, "
            f"groups={list(self.groups)!r}, issuer={self.issuer!r})"
        )
