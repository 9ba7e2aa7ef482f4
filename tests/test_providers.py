"""Other OIDC providers behind the ALB: the trust chain in each ``access_token_kind``.

Each stand-in behaves like the real provider (``FakeOidcProvider``): an Okta-like issuer with
JWT access tokens (``aud``, ``cid``, ``uid``, ``groups``), an Entra-like one (``roles``,
``tid``, a key rotation), a Keycloak-like one signing with ES256 (``realm_access.roles``), and a
Google-like one with opaque access tokens. Keys and discovery documents are served over real
HTTP on loopback; both middlewares run under real servers at the end.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from cryptography.hazmat.primitives import serialization

from cognito_auth_middleware import (
    AccessDeniedError,
    ConfigurationError,
    ExpiredTokenError,
    InvalidTokenError,
    KeysUnavailableError,
    MissingTokenError,
    Settings,
    User,
    Verifier,
)
from cognito_auth_middleware.core.headers import ACCESS_TOKEN, IDENTITY, OIDC_DATA
from cognito_auth_middleware.core.key_store import JWKS_REFETCH_INTERVAL
from cognito_auth_middleware.testing import FakeOidcProvider, KeyServer
from cognito_auth_middleware.testing.providers import SigningKey
from tests.conftest import Clock
from tests.servers import protected_app

SUB = "00u1a2b3c4d5e6f7g8h9"
OTHER = "00u9z8y7x6w5v4u3t2s1"
JWT_STYLES = ("okta", "entra", "keycloak")
ALL_STYLES = (*JWT_STYLES, "google")
OTHER_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-2:999999999999:loadbalancer/app/evil/0123456789abcdef"
)


@pytest.fixture(params=ALL_STYLES)
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[FakeOidcProvider, KeyServer]]:
    idp = FakeOidcProvider(request.param)
    with KeyServer(idp) as server:
        yield idp, server


@pytest.fixture(params=JWT_STYLES)
def jwt_provider(request: pytest.FixtureRequest) -> Iterator[tuple[FakeOidcProvider, KeyServer]]:
    idp = FakeOidcProvider(request.param)
    with KeyServer(idp) as server:
        yield idp, server


def _verify(verifier: Verifier, headers: dict[str, str]) -> Any:
    return verifier.authenticate(headers.get(OIDC_DATA), headers.get(ACCESS_TOKEN), None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _token(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


# --- what each provider's user looks like -----------------------------------------------------


def test_each_provider_signs_a_user_in(provider: tuple[FakeOidcProvider, KeyServer]) -> None:
    idp, server = provider
    verifier = Verifier(**server.settings())
    headers = idp.headers(sub=SUB, email="Ann@Example.com", username="ann", groups=["analysts"])
    user = _verify(verifier, headers)
    assert (user.sub, user.username, user.email, user.email_verified) == (
        SUB,
        "ann",
        "Ann@Example.com",
        True,
    )
    assert user.groups == ("analysts",)
    assert user.issuer == idp.issuer
    discovered = [] if idp.opaque else ["discovery", "jwks"]
    assert [server.count(kind) for kind in ("alb", "discovery", "jwks")] == [
        1,
        *[1 if kind in discovered else 0 for kind in ("discovery", "jwks")],
    ]
    # A second user needs no fetch: the discovered JWKS URL and the keys are kept.
    before = len(server.requests)
    assert _verify(verifier, idp.headers(sub=OTHER)).sub == OTHER
    assert len(server.requests) == before


def test_the_groups_claim_decides_the_group_rules(
    provider: tuple[FakeOidcProvider, KeyServer],
) -> None:
    idp, server = provider
    verifier = Verifier(**server.settings(allowed_groups=["analysts"]))
    assert _verify(verifier, idp.headers(sub=SUB, groups=["analysts"])).sub == SUB
    with pytest.raises(AccessDeniedError):
        _verify(verifier, idp.headers(sub=SUB, groups=["staff"]))
    # Cognito's claim name, where this provider does not put groups, is not read.
    misplaced = Verifier(**server.settings(groups_claim="cognito:groups"))
    assert _verify(misplaced, idp.headers(sub=SUB, groups=["analysts"])).groups == ()


def test_with_an_opaque_access_token_groups_come_from_the_alb_token() -> None:
    idp = FakeOidcProvider("google")
    with KeyServer(idp) as server:
        verifier = Verifier(**server.settings())
        alb = idp.mint_alb_token(sub=SUB, groups=["analysts"])
        assert verifier.authenticate(alb, "anything at all", SUB).groups == ("analysts",)
        assert verifier.authenticate(alb, "anything at all", SUB).access_claims == {}


# --- the ALB token: the same rules, with the provider's issuer ----------------------------------


@pytest.mark.parametrize(
    ("header", "claims", "message"),
    [
        pytest.param({"iss": "https://evil.example.com"}, {}, "issuer is not", id="other-issuer"),
        pytest.param(
            {"iss": "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Pool"},
            {},
            "issuer is not",
            id="a-cognito-pool",
        ),
        pytest.param({}, {"iss": "https://evil.example.com"}, "payload issuer", id="payload-iss"),
        pytest.param({"signer": OTHER_ARN}, {}, "signed by load balancer", id="other-alb"),
        pytest.param({"client": "another-client"}, {}, "app client", id="other-client"),
        pytest.param({"alg": "RS256"}, {}, "ES256", id="alg"),
    ],
)
def test_alb_token_rules_hold_for_every_provider(
    provider: tuple[FakeOidcProvider, KeyServer],
    header: dict[str, Any],
    claims: dict[str, Any],
    message: str,
) -> None:
    idp, server = provider
    verifier = Verifier(**server.settings())
    alb = idp.mint_alb_token(sub=SUB, header=header, claims=claims)
    with pytest.raises(InvalidTokenError, match=message):
        verifier.authenticate(alb, idp.mint_access_token(sub=SUB), SUB)
    if "payload" not in message:  # refused on the header: nothing was fetched
        assert server.requests == []


def test_an_expired_or_tampered_alb_token_is_refused_with_an_opaque_access_token() -> None:
    idp = FakeOidcProvider("google")
    with KeyServer(idp) as server:
        verifier = Verifier(**server.settings())
        with pytest.raises(ExpiredTokenError):
            verifier.authenticate(idp.mint_alb_token(sub=SUB, ttl=-60), "opaque", SUB)
        head, payload, signature = idp.mint_alb_token(sub=SUB).split(".")
        forged = json.loads(base64.urlsafe_b64decode(payload)) | {"sub": OTHER}
        tampered = f"{head}.{base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()}."
        with pytest.raises(InvalidTokenError, match="signature"):
            verifier.authenticate(tampered + signature, "opaque", OTHER)
        with pytest.raises(MissingTokenError):
            verifier.authenticate(idp.mint_alb_token(sub=SUB), "", SUB)
        with pytest.raises(InvalidTokenError, match="identity header"):
            verifier.authenticate(idp.mint_alb_token(sub=SUB), "opaque", OTHER)


def test_an_opaque_access_token_is_not_bound_to_the_user() -> None:
    # What access_token_kind="opaque" means (README): the ALB token alone names the user, and
    # any access token, another user's included, goes with it.
    idp = FakeOidcProvider("google")
    with KeyServer(idp) as server:
        verifier = Verifier(**server.settings())
        others = idp.headers(sub=OTHER)[ACCESS_TOKEN]
        assert verifier.authenticate(idp.mint_alb_token(sub=SUB), others, SUB).sub == SUB


def test_a_verified_alb_token_with_another_opaque_access_token_is_admitted_from_the_cache() -> None:
    # The ALB token is cached; the new pair is decided by lookup, with no flow and no fetch.
    idp = FakeOidcProvider("google")
    with KeyServer(idp) as server:
        verifier = Verifier(**server.settings())
        alb = idp.mint_alb_token(sub=SUB, groups=["analysts"])
        assert verifier.authenticate(alb, "first opaque token", SUB).sub == SUB
        fetched = len(server.requests)
        user = verifier.engine.lookup(alb, "second opaque token", SUB, time.time())
        assert user is not None
        assert (user.sub, user.groups, user.access_claims) == (SUB, ("analysts",), {})
        assert len(server.requests) == fetched


# --- JWT access tokens ------------------------------------------------------------------------


def test_a_spliced_access_token_of_another_user_is_refused(
    jwt_provider: tuple[FakeOidcProvider, KeyServer],
) -> None:
    idp, server = jwt_provider
    verifier = Verifier(**server.settings())
    with pytest.raises(InvalidTokenError, match="another user"):
        verifier.authenticate(idp.mint_alb_token(sub=SUB), idp.mint_access_token(sub=OTHER), SUB)


@pytest.mark.parametrize(
    ("claims", "error", "message"),
    [
        pytest.param({"iss": "https://evil.example.com"}, InvalidTokenError, "issuer", id="iss"),
        pytest.param({"iss": None}, InvalidTokenError, "issuer", id="no-iss"),
        pytest.param({"aud": "api://other"}, InvalidTokenError, "audience", id="aud"),
        pytest.param({"aud": None}, InvalidTokenError, "audience", id="no-aud"),
        pytest.param({"aud": 7}, InvalidTokenError, "'aud'", id="aud-type"),
        pytest.param({"exp": 1}, ExpiredTokenError, "expired", id="expired"),
        pytest.param({"exp": None}, InvalidTokenError, "'exp'", id="no-exp"),
        pytest.param({"nbf": 4_000_000_000}, InvalidTokenError, "not valid yet", id="nbf"),
        pytest.param({"exp": "soon"}, InvalidTokenError, "'exp'", id="exp-type"),
        pytest.param({"scp": None, "scope": 5}, InvalidTokenError, "'scope'", id="scope-type"),
        pytest.param({"sub": 5}, InvalidTokenError, "'sub' must be", id="sub-type"),
    ],
)
def test_jwt_access_token_rules(
    jwt_provider: tuple[FakeOidcProvider, KeyServer],
    claims: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    idp, server = jwt_provider
    verifier = Verifier(**server.settings(leeway=0))
    access = idp.mint_access_token(sub=SUB, claims=claims)
    with pytest.raises(error, match=message):
        verifier.authenticate(idp.mint_alb_token(sub=SUB), access, SUB)


def test_the_subject_claim_binds_the_two_tokens() -> None:
    idp = FakeOidcProvider("okta")  # sub: the login; uid: the user id the userinfo calls sub
    with KeyServer(idp) as server:
        alb = idp.mint_alb_token(sub=SUB)
        assert Verifier(**server.settings()).authenticate(alb, idp.mint_access_token(sub=SUB))
        by_sub = Verifier(**server.settings(subject_claim="sub"))
        with pytest.raises(InvalidTokenError, match="another user"):
            by_sub.authenticate(alb, idp.mint_access_token(sub=SUB))
        without_uid = idp.mint_access_token(sub=SUB, claims={"uid": None})
        with pytest.raises(InvalidTokenError, match="'uid'"):
            Verifier(**server.settings()).authenticate(alb, without_uid)


def test_audience_any_of_several_and_unset() -> None:
    idp = FakeOidcProvider("entra")
    with KeyServer(idp) as server:
        alb = idp.mint_alb_token(sub=SUB)
        listed = idp.mint_access_token(sub=SUB, claims={"aud": ["api://x", idp.client_id]})
        assert Verifier(**server.settings()).authenticate(alb, listed).sub == SUB
        other = idp.mint_access_token(sub=SUB, claims={"aud": "api://x"})
        assert Verifier(**server.settings(audience=None)).authenticate(alb, other).sub == SUB
        several = Verifier(**server.settings(audience=["api://y", "api://x"]))
        assert several.authenticate(alb, other).sub == SUB


def test_an_access_token_signed_by_a_foreign_key_is_refused_and_its_urls_are_not_fetched(
    jwt_provider: tuple[FakeOidcProvider, KeyServer],
) -> None:
    idp, server = jwt_provider
    attacker = FakeOidcProvider(idp.style)
    with KeyServer(attacker) as foreign:
        verifier = Verifier(**server.settings())
        key = attacker.keys[0]
        for header in (
            {"kid": idp.keys[0].kid},  # our kid, their key
            {"kid": key.kid, "jku": foreign.jwks_url, "x5u": foreign.jwks_url},
        ):
            claims = {"iss": idp.issuer}
            access = attacker.mint_access_token(sub=SUB, header=header, claims=claims)
            with pytest.raises(InvalidTokenError, match=r"signature|not in the provider's JWKS"):
                verifier.authenticate(idp.mint_alb_token(sub=SUB), access, SUB)
        # The attacker's own issuer is refused before any key is looked for.
        with pytest.raises(InvalidTokenError, match="issuer"):
            verifier.authenticate(idp.mint_alb_token(sub=SUB), attacker.mint_access_token(), SUB)
        assert foreign.requests == []


def _public_key_bytes(key: SigningKey) -> bytes:
    return key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_algorithm_confusion_is_refused(jwt_provider: tuple[FakeOidcProvider, KeyServer]) -> None:
    idp, server = jwt_provider
    verifier = Verifier(**server.settings())
    alb = idp.mint_alb_token(sub=SUB)
    _, claims = idp.access_fields(sub=SUB)
    kid = idp.keys[0].kid
    secret = _public_key_bytes(idp.keys[0])
    hs256 = _token(
        {"alg": "HS256", "kid": kid},
        claims,
        lambda data: hmac.new(secret, data, hashlib.sha256).digest(),
    )
    unsigned = _token({"alg": "none", "kid": kid}, claims, lambda data: b"")
    for token in (hs256, unsigned):
        with pytest.raises(InvalidTokenError, match="algorithm must be RS256 or ES256"):
            verifier.authenticate(alb, token, SUB)
    # The other allowed algorithm, naming this provider's key: refused, whatever signed it.
    other_alg: Literal["RS256", "ES256"] = "ES256" if idp.keys[0].alg == "RS256" else "RS256"
    impostor = SigningKey.generate(other_alg)
    confused = _token({"alg": other_alg, "kid": kid}, claims, impostor.sign)
    with pytest.raises(InvalidTokenError, match="its algorithm is not its key's"):
        verifier.authenticate(alb, confused, SUB)


def test_a_key_rotation_is_picked_up_and_a_retired_key_stops_verifying(clock: Clock) -> None:
    idp = FakeOidcProvider("entra")
    with KeyServer(idp) as server:
        verifier = Verifier(clock=clock, **server.settings())
        old = idp.mint_access_token(sub=SUB)
        assert verifier.authenticate(idp.mint_alb_token(sub=SUB), old, SUB)
        idp.rotate_key()
        # A new kid within the refetch interval of the last fetch waits for it (penalty box).
        new = idp.mint_access_token(sub=OTHER)
        with pytest.raises(InvalidTokenError, match="not in the provider's JWKS"):
            verifier.authenticate(idp.mint_alb_token(sub=OTHER), new, OTHER)
        clock.now += JWKS_REFETCH_INTERVAL + 1
        assert verifier.authenticate(idp.mint_alb_token(sub=OTHER), new, OTHER).sub == OTHER
        assert (server.count("discovery"), server.count("jwks")) == (1, 2)
        # Once the old key is retired, a fresh verifier no longer accepts its tokens.
        idp.retire_key()
        clock.now += JWKS_REFETCH_INTERVAL + 1
        fresh = Verifier(clock=clock, **server.settings())
        with pytest.raises(InvalidTokenError, match="not in the provider's JWKS"):
            fresh.authenticate(idp.mint_alb_token(sub=SUB), old, SUB)
        assert fresh.authenticate(idp.mint_alb_token(sub=OTHER), new, OTHER).sub == OTHER


# --- discovery --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param({"issuer": "https://evil.example.com"}, "another issuer", id="issuer"),
        pytest.param({"jwks_uri": "https://evil.example.com/keys"}, "scheme", id="scheme"),
        pytest.param({"jwks_uri": None}, "no usable jwks_uri", id="no-jwks-uri"),
        pytest.param({"jwks_uri": "http://127.0.0.1/k\n"}, "no usable", id="control-character"),
        pytest.param({"jwks_uri": "http://:80/keys"}, "scheme", id="no-host"),
    ],
)
def test_a_discovery_document_that_cannot_be_trusted_is_503(
    document: dict[str, Any], reason: str
) -> None:
    idp = FakeOidcProvider("okta")
    with KeyServer(idp) as server:
        good = idp.discovery(server.jwks_url)
        server.discovery_body = json.dumps(
            {k: v for k, v in (good | document).items() if v is not None}
        ).encode()
        verifier = Verifier(**server.settings())
        with pytest.raises(KeysUnavailableError, match=reason):
            verifier.authenticate(idp.mint_alb_token(sub=SUB), idp.mint_access_token(sub=SUB))
        assert server.count("jwks") == 0


def test_discovery_is_fetched_once_and_recovers_after_a_failure(clock: Clock) -> None:
    idp = FakeOidcProvider("keycloak")
    with KeyServer(idp) as server:
        verifier = Verifier(clock=clock, **server.settings())
        server.discovery_body = b"<html>maintenance</html>"
        with pytest.raises(KeysUnavailableError, match="discovery document is not JSON"):
            verifier.authenticate(idp.mint_alb_token(sub=SUB), idp.mint_access_token(sub=SUB))
        server.discovery_body = None
        clock.now += 60
        for sub in (SUB, OTHER, SUB + "2"):
            verifier.authenticate(idp.mint_alb_token(sub=sub), idp.mint_access_token(sub=sub))
        assert (server.count("discovery"), server.count("jwks")) == (2, 1)


def test_a_configured_jwks_url_skips_discovery() -> None:
    idp = FakeOidcProvider("okta")
    with KeyServer(idp) as server:
        verifier = Verifier(**server.settings(jwks_url=server.jwks_url))
        assert verifier.authenticate(idp.mint_alb_token(sub=SUB), idp.mint_access_token(sub=SUB))
        assert (server.count("discovery"), server.count("jwks")) == (0, 1)


# --- settings ---------------------------------------------------------------------------------

ARN = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/a/0123456789abcdef"
ISSUER = "https://dev-123456.okta.com/oauth2/default"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param({"ACCESS_TOKEN_KIND": "jwt"}, "needs issuer", id="jwt-without-issuer"),
        pytest.param({"ACCESS_TOKEN_KIND": "opaque"}, "needs issuer", id="opaque-no-issuer"),
        pytest.param({"ISSUER": ISSUER}, "not a Cognito user pool", id="cognito-other-issuer"),
        pytest.param(
            {"ISSUER": ISSUER, "ACCESS_TOKEN_KIND": "JOT"}, "did you mean", id="kind-typo"
        ),
        pytest.param(
            {"ISSUER": ISSUER, "ACCESS_TOKEN_KIND": "jwt", "USER_POOL_ID": "eu-west-2_Abc"},
            "user_pool_id",
            id="jwt-with-pool",
        ),
        pytest.param({"AUDIENCE": "api://default"}, "audience applies", id="cognito-audience"),
        pytest.param(
            {"ISSUER": ISSUER, "ACCESS_TOKEN_KIND": "opaque", "AUDIENCE": "x"},
            "cannot apply",
            id="opaque-audience",
        ),
        pytest.param(
            {"ISSUER": ISSUER, "ACCESS_TOKEN_KIND": "opaque", "JWKS_URL": "https://x.example/k"},
            "cannot apply",
            id="opaque-jwks-url",
        ),
        pytest.param({"SUBJECT_CLAIM": "uid"}, "applies to access_token_kind='jwt'", id="subj"),
        pytest.param(
            {"ISSUER": ISSUER, "ACCESS_TOKEN_KIND": "jwt", "GROUPS_CLAIM": "my groups"},
            "claim name",
            id="groups-claim-space",
        ),
        pytest.param(
            {"ISSUER": ISSUER + "\n/x", "ACCESS_TOKEN_KIND": "jwt"}, "control", id="issuer-cr"
        ),
        pytest.param({"ISSUER": "ftp://x.example", "ACCESS_TOKEN_KIND": "jwt"}, "http", id="ftp"),
        pytest.param(
            {
                "ISSUER": "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_A",
                "USER_POOL_ID": "eu-west-2_B",
            },
            "is not the issuer of user_pool_id",
            id="pool-mismatch",
        ),
    ],
)
def test_provider_settings_that_cannot_be_honoured_stop_start_up(
    environ: dict[str, str], message: str
) -> None:
    env = {"COGNITO_AUTH_ALB_ARN": ARN} | {f"COGNITO_AUTH_{k}": v for k, v in environ.items()}
    with pytest.raises(ConfigurationError, match=message):
        Settings.load(environ=env)


def test_provider_settings_from_the_environment_alone() -> None:
    env = {
        "COGNITO_AUTH_ALB_ARN": ARN,
        "COGNITO_AUTH_ISSUER": ISSUER,
        "COGNITO_AUTH_ACCESS_TOKEN_KIND": "jwt",
        "COGNITO_AUTH_AUDIENCE": "api://default",
        "COGNITO_AUTH_GROUPS_CLAIM": "groups",
        "COGNITO_AUTH_SUBJECT_CLAIM": "uid",
    }
    settings = Settings.load(environ=env)
    assert settings.discovery_url == ISSUER + "/.well-known/openid-configuration"
    assert (settings.issuer, settings.audience, settings.subject_claim) == (
        ISSUER,
        ("api://default",),
        "uid",
    )
    # An issuer with a trailing slash (Auth0's) is compared as written; discovery drops it.
    auth0 = Settings.load(environ=env | {"COGNITO_AUTH_ISSUER": "https://t.auth0.com/"})
    assert auth0.issuer == "https://t.auth0.com/"
    assert auth0.discovery_url == "https://t.auth0.com/.well-known/openid-configuration"
    cognito = Settings.load(environ={"COGNITO_AUTH_ALB_ARN": ARN})
    assert (cognito.access_token_kind, cognito.discovery_url) == ("cognito", None)


# --- both middlewares, under real servers -----------------------------------------------------


@pytest.mark.parametrize("middleware", ["asgi", "wsgi"])
def test_both_middlewares_serve_each_provider_end_to_end(
    provider: tuple[FakeOidcProvider, KeyServer], middleware: str
) -> None:
    idp, server = provider
    with protected_app(middleware, server.settings(allowed_groups=["analysts"])) as client:
        admitted = client.get("/", headers=idp.headers(sub=SUB, groups=["analysts"]))
        assert admitted.status_code == 200, admitted.text
        assert admitted.json() == {"sub": SUB, "email": "user@example.com", "groups": ["analysts"]}
        assert client.get("/", headers=idp.headers(sub=SUB, groups=["staff"])).status_code == 403
        assert client.get("/").status_code == 401
        forged = idp.headers(sub=SUB, groups=["analysts"])
        forged[OIDC_DATA] = idp.mint_alb_token(sub=SUB, header={"iss": "https://evil.test"})
        assert client.get("/", headers=forged).status_code == 401
        spliced = idp.headers(sub=SUB, groups=["analysts"])
        spliced[IDENTITY] = OTHER
        assert client.get("/", headers=spliced).status_code == 401


# --- User.from_claims for other providers -----------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "path", "expected"),
    [
        pytest.param({"groups": ["a"]}, "groups", ("a",), id="top-level"),
        pytest.param({"realm_access": {"roles": ["a", "b"]}}, "realm_access.roles", ("a", "b")),
        pytest.param({"realm_access.roles": ["x"]}, "realm_access.roles", ("x",), id="exact-name"),
        pytest.param({"realm_access": ["a"]}, "realm_access.roles", (), id="not-an-object"),
        pytest.param({"realm_access": {}}, "realm_access.roles", (), id="absent"),
        pytest.param({"a": {"b": {"c": ["deep"]}}}, "a.b.c", ("deep",), id="deeper"),
        pytest.param({"roles": "admin"}, "roles", (), id="a-string-is-not-a-list"),
        pytest.param({"roles": ["a", 1]}, "roles", (), id="not-all-strings"),
        pytest.param({"roles": None}, "roles", (), id="null"),
    ],
)
def test_groups_are_read_from_the_configured_claim(
    claims: dict[str, Any], path: str, expected: tuple[str, ...]
) -> None:
    assert User.from_claims({"sub": "s"}, claims, groups_claim=path).groups == expected
    from_alb = User.from_claims(
        {"sub": "s", **claims}, {}, groups_claim=path, groups_from="oidc_data"
    )
    assert from_alb.groups == expected
    # Read from the other token, the claim is not found.
    assert (
        User.from_claims({"sub": "s"}, claims, groups_claim=path, groups_from="oidc_data").groups
        == ()
    )


def test_a_user_of_another_provider_has_its_username_and_issuer() -> None:
    user = User.from_claims({"sub": "s", "preferred_username": "ann", "iss": "https://i"}, {})
    assert (user.username, user.issuer) == ("ann", "https://i")
    cognito = User.from_claims(
        {"sub": "s", "username": "u", "preferred_username": "p", "iss": "https://alb"},
        {"iss": "https://pool"},
    )
    assert (cognito.username, cognito.issuer) == ("u", "https://pool")
