"""When a key may be fetched, and what each answer means (``core/key_store.py``).

The :class:`KeyStore` is driven directly with the answers a driver would bring back: a real
PEM key, a real JWKS, HTTP errors and failures. ``None`` from ``alb_key``/``jwks_key`` means
"fetch it"; a key means "no fetch"; an exception means "refused, no fetch".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest

from cognito_auth_middleware import InvalidTokenError, KeysUnavailableError
from cognito_auth_middleware.core.key_store import (
    ALB_FETCH_BURST,
    ALB_FETCH_INTERVAL,
    JWKS_REFETCH_INTERVAL,
    UNKNOWN_KID_TTL,
    KeyStore,
)
from cognito_auth_middleware.core.keys import FetchFailure, KeyResponse
from cognito_auth_middleware.testing import FakeIdentityProvider

NOW = 1_000.0
URL = "https://keys.example.test/0b0b0b0b-0000-0000-0000-000000000000"
JWKS = "https://pool.example.test/.well-known/jwks.json"
TIMEOUT = 5.0
UNKNOWN_KID = "ALB token: no ALB public key exists for its kid"
NOT_IN_JWKS = "access token: its kid is not in the user pool's JWKS"


@pytest.fixture
def store() -> KeyStore:
    return KeyStore(fetch_timeout=TIMEOUT)


def _pem(idp: FakeIdentityProvider) -> KeyResponse:
    return KeyResponse(200, idp.alb_public_pem())


def _jwks(idp: FakeIdentityProvider) -> KeyResponse:
    return KeyResponse(200, json.dumps(idp.jwks()).encode())


def _alb_url(n: int) -> str:
    return f"https://keys.example.test/{n:08x}-0000-0000-0000-000000000000"


# --- ALB keys ---------------------------------------------------------------------------------


def test_a_fetched_alb_key_is_cached_and_verifies(
    store: KeyStore, idp: FakeIdentityProvider
) -> None:
    assert store.alb_key(URL, NOW) is None
    key = store.accept_alb(URL, _pem(idp), NOW)
    assert key.verify(b"msg", idp.sign_alb(b"msg"))
    assert store.alb_key(URL, NOW + 10**6) is key  # no expiry: keys are immutable per kid


def test_the_same_response_accepted_twice_is_parsed_once(
    store: KeyStore, idp: FakeIdentityProvider
) -> None:
    response = _pem(idp)
    first = store.accept_alb(URL, response, NOW)
    assert store.accept_alb(URL, response, NOW) is first
    assert store.accept_alb(URL, _pem(idp), NOW) is not first  # another fetch: parsed anew


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param(FetchFailure("refused"), ": refused", id="failure"),
        pytest.param(KeyResponse(500, b""), ": HTTP 500", id="http-500"),
        pytest.param(KeyResponse(401, b""), ": HTTP 401", id="http-401"),
        pytest.param(KeyResponse(201, b""), ": HTTP 201", id="http-201"),
        pytest.param(
            KeyResponse(200, b"junk"), ": the response is not a PEM public key", id="junk"
        ),
    ],
)
def test_an_alb_answer_that_is_not_a_key_is_unavailable(
    store: KeyStore, answer: KeyResponse | FetchFailure, message: str
) -> None:
    with pytest.raises(KeysUnavailableError) as caught:
        store.accept_alb(URL, answer, NOW)
    assert caught.value.message == f"cannot obtain the ALB public key from {URL}{message}"
    assert store.sizes["alb_keys"] == 0


@pytest.mark.parametrize("status", [403, 404])
def test_an_unknown_alb_kid_is_refused_and_remembered_for_a_minute(
    store: KeyStore, status: int
) -> None:
    store.alb_key(URL, NOW)
    with pytest.raises(InvalidTokenError) as caught:
        store.accept_alb(URL, KeyResponse(status, b""), NOW)
    assert caught.value.message == UNKNOWN_KID
    with pytest.raises(InvalidTokenError) as caught:
        store.alb_key(URL, NOW + UNKNOWN_KID_TTL - 0.01)
    assert caught.value.message == UNKNOWN_KID
    assert store.alb_key(URL, NOW + UNKNOWN_KID_TTL) is None


def test_requests_for_one_new_kid_within_the_fetch_timeout_share_one_bucket_token() -> None:
    store = KeyStore(fetch_timeout=2.0)
    # Every other kid of the burst is used up; the one kid keeps being admitted meanwhile.
    assert store.alb_key(URL, NOW) is None
    for n in range(1, ALB_FETCH_BURST):
        assert store.alb_key(_alb_url(n), NOW) is None
    window = 2.0 + 1  # the timeout, and a second (less than a bucket interval)
    assert store.alb_key(URL, NOW + window - 0.01) is None  # joins the fetch under way
    with pytest.raises(KeysUnavailableError, match="too many new ALB key ids"):
        store.alb_key(URL, NOW + window)  # a new attempt: it needs a token again


def test_new_alb_kids_draw_from_the_bucket(store: KeyStore) -> None:
    for n in range(ALB_FETCH_BURST):
        assert store.alb_key(_alb_url(n), NOW) is None
    with pytest.raises(KeysUnavailableError) as caught:
        store.alb_key(_alb_url(99), NOW)
    assert caught.value.message == "too many new ALB key ids recently; try again shortly"
    assert caught.value.retry_after == ALB_FETCH_INTERVAL
    with pytest.raises(KeysUnavailableError) as caught:
        store.alb_key(_alb_url(99), NOW + 0.5)
    assert caught.value.retry_after == ALB_FETCH_INTERVAL  # 5.5 s rounded up
    with pytest.raises(KeysUnavailableError) as caught:
        store.alb_key(_alb_url(99), NOW + ALB_FETCH_INTERVAL - 0.5)
    assert caught.value.retry_after == 1
    assert store.alb_key(_alb_url(99), NOW + ALB_FETCH_INTERVAL + 0.01) is None


def _empty_the_bucket(store: KeyStore, kids: Iterator[int], now: float) -> None:
    """Ask for new kids until the bucket refuses one."""
    for kid in kids:
        try:
            store.alb_key(_alb_url(kid), now)
        except KeysUnavailableError:
            return


def test_the_throttle_is_logged_once_a_minute(
    store: KeyStore, caplog: pytest.LogCaptureFixture
) -> None:
    kids = iter(range(10**6))
    logged_at = []
    with caplog.at_level(logging.WARNING, logger="cognito_auth_middleware"):
        for second in (0, 1, 60, 60.5):
            before = len(caplog.records)
            _empty_the_bucket(store, kids, NOW + second)
            if len(caplog.records) > before:
                logged_at.append(second)
    assert logged_at == [0, 60.5]  # not at 60: a minute must be over, not just reached
    logged = [record for record in caplog.records if "rate-limited" in record.getMessage()]
    assert logged[0].getMessage() == (
        "ALB key fetches are rate-limited (10 at once, then one per 6s): many tokens name "
        "unknown key ids; this often means forged tokens"
    )


def test_a_failing_alb_url_backs_off_after_the_second_failure(store: KeyStore) -> None:
    for n in range(2):
        assert store.alb_key(URL, NOW) is None
        with pytest.raises(KeysUnavailableError) as caught:
            store.accept_alb(URL, FetchFailure(f"failure {n}"), NOW)
        assert caught.value.retry_after == 1
    with pytest.raises(KeysUnavailableError) as caught:
        store.alb_key(URL, NOW + 0.75)
    assert caught.value.message == (
        f"cannot obtain the ALB public key from {URL}: recent fetches failed; retrying in 1s"
    )
    assert caught.value.retry_after == 1
    assert store.alb_key(URL, NOW + 1) is None


@pytest.mark.parametrize("kind", ["alb", "jwks"])
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda: KeyResponse(500, b""), id="http-500"),
        pytest.param(lambda: KeyResponse(200, b"junk"), id="junk"),
        pytest.param(lambda: FetchFailure("refused"), id="failure"),
    ],
)
def test_two_separate_bad_answers_are_two_failures(
    store: KeyStore, kind: str, answer: Callable[[], KeyResponse | FetchFailure]
) -> None:
    url = URL if kind == "alb" else JWKS

    def accept(result: KeyResponse | FetchFailure) -> object:
        if kind == "alb":
            return store.accept_alb(url, result, NOW)
        return store.accept_jwks(url, "kid", result, NOW)

    def admit() -> object:
        return store.alb_key(url, NOW) if kind == "alb" else store.jwks_key(url, "kid", NOW)

    for _ in range(2):  # two fetches, each bringing back its own bad answer
        with pytest.raises(KeysUnavailableError):
            accept(answer())
    with pytest.raises(KeysUnavailableError, match="recent fetches failed"):
        admit()


def test_a_backed_off_url_does_not_spend_bucket_tokens(store: KeyStore) -> None:
    for n in range(2):
        store.alb_key(URL, NOW)
        with pytest.raises(KeysUnavailableError):
            store.accept_alb(URL, FetchFailure(f"failure {n}"), NOW)
    for _ in range(50):
        with pytest.raises(KeysUnavailableError, match="recent fetches failed"):
            store.alb_key(URL, NOW + 0.5)
    for n in range(1, ALB_FETCH_BURST):  # URL took the first token
        assert store.alb_key(_alb_url(n), NOW + 0.5) is None


def test_one_failed_fetch_is_logged_once(store: KeyStore, caplog: pytest.LogCaptureFixture) -> None:
    failure = FetchFailure("timed out")
    with caplog.at_level(logging.WARNING, logger="cognito_auth_middleware"):
        for _ in range(5):
            with pytest.raises(KeysUnavailableError):
                store.accept_alb(URL, failure, NOW)
    assert [record.getMessage() for record in caplog.records] == [
        f"cannot obtain the ALB public key from {URL}: timed out"
    ]


# --- the JWKS ---------------------------------------------------------------------------------


def test_a_fetched_jwks_serves_its_kid_without_another_fetch(
    store: KeyStore, idp: FakeIdentityProvider
) -> None:
    assert store.jwks_key(JWKS, idp.rsa_kid, NOW) is None
    key = store.accept_jwks(JWKS, idp.rsa_kid, _jwks(idp), NOW)
    assert key.verify(b"msg", idp.sign_access(b"msg"))
    assert store.jwks_key(JWKS, idp.rsa_kid, NOW + 10**6) is key


def test_a_kid_missing_from_a_fresh_jwks_is_refused(
    store: KeyStore, idp: FakeIdentityProvider
) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        store.accept_jwks(JWKS, "rotated", _jwks(idp), NOW)
    assert caught.value.message == NOT_IN_JWKS
    # The JWKS was cached all the same: the pool's own kid needs no fetch.
    assert store.jwks_key(JWKS, idp.rsa_kid, NOW) is not None
    with pytest.raises(InvalidTokenError) as caught:
        store.jwks_key(JWKS, "rotated", NOW + JWKS_REFETCH_INTERVAL - 0.01)
    assert caught.value.message == NOT_IN_JWKS
    assert store.jwks_key(JWKS, "rotated", NOW + JWKS_REFETCH_INTERVAL) is None


def test_a_refetched_jwks_replaces_the_old_one(store: KeyStore, idp: FakeIdentityProvider) -> None:
    store.accept_jwks(JWKS, idp.rsa_kid, _jwks(idp), NOW)
    rotated = FakeIdentityProvider()
    later = NOW + JWKS_REFETCH_INTERVAL
    key = store.accept_jwks(JWKS, rotated.rsa_kid, _jwks(rotated), later)
    assert store.jwks_key(JWKS, rotated.rsa_kid, later) is key
    # The refetch time is the new fetch's: the next miss waits ten seconds from it.
    with pytest.raises(InvalidTokenError):
        store.jwks_key(JWKS, "other", later + JWKS_REFETCH_INTERVAL - 0.01)


def test_flows_sent_the_same_jwks_response_share_one_parse(
    store: KeyStore, idp: FakeIdentityProvider
) -> None:
    response = _jwks(idp)
    first = store.accept_jwks(JWKS, idp.rsa_kid, response, NOW)
    assert store.accept_jwks(JWKS, idp.rsa_kid, response, NOW + 1) is first
    with pytest.raises(InvalidTokenError):
        store.accept_jwks(JWKS, "other", response, NOW + 1)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param(FetchFailure("refused"), ": refused", id="failure"),
        pytest.param(KeyResponse(404, b""), ": HTTP 404", id="http-404"),
        pytest.param(KeyResponse(403, b""), ": HTTP 403", id="http-403"),
        pytest.param(KeyResponse(200, b"{}"), ": the response is not a JWKS", id="junk"),
    ],
)
def test_a_jwks_answer_that_is_not_a_jwks_is_unavailable(
    store: KeyStore, answer: KeyResponse | FetchFailure, message: str
) -> None:
    with pytest.raises(KeysUnavailableError) as caught:
        store.accept_jwks(JWKS, "kid", answer, NOW)
    assert caught.value.message.startswith(f"cannot obtain the Cognito JWKS from {JWKS}{message}")
    assert store.sizes["jwks"] == 0


def test_cached_jwks_keys_keep_working_while_a_refetch_fails(
    store: KeyStore, idp: FakeIdentityProvider
) -> None:
    key = store.accept_jwks(JWKS, idp.rsa_kid, _jwks(idp), NOW)
    later = NOW + JWKS_REFETCH_INTERVAL
    assert store.jwks_key(JWKS, "rotated", later) is None
    for n in range(2):
        with pytest.raises(KeysUnavailableError):
            store.accept_jwks(JWKS, "rotated", FetchFailure(f"failure {n}"), later)
    assert store.jwks_key(JWKS, idp.rsa_kid, later) is key
    with pytest.raises(KeysUnavailableError, match=r"the Cognito JWKS .* recent fetches failed"):
        store.jwks_key(JWKS, "rotated", later + 0.5)


def test_a_jwks_success_forgets_its_failures(store: KeyStore, idp: FakeIdentityProvider) -> None:
    for n in range(2):
        with pytest.raises(KeysUnavailableError):
            store.accept_jwks(JWKS, idp.rsa_kid, FetchFailure(f"failure {n}"), NOW)
    store.accept_jwks(JWKS, idp.rsa_kid, _jwks(idp), NOW + 1)
    assert store.sizes["backoff"] == 0


# --- another provider's discovery document ------------------------------------------------------

ISSUER = "https://idp.example.test/oauth2/default"
DISCOVERY = f"{ISSUER}/.well-known/openid-configuration"
PROVIDER_JWKS = f"{ISSUER}/v1/keys"
CANNOT_DISCOVER = f"cannot obtain the provider's discovery document from {DISCOVERY}"


def _discovery(jwks_uri: str = PROVIDER_JWKS, issuer: str = ISSUER) -> KeyResponse:
    return KeyResponse(200, json.dumps({"issuer": issuer, "jwks_uri": jwks_uri}).encode())


def test_a_discovered_jwks_uri_is_kept_and_needs_no_fetch(store: KeyStore) -> None:
    assert store.jwks_uri(DISCOVERY, NOW) is None
    assert store.accept_discovery(DISCOVERY, ISSUER, _discovery(), NOW) == PROVIDER_JWKS
    assert store.jwks_uri(DISCOVERY, NOW + 10**6) == PROVIDER_JWKS
    assert store.sizes["discovered"] == 1


def test_the_first_discovery_document_read_is_the_one_kept(store: KeyStore) -> None:
    response = _discovery()
    assert store.accept_discovery(DISCOVERY, ISSUER, response, NOW) == PROVIDER_JWKS
    assert store.accept_discovery(DISCOVERY, ISSUER, response, NOW) == PROVIDER_JWKS
    # Requests that waited on other fetches bring other answers: the one read first stands.
    other = _discovery(f"{ISSUER}/v2/keys")
    assert store.accept_discovery(DISCOVERY, ISSUER, other, NOW + 1) == PROVIDER_JWKS
    failure = FetchFailure("refused")
    assert store.accept_discovery(DISCOVERY, ISSUER, failure, NOW + 1) == PROVIDER_JWKS
    assert store.sizes["backoff"] == 0


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(FetchFailure("timed out"), "timed out", id="failure"),
        pytest.param(KeyResponse(500, b""), "HTTP 500", id="http-500"),
        pytest.param(KeyResponse(404, b""), "HTTP 404", id="http-404"),
        pytest.param(KeyResponse(200, b"junk"), "the discovery document is not JSON", id="junk"),
        pytest.param(
            _discovery(issuer="https://idp.example.test"),
            "the discovery document names another issuer",
            id="another-issuer",
        ),
    ],
)
def test_a_discovery_answer_that_is_no_document_is_unavailable(
    store: KeyStore,
    caplog: pytest.LogCaptureFixture,
    answer: KeyResponse | FetchFailure,
    reason: str,
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="cognito_auth_middleware"),
        pytest.raises(KeysUnavailableError) as caught,
    ):
        store.accept_discovery(DISCOVERY, ISSUER, answer, NOW)
    assert caught.value.message == f"{CANNOT_DISCOVER}: {reason}"
    assert caught.value.retry_after == 1
    assert [record.getMessage() for record in caplog.records] == [f"{CANNOT_DISCOVER}: {reason}"]
    assert store.sizes["discovered"] == 0
    assert store.jwks_uri(DISCOVERY, NOW) is None  # one failure: the next request fetches again


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda: FetchFailure("refused"), id="failure"),
        pytest.param(lambda: KeyResponse(500, b""), id="http-500"),
        pytest.param(lambda: KeyResponse(200, b"junk"), id="junk"),
    ],
)
def test_a_failing_discovery_url_backs_off_after_the_second_failure(
    store: KeyStore, answer: Callable[[], KeyResponse | FetchFailure]
) -> None:
    for _ in range(2):
        assert store.jwks_uri(DISCOVERY, NOW) is None
        with pytest.raises(KeysUnavailableError) as caught:
            store.accept_discovery(DISCOVERY, ISSUER, answer(), NOW)
        assert caught.value.retry_after == 1
    with pytest.raises(KeysUnavailableError) as caught:
        store.jwks_uri(DISCOVERY, NOW + 0.75)  # refused: no fetch is admitted
    assert caught.value.message == f"{CANNOT_DISCOVER}: recent fetches failed; retrying in 1s"
    assert caught.value.retry_after == 1
    assert store.jwks_uri(DISCOVERY, NOW + 1) is None
    assert store.accept_discovery(DISCOVERY, ISSUER, _discovery(), NOW + 1) == PROVIDER_JWKS
    assert store.sizes["backoff"] == 0  # the success forgot the failures
    assert store.jwks_uri(DISCOVERY, NOW + 1) == PROVIDER_JWKS


# --- sizes ------------------------------------------------------------------------------------


def test_sizes_and_bounds_name_the_same_caches(store: KeyStore, idp: FakeIdentityProvider) -> None:
    store.alb_key(URL, NOW)
    store.accept_alb(URL, _pem(idp), NOW)
    store.alb_key(_alb_url(1), NOW)
    with pytest.raises(InvalidTokenError):
        store.accept_alb(_alb_url(1), KeyResponse(404, b""), NOW)
    with pytest.raises(KeysUnavailableError):
        store.accept_jwks(JWKS, "kid", FetchFailure("refused"), NOW)
    assert store.sizes == {
        "alb_keys": 1,
        "jwks": 0,
        "discovered": 0,
        "unknown_kids": 1,
        "attempts": 2,
        "backoff": 1,
    }
    assert KeyStore.bounds() == {
        "alb_keys": 64,
        "jwks": 16,
        "discovered": 16,
        "unknown_kids": 1024,
        "attempts": 1024,
        "backoff": 256,
    }
