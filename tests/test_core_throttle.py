"""The limits on outbound key fetches (``core/throttle.py``), to the second: time is passed in."""

from __future__ import annotations

import pytest

from cognito_auth_middleware.core.throttle import FailureBackoff, TokenBucket


def test_a_bucket_allows_its_capacity_at_once_then_says_how_long_to_wait() -> None:
    bucket = TokenBucket(capacity=2, rate=0.25, now=100.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 4.0]
    assert bucket.take(102.0) == 2.0  # half a token refilled: half the wait left
    assert bucket.take(104.0) == 0.0
    assert bucket.take(104.0) == 4.0


def test_a_bucket_refills_no_further_than_its_capacity() -> None:
    bucket = TokenBucket(capacity=2, rate=1.0, now=0.0)
    assert bucket.take(1000.0) == 0.0
    assert bucket.take(1000.0) == 0.0
    assert bucket.take(1000.0) == 1.0


def test_a_bucket_is_full_when_created() -> None:
    bucket = TokenBucket(capacity=3, rate=1.0, now=50.0)
    assert [bucket.take(50.0) for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]


def test_a_clock_going_back_refills_nothing_and_moves_no_stamp() -> None:
    bucket = TokenBucket(capacity=1, rate=1.0, now=100.0)
    assert bucket.take(100.0) == 0.0
    assert bucket.take(50.0) == 1.0  # no negative refill
    assert bucket.take(100.5) == 0.5  # measured from 100, not from 50
    assert bucket.take(101.0) == 0.0


def test_a_bucket_token_exactly_refilled_can_be_taken() -> None:
    bucket = TokenBucket(capacity=1, rate=0.5, now=0.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(2.0) == 0.0
    assert bucket.take(2.0) == 2.0  # and it was taken


@pytest.mark.parametrize(
    ("failures", "wait"),
    [
        pytest.param(1, 0.0, id="one-failure-no-wait"),
        pytest.param(2, 1.0, id="two-one-second"),
        pytest.param(3, 2.0, id="three-two-seconds"),
        pytest.param(4, 4.0, id="four-four-seconds"),
        pytest.param(6, 16.0, id="six-sixteen-seconds"),
        pytest.param(7, 30.0, id="seven-capped"),
        pytest.param(20, 30.0, id="twenty-capped"),
    ],
)
def test_consecutive_failures_back_off_exponentially_up_to_the_cap(
    failures: int, wait: float
) -> None:
    backoff = FailureBackoff()
    for _ in range(failures):
        assert backoff.failed("u", 10.0, object()) is True
    assert backoff.wait("u", 10.0) == wait
    assert backoff.wait("u", 10.0 + wait / 2) == wait / 2
    assert backoff.wait("u", 10.0 + wait + 5) == 0.0
    assert backoff.retry_after("u", 10.0) == max(1, int(wait))


def test_base_and_cap_are_configurable() -> None:
    backoff = FailureBackoff(base=3.0, cap=10.0)
    waits = []
    for _ in range(4):
        backoff.failed("u", 0.0, object())
        waits.append(backoff.wait("u", 0.0))
    assert waits == [0.0, 3.0, 6.0, 10.0]


def test_one_outcome_reported_many_times_is_one_failure() -> None:
    backoff, outage = FailureBackoff(), object()
    assert backoff.failed("u", 0.0, outage) is True
    assert [backoff.failed("u", 0.0, outage) for _ in range(30)] == [False] * 30
    assert backoff.wait("u", 0.0) == 0.0
    assert backoff.failed("u", 0.0, object()) is True  # a new fetch failed: the second failure
    assert backoff.wait("u", 0.0) == 1.0


def test_failures_are_counted_per_url() -> None:
    backoff = FailureBackoff()
    backoff.failed("a", 0.0, object())
    backoff.failed("a", 0.0, object())
    backoff.failed("b", 0.0, object())
    assert (backoff.wait("a", 0.0), backoff.wait("b", 0.0), backoff.wait("c", 0.0)) == (1, 0, 0)
    assert len(backoff) == 2


def test_a_success_forgets_the_failures() -> None:
    backoff = FailureBackoff()
    for _ in range(3):
        backoff.failed("u", 0.0, object())
    backoff.succeeded("u")
    backoff.succeeded("never-failed")
    assert len(backoff) == 0
    assert backoff.failed("u", 0.0, object()) is True
    assert backoff.wait("u", 0.0) == 0.0  # counting starts again from one


@pytest.mark.parametrize(
    ("wait", "retry_after"),
    [
        pytest.param(0.0, 1, id="no-wait-still-one-second"),
        pytest.param(0.2, 1, id="fraction-rounds-up"),
        pytest.param(1.5, 2, id="one-and-a-half-rounds-up"),
        pytest.param(2.0, 2, id="whole-seconds-stay"),
    ],
)
def test_retry_after_is_whole_seconds_rounded_up_at_least_one(
    wait: float, retry_after: int
) -> None:
    backoff = FailureBackoff(base=4.0)
    backoff.failed("u", 0.0, object())
    backoff.failed("u", 0.0, object())  # a 4 s wait, from 0
    assert backoff.retry_after("u", 4.0 - wait) == retry_after


def test_the_failing_urls_remembered_are_bounded() -> None:
    backoff = FailureBackoff(maxsize=2)
    for url in ("a", "b", "c"):
        backoff.failed(url, 0.0, object())
    assert len(backoff) == 2
