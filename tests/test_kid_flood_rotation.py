"""How long a genuinely new ALB kid (a key rotation) can be refused during a flood of forged kids.

Forged tokens naming distinct well-formed kids each draw on the ALB-key fetch bucket
(``ALB_FETCH_BURST`` at once, then one per ``ALB_FETCH_INTERVAL`` seconds). Once a sustained
flood has emptied it, every new token goes to whichever request arrives first after it refills,
so the first fetch of a new kid that real traffic carries waits until a real request wins one:
with Poisson arrivals, each token with probability ``legit / (legit + flood)``. The wait is
therefore unbounded in the worst case but geometric in practice, and ends within one interval
of the flood stopping. These tests pin that model (SECURITY.md quotes the figures); running the
module prints the table::

    .venv/bin/python -m tests.test_kid_flood_rotation

Everything is real except the clock: tokens parsed by the engine, the kid checked and fetched
over HTTP from a ``KeyServer`` (404 for forged kids), the bucket of the verifier's key store.
The forged tokens carry the configured signer, client and issuer (else they are refused before
any fetch), a random UUID kid and a signature that does not match.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import random
import statistics
import uuid
from collections.abc import Callable

from cognito_auth_middleware import InvalidTokenError, KeysUnavailableError, Verifier
from cognito_auth_middleware.core.key_store import ALB_FETCH_BURST, ALB_FETCH_INTERVAL
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from tests.conftest import Clock

TTL = 10**7  # every token outlives the simulated hours


def _forger(idp: FakeIdentityProvider, rng: random.Random, now: float) -> Callable[[], str]:
    """Tokens an attacker who knows the configuration can make: new kid, no valid signature."""
    header, _ = idp.alb_fields(now=now, ttl=TTL)
    _, payload, signature = idp.mint_alb_token(now=now, ttl=TTL).split(".")

    def forged() -> str:
        kid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        fields = json.dumps({**header, "kid": kid}).encode()
        return f"{base64.urlsafe_b64encode(fields).decode()}.{payload}.{signature}"

    return forged


def rotation_delay(
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    flood_rate: float,
    legit_rate: float,
    seed: int,
    limit: float = 100_000.0,
) -> float:
    """Seconds from a rotation until the first request with the new kid is served.

    A flood at ``flood_rate`` requests a second has already emptied the bucket; from the
    rotation on, real requests carrying the new kid arrive at ``legit_rate`` a second. Both are
    Poisson processes drawn from ``seed``.
    """
    rng = random.Random(seed)  # noqa: S311 (a seeded simulation, not a secret)
    clock = Clock()
    verifier = Verifier(clock=clock, **key_server.settings())
    forged = _forger(idp, rng, clock.now)
    access = idp.mint_access_token(now=clock.now, ttl=TTL)
    legit = idp.mint_alb_token(now=clock.now, ttl=TTL)  # names the idp's kid: new to this verifier

    def attempt(token: str) -> bool:
        try:
            verifier.authenticate(token, access)
        except (InvalidTokenError, KeysUnavailableError):
            return False
        return True

    for _ in range(2 * ALB_FETCH_BURST):
        attempt(forged())
    clock.now += rng.uniform(0, ALB_FETCH_INTERVAL)  # any phase of the refill
    rotation = clock.now
    next_forged = rotation + rng.expovariate(flood_rate)
    next_legit = rotation + rng.expovariate(legit_rate)
    while clock.now - rotation < limit:
        if next_forged < next_legit:
            clock.now, next_forged = next_forged, next_forged + rng.expovariate(flood_rate)
            attempt(forged())
        else:
            clock.now, next_legit = next_legit, next_legit + rng.expovariate(legit_rate)
            if attempt(legit):
                return clock.now - rotation
    return float("inf")


def test_once_a_kid_flood_stops_a_new_kid_is_fetched_within_one_interval(
    idp: FakeIdentityProvider, key_server: KeyServer, clock: Clock
) -> None:
    verifier = Verifier(clock=clock, **key_server.settings())
    forged = _forger(idp, random.Random(1), clock.now)  # noqa: S311 (as above)
    access = idp.mint_access_token(now=clock.now, ttl=TTL)
    for _ in range(1000):  # a flood, all at once: the bucket is empty
        with contextlib.suppress(InvalidTokenError, KeysUnavailableError):
            verifier.authenticate(forged(), access)
    assert key_server.count("alb") == ALB_FETCH_BURST
    legit = idp.mint_alb_token(now=clock.now, ttl=TTL)
    stopped, served = clock.now, None
    while served is None:
        try:
            served = verifier.authenticate(legit, access)
        except KeysUnavailableError:
            clock.now += 0.5
    assert clock.now - stopped <= ALB_FETCH_INTERVAL


def test_during_a_kid_flood_a_new_kid_waits_for_a_bucket_token(
    idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    # Ten forged requests for each real one (say 100/s against 10/s, here 20/s against 2/s:
    # only the ratio matters): each refilled token goes to a real request with p = 1/11.
    delays = [rotation_delay(idp, key_server, 20, 2, seed) for seed in range(30)]
    expected = ALB_FETCH_INTERVAL * (20 + 2) / 2  # the mean of the geometric number of tokens
    assert 0.6 * expected < statistics.mean(delays) < 1.4 * expected
    assert max(delays) < 10 * expected  # seeded: the tail of these 30 draws


def main() -> None:
    """Print the wait at a few flood and real request rates, for SECURITY.md."""
    logging.disable(logging.WARNING)  # one throttle warning per minute per verifier
    idp = FakeIdentityProvider()
    with KeyServer(idp) as server:
        for flood, legit, runs in [(10, 10, 200), (100, 10, 200), (100, 1, 100)]:
            delays = sorted(rotation_delay(idp, server, flood, legit, s) for s in range(runs))

            def quantile(q: float, delays: list[float] = delays) -> float:
                return delays[min(len(delays) - 1, int(q * len(delays)))]

            print(
                f"flood {flood}/s, real {legit}/s, {runs} runs: mean {statistics.mean(delays):.0f}"
                f" s, median {quantile(0.5):.0f} s, p90 {quantile(0.9):.0f} s,"
                f" p99 {quantile(0.99):.0f} s, max {delays[-1]:.0f} s"
            )


if __name__ == "__main__":
    main()
