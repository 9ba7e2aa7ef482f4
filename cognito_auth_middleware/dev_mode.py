"""Dev mode: run an app locally without an ALB, as a mock user, without opening it up.

With ``COGNITO_AUTH_DEV_MODE=true`` a request that carries *neither* ALB header is served as
the mock user, but only when the client is on a loopback address: a dev-mode process reachable
from elsewhere refuses those requests exactly as if dev mode were off, so a flag left on in
production does not open the app. Headers that are present are always verified.

Caution: behind a reverse proxy on the same host every request comes from 127.0.0.1; never run
dev mode behind one, and never in production.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from pathlib import Path
from typing import Any

from .exceptions import ConfigurationError
from .settings import Settings
from .user import User

__all__ = ["DEFAULT_DEV_CONFIG", "is_loopback", "load_mock_user"]

logger = logging.getLogger("cognito_auth_middleware")

DEFAULT_DEV_CONFIG = "dev-mock-user.json"
_FIELDS = ("email", "sub", "username", "name", "given_name", "family_name", "groups")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a client address as the server saw it) is a loopback address."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_config(settings: Settings) -> dict[str, Any]:
    path = Path(settings.dev_config) if settings.dev_config else Path(DEFAULT_DEV_CONFIG)
    if not path.is_file():
        if settings.dev_config:
            raise ConfigurationError(f"dev_config (COGNITO_AUTH_DEV_CONFIG): no file at {path}")
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"dev mock user file {path} is not readable JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"dev mock user file {path} must hold a JSON object")
    unknown = sorted(set(document) - set(_FIELDS))
    if unknown:
        raise ConfigurationError(
            f"dev mock user file {path}: unknown field(s) {', '.join(unknown)}; "
            f"known: {', '.join(_FIELDS)}"
        )
    return document


def load_mock_user(settings: Settings) -> User | None:
    """The dev-mode mock user, or ``None`` when dev mode is off; warns loudly when on.

    Raises:
        ConfigurationError: the named mock-user file is missing, unreadable or malformed.
    """
    if not settings.dev_mode:
        return None
    fields = _read_config(settings)
    try:
        user = User.create_mock(**fields)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"dev mock user: {exc}") from None
    logger.warning(
        "DEV MODE IS ON (pid %d): requests without ALB headers from loopback clients run as "
        "mock user %r. Never enable COGNITO_AUTH_DEV_MODE in production.",
        os.getpid(),
        user.username,
    )
    return user
