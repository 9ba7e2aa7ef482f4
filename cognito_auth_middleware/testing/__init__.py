"""A testing kit: mint real ALB / Cognito headers and serve the matching keys on loopback.

Use it to exercise real verification in your own test suite::

    from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

    idp = FakeIdentityProvider()
    with KeyServer(idp) as keys:
        app.add_middleware(CognitoAuthMiddleware, **keys.settings())
        response = client.get("/", headers=idp.headers(email="alice@example.com"))
"""

from .identity import (
    DEFAULT_ALB_ARN,
    DEFAULT_CLIENT_ID,
    DEFAULT_SUB,
    DEFAULT_USER_POOL_ID,
    DEFECTS,
    FakeIdentityProvider,
)
from .key_server import KeyServer
from .providers import PROVIDER_STYLES, FakeOidcProvider
from .verified_access import DEFAULT_INSTANCE_ARN, FakeVerifiedAccess

__all__ = [
    "DEFAULT_ALB_ARN",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_INSTANCE_ARN",
    "DEFAULT_SUB",
    "DEFAULT_USER_POOL_ID",
    "DEFECTS",
    "PROVIDER_STYLES",
    "FakeIdentityProvider",
    "FakeOidcProvider",
    "FakeVerifiedAccess",
    "KeyServer",
]
