"""Key endpoints that misbehave: every answer that is not a usable key is a clear 503."""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from werkzeug.test import Client

from cognito_auth_middleware import (
    AsyncVerifier,
    CognitoAuthMiddleware,
    CognitoAuthWSGIMiddleware,
    ExpiredTokenError,
    KeysUnavailableError,
    Verifier,
)
from cognito_auth_middleware.responses import error_response
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from tests.drivers import KINDS, Driver, Kind

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 when only httpx is installed; the client works the same.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

PUBLIC_PEM = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo


def _pem(key: Any) -> bytes:
    data: bytes = key.public_key().public_bytes(*PUBLIC_PEM)
    return data


def _private_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


ALB_BODIES: list[Any] = [
    pytest.param(lambda: b"not a pem", "not a PEM public key", id="garbage"),
    pytest.param(lambda: b"", "not a PEM public key", id="empty"),
    pytest.param(lambda: _pem(rsa.generate_private_key(65537, 2048)), "not an EC key", id="rsa"),
    pytest.param(lambda: _pem(ec.generate_private_key(ec.SECP384R1())), "P-256", id="p384"),
    pytest.param(lambda: _pem(ed25519.Ed25519PrivateKey.generate()), "not an EC", id="ed25519"),
    pytest.param(_private_pem, "not a PEM public key", id="private-key"),
    pytest.param(lambda: b"-" * 70_000, "larger than", id="enormous"),
]


@pytest.mark.parametrize(("body", "reason"), ALB_BODIES)
def test_alb_key_endpoint_garbage_is_unavailable(
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    options: dict[str, Any],
    body: Callable[[], bytes],
    reason: str,
) -> None:
    key_server.body = body()
    headers = idp.headers()
    with pytest.raises(KeysUnavailableError, match=reason):
        Verifier(**options).authenticate(
            headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"]
        )


def _weak_rsa(doc: dict[str, Any]) -> dict[str, Any]:
    weak = FakeIdentityProvider.__new__(FakeIdentityProvider)
    weak.rsa_private_key = rsa.generate_private_key(65537, 1024)  # noqa: S505 (the point)
    weak.rsa_kid = doc["keys"][0]["kid"]
    return FakeIdentityProvider.jwks(weak)


JWKS_CASES: list[Any] = [
    pytest.param(lambda doc: "keys", "not a JWKS", id="string"),
    pytest.param(lambda doc: {"keys": "x"}, "not a JWKS", id="keys-not-list"),
    pytest.param(lambda doc: {"keys": []}, "no usable", id="empty"),
    pytest.param(
        lambda doc: {"keys": [{**doc["keys"][0], "kty": "EC"}]}, "no usable", id="wrong-kty"
    ),
    pytest.param(
        lambda doc: {"keys": [{**doc["keys"][0], "alg": "HS256"}]}, "no usable", id="wrong-alg"
    ),
    pytest.param(
        lambda doc: {"keys": [{**doc["keys"][0], "n": "!!"}]}, "no usable", id="bad-modulus"
    ),
    pytest.param(_weak_rsa, "no usable", id="rsa-1024"),
]


@pytest.mark.parametrize(("mutate", "reason"), JWKS_CASES)
def test_jwks_endpoint_garbage_is_unavailable(
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    options: dict[str, Any],
    mutate: Callable[[dict[str, Any]], Any],
    reason: str,
) -> None:
    key_server.jwks_body = json.dumps(mutate(idp.jwks())).encode()
    headers = idp.headers()
    with pytest.raises(KeysUnavailableError, match=reason):
        Verifier(**options).authenticate(
            headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"]
        )
    assert key_server.count("alb") == 1  # the ALB key was fine; only the JWKS was refused


def test_one_failure_is_shared_by_every_waiting_request(
    idp: FakeIdentityProvider, key_server: KeyServer, options: dict[str, Any]
) -> None:
    key_server.status = 500
    key_server.delay = 0.2
    verifier = AsyncVerifier(**options)
    pairs = [idp.headers(sub=f"user-{n}") for n in range(30)]

    async def main() -> list[BaseException | object]:
        return await asyncio.gather(
            *(
                verifier.authenticate(p["x-amzn-oidc-data"], p["x-amzn-oidc-accesstoken"])
                for p in pairs
            ),
            return_exceptions=True,
        )

    outcomes = asyncio.run(main())
    assert all(isinstance(outcome, KeysUnavailableError) for outcome in outcomes)
    assert key_server.count("alb") == 1  # thirty waiting requests, one outbound request


def test_refusals_are_logged_with_a_fingerprint_never_the_token(
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    options: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    verifier = Verifier(**options)
    alb = idp.mint_alb_token(ttl=-3600)
    access = idp.mint_access_token()
    with caplog.at_level(logging.INFO, logger="cognito_auth_middleware"):
        key_server.status = 500
        with pytest.raises(KeysUnavailableError) as unavailable:
            verifier.authenticate(alb, access)
        error_response(unavailable.value)
        key_server.status = None
        with pytest.raises(ExpiredTokenError) as expired:
            verifier.authenticate(alb, access)
        error_response(expired.value)
    messages = [record.getMessage() for record in caplog.records]
    fetch_failure = [m for m in messages if "cannot obtain the ALB public key" in m]
    assert fetch_failure
    assert "HTTP 500" in fetch_failure[0]
    assert key_server.base_url in fetch_failure[0]
    refusals = [m for m in messages if m.startswith("request refused")]
    assert len(refusals) == 2
    assert "503 (keys_unavailable" in refusals[0]
    assert "401 (expired_token" in refusals[1]
    assert unavailable.value.fingerprint
    assert unavailable.value.fingerprint in refusals[0]
    for message in messages:
        for part in (*alb.split("."), *access.split(".")):
            assert part.rstrip("=") not in message
    levels = {record.getMessage(): record.levelno for record in caplog.records}
    assert levels[fetch_failure[0]] == logging.WARNING
    assert levels[refusals[1]] == logging.INFO


# --- the fetch boundary: nothing escapes it, and the timeout is a deadline -----------------

# URLs that pass the settings' checks but that httpx refuses when it builds the request; the
# exception is not an httpx.HTTPError, and it must still be a 503, never a 500.
REFUSED_URLS: list[Any] = [
    # Not "http://[::1]x/keys": some CPython 3.11 releases' urlsplit accept it, others refuse it.
    pytest.param("http://127.0.0.1:abc/keys", "InvalidURL", id="invalid-port"),
    pytest.param("http://xn--/keys", "IDNAError", id="bad-idna-label"),  # a UnicodeError
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
def test_a_key_url_httpx_refuses_is_unavailable(
    idp: FakeIdentityProvider, key_server: KeyServer, kind: Kind, url: str, reason: str
) -> None:
    driver = Driver(kind, **key_server.settings(alb_key_url=url))
    with pytest.raises(KeysUnavailableError, match=f"the ALB public key .*{reason}"):
        driver.authenticate(idp.headers())


@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
def test_a_key_url_httpx_refuses_is_a_503_from_both_middlewares(
    idp: FakeIdentityProvider, key_server: KeyServer, url: str, reason: str
) -> None:
    options = key_server.settings(alb_key_url=url)
    headers = idp.headers()

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    asgi = CognitoAuthMiddleware(Starlette(routes=[Route("/", hello)]), **options)
    with TestClient(asgi) as client:
        refused = client.get("/", headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (503, "keys_unavailable")

    def wsgi_hello(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"hello"]

    wsgi = Client(CognitoAuthWSGIMiddleware(wsgi_hello, **options))
    refused_wsgi = wsgi.get("/", headers=headers)
    assert refused_wsgi.status_code == 503
    assert json.loads(refused_wsgi.get_data())["error"] == "keys_unavailable"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("timeout", "delay", "drip"),
    [
        # The body one byte every 0.2 s: no single read ever reaches the 1 s timeout.
        pytest.param(1.0, 0.0, 0.2, id="drip"),
        # The headers just inside the timeout, then a body read that blocks almost as long:
        # a deadline checked only between chunks would answer after twice the timeout.
        pytest.param(2.0, 1.9, 1.9, id="stall-then-drip"),
    ],
)
def test_the_timeout_bounds_the_whole_fetch_for_every_waiting_request(
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    kind: Kind,
    timeout: float,
    delay: float,
    drip: float,
) -> None:
    key_server.delay, key_server.drip = delay, drip
    driver = Driver(kind, **key_server.settings(key_fetch_timeout=timeout))
    outcomes = driver.authenticate_all([idp.headers(sub=f"user-{n}") for n in range(20)])
    assert len(outcomes) == 20
    for outcome in outcomes:
        assert isinstance(outcome.result, KeysUnavailableError)
        assert f"timed out after {timeout:g}s" in str(outcome.result)
    # Every request, the one that started the fetch and those that joined it, is released by
    # the fetch's deadline (the margin is for a loaded CI machine, not a goal).
    first_start = min(outcome.started for outcome in outcomes)
    assert max(outcome.ended for outcome in outcomes) - first_start < timeout + 1.0
    assert key_server.count("alb") == 1
