"""pytest fixtures for testing apps protected by this package with real, signed headers.

Registered automatically (entry point ``pytest11``) when the package is installed, so any test
suite can use them without imports::

    def test_home(cognito_settings, cognito_headers):
        app = FastAPI()
        app.add_middleware(CognitoAuthMiddleware, **cognito_settings)
        with TestClient(app) as client:
            response = client.get("/", headers=cognito_headers(email="a@example.com"))
            assert response.status_code == 200

Fixtures:
    cognito_idp: a :class:`FakeIdentityProvider`.
    cognito_key_server: a running :class:`KeyServer` serving its keys on 127.0.0.1.
    cognito_settings: middleware keywords trusting them.
    cognito_headers: a function ``(**user) -> headers`` minting valid headers for any user,
        groups and expiry; ``cognito_headers.broken(defect, **user)`` mints defective ones.

Every fixture is per test, so nothing one test changes reaches the next: the identity provider
is a fresh copy (only its keys, slow to generate, are made once per session), and the key server
is a new one on a new port, with an empty request log and none of the misbehaviour a test set.
A new port also means new settings, so verifiers kept per process for equal settings (the one
behind ``User(...)``) start with no keys and no recorded failure. Settings not given as
keywords are still read from ``COGNITO_AUTH_*`` environment variables, as in production.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from .identity import FakeIdentityProvider
from .key_server import KeyServer

__all__ = ["HeaderFactory"]


class HeaderFactory:
    """Mints header sets with the test's identity provider (see the module docstring)."""

    def __init__(self, idp: FakeIdentityProvider) -> None:
        self.idp = idp

    def __call__(self, **user: Any) -> dict[str, str]:
        """Valid headers: keywords as for :meth:`FakeIdentityProvider.headers`."""
        return self.idp.headers(**user)

    def broken(self, defect: str, **user: Any) -> dict[str, str]:
        """Headers with one defect: see :meth:`FakeIdentityProvider.broken_headers`."""
        return self.idp.broken_headers(defect, **user)


@pytest.fixture(scope="session")
def _cognito_keys() -> FakeIdentityProvider:
    # RSA key generation takes a moment: once per session. Tests get copies (cognito_idp).
    return FakeIdentityProvider()


@pytest.fixture
def cognito_idp(_cognito_keys: FakeIdentityProvider) -> FakeIdentityProvider:
    """An ALB key pair and a Cognito key pair minting real signed headers."""
    # A shallow copy: the key objects are immutable and shared; the ids and kids a test may
    # set (to rotate a key, or to name another client) are this test's own.
    return copy.copy(_cognito_keys)


@pytest.fixture
def cognito_key_server(cognito_idp: FakeIdentityProvider) -> Iterator[KeyServer]:
    """The identity provider's public keys, served over HTTP on 127.0.0.1."""
    with KeyServer(cognito_idp) as server:
        yield server


@pytest.fixture
def cognito_settings(cognito_key_server: KeyServer) -> dict[str, Any]:
    """Keywords for ``CognitoAuthMiddleware`` / ``CognitoAuthWSGIMiddleware`` / ``Verifier``."""
    return cognito_key_server.settings()


@pytest.fixture
def cognito_headers(cognito_idp: FakeIdentityProvider) -> HeaderFactory:
    """``cognito_headers(email=..., groups=[...])`` mints the ALB's three headers."""
    return HeaderFactory(cognito_idp)
