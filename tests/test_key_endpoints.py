"""Key endpoints that misbehave: every answer that is not a usable key is a clear 503."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from cognito_auth_middleware import (
    AsyncVerifier,
    ExpiredTokenError,
    KeysUnavailableError,
    Verifier,
)
from cognito_auth_middleware.responses import error_response
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

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
