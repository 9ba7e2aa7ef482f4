"""The async driver: no blocking, one fetch for many concurrent cold requests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cognito_auth_middleware import AsyncVerifier, InvalidTokenError, KeysUnavailableError
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer


def test_concurrent_cold_requests_share_one_fetch(
    idp: FakeIdentityProvider, key_server: KeyServer, options: dict[str, Any]
) -> None:
    key_server.delay = 0.2
    verifier = AsyncVerifier(**options)
    pairs = [idp.headers(sub=f"user-{n}") for n in range(50)]

    async def main() -> list[str]:
        users = await asyncio.gather(
            *(
                verifier.authenticate(p["x-amzn-oidc-data"], p["x-amzn-oidc-accesstoken"])
                for p in pairs
            )
        )
        return [user.sub for user in users]

    assert asyncio.run(main()) == [f"user-{n}" for n in range(50)]
    assert (key_server.count("alb"), key_server.count("jwks")) == (1, 1)


def test_fetch_does_not_block_the_event_loop(
    idp: FakeIdentityProvider, key_server: KeyServer, options: dict[str, Any]
) -> None:
    key_server.delay = 0.3
    verifier = AsyncVerifier(**options)
    headers = idp.headers()

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        await verifier.authenticate(headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"])
        task.cancel()
        return ticks

    assert asyncio.run(main()) >= 20  # the loop kept running during two 0.3 s fetches


def test_a_cancelled_request_does_not_cancel_the_shared_fetch(
    idp: FakeIdentityProvider, key_server: KeyServer, options: dict[str, Any]
) -> None:
    key_server.delay = 0.2
    verifier = AsyncVerifier(**options)
    headers = idp.headers()
    args = (headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"])

    async def main() -> str:
        first = asyncio.create_task(verifier.authenticate(*args))
        second = asyncio.create_task(verifier.authenticate(*args))
        await asyncio.sleep(0.05)
        first.cancel()
        return (await second).sub

    assert asyncio.run(main()) == headers["x-amzn-oidc-identity"]
    assert key_server.count("alb") == 1


def test_cancelling_the_fetch_itself_cancels_it(
    idp: FakeIdentityProvider, key_server: KeyServer, options: dict[str, Any]
) -> None:
    """Cancellation is not a fetch failure: the fetch task ends cancelled, as at loop shutdown."""
    key_server.delay = 1.0
    verifier = AsyncVerifier(**options)
    headers = idp.headers()

    async def main() -> None:
        request = asyncio.create_task(
            verifier.authenticate(headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"])
        )
        await asyncio.sleep(0.2)
        (fetch,) = asyncio.all_tasks() - {request, asyncio.current_task()}
        fetch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        assert fetch.cancelled()

    asyncio.run(main())


@pytest.mark.parametrize(
    "status",
    [pytest.param(500, id="500"), pytest.param(502, id="502"), pytest.param(429, id="429")],
)
def test_failing_endpoint_is_unavailable_then_recovers(
    idp: FakeIdentityProvider, key_server: KeyServer, options: dict[str, Any], status: int
) -> None:
    verifier = AsyncVerifier(**options)
    headers = idp.headers()
    args = (headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"])
    key_server.status = status
    with pytest.raises(KeysUnavailableError, match=f"HTTP {status}"):
        asyncio.run(verifier.authenticate(*args))
    key_server.status = None
    assert asyncio.run(verifier.authenticate(*args)).sub == headers["x-amzn-oidc-identity"]


def test_unreachable_and_slow_endpoints_are_unavailable(
    idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    headers = idp.headers()
    args = (headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"])
    slow = AsyncVerifier(**key_server.settings(key_fetch_timeout=0.2))
    key_server.delay = 1.0
    with pytest.raises(KeysUnavailableError, match="timed out"):
        asyncio.run(slow.authenticate(*args))
    closed = AsyncVerifier(**key_server.settings(alb_key_url="http://127.0.0.1:9/keys"))
    with pytest.raises(KeysUnavailableError, match="ConnectError"):
        asyncio.run(closed.authenticate(*args))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not a pem", id="garbage"),
        pytest.param(b"x" * 100_000, id="too-large"),
    ],
)
def test_garbage_keys_are_unavailable(
    idp: FakeIdentityProvider, key_server: KeyServer, options: dict[str, Any], body: bytes
) -> None:
    key_server.body = body
    headers = idp.headers()
    with pytest.raises(KeysUnavailableError):
        asyncio.run(
            AsyncVerifier(**options).authenticate(
                headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"]
            )
        )


def test_known_answers_only_for_a_pair_verified_before(
    idp: FakeIdentityProvider, key_server: KeyServer, options: dict[str, Any]
) -> None:
    """The middleware's hit path: ``known`` fetches nothing and knows only verified pairs."""
    verifier = AsyncVerifier(**options)
    headers = idp.headers()
    args = (headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"])

    async def main() -> tuple[object, str, str | None]:
        before = verifier.known(*args)
        user = await verifier.verify_new(*args)
        after = verifier.known(*args)
        return before, user.sub, None if after is None else after.sub

    assert asyncio.run(main()) == (
        None,
        headers["x-amzn-oidc-identity"],
        headers["x-amzn-oidc-identity"],
    )
    assert (key_server.count("alb"), key_server.count("jwks")) == (1, 1)


def test_verify_now_decides_a_new_pair_whose_keys_are_cached_and_fetches_nothing(
    idp: FakeIdentityProvider, key_server: KeyServer, options: dict[str, Any]
) -> None:
    """The middleware's step after ``known``: with cold keys it returns None having fetched
    nothing, and ``verify_new`` then fetches each key once; with the keys cached a new pair is
    decided."""
    verifier = AsyncVerifier(**options)
    first, second = idp.headers(sub="user-1"), idp.headers(sub="user-2")

    def args(headers: dict[str, str]) -> tuple[str, str, str]:
        return (
            headers["x-amzn-oidc-data"],
            headers["x-amzn-oidc-accesstoken"],
            headers["x-amzn-oidc-identity"],
        )

    async def main() -> tuple[object, tuple[int, int], str, str | None]:
        cold = verifier.verify_now(*args(first))
        fetched = (key_server.count("alb"), key_server.count("jwks"))
        user = await verifier.verify_new(*args(first))
        warm = verifier.verify_now(*args(second))
        return cold, fetched, user.sub, None if warm is None else warm.sub

    assert asyncio.run(main()) == (None, (0, 0), "user-1", "user-2")
    assert (key_server.count("alb"), key_server.count("jwks")) == (1, 1)


@pytest.mark.parametrize(
    ("step", "spliced", "identity", "message"),
    [
        pytest.param("known", False, "someone-else", "identity", id="known-another-identity"),
        pytest.param("verify_now", True, None, "another user", id="verify-now-spliced-pair"),
    ],
)
def test_the_steps_without_a_coroutine_refuse_what_the_flow_refuses(
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    options: dict[str, Any],
    step: str,
    spliced: bool,
    identity: str | None,
    message: str,
) -> None:
    """``known`` (a verified pair) and ``verify_now`` (a new pair, keys cached) raise as the
    flow would: another identity header, another user's ALB token with this access token."""
    verifier = AsyncVerifier(**options)
    headers = idp.headers()
    alb, access = headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"]

    async def main() -> None:
        await verifier.authenticate(alb, access)  # the pair admitted, the keys cached
        sent = idp.headers(sub="other")["x-amzn-oidc-data"] if spliced else alb
        getattr(verifier, step)(sent, access, identity)

    with pytest.raises(InvalidTokenError, match=message):
        asyncio.run(main())
