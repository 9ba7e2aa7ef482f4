"""Dev mode's mock user: read once, at start-up, from ``dev-mock-user.json`` or ``dev_config``.

The rule of which requests may run as the mock user is the core's
(:mod:`cognito_auth_middleware.core.dev_mode`); reading the file is I/O, so it is done here,
where the driver builds the engine.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from cognito_auth_middleware.exceptions import ConfigurationError
from cognito_auth_middleware.settings import Settings
from cognito_auth_middleware.user import User

__all__ = ["DEFAULT_DEV_CONFIG", "load_mock_user"]

logger = logging.getLogger("cognito_auth_middleware")

DEFAULT_DEV_CONFIG = "dev-mock-user.json"
_FIELDS = (
    "email",
    "email_verified",
    "sub",
    "username",
    "name",
    "given_name",
    "family_name",
    "groups",
)


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
    # Keys starting with "_" are comments, as in cognito-auth's dev-mock-user.example.json.
    document = {key: value for key, value in document.items() if not key.startswith("_")}
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
        "DEV MODE IS ON (pid %d): local requests without ALB headers (loopback client and Host, "
        "no forwarding header) run as "
        "mock user %r. Never enable COGNITO_AUTH_DEV_MODE in production.",
        os.getpid(),
        user.username,
    )
    return user
