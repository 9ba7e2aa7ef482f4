"""Outbound fetches stay bounded and failures heal: real tokens, a real key server, a fake clock."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from cognito_auth_middleware import InvalidTokenError, KeysUnavailableError, Verifier
from cognito_auth_middleware.core.key_store import (
    ALB_FETCH_BURST,
    ALB_FETCH_INTERVAL,
    MAX_UNKNOWN_KIDS,
)
from cognito_auth_middleware.core.throttle import FailureBackoff, TokenBucket
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from tests.conftest import Clock
from tests.drivers import KINDS, Driver, Kind

SUB = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def verifier(options: dict[str, Any], clock: Clock) -> Verifier:
    return Verifier(clock=clock, **options)


def _forged(idp: FakeIdentityProvider, kid: str) -> str:
    return idp.mint_alb_token(sub=SUB, header={"kid": kid})


def test_flood_of_unknown_kids_causes_bounded_fetches(
    verifier: Verifier, idp: FakeIdentityProvider, key_server: KeyServer, clock: Clock
) -> None:
    access = idp.mint_access_token(sub=SUB)
    outcomes = {"invalid": 0, "unavailable": 0}
    retry_afters: set[int] = set()
    seconds = 60
    for second in range(seconds):
        clock.now += 1
        for _ in range(20):  # 20 forged tokens a second, each naming a new well-formed kid
            try:
                verifier.authenticate(_forged(idp, str(uuid.uuid4())), access)
            except InvalidTokenError:
                outcomes["invalid"] += 1
            except KeysUnavailableError as exc:
                outcomes["unavailable"] += 1
                retry_afters.add(exc.retry_after)
        assert key_server.count("alb") <= ALB_FETCH_BURST + (second + 1) / ALB_FETCH_INTERVAL
    # 1,200 forged tokens, yet only the documented bound of requests went out.
    fetched = key_server.count("alb")
    assert ALB_FETCH_BURST + (seconds - 1) // ALB_FETCH_INTERVAL == fetched
    assert min(retry_afters) >= 1
    assert outcomes["invalid"] == key_server.count("alb")
    assert outcomes["unavailable"] == 20 * seconds - key_server.count("alb")


def test_a_known_bad_kid_is_not_fetched_again(
    verifier: Verifier, idp: FakeIdentityProvider, key_server: KeyServer, clock: Clock
) -> None:
    forged = _forged(idp, str(uuid.uuid4()))
    access = idp.mint_access_token(sub=SUB)
    for _ in range(10):
        with pytest.raises(InvalidTokenError, match="no ALB public key"):
            verifier.authenticate(forged, access)
    assert key_server.count("alb") == 1
    clock.now += 61  # remembered for a minute, then asked again
    with pytest.raises(InvalidTokenError):
        verifier.authenticate(forged, access)
    assert key_server.count("alb") == 2


def test_legitimate_users_are_served_during_a_kid_flood(
    verifier: Verifier, idp: FakeIdentityProvider, clock: Clock
) -> None:
    headers = idp.headers(sub=SUB)
    verifier.authenticate(headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"])
    for _ in range(100):
        with pytest.raises((InvalidTokenError, KeysUnavailableError)):
            verifier.authenticate(
                _forged(idp, str(uuid.uuid4())), headers["x-amzn-oidc-accesstoken"]
            )
    # The real key is cached, so the flood does not touch real users.
    fresh = idp.headers(sub=SUB, now=clock.now)
    assert (
        verifier.authenticate(fresh["x-amzn-oidc-data"], fresh["x-amzn-oidc-accesstoken"]).sub
        == SUB
    )


def test_repeated_failures_back_off_then_recover(
    verifier: Verifier, idp: FakeIdentityProvider, key_server: KeyServer, clock: Clock
) -> None:
    headers = idp.headers(sub=SUB, now=clock.now, ttl=3600)
    args = (headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"])
    key_server.status = 500
    with pytest.raises(KeysUnavailableError, match="HTTP 500"):
        verifier.authenticate(*args)  # first failure: no back-off
    with pytest.raises(KeysUnavailableError, match="HTTP 500"):
        verifier.authenticate(*args)  # second failure: back off 1 s
    assert key_server.count("alb") == 2
    for _ in range(50):
        with pytest.raises(KeysUnavailableError, match="recent fetches failed") as caught:
            verifier.authenticate(*args)
        assert caught.value.retry_after == 1
    assert key_server.count("alb") == 2  # no storm against a failing endpoint
    key_server.status = None
    clock.now += 1.5
    assert verifier.authenticate(*args).sub == SUB
    assert key_server.count("alb") == 3


@pytest.mark.parametrize("kind", KINDS)
def test_one_failed_fetch_is_one_failure_however_many_requests_waited_on_it(
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    clock: Clock,
    kind: Kind,
    caplog: pytest.LogCaptureFixture,
) -> None:
    driver = Driver(kind, clock=clock, **key_server.settings())
    pairs = [idp.headers(sub=f"user-{n}", now=clock.now) for n in range(30)]
    key_server.status, key_server.delay = 500, 0.5
    with caplog.at_level(logging.WARNING, logger="cognito_auth_middleware"):
        outcomes = driver.authenticate_all(pairs)
    assert [type(outcome.result) for outcome in outcomes] == [KeysUnavailableError] * 30
    assert all("HTTP 500" in str(outcome.result) for outcome in outcomes)
    assert key_server.count("alb") == 1  # thirty requests waited on one fetch
    assert len([r for r in caplog.records if "cannot obtain" in r.getMessage()]) == 1
    key_server.status, key_server.delay = None, 0.0
    # The endpoint healed; the clock has not moved. One failure imposes no wait, so the very
    # next request fetches again (once) and is served.
    assert driver.authenticate(pairs[0]).sub == "user-0"
    assert key_server.count("alb") == 2


def test_cached_access_keys_keep_working_while_a_jwks_refresh_fails(
    verifier: Verifier, idp: FakeIdentityProvider, key_server: KeyServer, clock: Clock
) -> None:
    first = idp.headers(sub=SUB, now=clock.now, ttl=3600)
    verifier.authenticate(first["x-amzn-oidc-data"], first["x-amzn-oidc-accesstoken"])
    key_server.status = 503
    clock.now += 20
    stranger = idp.mint_access_token(sub=SUB, header={"kid": "rotated"}, now=clock.now)
    with pytest.raises(KeysUnavailableError):
        verifier.authenticate(first["x-amzn-oidc-data"], stranger)
    again = idp.headers(sub=SUB, now=clock.now)
    assert verifier.authenticate(again["x-amzn-oidc-data"], again["x-amzn-oidc-accesstoken"])


def test_caches_stay_within_their_bounds_under_garbage_and_valid_floods(
    verifier: Verifier, idp: FakeIdentityProvider, clock: Clock
) -> None:
    from cognito_auth_middleware.core.engine import MAX_VERIFIED_TOKENS

    access = idp.mint_access_token(sub=SUB, ttl=100_000, now=clock.now)
    for n in range(MAX_UNKNOWN_KIDS + 76):
        clock.now += 7  # keep the bucket refilling so unknown kids keep being fetched
        with pytest.raises((InvalidTokenError, KeysUnavailableError)):
            verifier.authenticate(_forged(idp, str(uuid.uuid4())), access)
        with pytest.raises(InvalidTokenError):
            verifier.authenticate(f"garbage.{n}.x", access)
    for n in range(MAX_VERIFIED_TOKENS + 500):
        alb = idp.mint_alb_token(sub=SUB, now=clock.now, ttl=600, claims={"n": n})
        verifier.authenticate(alb, access)
    sizes, bounds = verifier.engine.sizes, verifier.engine.bounds()
    assert sizes.keys() == bounds.keys()
    for name, size in sizes.items():
        assert size <= bounds[name], name
    # The floods filled the caches they target right up to their bounds, and no further.
    assert sizes["unknown_kids"] == bounds["unknown_kids"]
    assert sizes["alb_tokens"] == sizes["users"] == MAX_VERIFIED_TOKENS


def test_token_bucket_and_backoff_arithmetic() -> None:
    bucket = TokenBucket(capacity=3, rate=0.5, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [0.0, 0.0, 0.0, 2.0]
    assert bucket.take(101.0) == 1.0
    assert bucket.take(102.0) == 0.0
    backoff = FailureBackoff(base=1.0, cap=8.0)
    waits = []
    for _ in range(6):
        outcome = object()
        assert backoff.failed("u", 0.0, outcome)
        assert not backoff.failed("u", 0.0, outcome)  # the same fetch, reported again
        waits.append(backoff.wait("u", 0.0))
    assert waits == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    backoff.succeeded("u")
    assert backoff.wait("u", 0.0) == 0.0
