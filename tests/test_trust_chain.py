"""Every rule of the trust chain, each with a test that fails if the rule is removed.

Tokens are minted with real keys and verified against keys served over real HTTP on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest

from cognito_auth_middleware import (
    ExpiredTokenError,
    InvalidTokenError,
    MissingTokenError,
    Verifier,
)
from cognito_auth_middleware.exceptions import AuthenticationError
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from tests.conftest import Clock

SUB = "11111111-2222-3333-4444-555555555555"
OTHER_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-2:999999999999:loadbalancer/app/evil/0123456789abcdef"
)
OTHER_ISSUER = "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_OtherPool"


@pytest.fixture
def verifier(options: dict[str, Any], clock: Clock) -> Verifier:
    return Verifier(clock=clock, **options)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _hs256_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _check(verifier: Verifier, alb: str, access: str, identity: str | None = None) -> None:
    verifier.authenticate(alb, access, identity)


def test_valid_pair_gives_the_user(verifier: Verifier, idp: FakeIdentityProvider) -> None:
    headers = idp.headers(sub=SUB, email="Alice@Example.COM", groups=["admins", "staff"])
    user = verifier.authenticate(
        headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"], SUB
    )
    assert (user.sub, user.email, user.email_domain) == (SUB, "Alice@Example.COM", "example.com")
    assert user.groups == ("admins", "staff")
    assert user.issuer == idp.issuer


def test_unpadded_alb_token_is_accepted_too(verifier: Verifier, idp: FakeIdentityProvider) -> None:
    alb = idp.mint_alb_token(sub=SUB, padded=False)
    assert "=" not in alb
    assert verifier.authenticate(alb, idp.mint_access_token(sub=SUB)).sub == SUB


@pytest.mark.parametrize(
    ("alb", "access"),
    [
        pytest.param(None, "x", id="no-oidc-data"),
        pytest.param("", "x", id="empty-oidc-data"),
        pytest.param("x", None, id="no-access-token"),
        pytest.param("x", "", id="empty-access-token"),
    ],
)
def test_missing_headers(verifier: Verifier, alb: str | None, access: str | None) -> None:
    with pytest.raises(MissingTokenError):
        verifier.authenticate(alb, access)


# Each case: (what to change in the ALB token, expected error, whether a key fetch may happen).
ALB_CASES = [
    pytest.param({"header": {"alg": "ES384"}}, InvalidTokenError, False, id="alg-es384"),
    pytest.param({"header": {"alg": "none"}}, InvalidTokenError, False, id="alg-none"),
    pytest.param({"header": {"alg": "RS256"}}, InvalidTokenError, False, id="alg-rs256"),
    pytest.param({"header": {"alg": None}}, InvalidTokenError, False, id="alg-missing"),
    pytest.param({"header": {"kid": "../../etc/passwd"}}, InvalidTokenError, False, id="kid-path"),
    pytest.param(
        {"header": {"kid": "https://evil.example.com/key"}}, InvalidTokenError, False, id="kid-url"
    ),
    pytest.param(
        {"header": {"kid": "11111111-2222-3333-4444-55555555555%2F"}},
        InvalidTokenError,
        False,
        id="kid-percent",
    ),
    pytest.param({"header": {"kid": None}}, InvalidTokenError, False, id="kid-missing"),
    pytest.param({"header": {"signer": OTHER_ARN}}, InvalidTokenError, False, id="signer-other"),
    pytest.param({"header": {"signer": None}}, InvalidTokenError, False, id="signer-missing"),
    pytest.param({"header": {"client": "someoneelse"}}, InvalidTokenError, False, id="client"),
    pytest.param({"header": {"client": None}}, InvalidTokenError, False, id="client-missing"),
    pytest.param({"header": {"iss": OTHER_ISSUER}}, InvalidTokenError, False, id="iss-header"),
    pytest.param({"header": {"iss": None}}, InvalidTokenError, False, id="iss-missing"),
    pytest.param({"claims": {"iss": OTHER_ISSUER}}, InvalidTokenError, True, id="iss-payload"),
    pytest.param({"ttl": -3600}, ExpiredTokenError, True, id="expired"),
    pytest.param(
        {"header": {"exp": None}, "claims": {"exp": None}}, InvalidTokenError, True, id="no-exp"
    ),
    pytest.param({"claims": {"exp": "2999999999"}}, InvalidTokenError, True, id="exp-string"),
    pytest.param({"claims": {"nbf": 4102444800}}, InvalidTokenError, True, id="nbf-future"),
    pytest.param({"claims": {"iat": 4102444800}}, InvalidTokenError, True, id="iat-future"),
    pytest.param({"claims": {"sub": "someone-else"}}, InvalidTokenError, True, id="sub-splice"),
]


@pytest.mark.parametrize(("change", "error", "may_fetch"), ALB_CASES)
def test_alb_token_rules(
    verifier: Verifier,
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    change: dict[str, Any],
    error: type[AuthenticationError],
    may_fetch: bool,
) -> None:
    alb = idp.mint_alb_token(sub=SUB, **change)
    with pytest.raises(error):
        verifier.authenticate(alb, idp.mint_access_token(sub=SUB))
    if not may_fetch:
        # Trust comes from configuration: these are refused before any key is requested.
        assert key_server.requests == []


def test_signer_prefix_trick_is_refused(
    verifier: Verifier, idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    for signer in (idp.alb_arn + "0", idp.alb_arn[:-1], idp.alb_arn.upper(), f" {idp.alb_arn}"):
        alb = idp.mint_alb_token(sub=SUB, header={"signer": signer})
        with pytest.raises(InvalidTokenError, match="signed by load balancer"):
            verifier.authenticate(alb, idp.mint_access_token(sub=SUB))
    assert key_server.requests == []


def test_alb_signature_from_another_key_is_refused(
    verifier: Verifier, idp: FakeIdentityProvider
) -> None:
    impostor = FakeIdentityProvider()
    impostor.alb_kid = idp.alb_kid  # same kid, same claims, different private key
    alb = impostor.mint_alb_token(sub=SUB)
    with pytest.raises(InvalidTokenError, match="signature"):
        verifier.authenticate(alb, idp.mint_access_token(sub=SUB))


def test_tampered_alb_payload_is_refused(verifier: Verifier, idp: FakeIdentityProvider) -> None:
    header, payload, signature = idp.mint_alb_token(sub=SUB).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload))
    claims["email"] = "admin@example.com"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode()
    with pytest.raises(InvalidTokenError, match="signature"):
        verifier.authenticate(f"{header}.{forged}.{signature}", idp.mint_access_token(sub=SUB))


def test_alg_confusion_hs256_signed_with_the_public_key(
    verifier: Verifier, idp: FakeIdentityProvider
) -> None:
    header = {
        "alg": "HS256",
        "kid": idp.alb_kid,
        "signer": idp.alb_arn,
        "iss": idp.issuer,
        "client": idp.client_id,
    }
    token = _hs256_token(header, {"sub": SUB, "exp": 4102444800}, idp.alb_public_pem())
    with pytest.raises(InvalidTokenError, match="ES256"):
        verifier.authenticate(token, idp.mint_access_token(sub=SUB))


def test_unknown_alb_kid_is_invalid_not_unavailable(
    verifier: Verifier, idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    alb = idp.mint_alb_token(sub=SUB, header={"kid": "00000000-0000-4000-8000-000000000000"})
    with pytest.raises(InvalidTokenError, match="no ALB public key"):
        verifier.authenticate(alb, idp.mint_access_token(sub=SUB))
    assert key_server.count("alb") == 1


ACCESS_CASES = [
    pytest.param({"header": {"alg": "HS256"}}, InvalidTokenError, id="alg-hs256"),
    pytest.param({"header": {"alg": "ES256"}}, InvalidTokenError, id="alg-es256"),
    pytest.param({"header": {"alg": "none"}}, InvalidTokenError, id="alg-none"),
    pytest.param({"header": {"kid": None}}, InvalidTokenError, id="kid-missing"),
    pytest.param({"claims": {"iss": OTHER_ISSUER}}, InvalidTokenError, id="iss-other-pool"),
    pytest.param({"claims": {"token_use": "id"}}, InvalidTokenError, id="token-use-id"),
    pytest.param({"claims": {"token_use": None}}, InvalidTokenError, id="token-use-missing"),
    pytest.param({"claims": {"client_id": "otherclient"}}, InvalidTokenError, id="client-id"),
    pytest.param({"claims": {"client_id": None}}, InvalidTokenError, id="client-id-missing"),
    pytest.param({"claims": {"sub": "someone-else"}}, InvalidTokenError, id="sub-splice"),
    pytest.param({"ttl": -3600}, ExpiredTokenError, id="expired"),
    pytest.param({"claims": {"exp": None}}, InvalidTokenError, id="exp-missing"),
    pytest.param({"claims": {"exp": "soon"}}, InvalidTokenError, id="exp-string"),
    pytest.param({"claims": {"exp": True}}, InvalidTokenError, id="exp-bool"),
    pytest.param({"claims": {"nbf": 4102444800}}, InvalidTokenError, id="nbf-future"),
    pytest.param({"claims": {"iat": 4102444800}}, InvalidTokenError, id="iat-future"),
]


@pytest.mark.parametrize(("change", "error"), ACCESS_CASES)
def test_access_token_rules(
    verifier: Verifier,
    idp: FakeIdentityProvider,
    change: dict[str, Any],
    error: type[AuthenticationError],
) -> None:
    with pytest.raises(error):
        verifier.authenticate(idp.mint_alb_token(sub=SUB), idp.mint_access_token(sub=SUB, **change))


def test_access_signature_from_another_key_is_refused(
    verifier: Verifier, idp: FakeIdentityProvider
) -> None:
    impostor = FakeIdentityProvider()
    impostor.rsa_kid = idp.rsa_kid
    with pytest.raises(InvalidTokenError, match="signature"):
        verifier.authenticate(idp.mint_alb_token(sub=SUB), impostor.mint_access_token(sub=SUB))


def test_access_keys_come_only_from_the_configured_jwks(
    verifier: Verifier, idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    # An attacker's pool: its own keys and issuer. The ALB token vouches for our issuer, so the
    # access token's own iss can never choose where keys come from.
    attacker = FakeIdentityProvider(user_pool_id="eu-west-2_Attacker1")
    access = attacker.mint_access_token(sub=SUB)
    with pytest.raises(InvalidTokenError, match="issuer"):
        verifier.authenticate(idp.mint_alb_token(sub=SUB), access)
    assert key_server.count("jwks") == 0


def test_spliced_pair_of_two_valid_users_is_refused(
    verifier: Verifier, idp: FakeIdentityProvider
) -> None:
    alice = idp.headers(sub="alice-sub")
    bob = idp.headers(sub="bob-sub")
    verifier.authenticate(alice["x-amzn-oidc-data"], alice["x-amzn-oidc-accesstoken"])
    verifier.authenticate(bob["x-amzn-oidc-data"], bob["x-amzn-oidc-accesstoken"])
    # Both tokens are now in the verified cache; the pairing is still checked on every hit.
    with pytest.raises(InvalidTokenError, match="another user"):
        verifier.authenticate(alice["x-amzn-oidc-data"], bob["x-amzn-oidc-accesstoken"])


@pytest.mark.parametrize(
    ("identity", "ok"),
    [
        pytest.param(SUB, True, id="equal"),
        pytest.param(None, True, id="absent"),
        pytest.param("someone-else", False, id="different"),
        pytest.param("", False, id="empty"),
    ],
)
def test_identity_header_must_equal_sub(
    verifier: Verifier, idp: FakeIdentityProvider, identity: str | None, ok: bool
) -> None:
    alb, access = idp.mint_alb_token(sub=SUB), idp.mint_access_token(sub=SUB)
    if ok:
        assert verifier.authenticate(alb, access, identity).sub == SUB
    else:
        with pytest.raises(InvalidTokenError, match="identity"):
            verifier.authenticate(alb, access, identity)


@pytest.mark.parametrize(
    ("offset", "error"),
    [
        pytest.param(-5.0, None, id="within-leeway"),
        pytest.param(-11.0, ExpiredTokenError, id="beyond-leeway"),
    ],
)
def test_expiry_leeway(
    options: dict[str, Any],
    idp: FakeIdentityProvider,
    clock: Clock,
    offset: float,
    error: type[Exception] | None,
) -> None:
    verifier = Verifier(clock=clock, **{**options, "leeway": 10})
    alb = idp.mint_alb_token(sub=SUB, ttl=offset, now=clock.now)
    access = idp.mint_access_token(sub=SUB, now=clock.now)
    if error is None:
        assert verifier.authenticate(alb, access).sub == SUB
    else:
        with pytest.raises(error):
            verifier.authenticate(alb, access)


def test_cached_pair_still_expires(
    verifier: Verifier, idp: FakeIdentityProvider, clock: Clock
) -> None:
    alb = idp.mint_alb_token(sub=SUB, ttl=60, now=clock.now)
    access = idp.mint_access_token(sub=SUB, now=clock.now)
    assert verifier.authenticate(alb, access).sub == SUB
    clock.now += 3600
    with pytest.raises(ExpiredTokenError):
        verifier.authenticate(alb, access)


def test_keys_are_fetched_once_per_process(
    verifier: Verifier, idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    for n in range(20):
        headers = idp.headers(sub=f"user-{n}")
        verifier.authenticate(headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"])
    assert (key_server.count("alb"), key_server.count("jwks")) == (1, 1)


def test_unknown_access_kid_refetches_jwks_at_most_once_per_interval(
    verifier: Verifier, idp: FakeIdentityProvider, key_server: KeyServer, clock: Clock
) -> None:
    alb = idp.mint_alb_token(sub=SUB)
    verifier.authenticate(alb, idp.mint_access_token(sub=SUB))
    stranger = idp.mint_access_token(sub=SUB, header={"kid": "rotated-kid"})
    for _ in range(5):
        with pytest.raises(InvalidTokenError, match="kid"):
            verifier.authenticate(alb, stranger)
    assert key_server.count("jwks") == 1  # fetched moments ago: no refetch for an unknown kid
    clock.now += 11
    for _ in range(5):
        with pytest.raises(InvalidTokenError, match="kid"):
            verifier.authenticate(alb, stranger)
    assert key_server.count("jwks") == 2  # one refetch per interval, however many requests


def test_rotated_access_key_is_picked_up(
    verifier: Verifier, idp: FakeIdentityProvider, clock: Clock
) -> None:
    alb = idp.mint_alb_token(sub=SUB, now=clock.now)
    verifier.authenticate(alb, idp.mint_access_token(sub=SUB, now=clock.now))
    old_kid = idp.rsa_kid
    idp.rsa_kid = "rotated-kid"  # the pool now publishes (and signs with) a new kid
    try:
        clock.now += 11
        alb = idp.mint_alb_token(sub=SUB, now=clock.now)
        assert verifier.authenticate(alb, idp.mint_access_token(sub=SUB, now=clock.now)).sub == SUB
    finally:
        idp.rsa_kid = old_kid


ParseCase = Callable[[FakeIdentityProvider], str]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda idp: "not-a-token", id="one-segment"),
        pytest.param(lambda idp: "a.b.c.d.e", id="jwe-shaped"),
        pytest.param(lambda idp: "a.b", id="two-segments"),
        pytest.param(lambda idp: "!!!.???.***", id="not-base64"),
        pytest.param(lambda idp: idp.mint_alb_token() + "é", id="non-ascii"),
        pytest.param(lambda idp: idp.mint_alb_token().replace(".", ".\x00", 1), id="nul-byte"),
        pytest.param(lambda idp: idp.mint_alb_token().replace(".", "\r\n.", 1), id="crlf"),
        pytest.param(lambda idp: "x" * 20000, id="too-long"),
        pytest.param(lambda idp: f"{_b64(b'[1]')}.{_b64(b'{}')}.{_b64(b'x')}", id="header-list"),
        pytest.param(lambda idp: f"{_b64(b'{')}.{_b64(b'{}')}.{_b64(b'x')}", id="header-bad-json"),
        pytest.param(lambda idp: f"{_b64(b'[' * 5000)}.{_b64(b'{}')}.{_b64(b'x')}", id="deep-json"),
    ],
)
def test_malformed_tokens_are_invalid(
    verifier: Verifier, idp: FakeIdentityProvider, key_server: KeyServer, make: ParseCase
) -> None:
    token = make(idp)
    with pytest.raises(InvalidTokenError) as caught:
        verifier.authenticate(token, idp.mint_access_token(sub=SUB))
    assert token not in str(caught.value)
    assert key_server.requests == []


def test_error_messages_never_contain_the_token(
    verifier: Verifier, idp: FakeIdentityProvider
) -> None:
    alb = idp.mint_alb_token(sub=SUB, claims={"sub": "other"})
    access = idp.mint_access_token(sub=SUB)
    with pytest.raises(InvalidTokenError) as caught:
        verifier.authenticate(alb, access)
    for part in (*alb.split("."), *access.split(".")):
        assert part.rstrip("=") not in str(caught.value)


@pytest.mark.parametrize(
    ("which", "signature"),
    [
        pytest.param("alb", b"", id="alb-empty"),
        pytest.param("alb", b"\x00" * 63, id="alb-short"),
        pytest.param("alb", b"\xff" * 64, id="alb-out-of-range"),
        pytest.param("alb", b"\x01" * 72, id="alb-der-sized"),
        pytest.param("access", b"", id="access-empty"),
        pytest.param("access", b"\x01" * 255, id="access-short"),
        pytest.param("access", b"\xff" * 256, id="access-out-of-range"),
        pytest.param("access", b"\x01" * 512, id="access-long"),
    ],
)
def test_malformed_signatures_are_invalid(
    verifier: Verifier, idp: FakeIdentityProvider, which: str, signature: bytes
) -> None:
    alb, access = idp.mint_alb_token(sub=SUB), idp.mint_access_token(sub=SUB)
    forged = _b64(signature)
    if which == "alb":
        alb = alb.rsplit(".", 1)[0] + "." + forged
    else:
        access = access.rsplit(".", 1)[0] + "." + forged
    with pytest.raises(InvalidTokenError, match="signature"):
        verifier.authenticate(alb, access)


def test_keys_are_cryptography_objects(verifier: Verifier, idp: FakeIdentityProvider) -> None:
    # python-jose's pure-Python backends (ecdsa, rsa) must never be what verifies.
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from cognito_auth_middleware.core.keys import Rs256Key, parse_alb_key, parse_jwks

    assert isinstance(parse_alb_key(idp.alb_public_pem()).public_key, ec.EllipticCurvePublicKey)
    for key in parse_jwks(json.dumps(idp.jwks()).encode()).values():
        assert isinstance(key, Rs256Key)
        assert isinstance(key.public_key, rsa.RSAPublicKey)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"sub": "x"}{}', id="two-objects"),
        pytest.param(b'{"sub": "x"} {}', id="two-objects-spaced"),
        pytest.param(b'\xc2\xa0{"sub": "x"}', id="non-json-space"),
        pytest.param(b'{"sub": NaN}', id="nan"),
        pytest.param(b'{"sub": -Infinity}', id="infinity"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
    ],
)
def test_payload_must_be_exactly_one_json_object(
    verifier: Verifier, idp: FakeIdentityProvider, key_server: KeyServer, payload: bytes
) -> None:
    header = idp.mint_alb_token(sub=SUB).split(".")[0]
    token = f"{header}.{_b64(payload)}.{_b64(b'x' * 64)}"
    with pytest.raises(InvalidTokenError, match="payload is not JSON"):
        verifier.authenticate(token, idp.mint_access_token(sub=SUB))
    assert key_server.requests == []
