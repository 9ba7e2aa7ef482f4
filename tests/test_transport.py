"""The drivers' ``transport=`` option, with ``httpx.MockTransport`` where real HTTP adds nothing.

The fetch path itself (timeouts, slow bodies, refused connections, single-flight) is tested
against real servers on loopback (``test_key_endpoints.py``, ``test_fetch_limits.py``); these
cases are about what the drivers ask for and how they read an answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from cognito_auth_middleware import AsyncVerifier, User, Verifier
from cognito_auth_middleware.exceptions import InvalidTokenError, KeysUnavailableError
from cognito_auth_middleware.testing import FakeIdentityProvider

ALB_KEYS = "https://alb-keys.test"
JWKS = "https://pool.test/.well-known/jwks.json"


class Endpoints:
    """Answers key fetches as AWS does, from one identity provider; records every request."""

    def __init__(self, idp: FakeIdentityProvider) -> None:
        self.idp = idp
        self.requests: list[httpx.Request] = []
        self.alb_status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url) == JWKS:
            return httpx.Response(200, content=json.dumps(self.idp.jwks()).encode())
        if str(request.url) == f"{ALB_KEYS}/{self.idp.alb_kid}" and self.alb_status == 200:
            return httpx.Response(200, content=self.idp.alb_public_pem())
        if self.alb_status in (301, 302):
            return httpx.Response(self.alb_status, headers={"location": JWKS})
        return httpx.Response(self.alb_status if self.alb_status != 200 else 404)


def authenticate(kind: str, endpoints: Endpoints, headers: dict[str, str]) -> User:
    idp = endpoints.idp
    options: dict[str, Any] = {
        "alb_arn": idp.alb_arn,
        "user_pool_id": idp.user_pool_id,
        "client_id": idp.client_id,
        "alb_key_url": ALB_KEYS,
        "jwks_url": JWKS,
    }
    args = headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"]
    if kind == "sync":
        return Verifier(transport=httpx.MockTransport(endpoints), **options).authenticate(*args)
    verifier = AsyncVerifier(transport=httpx.MockTransport(endpoints), **options)
    return asyncio.run(verifier.authenticate(*args))


KINDS = [pytest.param("sync", id="sync"), pytest.param("async", id="async")]


@pytest.mark.parametrize("kind", KINDS)
def test_the_transport_carries_the_fetches(kind: str) -> None:
    idp = FakeIdentityProvider()
    endpoints = Endpoints(idp)
    user = authenticate(kind, endpoints, idp.headers(sub="alice-sub", email="alice@example.com"))
    assert user.sub == "alice-sub"
    assert [str(r.url) for r in endpoints.requests] == [f"{ALB_KEYS}/{idp.alb_kid}", JWKS]
    assert {r.method for r in endpoints.requests} == {"GET"}
    assert all("json" in r.headers["accept"] for r in endpoints.requests)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [301, 302])
def test_a_redirecting_key_endpoint_is_not_followed(kind: str, status: int) -> None:
    # A key endpoint has no reason to redirect; following one would let it point elsewhere.
    idp = FakeIdentityProvider()
    endpoints = Endpoints(idp)
    endpoints.alb_status = status
    with pytest.raises(KeysUnavailableError, match=f"HTTP {status}"):
        authenticate(kind, endpoints, idp.headers())
    assert len(endpoints.requests) == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [403, 404])
def test_an_unknown_alb_kid_is_refused_not_unavailable(kind: str, status: int) -> None:
    # AWS answers 404 (S3 in GovCloud: 403) for a kid it never issued: a forged token, 401.
    idp = FakeIdentityProvider()
    endpoints = Endpoints(idp)
    endpoints.alb_status = status
    with pytest.raises(InvalidTokenError, match="no ALB public key exists"):
        authenticate(kind, endpoints, idp.headers())
    assert [str(r.url) for r in endpoints.requests] == [f"{ALB_KEYS}/{idp.alb_kid}"]
