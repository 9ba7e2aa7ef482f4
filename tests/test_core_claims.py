"""The claim rules of ``core/claims.py``, applied to real tokens parsed by ``parse_token``.

``HeaderRules`` decides before any fetch; ``alb_record`` / ``access_record`` check the fields of a
token whose signature has been verified and keep what every request compares. Each row names
one rule and fails if the rule is removed or loosened.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from cognito_auth_middleware import InvalidTokenError, Settings
from cognito_auth_middleware.core.claims import (
    ACCESS,
    ALB,
    MAX_TIMESTAMP,
    HeaderRules,
    access_record,
    alb_record,
)
from cognito_auth_middleware.core.tokens import ParsedToken, parse_token
from cognito_auth_middleware.testing import FakeIdentityProvider

SUB = "11111111-2222-3333-4444-555555555555"
NOW = 1_700_000_000
OTHER_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-2:999999999999:loadbalancer/app/evil/0123456789abcdef"
)


def _rules(idp: FakeIdentityProvider, **overrides: Any) -> HeaderRules:
    options: dict[str, Any] = {
        "alb_arn": idp.alb_arn,
        "user_pool_id": idp.user_pool_id,
        "client_id": idp.client_id,
        **overrides,
    }
    return HeaderRules(Settings.load(environ={}, **options))


def _alb(idp: FakeIdentityProvider, **change: Any) -> ParsedToken:
    return parse_token(idp.mint_alb_token(sub=SUB, now=NOW, ttl=100, **change), ALB)


def _access(idp: FakeIdentityProvider, **change: Any) -> ParsedToken:
    return parse_token(idp.mint_access_token(sub=SUB, now=NOW, ttl=100, **change), ACCESS)


# --- the ALB token's header -------------------------------------------------------------------


def test_a_valid_alb_header_gives_its_kid_and_issuer(idp: FakeIdentityProvider) -> None:
    assert _rules(idp).check_alb(_alb(idp).header) == (idp.alb_kid, idp.issuer)


ALB_HEADERS = [
    pytest.param({}, {"alg": "ES384"}, "algorithm must be ES256", id="alg"),
    pytest.param({}, {"kid": None}, "required field 'kid' is missing", id="kid-missing"),
    pytest.param({}, {"kid": 5}, "kid is not a UUID", id="kid-number"),
    pytest.param({}, {"kid": SUB + "\n"}, "kid is not a UUID", id="kid-trailing-newline"),
    pytest.param({}, {"kid": "x" + SUB}, "kid is not a UUID", id="kid-prefixed"),
    pytest.param({}, {"signer": None}, "required field 'signer' is missing", id="signer-missing"),
    pytest.param({}, {"signer": 5}, "signer is not a string", id="signer-number"),
    pytest.param(
        {},
        {"signer": OTHER_ARN},
        f"signed by load balancer {OTHER_ARN!r}, expected one of",
        id="signer-other",
    ),
    pytest.param(
        {}, {"signer": "evil\nlog line"}, "signed by load balancer ?, expected", id="signer-inert"
    ),
    pytest.param({}, {"client": None}, "required field 'client' is missing", id="client-missing"),
    pytest.param({}, {"client": 5}, "app client is not one of", id="client-number"),
    pytest.param({}, {"client": "another"}, "app client is not one of", id="client-other"),
    pytest.param({}, {"iss": None}, "issuer is not https://cognito-idp", id="iss-missing"),
    pytest.param({}, {"iss": 5}, "issuer is not", id="iss-number"),
    pytest.param(
        {},
        {"iss": "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Other"},
        "issuer is not https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_TestPool1",
        id="iss-other-pool",
    ),
    # Without a pool id, only the form of the issuer is known: a pool of the region.
    pytest.param(
        {"user_pool_id": None},
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"},
        "issuer is not a Cognito user pool of eu-west-2",
        id="iss-other-region",
    ),
    pytest.param(
        {"user_pool_id": None},
        {"iss": "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Pool\n"},
        "issuer is not a Cognito user pool",
        id="iss-trailing-newline",
    ),
]


@pytest.mark.parametrize(("config", "header", "message"), ALB_HEADERS)
def test_alb_header_rules(
    idp: FakeIdentityProvider, config: dict[str, Any], header: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        _rules(idp, **config).check_alb(_alb(idp, header=header).header)
    assert caught.value.message.startswith(f"{ALB}: ")
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("config", "header"),
    [
        pytest.param({"alb_arn": None}, {"signer": OTHER_ARN}, id="no-alb-arn-any-signer"),
        pytest.param({"client_id": None}, {"client": "any-client"}, id="no-client-id-any-client"),
        pytest.param(
            {"user_pool_id": None},
            {"iss": "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Other"},
            id="no-pool-any-pool-of-the-region",
        ),
    ],
)
def test_what_is_not_configured_is_not_checked(
    idp: FakeIdentityProvider, config: dict[str, Any], header: dict[str, Any]
) -> None:
    parsed = _alb(idp, header=header)
    assert _rules(idp, **config).check_alb(parsed.header)[1] == parsed.header["iss"]


# --- the access token's header ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param({"alg": "RS512"}, "algorithm must be RS256", id="alg"),
        pytest.param({"kid": None}, "required field 'kid' is missing", id="kid-missing"),
        pytest.param({"kid": ""}, "kid is malformed", id="kid-empty"),
        pytest.param({"kid": 5}, "kid is malformed", id="kid-number"),
        pytest.param({"kid": "a b"}, "kid is malformed", id="kid-space"),
        pytest.param({"kid": "ab\n"}, "kid is malformed", id="kid-newline"),
        pytest.param({"kid": "k" * 129}, "kid is malformed", id="kid-129"),
        pytest.param({"kid": "é"}, "kid is malformed", id="kid-non-ascii"),
    ],
)
def test_access_header_rules(
    idp: FakeIdentityProvider, header: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        _rules(idp).check_access(_access(idp, header=header).header)
    assert caught.value.message == f"{ACCESS}: {message}"


@pytest.mark.parametrize("kid", ["k" * 128, "!", "~", "a/b+c="])
def test_an_access_kid_of_printable_ascii_is_accepted(idp: FakeIdentityProvider, kid: str) -> None:
    assert _rules(idp).check_access(_access(idp, header={"kid": kid}).header) == kid


# --- the ALB token's fields -------------------------------------------------------------------


def test_a_valid_alb_token_is_reduced_to_what_every_request_compares(
    idp: FakeIdentityProvider,
) -> None:
    record = alb_record(_alb(idp, claims={"iat": NOW - 5}), idp.issuer, leeway=10)
    assert (record.sub, record.issuer, record.client) == (SUB, idp.issuer, idp.client_id)
    assert (record.not_before, record.not_after) == (NOW - 15, NOW + 110)
    assert record.claims["sub"] == SUB


ALB_FIELDS = [
    pytest.param({"sub": ""}, "claim 'sub' must be a non-empty string", id="sub-empty"),
    pytest.param({"sub": 5}, "claim 'sub' must be a non-empty string", id="sub-number"),
    pytest.param({"sub": None}, "claim 'sub' must be a non-empty string", id="sub-missing"),
    pytest.param({"iss": None}, "required field 'iss' is missing", id="iss-missing"),
    pytest.param({"iss": "https://x"}, "payload issuer differs", id="iss-differs"),
    pytest.param({"aud": 5}, "claim 'aud' must be a string or a list", id="aud-number"),
    pytest.param({"aud": ["a", 5]}, "claim 'aud' must be a string or a list", id="aud-mixed"),
    pytest.param({"scope": 5}, "claim 'scope' must be a string", id="scope-number"),
    pytest.param({"jti": ["x"]}, "claim 'jti' must be a string", id="jti-list"),
    pytest.param({"exp": "1"}, "'exp' must be a number of seconds", id="exp-string"),
    pytest.param({"exp": True}, "'exp' must be a number of seconds", id="exp-bool"),
    pytest.param({"exp": -1}, "'exp' must be a number of seconds", id="exp-negative"),
    pytest.param(
        {"exp": MAX_TIMESTAMP + 1}, "'exp' must be a number of seconds", id="exp-past-9999"
    ),
    pytest.param({"nbf": "1"}, "'nbf' must be a number of seconds", id="nbf-string"),
    pytest.param({"iat": 10**400}, "'iat' must be a number of seconds", id="iat-huge"),
]


@pytest.mark.parametrize(("claims", "message"), ALB_FIELDS)
def test_alb_field_rules(idp: FakeIdentityProvider, claims: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        alb_record(_alb(idp, claims=claims), idp.issuer, leeway=0)
    assert caught.value.message.startswith(f"{ALB}: ")
    assert message in caught.value.message


def test_an_alb_token_needs_an_exp_in_its_header_or_payload(idp: FakeIdentityProvider) -> None:
    header_only = _alb(idp, claims={"exp": None})
    assert alb_record(header_only, idp.issuer, leeway=0).not_after == NOW + 100
    payload_only = _alb(idp, header={"exp": None})
    assert alb_record(payload_only, idp.issuer, leeway=0).not_after == NOW + 100
    neither = _alb(idp, header={"exp": None}, claims={"exp": None})
    with pytest.raises(InvalidTokenError, match="required field 'exp' is missing"):
        alb_record(neither, idp.issuer, leeway=0)


@pytest.mark.parametrize(
    ("header", "claims", "window"),
    [
        pytest.param({}, {}, (-math.inf, NOW + 100), id="no-start"),
        pytest.param({"exp": NOW + 50}, {}, (-math.inf, NOW + 50), id="earliest-exp-header"),
        pytest.param({}, {"exp": NOW + 50}, (-math.inf, NOW + 50), id="earliest-exp-payload"),
        pytest.param({}, {"nbf": NOW, "iat": NOW - 9}, (NOW, NOW + 100), id="latest-start-nbf"),
        pytest.param({}, {"nbf": NOW - 9, "iat": NOW}, (NOW, NOW + 100), id="latest-start-iat"),
        pytest.param({"iat": NOW + 1}, {"iat": NOW}, (NOW + 1, NOW + 100), id="start-in-header"),
        pytest.param({}, {"iat": 0}, (0, NOW + 100), id="iat-zero"),
        pytest.param({}, {"exp": MAX_TIMESTAMP}, (-math.inf, NOW + 100), id="exp-max"),
        pytest.param({}, {"iat": 1.5}, (1.5, NOW + 100), id="iat-float"),
    ],
)
def test_the_validity_window_is_the_narrowest_the_times_allow(
    idp: FakeIdentityProvider,
    header: dict[str, Any],
    claims: dict[str, Any],
    window: tuple[float, float],
) -> None:
    record = alb_record(_alb(idp, header=header, claims=claims), idp.issuer, leeway=0)
    assert (record.not_before, record.not_after) == window


@pytest.mark.parametrize("value", [[1], {"a": 1}, float("nan")])
def test_a_time_that_is_not_a_number_is_refused(idp: FakeIdentityProvider, value: object) -> None:
    token = _alb(idp)
    token.claims["nbf"] = value  # NaN cannot be minted as JSON: set on the parsed claims
    with pytest.raises(InvalidTokenError, match="'nbf' must be a number of seconds"):
        alb_record(token, idp.issuer, leeway=0)


def test_a_json_null_time_is_not_an_absent_one(idp: FakeIdentityProvider) -> None:
    token = _alb(idp)
    token.claims["iat"] = None
    with pytest.raises(InvalidTokenError, match="'iat' must be a number of seconds"):
        alb_record(token, idp.issuer, leeway=0)


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"aud": "client"}, id="aud-string"),
        pytest.param({"aud": ["a", "b"]}, id="aud-list"),
        pytest.param({"aud": []}, id="aud-empty-list"),
        pytest.param({"scope": "openid", "jti": "x"}, id="scope-and-jti"),
    ],
)
def test_registered_claims_of_the_right_type_are_accepted(
    idp: FakeIdentityProvider, claims: dict[str, Any]
) -> None:
    assert alb_record(_alb(idp, claims=claims), idp.issuer, leeway=0).sub == SUB


# --- the access token's fields ----------------------------------------------------------------


def test_a_valid_access_token_is_reduced_to_what_every_request_compares(
    idp: FakeIdentityProvider,
) -> None:
    record = access_record(_access(idp), leeway=10)
    assert (record.sub, record.issuer, record.client) == (SUB, idp.issuer, idp.client_id)
    assert (record.not_before, record.not_after) == (NOW - 10, NOW + 110)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        pytest.param({"token_use": "id"}, "token_use must be 'access'", id="id-token"),
        pytest.param({"token_use": None}, "required field 'token_use' is missing", id="no-use"),
        pytest.param({"client_id": None}, "required field 'client_id' is missing", id="no-client"),
        pytest.param({"exp": None}, "required field 'exp' is missing", id="no-exp"),
        pytest.param({"scope": ["openid"]}, "claim 'scope' must be a string", id="scope-list"),
        pytest.param({"iat": "0"}, "'iat' must be a number of seconds", id="iat-string"),
    ],
)
def test_access_field_rules(
    idp: FakeIdentityProvider, claims: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        access_record(_access(idp, claims=claims), leeway=0)
    assert caught.value.message.startswith(f"{ACCESS}: ")
    assert message in caught.value.message
