"""Where a fresh ALB token's microseconds go: each stage of the engine's path timed alone.

Run it with ``./dev stages`` (``python -m benchmarks.stages [--tokens N] [--rounds R]``). It is a
profile, not a target: every stage runs over the same pool of distinct fresh ALB tokens (the
access token cached), in a loop of its own, and the figure is the best round's time per token.
Two further rows separate the interpreter's work from the CPU's caches: the whole path with
the signature check replaced by a no-op, and the ASGI middleware around a no-op app and around
Starlette, next to a bare ES256 verify in front of the same two apps.

The keys are served by a :class:`~cognito_auth_middleware.testing.KeyServer` on 127.0.0.1 and
fetched once over HTTP, as in every other benchmark; the pieces timed are the package's own
functions, called as the engine calls them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.types import ASGIApp, Receive, Scope, Send

from benchmarks.common import describe, machine_info
from benchmarks.harness import AsgiHeaders, asgi_timer, starlette_app
from cognito_auth_middleware import CognitoAuthMiddleware, User, Verifier
from cognito_auth_middleware.core.claims import ALB, HeaderRules, alb_record
from cognito_auth_middleware.core.engine import MAX_VERIFIED_TOKENS
from cognito_auth_middleware.core.keys import Es256Key, der_signature
from cognito_auth_middleware.core.policy import Policy
from cognito_auth_middleware.core.tokens import parse_token
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

_ECDSA = ec.ECDSA(hashes.SHA256())


def best_per_token(
    runs: Sequence[tuple[str, Callable[[], object]]], count: int, rounds: int
) -> list[tuple[str, float]]:
    """Each run's best time over ``rounds`` (one pass over ``count`` tokens), in us a token.

    Round-robin: every run is timed once per round, so a machine that speeds up or slows down
    during the profile moves every stage alike.
    """
    for _, run in runs:
        run()  # warm
    best = [float("inf")] * len(runs)
    for _ in range(rounds):
        for index, (_, run) in enumerate(runs):
            start = time.perf_counter()
            run()
            best[index] = min(best[index], time.perf_counter() - start)
    return [(name, seconds / count * 1e6) for (name, _), seconds in zip(runs, best, strict=True)]


def loop(call: Callable[..., object], items: Iterable[Any]) -> Callable[[], None]:
    """A pass calling ``call(*item)`` for every item."""
    batch = list(items)

    def run() -> None:
        for item in batch:
            call(*item)

    return run


async def _noop(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def asgi_pass(app: ASGIApp, requests: list[AsgiHeaders]) -> Callable[[], object]:
    """A pass sending every request to ``app`` on one event loop; each must be answered 200."""
    timer = asgi_timer(asyncio.new_event_loop(), app)
    return lambda: timer(requests)


def verify_first(key: ec.EllipticCurvePublicKey, der: bytes, msg: bytes, app: ASGIApp) -> ASGIApp:
    """``app`` behind one bare ES256 verify a request (what a signature check alone costs)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        key.verify(der, msg, _ECDSA)
        await app(scope, receive, send)

    return wrapped


def stages(count: int, rounds: int) -> list[tuple[str, float]]:
    """Each stage's best time per fresh ALB token, in the order of the path."""
    idp = FakeIdentityProvider()
    with KeyServer(idp) as server:
        options = server.settings()
        verifier = Verifier(**options)
        settings = verifier.settings
        headers = [idp.headers(email=f"user{n}@example.com") for n in range(count)]
        access, identity = headers[0]["x-amzn-oidc-accesstoken"], headers[0]["x-amzn-oidc-identity"]
        albs = [h["x-amzn-oidc-data"] for h in headers]
        verifier.authenticate(albs[0], access, identity)  # fetches both keys, once
        parsed = [parse_token(text, ALB) for text in albs]
        signed = [(token.signing_input, token.signature) for token in parsed]
        url = settings.alb_key_url_for(parsed[0].header["kid"])
        now = time.time()
        key = verifier.engine.keys.alb_key(url, now)
        assert isinstance(key, Es256Key)
        ders = [(der_signature(sig, 32), msg, _ECDSA) for msg, sig in signed]
        rules = HeaderRules(settings)
        records = [alb_record(token, token.header["iss"], settings.leeway) for token in parsed]
        access_claims = parse_token(access, "access token").claims
        policy = Policy.from_settings(settings)

        def user_and_policy(claims: dict[str, Any]) -> None:
            policy.decide(User.from_claims(claims, access_claims))

        whole = loop(verifier.authenticate, ((alb, access, identity) for alb in albs))
        timed: list[tuple[str, Callable[[], object]]] = [
            ("ES256 verify, DER ready, tight loop (the floor)", loop(key.public_key.verify, ders)),
            ("raw r||s to DER (der_signature)", loop(der_signature, ((s, 32) for _, s in signed))),
            ("DER + verify (Es256Key.verify)", loop(key.verify, signed)),
            ("parse_token", loop(parse_token, ((text, ALB) for text in albs))),
            (
                "header rules (HeaderRules.check_alb)",
                loop(rules.check_alb, ((t.header,) for t in parsed)),
            ),
            (
                "key URL and look-up",
                loop(
                    lambda kid: verifier.engine.keys.alb_key(settings.alb_key_url_for(kid), now),
                    ((t.header["kid"],) for t in parsed),
                ),
            ),
            (
                "alb_record",
                loop(alb_record, ((t, t.header["iss"], settings.leeway) for t in parsed)),
            ),
            ("User.from_claims + policy", loop(user_and_policy, ((r.claims,) for r in records))),
            ("whole: Verifier.authenticate", whole),
        ]
        real_verify = Es256Key.verify

        def no_signature_check() -> None:
            Es256Key.verify = lambda self, msg, sig: True  # type: ignore[method-assign]
            try:
                whole()
            finally:
                Es256Key.verify = real_verify  # type: ignore[method-assign]

        timed.append(("whole, the signature check a no-op", no_signature_check))
        timed.extend(_asgi_runs(options, headers, key.public_key, ders[0][:2]))
        return best_per_token(timed, count, rounds)


def _asgi_runs(
    options: dict[str, Any],
    headers: list[dict[str, str]],
    public: ec.EllipticCurvePublicKey,
    sample: tuple[bytes, bytes],
) -> list[tuple[str, Callable[[], object]]]:
    requests = [[(k.encode(), v.encode()) for k, v in h.items()] for h in headers]
    for request in requests:  # the same access token throughout: only the ALB token is new
        request[1] = (request[1][0], requests[0][1][1])
    der, msg = sample

    apps: list[tuple[str, ASGIApp]] = [
        ("ASGI: no-op app, bare", _noop),
        ("ASGI: no-op app behind one ES256 verify", verify_first(public, der, msg, _noop)),
        ("ASGI: no-op app behind the middleware", CognitoAuthMiddleware(_noop, **options)),
        ("ASGI: Starlette, bare", starlette_app()),
        (
            "ASGI: Starlette behind one ES256 verify",
            verify_first(public, der, msg, starlette_app()),
        ),
        (
            "ASGI: Starlette behind the middleware",
            CognitoAuthMiddleware(starlette_app(), **options),
        ),
    ]
    return [(name, asgi_pass(app, requests)) for name, app in apps]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--tokens", type=int, default=3000, help="fresh ALB tokens (default 3000)")
    parser.add_argument("--rounds", type=int, default=10, help="passes per stage (default 10)")
    args = parser.parse_args()
    if args.tokens <= MAX_VERIFIED_TOKENS:  # else the caches answer from the second pass on
        parser.error(f"--tokens must exceed the cache of verified tokens ({MAX_VERIFIED_TOKENS})")
    started = time.time()
    machine = machine_info()
    rows = stages(args.tokens, args.rounds)
    machine["load_average_end"] = list(os.getloadavg())
    print(f"{'stage':52s} {'us/token':>9s}")
    for name, value in rows:
        print(f"{name:52s} {value:9.1f}")
    print(f"\n{describe(machine)}; {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
