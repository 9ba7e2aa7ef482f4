"""Property-based tests: whatever arrives in the headers, the outcome is a documented one.

For arbitrary header values (raw text, base64-shaped junk, and tokens *correctly signed* by the
real keys but with arbitrary JSON in every field) the engine returns a ``User`` only for a
genuinely valid pair and otherwise raises one of the documented exceptions; both middlewares
answer 200 or one of 401 / 403 / 503, never a 500, never a hang.

``./dev fuzz`` runs these with the long ``fuzz`` profile (see SECURITY.md for its figures).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterable, MutableMapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from cognito_auth_middleware import (
    AsyncVerifier,
    CognitoAuthMiddleware,
    CognitoAuthWSGIMiddleware,
    Verifier,
)
from cognito_auth_middleware.exceptions import AuthenticationError
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

SUB = "11111111-2222-3333-4444-555555555555"
ALLOWED_STATUSES = {200, 401, 403, 503}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
ALB_HEADER_FIELDS = ("alg", "kid", "signer", "iss", "client", "exp", "typ")
ALB_CLAIM_FIELDS = ("sub", "exp", "iss", "nbf", "iat", "email", "email_verified", "username")
ACCESS_CLAIM_FIELDS = (
    "sub",
    "iss",
    "client_id",
    "token_use",
    "exp",
    "nbf",
    "iat",
    "cognito:groups",
    "username",
)

b64ish = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=60
)
junk_tokens = st.one_of(
    st.text(max_size=200),
    st.lists(b64ish, min_size=1, max_size=6).map(".".join),
    st.builds(
        lambda header, payload, sig: (
            ".".join(
                base64.urlsafe_b64encode(json.dumps(part).encode()).decode()
                for part in (header, payload)
            )
            + "."
            + sig
        ),
        json_values,
        json_values,
        b64ish,
    ),
)


def overrides(fields: Iterable[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Replace any subset of ``fields`` with arbitrary JSON (``None`` removes the field)."""
    return st.dictionaries(st.sampled_from(tuple(fields)), json_values, max_size=4)


@pytest.fixture(scope="module")
def module_idp() -> FakeIdentityProvider:
    return FakeIdentityProvider()


@pytest.fixture(scope="module")
def module_server(module_idp: FakeIdentityProvider) -> Iterable[KeyServer]:
    with KeyServer(module_idp) as server:
        yield server


@pytest.fixture(scope="module")
def verifier(module_server: KeyServer) -> Verifier:
    return Verifier(**module_server.settings())


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(alb=junk_tokens, access=junk_tokens, identity=st.none() | st.text(max_size=40))
def test_engine_refuses_junk_with_documented_errors(
    verifier: Verifier, alb: str, access: str, identity: str | None
) -> None:
    with pytest.raises(AuthenticationError):
        verifier.authenticate(alb, access, identity)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    alb_header=overrides(ALB_HEADER_FIELDS),
    alb_claims=overrides(ALB_CLAIM_FIELDS),
    access_claims=overrides(ACCESS_CLAIM_FIELDS),
)
def test_engine_on_validly_signed_tokens_with_arbitrary_fields(
    verifier: Verifier,
    module_idp: FakeIdentityProvider,
    alb_header: dict[str, Any],
    alb_claims: dict[str, Any],
    access_claims: dict[str, Any],
) -> None:
    alb = module_idp.mint_alb_token(sub=SUB, header=alb_header, claims=alb_claims)
    access = module_idp.mint_access_token(sub=SUB, claims=access_claims)
    try:
        user = verifier.authenticate(alb, access)
    except AuthenticationError:
        return
    # Anything accepted must satisfy the whole chain as the configuration defines it.
    assert user.sub == access_claims.get("sub", SUB) == alb_claims.get("sub", SUB)
    assert alb_header.get("signer", module_idp.alb_arn) == module_idp.alb_arn
    assert alb_header.get("alg", "ES256") == "ES256"
    assert alb_header.get("client", module_idp.client_id) == module_idp.client_id
    assert access_claims.get("client_id", module_idp.client_id) == module_idp.client_id
    assert access_claims.get("token_use", "access") == "access"
    assert access_claims.get("iss", module_idp.issuer) == module_idp.issuer
    assert isinstance(user.groups, tuple)


def test_the_genuine_pair_is_accepted(verifier: Verifier, module_idp: FakeIdentityProvider) -> None:
    # The counterpart of the properties above: with no field changed, the pair is accepted.
    alb = module_idp.mint_alb_token(sub=SUB)
    assert verifier.authenticate(alb, module_idp.mint_access_token(sub=SUB)).sub == SUB


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def _asgi_status(app: CognitoAuthMiddleware, headers: list[tuple[bytes, bytes]]) -> int:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(dict(message))

    scope = {"type": "http", "path": "/", "root_path": "", "headers": headers, "method": "GET"}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=10))
    status: int = messages[0]["status"]
    return status


header_names = st.sampled_from(
    [b"x-amzn-oidc-data", b"x-amzn-oidc-accesstoken", b"x-amzn-oidc-identity", b"accept"]
)
header_lists = st.lists(
    st.tuples(header_names, st.binary(max_size=120) | junk_tokens.map(str.encode)), max_size=5
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=header_lists)
def test_asgi_middleware_never_answers_outside_the_table(
    module_server: KeyServer, headers: list[tuple[bytes, bytes]]
) -> None:
    app = CognitoAuthMiddleware(_hello, verifier=_async_verifier(module_server))  # type: ignore[arg-type]
    assert _asgi_status(app, headers) in ALLOWED_STATUSES - {200}


_ASYNC_VERIFIERS: dict[str, AsyncVerifier] = {}


def _async_verifier(server: KeyServer) -> AsyncVerifier:
    # One per key server, so its caches persist across examples as in a real process.
    if server.base_url not in _ASYNC_VERIFIERS:
        _ASYNC_VERIFIERS[server.base_url] = AsyncVerifier(**server.settings())
    return _ASYNC_VERIFIERS[server.base_url]


def _wsgi_hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("content-type", "text/plain")])
    return [b"hello"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.dictionaries(
        st.sampled_from(["x-amzn-oidc-data", "x-amzn-oidc-accesstoken", "x-amzn-oidc-identity"]),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=120)
        | junk_tokens.filter(lambda t: all(32 <= ord(c) <= 255 for c in t)),
        max_size=3,
    )
)
def test_wsgi_middleware_never_answers_outside_the_table(
    verifier: Verifier, values: dict[str, str]
) -> None:
    app = CognitoAuthWSGIMiddleware(_wsgi_hello, verifier=verifier)
    response = Client(app).get("/", headers=values)
    assert response.status_code in ALLOWED_STATUSES - {200}
