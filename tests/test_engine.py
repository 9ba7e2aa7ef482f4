"""The engine driven by hand, as httpx's tests drive an auth flow: no driver, no server.

``Engine.authenticate`` is a generator that yields a ``KeyFetch`` when it needs a key and is sent
what the endpoint answered. These tests answer each fetch themselves, with the real public keys
of a :class:`FakeIdentityProvider` (or with a failure), so they can say exactly which URLs are
asked for, in what order, and which answers are remembered. Time is passed in as ``now``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar

import pytest

from cognito_auth_middleware import (
    AccessDeniedError,
    ExpiredTokenError,
    InvalidTokenError,
    KeysUnavailableError,
    MachineClient,
    MissingTokenError,
    Settings,
    User,
)
from cognito_auth_middleware.core.engine import Engine, Flow
from cognito_auth_middleware.core.key_store import (
    ALB_FETCH_BURST,
    ALB_FETCH_INTERVAL,
    JWKS_REFETCH_INTERVAL,
    UNKNOWN_KID_TTL,
)
from cognito_auth_middleware.core.keys import FetchFailure, FetchResult, KeyFetch, KeyResponse
from cognito_auth_middleware.core.policy import Policy
from cognito_auth_middleware.core.tokens import fingerprint
from cognito_auth_middleware.exceptions import AuthenticationError
from cognito_auth_middleware.testing import FakeIdentityProvider, FakeOidcProvider

SUB = "11111111-2222-3333-4444-555555555555"
NOW = 1_700_000_000.0
ALB_KEYS = "https://alb-keys.example.test/keys"
JWKS = "https://jwks.example.test/pool/jwks.json"
OTHER_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-2:999999999999:loadbalancer/app/evil/0123456789abcdef"
)
OTHER_ISSUER = "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_OtherPool"
OUTAGE = FetchFailure("connection refused")
#: The machine clients' JWKS (``bearer_jwks_url``); the endpoints serve the pool's JWKS there.
BEARER_JWKS = "https://jwks.example.test/machines/jwks.json"

_T = TypeVar("_T")


def _settings(idp: FakeIdentityProvider, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "alb_arn": idp.alb_arn,
        "user_pool_id": idp.user_pool_id,
        "client_id": idp.client_id,
        "alb_key_url": ALB_KEYS,
        "jwks_url": JWKS,
        **overrides,
    }
    return Settings.load(environ={}, **options)


@pytest.fixture
def engine(idp: FakeIdentityProvider) -> Engine:
    return Engine(_settings(idp))


class Endpoints:
    """Answers an engine's key fetches as AWS would, and records every fetch it was asked for.

    The ALB key endpoint knows only the provider's kid (404 for any other), the JWKS URL and
    :data:`BEARER_JWKS` serve the provider's JWKS; :meth:`serve` adds another OIDC provider's
    discovery document and JWKS; ``answers`` replaces the answer for a URL (a failure, a 500...).
    """

    def __init__(self, idp: FakeIdentityProvider, jwks_url: str = JWKS) -> None:
        self.asked: list[KeyFetch] = []
        self.answers: dict[str, FetchResult] = {
            f"{ALB_KEYS}/{idp.alb_kid}": KeyResponse(200, idp.alb_public_pem()),
            jwks_url: KeyResponse(200, _jwks_bytes(idp)),
            BEARER_JWKS: KeyResponse(200, _jwks_bytes(idp)),
        }

    def serve(self, provider: FakeOidcProvider, discovery_url: str, jwks_uri: str) -> None:
        """Answer ``provider``'s discovery document (naming ``jwks_uri``) and its JWKS there."""
        document = json.dumps(provider.discovery(jwks_uri)).encode()
        self.answers[discovery_url] = KeyResponse(200, document)
        self.answers[jwks_uri] = KeyResponse(200, json.dumps(provider.jwks()).encode())

    def answer(self, fetch: KeyFetch) -> FetchResult:
        self.asked.append(fetch)
        return self.answers.get(fetch.url, KeyResponse(404, b"Not Found"))

    def drive(self, flow: Generator[KeyFetch, FetchResult, _T]) -> _T:
        """Run ``flow`` to its end, answering each fetch; return its result or raise its error."""
        try:
            fetch = next(flow)
            while True:
                fetch = flow.send(self.answer(fetch))
        except StopIteration as done:
            result: _T = done.value
            return result

    @property
    def urls(self) -> list[str]:
        return [fetch.url for fetch in self.asked]


def _jwks_bytes(idp: FakeIdentityProvider) -> bytes:
    return json.dumps(idp.jwks()).encode()


def _url(idp: FakeIdentityProvider, kind: str) -> str:
    return f"{ALB_KEYS}/{idp.alb_kid}" if kind == "alb" else JWKS


def _pair(idp: FakeIdentityProvider, now: float = NOW, **access: Any) -> tuple[str, str]:
    return (
        idp.mint_alb_token(sub=SUB, now=now, ttl=3600),
        idp.mint_access_token(sub=SUB, now=now, **access),
    )


def _flow(engine: Engine, pair: tuple[str, str], now: float = NOW) -> Flow:
    return engine.authenticate(pair[0], pair[1], SUB, now)


def _suspended(flows: Iterable[Flow]) -> list[KeyFetch]:
    return [next(flow) for flow in flows]


def _finish(flow: Flow, result: FetchResult) -> User:
    try:
        flow.send(result)
    except StopIteration as done:
        user: User = done.value
        return user
    raise AssertionError("the flow asked for another key")


# --- what is fetched, and in what order -------------------------------------------------------


def test_a_cold_pair_asks_for_the_alb_key_first_then_the_jwks(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    endpoints = Endpoints(idp)
    user = endpoints.drive(_flow(engine, _pair(idp)))
    assert (user.sub, user.issuer) == (SUB, idp.issuer)
    assert endpoints.asked == [
        KeyFetch(f"{ALB_KEYS}/{idp.alb_kid}", "alb"),
        KeyFetch(JWKS, "jwks"),
    ]


def test_cached_keys_are_not_asked_for_again(engine: Engine, idp: FakeIdentityProvider) -> None:
    endpoints = Endpoints(idp)
    endpoints.drive(_flow(engine, _pair(idp)))
    # New token texts (another time), same keys: the flow needs no fetch at all.
    later = NOW + 100
    flow = _flow(engine, _pair(idp, now=later), now=later)
    with pytest.raises(StopIteration) as done:
        next(flow)
    assert done.value.value.sub == SUB
    assert len(endpoints.asked) == 2


def test_with_a_cached_alb_key_only_the_jwks_is_asked_for(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    endpoints = Endpoints(idp)
    jwks = endpoints.answers[JWKS]
    endpoints.answers[JWKS] = OUTAGE
    with pytest.raises(KeysUnavailableError):
        endpoints.drive(_flow(engine, _pair(idp)))
    endpoints.answers[JWKS] = jwks
    endpoints.asked.clear()
    assert endpoints.drive(_flow(engine, _pair(idp, now=NOW + 1), now=NOW + 1)).sub == SUB
    assert endpoints.asked == [KeyFetch(JWKS, "jwks")]


def test_the_jwks_url_is_the_issuers_when_none_is_configured(idp: FakeIdentityProvider) -> None:
    derived = f"{idp.issuer}/.well-known/jwks.json"
    engine = Engine(_settings(idp, jwks_url=None))
    endpoints = Endpoints(idp, jwks_url=derived)
    assert endpoints.drive(_flow(engine, _pair(idp))).sub == SUB
    assert endpoints.asked[1] == KeyFetch(derived, "jwks")


def test_the_alb_key_url_defaults_to_the_regions_aws_endpoint(idp: FakeIdentityProvider) -> None:
    engine = Engine(_settings(idp, alb_key_url=None))
    fetch = next(_flow(engine, _pair(idp)))
    assert fetch == KeyFetch(
        f"https://public-keys.auth.elb.eu-west-2.amazonaws.com/{idp.alb_kid}", "alb"
    )


# --- refused on a header: nothing is fetched --------------------------------------------------

HEADER_REFUSALS = [
    pytest.param({"alg": "none"}, {}, id="alb-alg-none"),
    pytest.param({"alg": "ES384"}, {}, id="alb-alg-es384"),
    pytest.param({"signer": OTHER_ARN}, {}, id="alb-wrong-signer"),
    pytest.param({"client": "another-client"}, {}, id="alb-wrong-client"),
    pytest.param({"iss": OTHER_ISSUER}, {}, id="alb-foreign-issuer"),
    pytest.param({"kid": "not-a-uuid"}, {}, id="alb-kid-not-a-uuid"),
    pytest.param({"kid": "11111111-2222-3333-4444-5555555555555"}, {}, id="alb-kid-too-long"),
    pytest.param({"kid": "11111111-2222-3333-4444-55555555555A"}, {}, id="alb-kid-upper-case"),
    pytest.param({}, {"alg": "none"}, id="access-alg-none"),
    pytest.param({}, {"alg": "HS256"}, id="access-alg-hs256"),
    pytest.param({}, {"kid": None}, id="access-kid-missing"),
    pytest.param({}, {"kid": ""}, id="access-kid-empty"),
    pytest.param({}, {"kid": "a b"}, id="access-kid-with-a-space"),
    pytest.param({}, {"kid": "a\x7f"}, id="access-kid-with-del"),
    pytest.param({}, {"kid": "k" * 129}, id="access-kid-over-128"),
    pytest.param({}, {"kid": 7}, id="access-kid-a-number"),
]


@pytest.mark.parametrize(("alb_header", "access_header"), HEADER_REFUSALS)
def test_a_token_refused_on_its_header_fetches_nothing(
    engine: Engine,
    idp: FakeIdentityProvider,
    alb_header: dict[str, Any],
    access_header: dict[str, Any],
) -> None:
    # Both headers are checked before the first fetch: a bad access token costs no ALB fetch.
    alb = idp.mint_alb_token(sub=SUB, now=NOW, header=alb_header)
    access = idp.mint_access_token(sub=SUB, now=NOW, header=access_header)
    with pytest.raises(InvalidTokenError) as caught:
        next(engine.authenticate(alb, access, SUB, NOW))
    assert engine.sizes["attempts"] == 0
    # The message names the token that was refused.
    assert caught.value.message.startswith("ALB token: " if alb_header else "access token: ")


@pytest.mark.parametrize(
    "kid",
    [
        pytest.param("k" * 128, id="128-characters"),
        pytest.param("!~", id="printable-ascii-edges"),
    ],
)
def test_an_access_kid_of_printable_ascii_up_to_128_characters_is_looked_up(
    engine: Engine, idp: FakeIdentityProvider, kid: str
) -> None:
    endpoints = Endpoints(idp)
    with pytest.raises(InvalidTokenError, match="not in the user pool's JWKS"):
        endpoints.drive(_flow(engine, _pair(idp, header={"kid": kid})))
    assert endpoints.urls[-1] == JWKS


def test_an_access_token_of_another_issuer_is_refused_before_the_jwks_is_fetched(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    endpoints = Endpoints(idp)
    pair = _pair(idp, claims={"iss": OTHER_ISSUER})
    with pytest.raises(InvalidTokenError, match="issuer does not match"):
        endpoints.drive(_flow(engine, pair))
    assert [fetch.kind for fetch in endpoints.asked] == ["alb"]


@pytest.mark.parametrize(
    ("alb", "access"),
    [
        pytest.param(None, "x", id="no-oidc-data"),
        pytest.param("", "x", id="empty-oidc-data"),
        pytest.param("x.y.z", None, id="no-access-token"),
        pytest.param("x.y.z", "", id="empty-access-token"),
    ],
)
def test_a_missing_header_is_refused_before_anything_else(
    engine: Engine, alb: str | None, access: str | None
) -> None:
    with pytest.raises(MissingTokenError) as caught:
        next(engine.authenticate(alb, access, None, NOW))
    assert caught.value.fingerprint == fingerprint(alb or access or "")


@pytest.mark.parametrize("which", ["alb", "access"])
def test_an_unparseable_token_is_refused_by_name_before_anything_is_fetched(
    engine: Engine, idp: FakeIdentityProvider, which: str
) -> None:
    alb, access = _pair(idp)
    if which == "alb":
        alb = "not.a-jwt"
    else:
        access = "not.a-jwt"
    with pytest.raises(InvalidTokenError) as caught:
        next(engine.authenticate(alb, access, SUB, NOW))
    label = "ALB token" if which == "alb" else "access token"
    assert caught.value.message == f"{label}: not a JWT (expected three dot-separated segments)"


# --- signatures -------------------------------------------------------------------------------


def test_an_alb_token_signed_by_another_key_is_refused(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    impostor = FakeIdentityProvider()
    impostor.alb_kid = idp.alb_kid
    alb = impostor.mint_alb_token(sub=SUB, now=NOW)
    endpoints = Endpoints(idp)
    with pytest.raises(InvalidTokenError, match="ALB token: signature verification failed"):
        endpoints.drive(engine.authenticate(alb, idp.mint_access_token(sub=SUB, now=NOW), SUB, NOW))
    assert [fetch.kind for fetch in endpoints.asked] == ["alb"]
    assert engine.sizes["alb_tokens"] == 0


def test_an_access_token_signed_by_another_key_is_refused(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    impostor = FakeIdentityProvider()
    impostor.rsa_kid = idp.rsa_kid
    access = impostor.mint_access_token(sub=SUB, now=NOW)
    endpoints = Endpoints(idp)
    with pytest.raises(InvalidTokenError, match="access token: signature verification failed"):
        endpoints.drive(engine.authenticate(_pair(idp)[0], access, SUB, NOW))
    assert engine.sizes["access_tokens"] == 0


def test_every_cache_of_the_engine_is_bounded(engine: Engine, idp: FakeIdentityProvider) -> None:
    Endpoints(idp).drive(_flow(engine, _pair(idp)))
    assert engine.sizes == {
        "alb_keys": 1,
        "jwks": 1,
        "discovered": 0,
        "unknown_kids": 0,
        "attempts": 1,
        "backoff": 0,
        "alb_tokens": 1,
        "access_tokens": 1,
        "users": 1,
        "machines": 0,
    }
    assert Engine.bounds() == {
        "alb_keys": 64,
        "jwks": 16,
        "discovered": 16,
        "unknown_kids": 1024,
        "attempts": 1024,
        "backoff": 256,
        "alb_tokens": 2048,
        "access_tokens": 2048,
        "users": 2048,
        "machines": 2048,
    }


# --- lookup: a verified pair needs no flow ----------------------------------------------------


def test_a_verified_pair_is_found_by_lookup_without_a_flow(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    pair = _pair(idp)
    assert engine.lookup(pair[0], pair[1], SUB, NOW) is None  # never verified
    user = Endpoints(idp).drive(_flow(engine, pair))
    assert engine.lookup(pair[0], pair[1], SUB, NOW + 1) is user
    assert engine.lookup(pair[0], pair[1], None, NOW + 1) is user


@pytest.mark.parametrize(
    ("alb", "access"),
    [
        pytest.param(None, "verified", id="no-oidc-data"),
        pytest.param("verified", "", id="empty-access-token"),
        pytest.param("verified", "unseen", id="unseen-access-token"),
        pytest.param("unseen", "verified", id="unseen-oidc-data"),
    ],
)
def test_lookup_finds_nothing_unless_both_tokens_were_verified(
    engine: Engine, idp: FakeIdentityProvider, alb: str | None, access: str | None
) -> None:
    pair = _pair(idp)
    Endpoints(idp).drive(_flow(engine, pair))
    unseen = _pair(idp, now=NOW + 1)

    def text(which: str | None, index: int) -> str | None:
        return {"verified": pair[index], "unseen": unseen[index]}.get(which or "", which)

    assert engine.lookup(text(alb, 0), text(access, 1), SUB, NOW) is None


def test_a_token_that_copies_a_verified_signature_is_not_taken_for_it(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    """Admitted pairs are found by the end of the ALB signature; the whole texts must match."""
    pair = _pair(idp)
    Endpoints(idp).drive(_flow(engine, pair))
    header, _, signature = pair[0].split(".")
    other = idp.mint_alb_token(sub="someone-else", now=NOW, ttl=3600).split(".")[1]
    forged = f"{header}.{other}.{signature}"  # another user's claims under pair[0]'s signature
    assert engine.lookup(forged, pair[1], None, NOW) is None
    with pytest.raises(InvalidTokenError, match="signature"):
        Endpoints(idp).drive(engine.authenticate(forged, pair[1], None, NOW))
    assert engine.lookup(pair[0], pair[1], SUB, NOW) is not None  # still admitted


@pytest.mark.parametrize(
    ("now", "identity", "error"),
    [
        pytest.param(NOW + 3600 + 11, SUB, ExpiredTokenError, id="alb-expired"),
        pytest.param(NOW + 7200 + 11, SUB, ExpiredTokenError, id="both-expired"),
        pytest.param(NOW - 11, SUB, InvalidTokenError, id="before-iat"),
        pytest.param(NOW + 1, "someone-else", InvalidTokenError, id="identity-mismatch"),
    ],
)
def test_lookup_still_checks_the_window_and_the_identity(
    engine: Engine,
    idp: FakeIdentityProvider,
    now: float,
    identity: str,
    error: type[AuthenticationError],
) -> None:
    pair = (
        idp.mint_alb_token(sub=SUB, now=NOW, ttl=3600),
        idp.mint_access_token(sub=SUB, now=NOW, ttl=7200),
    )
    Endpoints(idp).drive(_flow(engine, pair))
    with pytest.raises(error) as caught:
        engine.lookup(pair[0], pair[1], identity, now)
    assert caught.value.fingerprint == fingerprint(pair[0])
    if error is ExpiredTokenError:  # the ALB token expires first and is named
        assert caught.value.message == "ALB token: expired"


@pytest.mark.parametrize(
    ("alb_claims", "access_issued"),
    [
        pytest.param({}, NOW + 100, id="access-token-issued-later"),
        pytest.param({"iat": NOW + 100}, NOW, id="alb-token-issued-later"),
    ],
)
def test_lookup_holds_a_pair_to_the_later_start_of_its_two_windows(
    engine: Engine, idp: FakeIdentityProvider, alb_claims: dict[str, Any], access_issued: float
) -> None:
    """The admitted pair's joint window starts when the later of its tokens does (an ALB
    token names no start unless it carries an ``iat``)."""
    pair = (
        idp.mint_alb_token(sub=SUB, now=NOW, ttl=3600, claims=alb_claims),
        idp.mint_access_token(sub=SUB, now=access_issued, ttl=3600),
    )
    Endpoints(idp).drive(engine.authenticate(pair[0], pair[1], SUB, NOW + 200))
    assert engine.lookup(pair[0], pair[1], SUB, NOW + 90) is not None  # the leeway is 10 s
    with pytest.raises(InvalidTokenError, match="not valid yet"):
        engine.lookup(pair[0], pair[1], SUB, NOW + 89)


def test_the_leeway_is_honoured_at_both_ends_of_the_window(idp: FakeIdentityProvider) -> None:
    """By the look-up of an admitted pair, and by the flow (a pair whose tokens are cached,
    decided again): the two check the window apart, the look-up at once for the pair."""
    engine = Engine(_settings(idp, leeway=10))
    pair = _pair(idp)  # both tokens expire at NOW + 3600; the access token was issued at NOW
    endpoints = Endpoints(idp)
    endpoints.drive(_flow(engine, pair))
    deciders: tuple[Callable[[float], User | None], ...] = (
        lambda now: engine.lookup(pair[0], pair[1], SUB, now),
        lambda now: endpoints.drive(_flow(engine, pair, now)),
    )
    for decide in deciders:
        assert decide(NOW + 3610) is not None
        assert decide(NOW - 10) is not None
        with pytest.raises(ExpiredTokenError):
            decide(NOW + 3610.5)
        with pytest.raises(InvalidTokenError, match="not valid yet"):
            decide(NOW - 10.5)


def test_an_alb_token_is_valid_from_the_instant_its_iat_allows(idp: FakeIdentityProvider) -> None:
    engine = Engine(_settings(idp, leeway=10))
    alb = idp.mint_alb_token(sub=SUB, now=NOW, ttl=3600, claims={"iat": NOW + 100})
    access = idp.mint_access_token(sub=SUB, now=NOW)
    with pytest.raises(InvalidTokenError) as caught:
        Endpoints(idp).drive(engine.authenticate(alb, access, SUB, NOW + 89.5))
    assert caught.value.message == "ALB token: not valid yet (nbf or iat is in the future)"
    assert engine.lookup(alb, access, SUB, NOW + 90) is not None


def test_an_expired_access_token_is_refused_though_the_alb_token_is_valid(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    pair = _pair(idp, ttl=60)
    Endpoints(idp).drive(_flow(engine, pair))
    with pytest.raises(ExpiredTokenError, match="access token: expired"):
        engine.lookup(pair[0], pair[1], SUB, NOW + 60 + 11)


def test_an_access_token_not_valid_yet_is_refused(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    alb = idp.mint_alb_token(sub=SUB, now=NOW, ttl=3600)
    access = idp.mint_access_token(sub=SUB, now=NOW + 100)
    with pytest.raises(InvalidTokenError, match="access token: not valid yet"):
        Endpoints(idp).drive(engine.authenticate(alb, access, SUB, NOW))


@pytest.mark.parametrize(
    ("access_claims", "message"),
    [
        pytest.param({"sub": "someone-else"}, "another user", id="other-sub"),
        pytest.param({"client_id": "another-client"}, "client_id does not match", id="client"),
    ],
)
def test_a_spliced_pair_is_refused_after_both_signatures(
    engine: Engine, idp: FakeIdentityProvider, access_claims: dict[str, Any], message: str
) -> None:
    alb = idp.mint_alb_token(sub=SUB, now=NOW)
    access = idp.mint_access_token(sub=SUB, now=NOW, claims=access_claims)
    with pytest.raises(InvalidTokenError, match=message):
        Endpoints(idp).drive(engine.authenticate(alb, access, None, NOW))


def test_a_verified_access_token_is_not_paired_with_an_alb_token_of_another_pool(
    idp: FakeIdentityProvider,
) -> None:
    # Without user_pool_id any pool of the region is trusted; an access token verified (and
    # cached) with its own pool's ALB token must not then pass with another pool's.
    engine = Engine(_settings(idp, user_pool_id=None))
    endpoints = Endpoints(idp)
    alb, access = _pair(idp)
    endpoints.drive(engine.authenticate(alb, access, SUB, NOW))
    other = idp.mint_alb_token(
        sub=SUB, now=NOW, ttl=3600, header={"iss": OTHER_ISSUER}, claims={"iss": OTHER_ISSUER}
    )
    with pytest.raises(InvalidTokenError) as refused:
        endpoints.drive(engine.authenticate(other, access, SUB, NOW))
    assert refused.value.message == "access token: issuer does not match the ALB token's issuer"
    assert refused.value.fingerprint == fingerprint(other)
    assert endpoints.urls == [_url(idp, "alb"), JWKS]  # the cached access token: no JWKS fetch


def test_an_unlisted_user_is_refused_with_403(idp: FakeIdentityProvider) -> None:
    engine = Engine(_settings(idp, allowed_groups="admins"))
    endpoints = Endpoints(idp)
    with pytest.raises(AccessDeniedError):
        endpoints.drive(_flow(engine, _pair(idp, groups=["staff"])))
    admitted = endpoints.drive(_flow(engine, _pair(idp, groups=["admins"], now=NOW + 1)))
    assert admitted.groups == ("admins",)


def test_a_cached_decision_is_made_again_under_a_new_policy(idp: FakeIdentityProvider) -> None:
    engine = Engine(_settings(idp, allowed_groups="staff"))
    endpoints = Endpoints(idp)
    pair = _pair(idp, groups=["staff"])
    first = endpoints.drive(_flow(engine, pair))
    assert engine.lookup(pair[0], pair[1], SUB, NOW) is first  # cached with the pair
    engine.policy = Policy(allowed_groups=("finance",))
    with pytest.raises(AccessDeniedError):
        engine.lookup(pair[0], pair[1], SUB, NOW)
    with pytest.raises(AccessDeniedError):
        endpoints.drive(_flow(engine, pair))
    engine.policy = Policy(allowed_groups=("staff",), admin_groups=("staff",))
    admin = engine.lookup(pair[0], pair[1], SUB, NOW)
    assert admin is not None
    assert admin.is_admin
    assert engine.lookup(pair[0], pair[1], SUB, NOW) is admin  # cached under this policy
    assert endpoints.urls == [_url(idp, "alb"), _url(idp, "jwks")]  # no key fetched again


def test_a_session_lasts_until_its_end_under_the_policy_in_force(engine: Engine) -> None:
    user = User.create_mock(groups=["staff"])
    assert engine.resume(user, NOW, NOW) is user  # the last valid moment, inclusive
    with pytest.raises(ExpiredTokenError) as expired:
        engine.resume(user, NOW, NOW + 0.001)
    assert str(expired.value) == "the session's access token has expired"
    engine.policy = Policy(allowed_groups=("finance",))
    with pytest.raises(AccessDeniedError):
        engine.resume(user, NOW, NOW)
    engine.policy = Policy(allowed_groups=("finance",), admin_groups=("staff",))
    assert engine.resume(user, NOW, NOW).is_admin


def test_the_dev_mode_mock_user_meets_the_policy(idp: FakeIdentityProvider) -> None:
    mock = User.create_mock(groups=["staff"])
    engine = Engine(_settings(idp, dev_mode=True, allowed_groups="staff"), mock_user=mock)
    assert Endpoints(idp).drive(engine.authenticate(None, None, None, NOW, "127.0.0.1")) is mock
    engine.policy = Policy(allowed_groups=("finance",))
    with pytest.raises(AccessDeniedError):
        Endpoints(idp).drive(engine.authenticate(None, None, None, NOW, "127.0.0.1"))


# --- failures, back-off and remembered refusals -----------------------------------------------


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param(OUTAGE, "connection refused", id="network-failure"),
        pytest.param(KeyResponse(500, b"oops"), "HTTP 500", id="http-500"),
        pytest.param(KeyResponse(200, b"not a key"), "not a PEM public key", id="garbage"),
    ],
)
def test_an_alb_key_that_cannot_be_fetched_is_unavailable(
    engine: Engine, idp: FakeIdentityProvider, answer: FetchResult, message: str
) -> None:
    flow = _flow(engine, _pair(idp))
    next(flow)
    with pytest.raises(KeysUnavailableError, match=message) as caught:
        flow.send(answer)
    assert caught.value.retry_after == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param(OUTAGE, "connection refused", id="network-failure"),
        pytest.param(KeyResponse(404, b"no"), "HTTP 404", id="http-404"),
        pytest.param(KeyResponse(200, b"[]"), "not a JWKS", id="garbage"),
    ],
)
def test_a_jwks_that_cannot_be_fetched_is_unavailable(
    engine: Engine, idp: FakeIdentityProvider, answer: FetchResult, message: str
) -> None:
    endpoints = Endpoints(idp)
    endpoints.answers[JWKS] = answer
    with pytest.raises(KeysUnavailableError, match=message):
        endpoints.drive(_flow(engine, _pair(idp)))


@pytest.mark.parametrize("kind", ["alb", "jwks"])
def test_one_failure_imposes_no_wait_and_two_back_off(
    engine: Engine, idp: FakeIdentityProvider, kind: str
) -> None:
    endpoints = Endpoints(idp)
    url = _url(idp, kind)
    good = endpoints.answers[url]
    endpoints.answers[url] = OUTAGE
    pair = _pair(idp)
    with pytest.raises(KeysUnavailableError):
        endpoints.drive(_flow(engine, pair))
    endpoints.answers[url] = FetchFailure("connection refused")  # a second, separate failure
    with pytest.raises(KeysUnavailableError) as caught:
        endpoints.drive(_flow(engine, pair))
    assert caught.value.retry_after == 1
    assert endpoints.urls.count(url) == 2
    # Backing off: refused at once, nothing fetched, until the second has passed.
    with pytest.raises(KeysUnavailableError, match="recent fetches failed") as caught:
        next(_flow(engine, pair, now=NOW + 0.9))
    assert caught.value.retry_after == 1
    endpoints.answers[url] = good
    assert endpoints.drive(_flow(engine, pair, now=NOW + 1)).sub == SUB
    assert endpoints.urls.count(url) == 3


@pytest.mark.parametrize("kind", ["alb", "jwks"])
def test_the_back_off_doubles_with_each_failure_up_to_30_seconds(
    engine: Engine, idp: FakeIdentityProvider, kind: str
) -> None:
    endpoints = Endpoints(idp)
    url = _url(idp, kind)
    pair = _pair(idp, ttl=7200)
    now, waits = NOW, []
    for n in range(8):
        endpoints.answers[url] = FetchFailure(f"failure {n}")
        with pytest.raises(KeysUnavailableError) as caught:
            endpoints.drive(_flow(engine, pair, now=now))
        waits.append(caught.value.retry_after)
        wait = float(caught.value.retry_after) if n else 0.0
        if wait:
            with pytest.raises(KeysUnavailableError, match="recent fetches failed"):
                next(_flow(engine, pair, now=now + wait - 0.01))
        now += wait
    assert waits == [1, 1, 2, 4, 8, 16, 30, 30]
    assert endpoints.urls.count(url) == 8


def test_a_success_forgets_past_failures(engine: Engine, idp: FakeIdentityProvider) -> None:
    endpoints = Endpoints(idp)
    url = f"{ALB_KEYS}/{idp.alb_kid}"
    good = endpoints.answers[url]
    endpoints.answers[url] = OUTAGE
    with pytest.raises(KeysUnavailableError):
        endpoints.drive(_flow(engine, _pair(idp)))
    endpoints.answers[url] = good
    endpoints.drive(_flow(engine, _pair(idp)))
    assert engine.sizes["backoff"] == 0


def test_a_404_for_an_alb_kid_is_remembered_for_a_minute(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    forged = idp.mint_alb_token(sub=SUB, now=NOW, header={"kid": FORGED_KID})
    access = idp.mint_access_token(sub=SUB, now=NOW)
    endpoints = Endpoints(idp)
    with pytest.raises(InvalidTokenError, match="no ALB public key exists"):
        endpoints.drive(engine.authenticate(forged, access, SUB, NOW))
    assert endpoints.urls == [f"{ALB_KEYS}/{FORGED_KID}"]
    with pytest.raises(InvalidTokenError, match="no ALB public key exists"):
        next(engine.authenticate(forged, access, SUB, NOW + UNKNOWN_KID_TTL - 0.01))
    # After the window, the endpoint is asked again.
    fetch = next(engine.authenticate(forged, access, SUB, NOW + UNKNOWN_KID_TTL))
    assert fetch == endpoints.asked[0]


FORGED_KID = "99999999-8888-7777-6666-555555555555"


@pytest.mark.parametrize("status", [403, 404])
def test_an_endpoint_that_does_not_know_the_kid_refuses_the_token_and_is_believed(
    engine: Engine, idp: FakeIdentityProvider, status: int
) -> None:
    forged = idp.mint_alb_token(sub=SUB, now=NOW, header={"kid": FORGED_KID})
    access = idp.mint_access_token(sub=SUB, now=NOW)
    flow = engine.authenticate(forged, access, SUB, NOW)
    assert next(flow) == KeyFetch(f"{ALB_KEYS}/{FORGED_KID}", "alb")
    with pytest.raises(InvalidTokenError, match="no ALB public key exists"):
        flow.send(KeyResponse(status, b"AccessDenied"))
    with pytest.raises(InvalidTokenError, match="no ALB public key exists"):
        next(engine.authenticate(forged, access, SUB, NOW + 1))


def test_a_404_counts_as_the_endpoint_working(engine: Engine, idp: FakeIdentityProvider) -> None:
    forged = idp.mint_alb_token(sub=SUB, now=NOW, header={"kid": FORGED_KID})
    access = idp.mint_access_token(sub=SUB, now=NOW, ttl=7200)
    endpoints = Endpoints(idp)
    url = f"{ALB_KEYS}/{FORGED_KID}"
    for n in range(2):
        endpoints.answers[url] = FetchFailure(f"failure {n}")
        with pytest.raises(KeysUnavailableError):
            endpoints.drive(engine.authenticate(forged, access, SUB, NOW))
    del endpoints.answers[url]
    with pytest.raises(InvalidTokenError):
        endpoints.drive(engine.authenticate(forged, access, SUB, NOW + 1))
    # The 404 cleared the two failures: one more failure, an hour on, imposes no wait.
    later = NOW + 3600
    endpoints.answers[url] = OUTAGE
    with pytest.raises(KeysUnavailableError):
        endpoints.drive(engine.authenticate(forged, access, SUB, later))
    assert next(engine.authenticate(forged, access, SUB, later)).url == url


def test_a_kid_missing_from_the_jwks_is_not_refetched_for_ten_seconds(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    endpoints = Endpoints(idp)
    endpoints.drive(_flow(engine, _pair(idp)))
    rotated = _pair(idp, header={"kid": "rotated"})
    with pytest.raises(InvalidTokenError, match="not in the user pool's JWKS"):
        next(_flow(engine, rotated, now=NOW + JWKS_REFETCH_INTERVAL - 0.01))
    assert endpoints.urls.count(JWKS) == 1
    fetch = next(_flow(engine, rotated, now=NOW + JWKS_REFETCH_INTERVAL))
    assert fetch == KeyFetch(JWKS, "jwks")


def test_new_alb_kids_are_fetched_in_a_burst_then_one_per_interval(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    endpoints = Endpoints(idp)
    endpoints.drive(_flow(engine, _pair(idp)))  # the real key: cached before the flood
    access = idp.mint_access_token(sub=SUB, now=NOW, ttl=7200)

    def forged(n: int) -> str:
        kid = f"{n:08x}-0000-0000-0000-000000000000"
        return idp.mint_alb_token(sub=SUB, now=NOW, ttl=3600, header={"kid": kid})

    for n in range(ALB_FETCH_BURST - 1):  # the real key took one token
        assert next(engine.authenticate(forged(n), access, SUB, NOW)).kind == "alb"
    with pytest.raises(KeysUnavailableError, match="too many new ALB key ids") as caught:
        next(engine.authenticate(forged(100), access, SUB, NOW))
    assert caught.value.retry_after == ALB_FETCH_INTERVAL
    soon = NOW + ALB_FETCH_INTERVAL - 0.01
    with pytest.raises(KeysUnavailableError, match="too many new ALB key ids"):
        next(engine.authenticate(forged(101), access, SUB, soon))
    later = NOW + ALB_FETCH_INTERVAL + 0.01
    assert next(engine.authenticate(forged(102), access, SUB, later)).kind == "alb"
    # A cached key needs no token from the bucket: real users are served during the flood.
    assert endpoints.drive(_flow(engine, _pair(idp, now=later), now=later)).sub == SUB


# --- concurrent flows -------------------------------------------------------------------------


def test_flows_waiting_on_one_fetch_share_its_answer(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    flows = [_flow(engine, _pair(idp)) for _ in range(3)]
    assert _suspended(flows) == [KeyFetch(_url(idp, "alb"), "alb")] * 3
    # Concurrent requests for one new kid draw one bucket token between them.
    assert engine.sizes["attempts"] == 1
    alb_key = KeyResponse(200, idp.alb_public_pem())
    assert [flow.send(alb_key) for flow in flows] == [KeyFetch(JWKS, "jwks")] * 3
    jwks = KeyResponse(200, _jwks_bytes(idp))
    assert [_finish(flow, jwks).sub for flow in flows] == [SUB] * 3


def _suspend_on(engine: Engine, idp: FakeIdentityProvider, kind: str, count: int) -> list[Flow]:
    """``count`` flows, all waiting on the fetch of ``kind`` (the ALB key, or the JWKS)."""
    flows = [_flow(engine, _pair(idp)) for _ in range(count)]
    _suspended(flows)
    if kind == "jwks":
        alb_key = KeyResponse(200, idp.alb_public_pem())
        assert {flow.send(alb_key) for flow in flows} == {KeyFetch(JWKS, "jwks")}
    return flows


@pytest.mark.parametrize("kind", ["alb", "jwks"])
def test_flows_sent_one_failure_count_it_once(
    engine: Engine, idp: FakeIdentityProvider, kind: str
) -> None:
    failure = FetchFailure("timed out")
    for flow in _suspend_on(engine, idp, kind, 3):
        with pytest.raises(KeysUnavailableError, match="timed out"):
            flow.send(failure)
    # One failure, however many flows waited on it: no wait, the next request fetches...
    flow = _flow(engine, _pair(idp))
    fetch = next(flow)
    if kind == "jwks":
        assert fetch == KeyFetch(JWKS, "jwks")  # the ALB key was cached
    assert fetch.url == _url(idp, kind)
    # ... and its failure is the second: one second of back-off, not four.
    with pytest.raises(KeysUnavailableError) as caught:
        flow.send(FetchFailure("timed out again"))
    assert caught.value.retry_after == 1
    assert Endpoints(idp).drive(_flow(engine, _pair(idp, now=NOW + 1), now=NOW + 1)).sub == SUB


@pytest.mark.parametrize("kind", ["alb", "jwks"])
def test_flows_sent_separate_failures_count_each(
    engine: Engine, idp: FakeIdentityProvider, kind: str
) -> None:
    for n, flow in enumerate(_suspend_on(engine, idp, kind, 2)):
        with pytest.raises(KeysUnavailableError):
            flow.send(FetchFailure(f"failure {n}"))
    with pytest.raises(KeysUnavailableError, match="recent fetches failed"):
        next(_flow(engine, _pair(idp, now=NOW + 0.5), now=NOW + 0.5))


@pytest.mark.parametrize(
    ("identity", "access_sub", "message"),
    [
        pytest.param(
            "someone-else",
            SUB,
            "the x-amzn-oidc-identity header does not match the token",
            id="identity",
        ),
        pytest.param(
            None,
            "someone-else",
            "the access token belongs to another user than the ALB token",
            id="other-user",
        ),
    ],
)
def test_a_refused_binding_says_exactly_which_binding(
    engine: Engine,
    idp: FakeIdentityProvider,
    identity: str | None,
    access_sub: str,
    message: str,
) -> None:
    # The operator reads these in the log: they name the header or token at fault.
    alb = idp.mint_alb_token(sub=SUB, now=NOW)
    access = idp.mint_access_token(sub=access_sub, now=NOW)
    with pytest.raises(InvalidTokenError) as refused:
        Endpoints(idp).drive(engine.authenticate(alb, access, identity, NOW))
    assert refused.value.message == message


# --- machine clients: bearer tokens -----------------------------------------------------------


def _bearer_engine(idp: FakeIdentityProvider, **overrides: Any) -> Engine:
    options = {"bearer": True, "bearer_issuer": idp.issuer, "bearer_jwks_url": BEARER_JWKS}
    return Engine(_settings(idp, **{**options, **overrides}))


def _machine(idp: FakeIdentityProvider, now: float = NOW, **change: Any) -> str:
    return idp.mint_machine_token(
        "svc-reports", ["reports/read", "reports/write"], now=now, **change
    )


def test_a_cold_bearer_token_asks_for_the_bearer_jwks_and_its_key_is_kept(
    idp: FakeIdentityProvider,
) -> None:
    engine = _bearer_engine(idp, leeway=10)
    endpoints = Endpoints(idp)
    machine = endpoints.drive(engine.authenticate_bearer(_machine(idp, ttl=600), NOW))
    # exp is the token's own: the leeway widens the window checked, not the expiry reported.
    assert machine == MachineClient(
        "svc-reports", ("reports/read", "reports/write"), idp.issuer, NOW + 600, {}
    )
    assert machine.claims["client_id"] == "svc-reports"
    assert endpoints.asked == [KeyFetch(BEARER_JWKS, "jwks")]
    # Another token signed by the same key needs no fetch at all.
    later = _machine(idp, now=NOW + 1)
    with pytest.raises(StopIteration) as done:
        next(engine.authenticate_bearer(later, NOW + 1))
    assert done.value.value.client_id == "svc-reports"
    assert len(endpoints.asked) == 1
    assert engine.sizes["machines"] == 2


@pytest.mark.parametrize(
    ("now", "error", "message"),
    [
        pytest.param(NOW + 60 + 10, None, "", id="last-instant-exp-plus-leeway"),
        pytest.param(NOW + 60 + 10.001, ExpiredTokenError, "bearer token: expired", id="expired"),
        pytest.param(NOW - 10, None, "", id="first-instant-iat-minus-leeway"),
        pytest.param(
            NOW - 10.001,
            InvalidTokenError,
            "bearer token: not valid yet (nbf or iat is in the future)",
            id="not-yet",
        ),
    ],
)
def test_a_bearer_token_is_valid_exactly_within_its_window_and_the_leeway(
    idp: FakeIdentityProvider, now: float, error: type[AuthenticationError] | None, message: str
) -> None:
    engine = _bearer_engine(idp, leeway=10)
    token = _machine(idp, ttl=60)  # iat NOW, exp NOW + 60
    Endpoints(idp).drive(engine.authenticate_bearer(token, NOW))
    flow = engine.authenticate_bearer(token, now)  # verified: the window alone is checked
    if error is None:
        with pytest.raises(StopIteration) as done:
            next(flow)
        assert done.value.value.exp == NOW + 60
        return
    with pytest.raises(error) as refused:
        next(flow)
    assert refused.value.message == message
    assert refused.value.fingerprint == fingerprint(token)


def test_bearer_tokens_are_refused_when_the_setting_is_off(
    engine: Engine, idp: FakeIdentityProvider
) -> None:
    token = _machine(idp)
    with pytest.raises(InvalidTokenError) as refused:
        next(engine.authenticate_bearer(token, NOW))
    assert refused.value.message == "bearer tokens are not accepted (the bearer setting is off)"
    assert refused.value.fingerprint == fingerprint(token)
    assert engine.sizes["machines"] == 0


BEARER_HEADER_REFUSALS = [
    pytest.param(
        lambda idp: "not.a-jwt",
        "bearer token: not a JWT (expected three dot-separated segments)",
        id="not-a-jwt",
    ),
    pytest.param(
        lambda idp: _machine(idp, header={"alg": "RS384"}),
        "bearer token: algorithm must be RS256 or ES256",
        id="alg-rs384",
    ),
    pytest.param(
        lambda idp: _machine(idp, header={"kid": None}),
        "bearer token: required field 'kid' is missing",
        id="kid-missing",
    ),
    pytest.param(
        lambda idp: _machine(idp, header={"kid": "a b"}),
        "bearer token: kid is malformed",
        id="kid-with-a-space",
    ),
    pytest.param(
        lambda idp: _machine(idp, header={"kid": ""}),
        "bearer token: kid is malformed",
        id="kid-empty",
    ),
    pytest.param(
        lambda idp: _machine(idp, claims={"iss": OTHER_ISSUER}),
        "bearer token: issuer is not {issuer}",
        id="other-issuer",
    ),
]


@pytest.mark.parametrize(("make", "message"), BEARER_HEADER_REFUSALS)
def test_a_bearer_token_refused_before_its_keys_fetches_nothing(
    idp: FakeIdentityProvider, make: Callable[[FakeIdentityProvider], str], message: str
) -> None:
    engine = _bearer_engine(idp)
    token = make(idp)
    with pytest.raises(InvalidTokenError) as refused:
        next(engine.authenticate_bearer(token, NOW))  # raised before the first fetch
    assert refused.value.message == message.format(issuer=idp.issuer)
    assert refused.value.fingerprint == fingerprint(token)


def _tampered(idp: FakeIdentityProvider) -> str:
    """A token whose payload was swapped for one granting more, under the original signature."""
    header, _, signature = _machine(idp).split(".")
    payload = _machine(idp, claims={"scope": "reports/read admin"}).split(".")[1]
    return f"{header}.{payload}.{signature}"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda idp: _machine(idp, header={"alg": "ES256"}),  # names the pool's RSA key
            "bearer token: its algorithm is not its key's",
            id="alg-not-the-keys",
        ),
        pytest.param(_tampered, "bearer token: signature verification failed", id="tampered"),
    ],
)
def test_a_bearer_token_refused_on_its_key_is_not_kept(
    idp: FakeIdentityProvider, make: Callable[[FakeIdentityProvider], str], message: str
) -> None:
    engine = _bearer_engine(idp)
    token = make(idp)
    endpoints = Endpoints(idp)
    with pytest.raises(InvalidTokenError) as refused:
        endpoints.drive(engine.authenticate_bearer(token, NOW))
    assert refused.value.message == message
    assert refused.value.fingerprint == fingerprint(token)
    assert endpoints.asked == [KeyFetch(BEARER_JWKS, "jwks")]
    assert engine.sizes["machines"] == 0


def test_a_bearer_kid_missing_from_a_fresh_jwks_is_refused_without_a_new_fetch(
    idp: FakeIdentityProvider,
) -> None:
    engine = _bearer_engine(idp)
    endpoints = Endpoints(idp)
    endpoints.drive(engine.authenticate_bearer(_machine(idp), NOW))
    rotated = _machine(idp, header={"kid": "rotated"})
    with pytest.raises(
        InvalidTokenError, match="bearer token: its kid is not in the provider's JWKS"
    ) as refused:
        next(engine.authenticate_bearer(rotated, NOW + JWKS_REFETCH_INTERVAL - 0.01))
    assert refused.value.fingerprint == fingerprint(rotated)
    assert endpoints.asked == [KeyFetch(BEARER_JWKS, "jwks")]
    # Once the interval has passed the JWKS is asked for again: the issuer may have rotated.
    flow = engine.authenticate_bearer(rotated, NOW + JWKS_REFETCH_INTERVAL)
    assert next(flow) == KeyFetch(BEARER_JWKS, "jwks")


OKTA_JWKS = "https://dev-123456.okta.com/oauth2/v1/keys"


@pytest.mark.parametrize(
    ("issuer", "discovery"),
    [
        pytest.param(
            "https://dev-123456.okta.com/oauth2/default",
            "https://dev-123456.okta.com/oauth2/default/.well-known/openid-configuration",
            id="issuer",
        ),
        pytest.param(
            "https://dev-123456.okta.com/oauth2/default/",
            "https://dev-123456.okta.com/oauth2/default/.well-known/openid-configuration",
            id="issuer-with-a-trailing-slash",
        ),
        pytest.param(  # a custom authorisation server's id may end in any letter
            "https://dev-123456.okta.com/oauth2/aus1ab2CD3ef4GH5X",
            "https://dev-123456.okta.com/oauth2/aus1ab2CD3ef4GH5X/.well-known/openid-configuration",
            id="issuer-ending-in-X",
        ),
    ],
)
def test_the_bearer_jwks_is_discovered_from_the_bearer_issuer_once(
    idp: FakeIdentityProvider, issuer: str, discovery: str
) -> None:
    okta = FakeOidcProvider("okta", issuer=issuer)
    engine = _bearer_engine(idp, bearer_issuer=issuer, bearer_jwks_url=None)
    endpoints = Endpoints(idp)
    endpoints.serve(okta, discovery, OKTA_JWKS)
    token = okta.mint_machine_token("0oa-svc", ["orders"], now=NOW)
    machine = endpoints.drive(engine.authenticate_bearer(token, NOW))
    assert machine == MachineClient("0oa-svc", ("orders",), issuer, NOW + 3600, {})
    assert endpoints.asked == [KeyFetch(discovery, "discovery"), KeyFetch(OKTA_JWKS, "jwks")]
    # Both the discovered location and the key are kept: the next token needs no fetch.
    later = okta.mint_machine_token("0oa-svc", ["orders"], now=NOW + 1)
    with pytest.raises(StopIteration):
        next(engine.authenticate_bearer(later, NOW + 1))


def test_a_bearer_discovery_document_that_fails_twice_is_backed_off(
    idp: FakeIdentityProvider,
) -> None:
    okta = FakeOidcProvider("okta")
    discovery = f"{okta.issuer}/.well-known/openid-configuration"
    engine = _bearer_engine(idp, bearer_issuer=okta.issuer, bearer_jwks_url=None)
    endpoints = Endpoints(idp)
    endpoints.serve(okta, discovery, OKTA_JWKS)
    good = endpoints.answers[discovery]
    token = okta.mint_machine_token("0oa-svc", ["orders"], now=NOW)
    endpoints.answers[discovery] = OUTAGE
    with pytest.raises(KeysUnavailableError) as caught:
        endpoints.drive(engine.authenticate_bearer(token, NOW))
    assert caught.value.message == (
        f"cannot obtain the provider's discovery document from {discovery}: connection refused"
    )
    assert (caught.value.retry_after, caught.value.fingerprint) == (1, fingerprint(token))
    endpoints.answers[discovery] = FetchFailure("timed out")  # a second, separate failure
    with pytest.raises(KeysUnavailableError, match="timed out"):
        endpoints.drive(engine.authenticate_bearer(token, NOW))
    with pytest.raises(KeysUnavailableError, match="recent fetches failed"):
        next(engine.authenticate_bearer(token, NOW + 0.99))
    endpoints.answers[discovery] = good
    assert endpoints.drive(engine.authenticate_bearer(token, NOW + 1)).client_id == "0oa-svc"
    assert endpoints.urls == [discovery, discovery, discovery, OKTA_JWKS]


def test_jwks_location_is_the_configured_url_or_cognitos_without_a_fetch(
    idp: FakeIdentityProvider,
) -> None:
    # What `inspect` asks (tools/diagnose): no discovery for Cognito or a configured URL.
    configured = Engine(_settings(idp))
    with pytest.raises(StopIteration) as done:
        next(configured.jwks_location(idp.issuer, NOW))
    assert done.value.value == JWKS
    cognito = Engine(_settings(idp, jwks_url=None))
    with pytest.raises(StopIteration) as done:
        next(cognito.jwks_location(idp.issuer, NOW))
    assert done.value.value == f"{idp.issuer}/.well-known/jwks.json"


def _discovering_engine(idp: FakeIdentityProvider, provider: FakeOidcProvider) -> Engine:
    """An engine for ``provider``'s access tokens, its JWKS URL to discover from its issuer."""
    return Engine(
        _settings(
            idp, user_pool_id=None, access_token_kind="jwt", issuer=provider.issuer, jwks_url=None
        )
    )


def test_jwks_location_of_another_provider_is_discovered_once(idp: FakeIdentityProvider) -> None:
    okta = FakeOidcProvider("okta")
    discovery = f"{okta.issuer}/.well-known/openid-configuration"
    engine = _discovering_engine(idp, okta)
    endpoints = Endpoints(idp)
    endpoints.serve(okta, discovery, OKTA_JWKS)
    assert endpoints.drive(engine.jwks_location(okta.issuer, NOW)) == OKTA_JWKS
    assert endpoints.asked == [KeyFetch(discovery, "discovery")]
    assert endpoints.drive(engine.jwks_location(okta.issuer, NOW + 1)) == OKTA_JWKS
    assert endpoints.asked == [KeyFetch(discovery, "discovery")]  # kept: no second fetch


def test_jwks_location_tries_a_failed_discovery_again_later(idp: FakeIdentityProvider) -> None:
    okta = FakeOidcProvider("okta")
    discovery = f"{okta.issuer}/.well-known/openid-configuration"
    engine = _discovering_engine(idp, okta)
    endpoints = Endpoints(idp)
    endpoints.answers[discovery] = OUTAGE
    with pytest.raises(KeysUnavailableError, match="connection refused"):
        endpoints.drive(engine.jwks_location(okta.issuer, NOW))
    endpoints.serve(okta, discovery, OKTA_JWKS)
    assert endpoints.drive(engine.jwks_location(okta.issuer, NOW + 60)) == OKTA_JWKS
    assert endpoints.drive(engine.jwks_location(okta.issuer, NOW + 61)) == OKTA_JWKS
    assert endpoints.urls == [discovery, discovery]
