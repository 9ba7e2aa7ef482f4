"""The claim rules of ``core/claims.py``, applied to real tokens parsed by ``parse_token``.

``HeaderRules`` decides before any fetch; ``alb_record`` / ``access_record`` /
``jwt_access_record`` / ``verified_access_record`` / ``bearer_record`` check the fields of a
token whose signature has been verified and keep what every request compares. Each row names
one rule and fails if the rule is removed or loosened; messages are compared whole, since
operators read them in the log.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from cognito_auth_middleware import InvalidTokenError, Settings
from cognito_auth_middleware.core.claims import (
    ACCESS,
    ALB,
    BEARER,
    MAX_TIMESTAMP,
    VERIFIED_ACCESS,
    HeaderRules,
    access_record,
    alb_record,
    bearer_record,
    jwt_access_record,
    verified_access_record,
)
from cognito_auth_middleware.core.tokens import ParsedToken, parse_token
from cognito_auth_middleware.testing import (
    FakeIdentityProvider,
    FakeOidcProvider,
    FakeVerifiedAccess,
)

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


# --- another provider's JWT access token ------------------------------------------------------


@pytest.fixture(scope="module")
def okta() -> FakeOidcProvider:
    return FakeOidcProvider("okta")


def _okta_access(okta: FakeOidcProvider, **change: Any) -> ParsedToken:
    return parse_token(okta.mint_access_token(sub=SUB, now=NOW, ttl=100, **change), ACCESS)


def test_a_valid_jwt_access_token_is_reduced_to_what_every_request_compares(
    okta: FakeOidcProvider,
) -> None:
    record = jwt_access_record(_okta_access(okta), okta.issuer, ["api://default"], "uid", 10)
    # Okta's user id is "uid" (its "sub" is the login); no app client to compare.
    assert (record.sub, record.issuer, record.client) == (SUB, okta.issuer, None)
    assert (record.not_before, record.not_after) == (NOW - 10, NOW + 110)


@pytest.mark.parametrize(
    ("audience", "claims", "message"),
    [
        pytest.param(None, {"exp": None}, "required field 'exp' is missing", id="no-exp"),
        pytest.param(None, {"scope": 5}, "claim 'scope' must be a string", id="scope-number"),
        pytest.param(None, {"iss": None}, "required field 'iss' is missing", id="no-iss"),
        pytest.param(
            None, {"iss": "https://evil.example"}, "issuer is not {issuer}", id="other-issuer"
        ),
        pytest.param(
            ["api://orders"], {}, "audience is not one of ['api://orders']", id="other-audience"
        ),
        pytest.param(None, {"sub": 5}, "claim 'sub' must be a string", id="sub-number"),
        pytest.param(None, {"uid": ""}, "claim 'uid' must be a non-empty string", id="uid-empty"),
        pytest.param(None, {"uid": 5}, "claim 'uid' must be a non-empty string", id="uid-number"),
        pytest.param(
            None, {"uid": None}, "claim 'uid' must be a non-empty string", id="uid-missing"
        ),
    ],
)
def test_jwt_access_field_rules(
    okta: FakeOidcProvider, audience: list[str] | None, claims: dict[str, Any], message: str
) -> None:
    token = _okta_access(okta, claims=claims)
    with pytest.raises(InvalidTokenError) as caught:
        jwt_access_record(token, okta.issuer, audience or ["api://default"], "uid", 0)
    assert caught.value.message == f"{ACCESS}: {message.format(issuer=okta.issuer)}"


# --- the Verified Access token's header -------------------------------------------------------

OTHER_INSTANCE_ARN = (
    "arn:aws:ec2:eu-west-2:999999999999:verified-access-instance/vai-0fedcba987654321"
)


@pytest.fixture(scope="module")
def ava() -> FakeVerifiedAccess:
    return FakeVerifiedAccess("oidc")


@pytest.fixture(scope="module")
def iam() -> FakeVerifiedAccess:
    return FakeVerifiedAccess("iam-identity-center")


def _va_rules(ava: FakeVerifiedAccess, **overrides: Any) -> HeaderRules:
    options: dict[str, Any] = {**ava.settings(), **overrides}
    return HeaderRules(Settings.load(environ={}, **options))


def _va(ava: FakeVerifiedAccess, **change: Any) -> ParsedToken:
    return parse_token(ava.mint_alb_token(sub=SUB, now=NOW, ttl=100, **change), VERIFIED_ACCESS)


def test_a_valid_verified_access_header_gives_its_kid_and_issuer(ava: FakeVerifiedAccess) -> None:
    header = _va(ava).header
    assert _va_rules(ava).check_claims_token(header) == (ava.alb_kid, ava.issuer)
    # Without an issuer configured, any issuer the signed header names is the user's.
    other = _va(ava, header={"iss": "https://other-idp.example.com"}).header
    assert _va_rules(ava, issuer=None).check_verified_access(other)[1] == (
        "https://other-idp.example.com"
    )


@pytest.mark.parametrize(
    ("config", "header", "message"),
    [
        pytest.param({}, {"alg": "ES256"}, "algorithm must be ES384", id="alg-es256"),
        pytest.param({}, {"kid": None}, "required field 'kid' is missing", id="kid-missing"),
        pytest.param({}, {"kid": "not-a-uuid"}, "kid is not a UUID", id="kid-not-a-uuid"),
        pytest.param(
            {}, {"signer": None}, "required field 'signer' is missing", id="signer-missing"
        ),
        pytest.param(
            {},
            {"signer": OTHER_INSTANCE_ARN},
            "not signed by a configured Verified Access instance (['{arn}'])",
            id="signer-other",
        ),
        pytest.param({}, {"iss": "https://evil.example"}, "issuer is not {issuer}", id="iss-other"),
        pytest.param({}, {"iss": None}, "issuer is not {issuer}", id="iss-missing"),
        pytest.param(
            {"issuer": None}, {"iss": 5}, "issuer is not a string", id="any-issuer-iss-number"
        ),
        pytest.param(
            {"issuer": None}, {"iss": None}, "issuer is not a string", id="any-issuer-iss-missing"
        ),
    ],
)
def test_verified_access_header_rules(
    ava: FakeVerifiedAccess, config: dict[str, Any], header: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        _va_rules(ava, **config).check_verified_access(_va(ava, header=header).header)
    expected = message.format(arn=ava.instance_arn, issuer=ava.issuer)
    assert caught.value.message == f"{VERIFIED_ACCESS}: {expected}"


# --- the Verified Access token's fields -------------------------------------------------------


def test_an_oidc_trust_providers_claims_get_the_headers_issuer(ava: FakeVerifiedAccess) -> None:
    record = verified_access_record(_va(ava, claims={"iat": NOW - 5}), ava.issuer, leeway=10)
    assert (record.sub, record.issuer, record.client) == (SUB, ava.issuer, None)
    assert (record.not_before, record.not_after) == (NOW - 15, NOW + 110)  # exp: the header's
    assert record.claims["iss"] == ava.issuer  # the payload names none: the header's
    assert record.claims["email"] == "user@example.com"


def test_iam_identity_centers_user_fields_become_oidc_claims(iam: FakeVerifiedAccess) -> None:
    token = _va(iam, email="ann@example.com", username="ann")
    record = verified_access_record(token, iam.issuer, leeway=0)
    assert (record.sub, record.issuer) == (SUB, iam.issuer)
    mapped = {name: record.claims[name] for name in ("sub", "username", "email", "iss")}
    assert mapped == {"sub": SUB, "username": "ann", "email": "ann@example.com", "iss": iam.issuer}
    assert record.claims["email_verified"] is True
    assert record.claims["user"] == token.claims["user"]  # its own claims are kept


def test_a_payloads_own_sub_is_never_replaced_by_a_user_object(ava: FakeVerifiedAccess) -> None:
    # Only a payload naming no sub is IAM Identity Center's: a "user" claim beside a sub (an
    # OIDC provider's own claim, say) must not choose who the user is.
    token = _va(ava, claims={"user": {"user_id": "someone-else", "user_name": "eve"}})
    record = verified_access_record(token, ava.issuer, leeway=0)
    assert (record.sub, record.claims["sub"]) == (SUB, SUB)
    assert "username" not in record.claims


def test_a_payloads_own_issuer_is_kept(ava: FakeVerifiedAccess) -> None:
    token = _va(ava, claims={"iss": "https://idp.example.com/tenant-1"})
    record = verified_access_record(token, ava.issuer, leeway=0)
    assert record.claims["iss"] == "https://idp.example.com/tenant-1"
    assert record.issuer == ava.issuer


NO_SUB = "claim 'sub' (or 'user.user_id') must be a string"


@pytest.mark.parametrize(
    ("shape", "header", "claims", "message"),
    [
        pytest.param("ava", {"exp": None}, {}, "required field 'exp' is missing", id="no-exp"),
        pytest.param("ava", {}, {"scope": 5}, "claim 'scope' must be a string", id="scope"),
        pytest.param("ava", {}, {"sub": ""}, NO_SUB, id="sub-empty"),
        pytest.param("ava", {}, {"sub": 5}, NO_SUB, id="sub-number"),
        pytest.param("iam", {}, {"user": {"user_id": ""}}, NO_SUB, id="user-id-empty"),
        pytest.param("iam", {}, {"user": {"user_id": 5}}, NO_SUB, id="user-id-number"),
        pytest.param("iam", {}, {"user": {"user_name": "ann"}}, NO_SUB, id="user-id-missing"),
        pytest.param("iam", {}, {"user": "ann"}, NO_SUB, id="user-not-an-object"),
    ],
)
def test_verified_access_field_rules(
    request: pytest.FixtureRequest,
    shape: str,
    header: dict[str, Any],
    claims: dict[str, Any],
    message: str,
) -> None:
    provider: FakeVerifiedAccess = request.getfixturevalue(shape)
    token = _va(provider, header=header, claims=claims)
    with pytest.raises(InvalidTokenError) as caught:
        verified_access_record(token, provider.issuer, leeway=0)
    assert caught.value.message == f"{VERIFIED_ACCESS}: {message}"


# --- a machine client's bearer token ----------------------------------------------------------


def _bearer(idp: FakeIdentityProvider, **change: Any) -> ParsedToken:
    token = idp.mint_machine_token("svc-1", ["a/read", "a/write"], now=NOW, ttl=100, **change)
    return parse_token(token, BEARER)


def test_a_valid_bearer_token_is_reduced_to_its_client_and_scopes(
    idp: FakeIdentityProvider,
) -> None:
    token = _bearer(idp, claims={"aud": "api://reports"})
    record, scopes = bearer_record(token, idp.issuer, ["api://reports"], ["svc-1"], leeway=10)
    assert (record.sub, record.issuer, record.client) == ("svc-1", idp.issuer, "svc-1")
    assert (record.not_before, record.not_after) == (NOW - 10, NOW + 110)
    assert scopes == ("a/read", "a/write")
    assert record.claims is token.claims


@pytest.mark.parametrize(
    ("claims", "client"),
    [
        pytest.param({"cid": "b", "azp": "c", "appid": "d"}, "svc-1", id="client_id-first"),
        pytest.param({"client_id": None, "cid": "b", "azp": "c", "appid": "d"}, "b", id="cid"),
        pytest.param({"client_id": None, "azp": "c", "appid": "d"}, "c", id="then-azp"),
        pytest.param({"client_id": None, "appid": "d"}, "d", id="then-appid"),
    ],
)
def test_a_bearer_tokens_client_is_the_first_client_claim_it_names(
    idp: FakeIdentityProvider, claims: dict[str, Any], client: str
) -> None:
    record, _ = bearer_record(_bearer(idp, claims=claims), idp.issuer, (), (), leeway=0)
    assert record.client == client


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        pytest.param({"scope": "a b"}, ("a", "b"), id="scope-string"),
        pytest.param({"scope": ""}, (), id="scope-empty"),
        pytest.param({"scope": None, "scp": "a  b"}, ("a", "b"), id="scp-string-entra"),
        pytest.param({"scope": None, "scp": ["a", "b"]}, ("a", "b"), id="scp-list-okta"),
        pytest.param({"scope": None, "scp": []}, (), id="scp-empty-list"),
        pytest.param({"scope": None}, (), id="none"),
        pytest.param({"scope": "a", "scp": ["b"]}, ("a",), id="scope-before-scp"),
    ],
)
def test_a_bearer_tokens_scopes(
    idp: FakeIdentityProvider, claims: dict[str, Any], scopes: tuple[str, ...]
) -> None:
    assert bearer_record(_bearer(idp, claims=claims), idp.issuer, (), (), leeway=0)[1] == scopes


NO_CLIENT = "no client id (client_id, cid, azp or appid)"
BAD_SCP = "claim 'scp' must be a string or a list of strings"


@pytest.mark.parametrize(
    ("config", "claims", "message"),
    [
        pytest.param({}, {"exp": None}, "required field 'exp' is missing", id="no-exp"),
        pytest.param({}, {"scope": 5}, "claim 'scope' must be a string", id="scope-number"),
        pytest.param({}, {"iss": None}, "required field 'iss' is missing", id="no-iss"),
        pytest.param(
            {}, {"iss": "https://evil.example"}, "issuer is not {issuer}", id="other-issuer"
        ),
        pytest.param({}, {"token_use": "id"}, "token_use must be 'access'", id="id-token"),
        pytest.param(
            {"audience": ["api://orders"]},
            {"aud": "api://reports"},
            "audience is not one of ['api://orders']",
            id="other-audience",
        ),
        pytest.param(
            {"audience": ["api://orders"]},
            {},
            "audience is not one of ['api://orders']",
            id="no-audience",
        ),
        pytest.param({}, {"client_id": None}, NO_CLIENT, id="no-client"),
        pytest.param({}, {"client_id": ""}, NO_CLIENT, id="client-empty"),
        pytest.param({}, {"client_id": 5, "cid": "svc-1"}, NO_CLIENT, id="client-id-number"),
        pytest.param(
            {"clients": ["svc-2"]},
            {},
            "client is not one of the configured bearer_clients",
            id="other-client",
        ),
        pytest.param({}, {"scope": None, "scp": {"a": 1}}, BAD_SCP, id="scp-object"),
        pytest.param({}, {"scope": None, "scp": ["a", 5]}, BAD_SCP, id="scp-mixed-list"),
    ],
)
def test_bearer_field_rules(
    idp: FakeIdentityProvider, config: dict[str, Any], claims: dict[str, Any], message: str
) -> None:
    token = _bearer(idp, claims=claims)
    audience, clients = config.get("audience", ()), config.get("clients", ())
    with pytest.raises(InvalidTokenError) as caught:
        bearer_record(token, idp.issuer, audience, clients, leeway=0)
    assert caught.value.message == f"{BEARER}: {message.format(issuer=idp.issuer)}"
