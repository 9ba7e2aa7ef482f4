"""AWS Verified Access: ``x-amzn-ava-user-context``, its trust chain and both claim shapes.

The stand-in (``FakeVerifiedAccess``) signs with a real P-384 key served over loopback HTTP;
both middlewares run under real servers at the end.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

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
from cognito_auth_middleware.core.headers import OIDC_DATA, VERIFIED_ACCESS_CONTEXT
from cognito_auth_middleware.testing import (
    FakeIdentityProvider,
    FakeVerifiedAccess,
    KeyServer,
)
from tests.conftest import Clock
from tests.servers import protected_app

SUB = "ann-0001"
OTHER_INSTANCE = "arn:aws:ec2:eu-west-2:123456789012:verified-access-instance/vai-ffffffffffffffff0"
SHAPES = ("oidc", "iam-identity-center")


@pytest.fixture(params=SHAPES)
def ava(request: pytest.FixtureRequest) -> Iterator[tuple[FakeVerifiedAccess, KeyServer]]:
    stand_in = FakeVerifiedAccess(request.param)
    with KeyServer(stand_in) as server:
        yield stand_in, server


def _user(verifier: Verifier, token: str | None) -> User:
    return verifier.authenticate(token, None, None)


def test_both_claim_shapes_give_the_same_user(ava: tuple[FakeVerifiedAccess, KeyServer]) -> None:
    stand_in, server = ava
    verifier = Verifier(**server.settings())
    user = _user(
        verifier, stand_in.mint_alb_token(sub=SUB, email="Ann@Example.com", username="ann")
    )
    assert (user.sub, user.username, user.email, user.email_verified, user.issuer) == (
        SUB,
        "ann",
        "Ann@Example.com",
        True,
        stand_in.issuer,
    )
    assert user.access_claims == {}
    assert server.count("alb") == 1
    assert _user(verifier, stand_in.mint_alb_token(sub="bob")).sub == "bob"
    assert server.count("alb") == 1  # one key, kept


def test_groups_of_an_oidc_trust_provider_decide_the_rules() -> None:
    stand_in = FakeVerifiedAccess("oidc")
    with KeyServer(stand_in) as server:
        verifier = Verifier(**server.settings(allowed_groups=["engineering"]))
        assert _user(verifier, stand_in.mint_alb_token(sub=SUB, groups=["engineering"])).groups == (
            "engineering",
        )
        with pytest.raises(AccessDeniedError):
            _user(verifier, stand_in.mint_alb_token(sub=SUB, groups=["finance"]))
        by_email = Verifier(**server.settings(allowed_users=["ann@example.com"]))
        assert _user(by_email, stand_in.mint_alb_token(sub=SUB, email="ANN@example.com"))


def test_an_iam_identity_center_user_is_listed_by_email_or_sub() -> None:
    stand_in = FakeVerifiedAccess("iam-identity-center")
    with KeyServer(stand_in) as server:
        verifier = Verifier(**server.settings(allowed_users=["ann@example.com", "sub:bob-02"]))
        assert _user(verifier, stand_in.mint_alb_token(sub=SUB, email="ann@example.com"))
        assert _user(verifier, stand_in.mint_alb_token(sub="bob-02", email="b@example.com"))
        with pytest.raises(AccessDeniedError):
            _user(verifier, stand_in.mint_alb_token(sub="carol", email="c@example.com"))
        unverified = stand_in.mint_alb_token(
            sub=SUB, claims={"user": {"user_id": SUB, "email": {"address": "ann@example.com"}}}
        )
        with pytest.raises(AccessDeniedError):
            _user(verifier, unverified)


@pytest.mark.parametrize(
    ("header", "claims", "error", "message"),
    [
        pytest.param({"alg": "ES256"}, {}, InvalidTokenError, "ES384", id="alg-es256"),
        pytest.param({"alg": "none"}, {}, InvalidTokenError, "ES384", id="alg-none"),
        pytest.param({"kid": "../../etc"}, {}, InvalidTokenError, "UUID", id="kid"),
        pytest.param({"kid": None}, {}, InvalidTokenError, "'kid'", id="no-kid"),
        pytest.param({"signer": OTHER_INSTANCE}, {}, InvalidTokenError, "instance", id="signer"),
        pytest.param({"signer": None}, {}, InvalidTokenError, "'signer'", id="no-signer"),
        pytest.param({"iss": "https://evil.example"}, {}, InvalidTokenError, "issuer", id="iss"),
        pytest.param({"iss": None}, {}, InvalidTokenError, "issuer", id="no-iss"),
        pytest.param({"exp": 1}, {}, ExpiredTokenError, "expired", id="expired"),
        pytest.param({"exp": None}, {}, InvalidTokenError, "'exp'", id="no-exp"),
        pytest.param({"exp": "later"}, {}, InvalidTokenError, "'exp'", id="exp-type"),
        pytest.param({}, {"nbf": 4_000_000_000}, InvalidTokenError, "not valid yet", id="nbf"),
        pytest.param({}, {"sub": None, "user": None}, InvalidTokenError, "'sub'", id="no-sub"),
        pytest.param({}, {"sub": 5}, InvalidTokenError, "'sub'", id="sub-type"),
        pytest.param({}, {"user": {"user_id": ""}}, InvalidTokenError, "'sub'", id="empty-uid"),
        pytest.param({}, {"jti": 7}, InvalidTokenError, "'jti'", id="jti-type"),
    ],
)
def test_verified_access_token_rules(
    ava: tuple[FakeVerifiedAccess, KeyServer],
    header: dict[str, Any],
    claims: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    stand_in, server = ava
    if stand_in.shape == "iam-identity-center" and "sub" in claims:
        claims = {"user": None, **claims}
    if stand_in.shape == "oidc" and "user" in claims:
        claims = {"sub": None, **claims}
    verifier = Verifier(**server.settings(leeway=0))
    token = stand_in.mint_alb_token(sub=SUB, header=header, claims=claims)
    with pytest.raises(error, match=message):
        _user(verifier, token)
    if header and not {"exp"} & set(header):  # refused on the header: nothing fetched
        assert server.requests == []


def test_a_token_signed_by_another_key_or_tampered_is_refused(
    ava: tuple[FakeVerifiedAccess, KeyServer],
) -> None:
    stand_in, server = ava
    verifier = Verifier(**server.settings())
    impostor = FakeVerifiedAccess(stand_in.shape)
    impostor.alb_kid = stand_in.alb_kid
    with pytest.raises(InvalidTokenError, match="Verified Access token: signature"):
        _user(verifier, impostor.mint_alb_token(sub=SUB))
    head, payload, signature = stand_in.mint_alb_token(sub=SUB).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = base64.urlsafe_b64encode(json.dumps(claims | {"sub": "admin"}).encode()).decode()
    with pytest.raises(InvalidTokenError, match="signature"):
        _user(verifier, f"{head}.{forged.rstrip('=')}.{signature}")


def test_an_alb_token_is_not_a_verified_access_token() -> None:
    # The ALB's ES256 token, even validly signed with a P-256 key served at the same URL.
    stand_in = FakeVerifiedAccess()
    alb = FakeIdentityProvider()
    alb.alb_kid = stand_in.alb_kid
    with KeyServer(alb) as server:
        settings = {**stand_in.settings(), "verified_access_key_url": server.alb_key_url}
        verifier = Verifier(**settings)
        token = alb.mint_alb_token(sub=SUB, header={"signer": stand_in.instance_arn})
        with pytest.raises(InvalidTokenError, match="ES384"):
            _user(verifier, token)
        forged = alb.mint_alb_token(
            sub=SUB,
            header={"alg": "ES384", "signer": stand_in.instance_arn, "iss": stand_in.issuer},
        )
        # A P-256 key where a P-384 one belongs is the endpoint's fault: 503, not a key.
        with pytest.raises(KeysUnavailableError, match="not P-384"):
            _user(verifier, forged)


def test_the_header_is_required_and_the_alb_headers_are_not_read() -> None:
    stand_in = FakeVerifiedAccess()
    alb = FakeIdentityProvider()
    with KeyServer(stand_in) as server:
        verifier = Verifier(**server.settings())
        with pytest.raises(MissingTokenError, match="x-amzn-ava-user-context"):
            _user(verifier, None)
        raw = [(name.encode(), value.encode()) for name, value in alb.headers().items()]
        (claims, access, identity), _ = verifier.headers.from_asgi(raw)
        assert (claims, access, identity) == (None, None, None)
        both = [*raw, (VERIFIED_ACCESS_CONTEXT.encode(), stand_in.mint_alb_token().encode())]
        (claims, access, identity), _ = verifier.headers.from_asgi(both)
        assert claims is not None
        assert (access, identity) == (None, None)
        with pytest.raises(InvalidTokenError, match="more than once"):
            verifier.headers.from_asgi([*both, both[-1]])


def test_a_cached_token_still_expires(clock: Clock) -> None:
    stand_in = FakeVerifiedAccess()
    with KeyServer(stand_in) as server:
        verifier = Verifier(clock=clock, **server.settings(leeway=0))
        token = stand_in.mint_alb_token(sub=SUB, ttl=120, now=clock.now)
        assert _user(verifier, token).sub == SUB
        clock.now += 121
        with pytest.raises(ExpiredTokenError, match="Verified Access token: expired"):
            _user(verifier, token)


def test_an_unknown_kid_is_remembered_and_not_fetched_again() -> None:
    stand_in = FakeVerifiedAccess()
    with KeyServer(stand_in) as server:
        verifier = Verifier(**server.settings())
        unknown = stand_in.mint_alb_token(header={"kid": "00000000-0000-4000-8000-000000000000"})
        for _ in range(3):
            with pytest.raises(InvalidTokenError, match="no Verified Access public key"):
                _user(verifier, unknown)
        assert server.count("alb") == 1


# --- settings ---------------------------------------------------------------------------------

ARN = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/a/0123456789abcdef"
INSTANCE = "arn:aws:ec2:eu-west-2:123456789012:verified-access-instance/vai-0123456789abcdef0"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param(
            {"PROVIDER": "verified_access", "REGION": "eu-west-2"}, "did you mean", id="typo"
        ),
        pytest.param({"PROVIDER": "verified-access", "ALB_ARN": ARN}, "alb_arn", id="alb-arn"),
        pytest.param(
            {
                "PROVIDER": "verified-access",
                "VERIFIED_ACCESS_INSTANCE_ARN": INSTANCE,
                "ACCESS_TOKEN_KIND": "jwt",
            },
            "access_token_kind",
            id="access-token",
        ),
        pytest.param(
            {
                "PROVIDER": "verified-access",
                "VERIFIED_ACCESS_INSTANCE_ARN": INSTANCE,
                "CLIENT_ID": "abc",
            },
            "client_id",
            id="client-id",
        ),
        pytest.param(
            {"VERIFIED_ACCESS_INSTANCE_ARN": INSTANCE, "ALB_ARN": ARN},
            "apply to provider='verified-access' only",
            id="instance-without-provider",
        ),
        pytest.param(
            {"PROVIDER": "verified-access", "VERIFIED_ACCESS_INSTANCE_ARN": INSTANCE[:-1]},
            "not a Verified Access instance ARN",
            id="short-instance-id",
        ),
        pytest.param(
            {
                "PROVIDER": "verified-access",
                "VERIFIED_ACCESS_INSTANCE_ARN": INSTANCE.replace("eu-west-2", "us-east-1"),
                "REGION": "eu-west-2",
            },
            "one region",
            id="other-region",
        ),
        pytest.param(
            {"PROVIDER": "verified-access", "VERIFIED_ACCESS_INSTANCE_ARN": INSTANCE + "\nx"},
            "not a Verified Access instance ARN",
            id="newline",
        ),
        pytest.param(
            {
                "PROVIDER": "verified-access",
                "VERIFIED_ACCESS_INSTANCE_ARN": INSTANCE,
                "ISSUER": "has space",
            },
            "issuer",
            id="issuer-space",
        ),
    ],
)
def test_verified_access_settings_that_cannot_be_honoured_stop_start_up(
    environ: dict[str, str], message: str
) -> None:
    env = {f"COGNITO_AUTH_{k}": v for k, v in environ.items()}
    with pytest.raises(ConfigurationError, match=message):
        Settings.load(environ=env)


def test_the_middlewares_require_the_instance_arn() -> None:
    env = {"COGNITO_AUTH_PROVIDER": "verified-access", "COGNITO_AUTH_REGION": "eu-west-2"}
    with pytest.raises(ConfigurationError, match="verified_access_instance_arn is required"):
        Settings.for_middleware(Settings.load(environ=env))


def test_settings_from_the_environment_alone_default_to_the_aws_key_endpoint() -> None:
    env = {
        "COGNITO_AUTH_PROVIDER": "verified-access",
        "COGNITO_AUTH_VERIFIED_ACCESS_INSTANCE_ARN": INSTANCE,
    }
    settings = Settings.for_middleware(Settings.load(environ=env))
    assert (settings.region, settings.groups_claim) == ("eu-west-2", "groups")
    kid = "12345678-1234-1234-1234-123456789012"
    assert settings.alb_key_url_for(kid) == (
        f"https://public-keys.prod.verified-access.eu-west-2.amazonaws.com/{kid}"
    )


# --- both middlewares, under real servers -----------------------------------------------------


@pytest.mark.parametrize("middleware", ["asgi", "wsgi"])
def test_both_middlewares_serve_verified_access_end_to_end(
    ava: tuple[FakeVerifiedAccess, KeyServer], middleware: str
) -> None:
    stand_in, server = ava
    options = server.settings(allowed_users=["ann@example.com"])
    with protected_app(middleware, options) as client:
        admitted = client.get("/", headers=stand_in.headers(sub=SUB, email="ann@example.com"))
        assert admitted.status_code == 200, admitted.text
        assert admitted.json() == {"sub": SUB, "email": "ann@example.com", "groups": []}
        other = stand_in.headers(sub="bob", email="bob@example.com")
        assert client.get("/", headers=other).status_code == 403
        assert client.get("/").status_code == 401
        # The ALB's headers mean nothing here.
        alb = FakeIdentityProvider().headers()
        assert client.get("/", headers=alb).status_code == 401
        assert OIDC_DATA in alb
