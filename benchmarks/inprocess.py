"""In-process benchmark: the package's per-request cost next to the cryptographic floor.

Run it with ``./dev bench`` or ``python -m benchmarks.inprocess [pyperf options] [--json FILE]``
(``--fast`` for a rough look); ``--report-only FILE`` re-prints and re-charts a saved suite. It
writes the pyperf suite to ``--json`` (``benchmarks/results/inprocess.json``), then prints the
report of :mod:`benchmarks.report` and draws its chart beside the suite.

Every benchmark is ``<shape>/<contender>``; one call handles one request's header pair.

Contenders:
    * ``floor``: ``cryptography`` alone, keys preloaded, inputs split and the ES256 signature
      converted to DER beforehand: one ECDSA P-256 verify of the ALB token (over its padded
      signing input) and one RSA-2048 PKCS#1 v1.5 verify of the access token.
    * ``floor_es256``: the ECDSA verify alone, the floor of the ``fresh_alb`` shape.
    * ``engine``: ``Verifier.authenticate`` with its keys cached.
    * ``asgi_bare`` / ``asgi_middleware``: a one-route Starlette app, alone or wrapped in
      ``CognitoAuthMiddleware``, called as an ASGI callable with hand-built scope / receive /
      send (no TestClient or httpx, whose overhead would swamp the difference).
    * ``wsgi_bare`` / ``wsgi_middleware``: the same for a minimal WSGI callable and
      ``CognitoAuthWSGIMiddleware``, with a hand-built environ and ``start_response``.
    * ``jose_naive``: what a python-jose user writes: ``jws.verify`` with the PEM / JWK dict
      passed on every call, ``json.loads`` and the claim checks by hand.
    * ``pyjwt_preloaded``: PyJWT's ``jwt.decode`` with key objects loaded once.

Shapes: ``repeated`` (the same pair every call), ``fresh_alb`` (a new ALB token every call, one
access token) and ``all_fresh`` (both new every call). A fresh pool is larger than the engine's
cache of verified tokens (``MAX_VERIFIED_TOKENS``) and is cycled in order, so the cache never
answers. Each benchmark runs in its own worker processes, with its own verifier and caches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import jwt
import pyperf
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from jose import jws
from jose.exceptions import JOSEError
from jwt.types import Options
from starlette.types import ASGIApp

from benchmarks import report
from benchmarks.common import BenchmarkError, Pair, es256_der, split_token
from benchmarks.harness import (
    Cell,
    Material,
    Refused,
    Timed,
    asgi_headers,
    asgi_timer,
    environ_headers,
    hello_wsgi,
    make_runner,
    material,
    starlette_app,
    sync_timer,
    wsgi_timer,
)
from cognito_auth_middleware import CognitoAuthMiddleware, CognitoAuthWSGIMiddleware, Verifier
from cognito_auth_middleware.core.engine import MAX_VERIFIED_TOKENS
from cognito_auth_middleware.exceptions import AuthenticationError

SHAPES = ("repeated", "fresh_alb", "all_fresh")
CONTENDERS = (
    "floor",
    "floor_es256",
    "engine",
    "asgi_bare",
    "asgi_middleware",
    "wsgi_bare",
    "wsgi_middleware",
    "jose_naive",
    "pyjwt_preloaded",
)
# floor_es256 is the reference of the fresh_alb shape only.
ONLY_IN = {"floor_es256": ("fresh_alb",)}
# Larger than the engine's cache of verified tokens, so a cycled fresh token is never a hit.
POOL_SIZE = MAX_VERIFIED_TOKENS + 1024
RESULTS = Path(__file__).parent / "results"

_ECDSA = ec.ECDSA(hashes.SHA256())
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def benchmark_names() -> Iterator[tuple[str, str]]:
    """Every (shape, contender), in the order they run (pyperf's worker tasks follow it)."""
    for shape in SHAPES:
        for contender in CONTENDERS:
            if shape in ONLY_IN.get(contender, SHAPES):
                yield shape, contender


# --- Keys and the floor's inputs --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keys:
    """Key objects and expected values, as the contenders other than the package want them."""

    ec: ec.EllipticCurvePublicKey
    rsa: rsa.RSAPublicKey
    alb_pem: str
    jwk: dict[str, Any]
    issuer: str
    client_id: str


def keys_of(found: Material) -> Keys:
    """Load the public keys the parent handed over (the ALB's PEM, the pool's JWK)."""
    ec_key = serialization.load_pem_public_key(found.alb_pem.encode())
    rsa_key = serialization.load_pem_public_key(found.rsa_pem.encode())
    assert isinstance(ec_key, ec.EllipticCurvePublicKey)
    assert isinstance(rsa_key, rsa.RSAPublicKey)
    return Keys(ec_key, rsa_key, found.alb_pem, found.jwk, found.issuer, found.client_id)


def floor_input(pair: Pair) -> tuple[bytes, bytes, bytes, bytes]:
    """Both signatures of a pair, split before timing; the ES256 one DER-encoded (r || s)."""
    alb_message, raw = split_token(pair.oidc)
    access_message, signature = split_token(pair.access)
    return es256_der(raw), alb_message, signature, access_message


def floor_call(keys: Keys, alb_sig: bytes, alb_msg: bytes, sig: bytes, msg: bytes) -> None:
    """The cryptographic floor: one ECDSA P-256 and one RSA-2048 verify."""
    keys.ec.verify(alb_sig, alb_msg, _ECDSA)
    keys.rsa.verify(sig, msg, _PKCS1, _SHA256)


def floor_es256_call(keys: Keys, alb_sig: bytes, alb_msg: bytes, *_: bytes) -> None:
    """The ECDSA P-256 verify alone."""
    keys.ec.verify(alb_sig, alb_msg, _ECDSA)


# --- The other libraries ------------------------------------------------------------------------


def _check_claims(claims: dict[str, Any], issuer: str, now: float) -> None:
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or now > exp:
        raise BenchmarkError("expired or no exp")
    if claims.get("iss") != issuer:
        raise BenchmarkError("wrong issuer")


def _check_binding(alb: dict[str, Any], access: dict[str, Any], client_id: str) -> None:
    if access.get("client_id") != client_id:
        raise BenchmarkError("wrong client_id")
    if access.get("token_use") != "access":
        raise BenchmarkError("token_use is not 'access'")
    if access.get("sub") != alb.get("sub"):
        raise BenchmarkError("the tokens belong to different users")


def jose_naive_call(keys: Keys, oidc: str, access: str) -> None:
    """python-jose as commonly written: the PEM / JWK dict handed over on every call."""
    alb_claims = json.loads(jws.verify(oidc, keys.alb_pem, algorithms=["ES256"]))
    access_claims = json.loads(jws.verify(access, keys.jwk, algorithms=["RS256"]))
    now = time.time()
    _check_claims(alb_claims, keys.issuer, now)
    _check_claims(access_claims, keys.issuer, now)
    _check_binding(alb_claims, access_claims, keys.client_id)


# PyJWT (2.15 here) accepts the ALB's padded token as is: it strips up to two trailing `=` per
# segment before decoding (jwt.api_jws._decode_base64url_segment names AWS ALB as the reason)
# and verifies the token text before the last dot, the padded input the ALB signed. The
# start-up checks prove it: a tampered and a padding-stripped ALB token are both refused.
_PYJWT_OPTIONS: Options = {"require": ["exp", "iss"], "verify_aud": False}


def pyjwt_preloaded_call(keys: Keys, oidc: str, access: str) -> None:
    """PyJWT with key objects loaded once (it checks exp and iss)."""
    options = _PYJWT_OPTIONS
    alb_claims = jwt.decode(oidc, keys.ec, ["ES256"], issuer=keys.issuer, options=options)
    access_claims = jwt.decode(access, keys.rsa, ["RS256"], issuer=keys.issuer, options=options)
    _check_binding(alb_claims, access_claims, keys.client_id)


# --- Building a benchmark's cell (in its worker only) --------------------------------------------


def _tokens(pair: Pair) -> tuple[str, str]:
    return pair.oidc, pair.access


def _headers(pair: Pair) -> tuple[str, str, str]:
    return pair.oidc, pair.access, pair.identity


def build(found: Material, shape: str, contender: str) -> Cell:
    """The cell of ``shape/contender``: its inputs, its timer and what it raises when it refuses."""
    pairs, settings = found.pairs(shape), found.settings
    if contender in ("floor", "floor_es256"):
        call = floor_call if contender == "floor" else floor_es256_call
        timer = sync_timer(partial(call, keys_of(found)))
        return Cell(pairs, floor_input, timer, (InvalidSignature,))
    if contender == "engine":
        timer = sync_timer(Verifier(**settings).authenticate)
        return Cell(pairs, _headers, timer, (AuthenticationError,))
    if contender == "jose_naive":
        return Cell(
            pairs, _tokens, sync_timer(partial(jose_naive_call, keys_of(found))), (JOSEError,)
        )
    if contender == "pyjwt_preloaded":
        timer = sync_timer(partial(pyjwt_preloaded_call, keys_of(found)))
        return Cell(pairs, _tokens, timer, (jwt.InvalidTokenError,))
    if contender.startswith("asgi_"):
        protected = contender == "asgi_middleware"
        bare = starlette_app()
        app: ASGIApp = CognitoAuthMiddleware(bare, **settings) if protected else bare
        timer = asgi_timer(asyncio.new_event_loop(), app)
        return Cell(pairs, asgi_headers, timer, (Refused,) if protected else ())
    if contender.startswith("wsgi_"):
        protected = contender == "wsgi_middleware"
        wsgi = CognitoAuthWSGIMiddleware(hello_wsgi, **settings) if protected else hello_wsgi
        return Cell(pairs, environ_headers, wsgi_timer(wsgi), (Refused,) if protected else ())
    raise ValueError(f"unknown contender {contender!r}")


# --- Main ----------------------------------------------------------------------------------------


def _add_arguments(runner: Any) -> None:
    parser = runner.argparser
    parser.add_argument(
        "--json",
        type=Path,
        default=RESULTS / "inprocess.json",
        help="where the pyperf suite goes, replaced (default: %(default)s); the chart is "
        "written beside it, with .png",
    )
    parser.add_argument(
        "--report-only", type=Path, metavar="FILE", help="report on a saved suite; run nothing"
    )


def run(runner: Any) -> list[Any]:
    """Register every benchmark with pyperf; in the parent, the benchmarks it measured."""
    extra = {"pool_size": POOL_SIZE, "max_verified_tokens": MAX_VERIFIED_TOKENS}
    with contextlib.ExitStack() as stack:
        found = material(runner, stack, pool=POOL_SIZE, extra=extra)
        measured = []
        for shape, contender in benchmark_names():
            name = f"{shape}/{contender}"
            build_cell: Callable[[], Cell] = partial(build, found, shape, contender)
            measured.append(runner.bench_time_func(name, Timed(name, build_cell, found.base)))
    return [bench for bench in measured if bench is not None]


def main() -> int:
    runner = make_runner("benchmarks.inprocess", __doc__.splitlines()[0] if __doc__ else "")
    _add_arguments(runner)
    args = runner.parse_args()
    if args.report_only:
        report.report(args.report_only)
        return 0
    measured = run(runner)
    if args.worker or not measured:
        return 0
    args.json.parent.mkdir(parents=True, exist_ok=True)
    pyperf.BenchmarkSuite(measured).dump(str(args.json), replace=True)
    print(f"\nwrote {args.json}", file=sys.stderr)
    report.report(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
