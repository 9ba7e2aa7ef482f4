"""Verify the identity headers an AWS Application Load Balancer adds after Cognito sign-in.

Re-exports the public API; see the README for the trust chain and configuration.
"""

from .asgi import CognitoAuthMiddleware
from .drivers.aio import AsyncVerifier
from .drivers.policy import reload_policy
from .drivers.sync import Verifier
from .exceptions import (
    AccessDeniedError,
    AuthenticationError,
    ConfigurationError,
    ExpiredTokenError,
    InvalidTokenError,
    KeysUnavailableError,
    MissingTokenError,
)
from .machine import MachineClient
from .settings import Settings
from .user import User
from .wsgi import CognitoAuthWSGIMiddleware, get_machine, get_user

__all__ = [
    "AccessDeniedError",
    "AsyncVerifier",
    "AuthenticationError",
    "CognitoAuthMiddleware",
    "CognitoAuthWSGIMiddleware",
    "ConfigurationError",
    "ExpiredTokenError",
    "InvalidTokenError",
    "KeysUnavailableError",
    "MachineClient",
    "MissingTokenError",
    "Settings",
    "User",
    "Verifier",
    "get_machine",
    "get_user",
    "reload_policy",
]

__version__ = "0.1.0"
