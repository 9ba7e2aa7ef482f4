"""A machine client: a service calling the app with a bearer JWT, never a person."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .exceptions import AccessDeniedError, ConfigurationError

__all__ = ["SCOPE_PREFIX", "MachineClient"]

#: How a machine's scopes appear in Starlette's ``request.auth.scopes``, so that a scope can
#: never be mistaken for a person's group: ``@requires("scope:reports/read")``.
SCOPE_PREFIX = "scope:"


@dataclass(frozen=True, slots=True)
class MachineClient:
    """A client whose bearer token (``Authorization: Bearer <JWT>``) was verified.

    The middlewares put one at ``request.state.machine`` (ASGI; ``request.state.user`` is then
    ``None``) or ``environ["cognito_auth.machine"]`` (WSGI) when the ``bearer`` setting is on
    and a request carries a bearer token and no identity headers. It is no ``User``: person
    routes (``current_user``, ``auth.user``) refuse it, and its scopes are not groups.

    Attributes:
        client_id: The OAuth client (``client_id``, or ``cid``, ``azp``, ``appid``).
        scopes: The granted scopes (``scope``, space-separated, or ``scp``).
        issuer: The token's issuer (the configured ``bearer_issuer``).
        exp: The token's expiry (Unix time).
    """

    client_id: str
    scopes: tuple[str, ...]
    issuer: str
    exp: float
    _claims: dict[str, Any] = field(repr=False, compare=False)

    @property
    def claims(self) -> dict[str, Any]:
        """A copy of the verified token's payload."""
        return copy.deepcopy(self._claims)

    def has_scopes(self, *scopes: str) -> bool:
        """Whether every one of ``scopes`` was granted."""
        return set(scopes) <= set(self.scopes)

    def require_scopes(self, *scopes: str) -> MachineClient:
        """This client, if every one of ``scopes`` was granted.

        Raises:
            ConfigurationError: no scope was named.
            AccessDeniedError: a scope is missing (HTTP 403).
        """
        if not scopes:
            raise ConfigurationError("require_scopes needs at least one scope")
        missing = sorted(set(scopes) - set(self.scopes))
        if missing:
            raise AccessDeniedError(f"the machine client lacks the scopes {missing!r}")
        return self

    # Starlette's BaseUser interface, so that ``request.user`` works for a machine too.
    @property
    def is_authenticated(self) -> bool:
        """Always ``True``."""
        return True

    @property
    def display_name(self) -> str:
        """The client id."""
        return self.client_id

    @property
    def identity(self) -> str:
        """The client id."""
        return self.client_id
