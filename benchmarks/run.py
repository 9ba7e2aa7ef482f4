"""In-process benchmark: the package's per-request cost next to the cryptographic floor.

Run it with ``./dev bench`` or ``.venv/bin/python -m benchmarks.run [--rounds N] [--quick]
[--out DIR] [--seed N]``. It prints a table, checks the performance targets (PASS/MISS) and writes
``inprocess.json`` and ``inprocess.png`` to ``--out`` (``benchmarks/results``).

What is measured
    Every *contender* handles one request's header pair per call:

    * ``floor``: ``cryptography`` alone, keys preloaded, inputs split and the ES256 signature
      converted to DER before timing: one ECDSA P-256 verify of the ALB token (over its padded
      signing input) plus one RSA-2048 PKCS#1 v1.5 verify of the access token. Nothing that
      checks a token can be cheaper without skipping a signature.
    * ``floor_es256``: the ECDSA verify alone, the floor of a request whose access token was
      already seen (the ``fresh_alb`` shape).
    * ``engine``: ``Verifier.authenticate`` with its keys cached.
    * ``asgi_bare`` / ``asgi_middleware``: a minimal Starlette app, alone and wrapped in
      ``CognitoAuthMiddleware``, driven by calling the ASGI callable with hand-built
      scope/receive/send (no TestClient or httpx, whose overhead would swamp the difference).
    * ``wsgi_bare`` / ``wsgi_middleware``: the same for a minimal WSGI callable and
      ``CognitoAuthWSGIMiddleware``, called with a hand-built environ and ``start_response``.
    * ``jose_naive``: what a python-jose user writes: ``jws.verify`` with the PEM / JWK dict
      passed on every call, ``json.loads`` and the claim checks by hand.
    * ``pyjwt_preloaded``: PyJWT's ``jwt.decode`` with key objects loaded once.

    Under three traffic *shapes*: ``repeated`` (the same pair every call), ``fresh_alb`` (a
    new ALB token every call, the same access token) and ``all_fresh`` (both new every call).
    Fresh tokens come from pools minted before timing; each pool is larger than the engine's
    cache of verified tokens (``MAX_VERIFIED_TOKENS``), so cycling through it never hits that
    cache. Each shape has its own verifier and middleware instances, so shapes cannot warm
    each other's caches.

Method
    One process, one run, every contender side by side, so that the load of a shared machine
    falls on all of them alike. Each (shape, contender) cell gets a batch size once, calibrated
    so that a batch lasts about 0.2 s (0.03 s with ``--quick``). A round runs every cell once,
    one batch each, in an order shuffled per round; the first round is a warm-up and is
    discarded. The figure reported for a cell is the median over rounds of batch time / batch
    size. Inputs of a batch are taken from the pool before the clock starts, and the garbage
    collector is run (not disabled) before each batch. Ratios are ratios of medians; the
    middleware's added cost is ``median(middleware) - median(bare app)``. The floor runs in a
    tight loop with hot CPU caches; real requests interleave other code, so even an ideal
    verifier sits a little above it.

    Every timed call is checked: the synchronous contenders raise on any failure and the
    ASGI/WSGI drivers count ``200`` responses, so a silently refused request aborts the run
    instead of looking fast. Before timing, every verifying contender must also refuse an ALB
    token with a corrupted signature.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import gc
import io
import itertools
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jose import jws
from jose.exceptions import JOSEError
from jwt.types import Options
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Scope

import cognito_auth_middleware
from cognito_auth_middleware import CognitoAuthMiddleware, CognitoAuthWSGIMiddleware, Verifier
from cognito_auth_middleware.core.engine import MAX_VERIFIED_TOKENS
from cognito_auth_middleware.exceptions import AuthenticationError
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from matplotlib.axes import Axes

T = TypeVar("T")
Runner = Callable[[int], float]  # runs n calls, returns the elapsed seconds
AsgiHeaders = list[tuple[bytes, bytes]]
EnvironHeaders = dict[str, str]

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

SUB = "11111111-2222-3333-4444-555555555555"
TOKEN_TTL = 3600.0  # minted tokens must outlive the run
# Larger than the engine's cache of verified tokens, so a cycled fresh token is never a hit.
POOL_SIZE = MAX_VERIFIED_TOKENS + 1024

FULL_ROUNDS = 15
QUICK_ROUNDS = 3
FULL_TARGET = 0.2  # seconds per batch
QUICK_TARGET = 0.03
CALIBRATION_MIN = 0.02  # a calibration batch must last at least this long

TARGET_FRESH = 1.25  # engine / floor (all_fresh) and engine / floor_es256 (fresh_alb)
TARGET_REPEATED = 0.10  # engine / floor (repeated)
TARGET_ADDED_US = 10.0  # middleware added cost beyond the engine, in microseconds

_ECDSA = ec.ECDSA(hashes.SHA256())
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


class BenchmarkError(RuntimeError):
    """A contender did not do what it is being timed for."""


# --- Tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pair:
    """The three headers of one request."""

    oidc: str
    access: str
    identity: str


@dataclass(frozen=True, slots=True)
class Signed:
    """A token's signing input and signature, ready for ``cryptography``."""

    message: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class FloorInput:
    """Both signatures of a pair; the ES256 one already DER-encoded."""

    alb: Signed
    access: Signed


@dataclass(frozen=True, slots=True)
class Keys:
    """Key material and expected values, as each contender wants them."""

    ec: ec.EllipticCurvePublicKey
    rsa: rsa.RSAPublicKey
    alb_pem: str
    jwk: dict[str, Any]
    issuer: str
    client_id: str


def _b64decode(segment: str) -> bytes:
    bare = segment.rstrip("=")
    return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))


def _b64encode_padded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _split(token: str) -> Signed:
    signing_input, _, signature = token.rpartition(".")
    return Signed(signing_input.encode("ascii"), _b64decode(signature))


def _der(raw: bytes) -> bytes:
    """A raw JWS ES256 signature (``r || s``, 32 bytes each) as DER for ``cryptography``."""
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def floor_input(pair: Pair) -> FloorInput:
    """Split a pair for the floor contenders (done before timing)."""
    alb = _split(pair.oidc)
    return FloorInput(Signed(alb.message, _der(alb.signature)), _split(pair.access))


def tampered(token: str) -> str:
    """``token`` with one bit of its signature flipped, keeping the ALB's padded encoding."""
    signing_input, _, signature = token.rpartition(".")
    raw = bytearray(_b64decode(signature))
    raw[0] ^= 1
    return f"{signing_input}.{_b64encode_padded(bytes(raw))}"


def keys_of(idp: FakeIdentityProvider) -> Keys:
    """Preloaded key objects plus the PEM / JWK forms a naive caller passes each time."""
    return Keys(
        ec=idp.alb_private_key.public_key(),
        rsa=idp.rsa_private_key.public_key(),
        alb_pem=idp.alb_public_pem().decode("ascii"),
        jwk=idp.jwks()["keys"][0],
        issuer=idp.issuer,
        client_id=idp.client_id,
    )


def mint_pools(idp: FakeIdentityProvider, size: int) -> dict[str, list[Pair]]:
    """The request pairs of each shape, all minted now (never inside a timed loop)."""
    base = Pair(_mint_alb(idp), _mint_access(idp), SUB)
    albs = [_mint_alb(idp) for _ in range(size)]
    accesses = [_mint_access(idp) for _ in range(size)]
    return {
        "repeated": [base],
        "fresh_alb": [Pair(alb, base.access, SUB) for alb in albs],
        "all_fresh": [Pair(alb, access, SUB) for alb, access in zip(albs, accesses, strict=True)],
    }


def _mint_alb(idp: FakeIdentityProvider) -> str:
    return idp.mint_alb_token(sub=SUB, ttl=TOKEN_TTL)


def _mint_access(idp: FakeIdentityProvider) -> str:
    return idp.mint_access_token(sub=SUB, groups=["staff"], ttl=TOKEN_TTL)


# --- Contenders: one call each ----------------------------------------------------------------


def floor_call(keys: Keys, item: FloorInput) -> None:
    """The cryptographic floor: one ECDSA P-256 and one RSA-2048 verify."""
    keys.ec.verify(item.alb.signature, item.alb.message, _ECDSA)
    keys.rsa.verify(item.access.signature, item.access.message, _PKCS1, _SHA256)


def floor_es256_call(keys: Keys, item: FloorInput) -> None:
    """The ECDSA P-256 verify alone."""
    keys.ec.verify(item.alb.signature, item.alb.message, _ECDSA)


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


def jose_naive_call(keys: Keys, pair: Pair) -> None:
    """python-jose as commonly written: the PEM / JWK dict handed over on every call."""
    alb = json.loads(jws.verify(pair.oidc, keys.alb_pem, algorithms=["ES256"]))
    access = json.loads(jws.verify(pair.access, keys.jwk, algorithms=["RS256"]))
    now = time.time()
    _check_claims(alb, keys.issuer, now)
    _check_claims(access, keys.issuer, now)
    _check_binding(alb, access, keys.client_id)


# PyJWT and the ALB's padded token: PyJWT (2.15 here) accepts it as is. It strips up to two
# trailing `=` per segment before decoding (jwt.api_jws._decode_base64url_segment names AWS ALB
# as the reason) and verifies the signature over the token text before the last dot, i.e. the
# padded signing input the ALB signed. Stripping the `=` ourselves would change that input and
# fail verification, and the ECAlgorithm.verify fallback is not needed, so both tokens go
# through jwt.decode (which also checks exp and iss). validate() proves it at start-up: a
# tampered and a padding-stripped ALB token must both be refused. (That same PyJWT function
# checks every character against the base64url alphabet in a Python generator, which is most
# of PyJWT's time here, in every shape.)
_PYJWT_OPTIONS: Options = {"require": ["exp", "iss"], "verify_aud": False}


def pyjwt_preloaded_call(keys: Keys, pair: Pair) -> None:
    """PyJWT with key objects loaded once."""
    alb = jwt.decode(
        pair.oidc, keys.ec, algorithms=["ES256"], issuer=keys.issuer, options=_PYJWT_OPTIONS
    )
    access = jwt.decode(
        pair.access, keys.rsa, algorithms=["RS256"], issuer=keys.issuer, options=_PYJWT_OPTIONS
    )
    _check_binding(alb, access, keys.client_id)


def engine_call(verifier: Verifier, pair: Pair) -> None:
    """The package's synchronous entry point."""
    verifier.authenticate(pair.oidc, pair.access, pair.identity)


# --- The minimal apps and their in-process drivers --------------------------------------------


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def starlette_app() -> Starlette:
    """A one-route Starlette app answering a tiny plain-text response."""
    return Starlette(routes=[Route("/", _hello)])


def hello_wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A minimal WSGI app answering a tiny plain-text response."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


_ASGI_SCOPE: Scope = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "root_path": "",
    "query_string": b"",
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}
_ASGI_REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}

_WSGI_ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/",
    "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8000",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_HOST": "localhost",
    "HTTP_USER_AGENT": "bench",
    "HTTP_ACCEPT": "*/*",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http",
    "wsgi.input": io.BytesIO(),
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": False,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}


def asgi_headers(pair: Pair) -> AsgiHeaders:
    """The raw ASGI headers of a request the ALB forwarded."""
    return [
        (b"host", b"localhost"),
        (b"user-agent", b"bench"),
        (b"accept", b"*/*"),
        (b"x-amzn-oidc-data", pair.oidc.encode("ascii")),
        (b"x-amzn-oidc-accesstoken", pair.access.encode("ascii")),
        (b"x-amzn-oidc-identity", pair.identity.encode("ascii")),
    ]


def environ_headers(pair: Pair) -> EnvironHeaders:
    """The same headers as WSGI environ keys."""
    return {
        "HTTP_X_AMZN_OIDC_DATA": pair.oidc,
        "HTTP_X_AMZN_OIDC_ACCESSTOKEN": pair.access,
        "HTTP_X_AMZN_OIDC_IDENTITY": pair.identity,
    }


async def _receive() -> Message:
    return _ASGI_REQUEST


class _Outcomes:
    """Counts the ``200`` responses of a batch; ``send`` / ``start_response`` for the drivers."""

    __slots__ = ("ok",)

    def __init__(self) -> None:
        self.ok = 0

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 200:
            self.ok += 1

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
    ) -> Callable[[bytes], object]:
        if status.startswith("200 "):
            self.ok += 1
        return self._write

    def _write(self, data: bytes) -> None:
        pass


async def drive_asgi(app: ASGIApp, batch: Sequence[AsgiHeaders]) -> tuple[float, int]:
    """Call ``app`` once per header list; the elapsed seconds and the count of 200s."""
    outcomes = _Outcomes()
    send = outcomes.send
    start = time.perf_counter()
    for headers in batch:
        await app({**_ASGI_SCOPE, "headers": headers}, _receive, send)
    return time.perf_counter() - start, outcomes.ok


def drive_wsgi(app: WSGIApplication, batch: Sequence[EnvironHeaders]) -> tuple[float, int]:
    """Call ``app`` once per environ, as a server would; the elapsed seconds and the 200s."""
    outcomes = _Outcomes()
    start_response = outcomes.start_response
    start = time.perf_counter()
    for headers in batch:
        body = app({**_WSGI_ENVIRON, **headers}, start_response)
        b"".join(body)
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return time.perf_counter() - start, outcomes.ok


# --- Runners: n calls from a cycled pool, timed ------------------------------------------------


def _next_batch(source: Iterator[T], n: int) -> list[T]:
    return list(itertools.islice(source, n))


def _expect_ok(ok: int, n: int, what: str) -> None:
    if ok != n:
        raise BenchmarkError(f"{what}: only {ok} of {n} requests were answered 200")


def sync_runner(call: Callable[[T], object], items: Sequence[T]) -> Runner:
    """Time ``call`` over the next n items of the cycled ``items``."""
    source = itertools.cycle(items)

    def run(n: int) -> float:
        batch = _next_batch(source, n)
        start = time.perf_counter()
        for item in batch:
            call(item)
        return time.perf_counter() - start

    return run


def asgi_runner(
    loop: asyncio.AbstractEventLoop, app: ASGIApp, items: Sequence[AsgiHeaders]
) -> Runner:
    """Time n requests through an ASGI app, inside one coroutine on ``loop``."""
    source = itertools.cycle(items)

    def run(n: int) -> float:
        elapsed, ok = loop.run_until_complete(drive_asgi(app, _next_batch(source, n)))
        _expect_ok(ok, n, "ASGI")
        return elapsed

    return run


def wsgi_runner(app: WSGIApplication, items: Sequence[EnvironHeaders]) -> Runner:
    """Time n requests through a WSGI app."""
    source = itertools.cycle(items)

    def run(n: int) -> float:
        elapsed, ok = drive_wsgi(app, _next_batch(source, n))
        _expect_ok(ok, n, "WSGI")
        return elapsed

    return run


# --- The set-up: apps, verifiers and middlewares per shape ------------------------------------


@dataclass
class Bench:
    """What every shape shares: keys, the event loop and the bare apps."""

    keys: Keys
    settings: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    asgi_bare: ASGIApp
    wsgi_bare: WSGIApplication
    stack: contextlib.ExitStack


@dataclass
class Shape:
    """One traffic shape: its pairs, and package instances that only it uses (own caches)."""

    name: str
    pairs: list[Pair]
    verifier: Verifier
    asgi: CognitoAuthMiddleware
    wsgi: CognitoAuthWSGIMiddleware


def make_shape(bench: Bench, name: str, pairs: list[Pair], warm: Pair) -> Shape:
    """Build the shape's verifier and middlewares and warm each once (keys fetched, cached)."""
    verifier = Verifier(**bench.settings)
    bench.stack.callback(verifier.close)
    shape = Shape(
        name=name,
        pairs=pairs,
        verifier=verifier,
        asgi=CognitoAuthMiddleware(bench.asgi_bare, **bench.settings),
        wsgi=CognitoAuthWSGIMiddleware(bench.wsgi_bare, **bench.settings),
    )
    engine_call(verifier, warm)
    _expect_ok(
        bench.loop.run_until_complete(drive_asgi(shape.asgi, [asgi_headers(warm)]))[1],
        1,
        "ASGI warm-up",
    )
    _expect_ok(drive_wsgi(shape.wsgi, [environ_headers(warm)])[1], 1, "WSGI warm-up")
    return shape


def build_runner(bench: Bench, shape: Shape, contender: str) -> Runner:
    """The runner of one (shape, contender) cell, its inputs prepared now."""
    pairs, keys = shape.pairs, bench.keys
    if contender in ("floor", "floor_es256"):
        call = floor_call if contender == "floor" else floor_es256_call
        return sync_runner(partial(call, keys), [floor_input(pair) for pair in pairs])
    if contender == "engine":
        return sync_runner(partial(engine_call, shape.verifier), pairs)
    if contender == "jose_naive":
        return sync_runner(partial(jose_naive_call, keys), pairs)
    if contender == "pyjwt_preloaded":
        return sync_runner(partial(pyjwt_preloaded_call, keys), pairs)
    if contender.startswith("asgi_"):
        asgi_app = bench.asgi_bare if contender == "asgi_bare" else shape.asgi
        return asgi_runner(bench.loop, asgi_app, [asgi_headers(pair) for pair in pairs])
    if contender.startswith("wsgi_"):
        wsgi_app = bench.wsgi_bare if contender == "wsgi_bare" else shape.wsgi
        return wsgi_runner(wsgi_app, [environ_headers(pair) for pair in pairs])
    raise ValueError(f"unknown contender {contender!r}")


# --- Start-up validation: each verifying contender refuses a forged token ---------------------


def _refuses(attempt: Callable[[], object], errors: tuple[type[Exception], ...]) -> bool:
    try:
        attempt()
    except errors:
        return True
    return False


def validate(bench: Bench, shape: Shape) -> None:
    """Check that each contender refuses a corrupted ALB signature (and PyJWT a stripped pad).

    Raises:
        BenchmarkError: a contender accepted a token it must refuse.
    """
    good = shape.pairs[0]
    forged = Pair(tampered(good.oidc), good.access, good.identity)
    stripped_oidc = ".".join(part.rstrip("=") for part in good.oidc.split("."))
    keys = bench.keys
    checks: dict[str, Callable[[], bool]] = {
        "floor": lambda: _refuses(
            lambda: floor_call(keys, floor_input(forged)), (InvalidSignature,)
        ),
        "engine": lambda: _refuses(
            lambda: engine_call(shape.verifier, forged), (AuthenticationError,)
        ),
        "jose_naive": lambda: _refuses(lambda: jose_naive_call(keys, forged), (JOSEError,)),
        "pyjwt_preloaded": lambda: _refuses(
            lambda: pyjwt_preloaded_call(keys, forged), (jwt.InvalidTokenError,)
        ),
        "pyjwt_preloaded (padding stripped)": lambda: (
            stripped_oidc == good.oidc
            or _refuses(
                lambda: pyjwt_preloaded_call(keys, Pair(stripped_oidc, good.access, SUB)),
                (jwt.InvalidTokenError,),
            )
        ),
        "asgi_middleware": lambda: (
            bench.loop.run_until_complete(drive_asgi(shape.asgi, [asgi_headers(forged)]))[1] == 0
        ),
        "wsgi_middleware": lambda: drive_wsgi(shape.wsgi, [environ_headers(forged)])[1] == 0,
    }
    for name, refused in checks.items():
        if not refused():
            raise BenchmarkError(f"{name} accepted an ALB token with a corrupted signature")


# --- Measurement -----------------------------------------------------------------------------


@dataclass
class Cell:
    """One (shape, contender) pair: its runner, its fixed batch size and its samples."""

    shape: str
    contender: str
    runner: Runner
    batch: int = 0
    samples: list[float] = field(default_factory=list)  # seconds per call, one per round


def calibrate(cell: Cell, target: float) -> None:
    """Fix the cell's batch size so that one batch lasts about ``target`` seconds."""
    n = 1
    elapsed = cell.runner(n)
    while elapsed < CALIBRATION_MIN and n < 1 << 20:
        n *= 4
        elapsed = cell.runner(n)
    cell.batch = max(1, round(target * n / max(elapsed, 1e-9)))


def run_rounds(cells: list[Cell], rounds: int, rng: random.Random) -> None:
    """A discarded warm-up round, then ``rounds`` rounds, each cell once per round, shuffled."""
    for number in range(rounds + 1):
        order = cells[:]
        rng.shuffle(order)
        started = time.perf_counter()
        for cell in order:
            gc.collect()
            elapsed = cell.runner(cell.batch)
            if number:
                cell.samples.append(elapsed / cell.batch)
        label = "warm-up round" if number == 0 else f"round {number}/{rounds}"
        _progress(f"{label}: {time.perf_counter() - started:.1f} s")


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- Results ---------------------------------------------------------------------------------


@dataclass
class Target:
    """One performance target and whether this run met it."""

    name: str
    value: float
    limit: float
    unit: str

    @property
    def passed(self) -> bool:
        return self.value <= self.limit


@dataclass
class Results:
    """Medians (µs) per shape and contender, and what derives from them."""

    median_us: dict[str, dict[str, float]]
    cells: list[Cell]

    def ratio(self, shape: str, contender: str, reference: str = "floor") -> float:
        return self.median_us[shape][contender] / self.median_us[shape][reference]

    def added_us(self, shape: str, stack: str) -> float:
        """The middleware's added cost: ``<stack>_middleware - <stack>_bare``."""
        medians = self.median_us[shape]
        return medians[f"{stack}_middleware"] - medians[f"{stack}_bare"]

    def targets(self) -> list[Target]:
        found = [
            Target(
                "all_fresh engine / floor", self.ratio("all_fresh", "engine"), TARGET_FRESH, "x"
            ),
            Target(
                "fresh_alb engine / floor_es256",
                self.ratio("fresh_alb", "engine", "floor_es256"),
                TARGET_FRESH,
                "x",
            ),
            Target(
                "repeated engine / floor", self.ratio("repeated", "engine"), TARGET_REPEATED, "x"
            ),
        ]
        for shape in SHAPES:
            engine = self.median_us[shape]["engine"]
            for stack in ("asgi", "wsgi"):
                name = f"{shape} {stack}_middleware - {stack}_bare - engine"
                found.append(
                    Target(name, self.added_us(shape, stack) - engine, TARGET_ADDED_US, "us")
                )
        return found


def summarise(cells: list[Cell]) -> Results:
    """Median per-call time of every cell, in microseconds."""
    medians: dict[str, dict[str, float]] = {shape: {} for shape in SHAPES}
    for cell in cells:
        medians[cell.shape][cell.contender] = statistics.median(cell.samples) * 1e6
    return Results(medians, cells)


def _spread(samples: list[float]) -> float:
    """Interquartile range relative to the median, in percent."""
    if len(samples) < 4:
        return math.nan
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return 100 * (q3 - q1) / statistics.median(samples)


def table(results: Results) -> str:
    """The shape x contender table, the middleware costs and the targets, as text."""
    lines = [
        f"{'shape':<10} {'contender':<16} {'median us':>10} {'x floor':>8} "
        f"{'x es256':>8} {'IQR %':>6} {'batch':>6}",
    ]
    for cell in results.cells:
        shape, name = cell.shape, cell.contender
        es256 = f"{results.ratio(shape, name, 'floor_es256'):8.2f}" if shape == "fresh_alb" else ""
        lines.append(
            f"{shape:<10} {name:<16} {results.median_us[shape][name]:10.1f} "
            f"{results.ratio(shape, name):8.2f} {es256:>8} {_spread(cell.samples):6.1f} "
            f"{cell.batch:6d}"
        )
    lines += ["", _added_table(results), "", _targets_text(results)]
    return "\n".join(lines)


def _added_table(results: Results) -> str:
    lines = [
        "middleware added cost (us): middleware - bare app, and that minus engine",
        f"{'shape':<10} {'engine':>8} {'asgi add':>9} {'- engine':>9} "
        f"{'wsgi add':>9} {'- engine':>9}",
    ]
    for shape in SHAPES:
        engine = results.median_us[shape]["engine"]
        asgi, wsgi = results.added_us(shape, "asgi"), results.added_us(shape, "wsgi")
        lines.append(
            f"{shape:<10} {engine:8.1f} {asgi:9.1f} {asgi - engine:9.1f} "
            f"{wsgi:9.1f} {wsgi - engine:9.1f}"
        )
    return "\n".join(lines)


def _targets_text(results: Results) -> str:
    lines = ["targets:"]
    for target in results.targets():
        verdict = "PASS" if target.passed else "MISS"
        digits = 3 if target.unit == "x" else 1
        lines.append(
            f"  {verdict}  {target.name}: {target.value:.{digits}f} {target.unit} "
            f"(target <= {target.limit:g} {target.unit})"
        )
    return "\n".join(lines)


# --- Machine description, JSON and chart -----------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    """A git command's output, run in the measured package's folder (``None`` if no git)."""
    try:
        done = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
            ["git", *args],  # noqa: S607 (git from PATH)
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(cognito_auth_middleware.__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def package_revision() -> dict[str, Any]:
    """Where the measured package was imported from, its commit and uncommitted changes."""
    changes = _git("status", "--porcelain", "--", ".")
    return {
        "path": str(Path(cognito_auth_middleware.__file__).resolve().parent),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": None if changes is None else bool(changes),
    }


def machine_info() -> dict[str, Any]:
    """CPU, cores, Python and library versions, and the load when the run started."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "versions": {
            name: _version(name)
            for name in (
                "cognito-auth-middleware",
                "cryptography",
                "python-jose",
                "PyJWT",
                "starlette",
            )
        },
        "package": package_revision(),
        "load_average_start": list(os.getloadavg()),
    }


def describe(machine: dict[str, Any]) -> str:
    """One paragraph on the machine, for the printed report and the README."""
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    start, end = machine["load_average_start"], machine["load_average_end"]
    return (
        f"{machine['cpu_model']}, {machine['cores']} cores, {machine['python']}; {versions}; "
        f"package commit {_commit_text(machine['package'])}; load average (1/5/15 min) at start "
        f"{'/'.join(f'{x:.2f}' for x in start)}, at end {'/'.join(f'{x:.2f}' for x in end)}"
    )


def _commit_text(package: dict[str, Any]) -> str:
    commit = package["commit"] or "unknown"
    return commit + (" with uncommitted changes" if package["uncommitted_changes"] else "")


def report_json(
    results: Results, machine: dict[str, Any], config: dict[str, Any]
) -> dict[str, Any]:
    """Everything the run found, for ``inprocess.json``."""
    return {
        "machine": machine,
        "config": config,
        "median_us": results.median_us,
        "ratio_to_floor": {
            shape: {name: results.ratio(shape, name) for name in medians}
            for shape, medians in results.median_us.items()
        },
        "ratio_to_floor_es256": {
            "fresh_alb": {
                name: results.ratio("fresh_alb", name, "floor_es256")
                for name in results.median_us["fresh_alb"]
            }
        },
        "middleware_added_us": {
            shape: {stack: results.added_us(shape, stack) for stack in ("asgi", "wsgi")}
            for shape in SHAPES
        },
        "targets": [{**vars(target), "passed": target.passed} for target in results.targets()],
        "batches": {f"{cell.shape}/{cell.contender}": cell.batch for cell in results.cells},
        "samples_us": {
            f"{cell.shape}/{cell.contender}": [s * 1e6 for s in cell.samples]
            for cell in results.cells
        },
    }


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    temporary.replace(path)


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` as indented JSON, replacing ``path`` only once complete."""
    _write_atomically(path, lambda p: p.write_text(json.dumps(document, indent=2) + "\n"))


def _draw_bars(axes: Axes, results: Results, contenders: Sequence[str]) -> None:
    """One bar per shape in each contender's group; labelled with the ratio."""
    height = 0.8 / len(SHAPES)
    for index, shape in enumerate(SHAPES):
        rows = [(y, name) for y, name in enumerate(contenders) if name in results.median_us[shape]]
        offsets = [y - 0.4 + height * (index + 0.5) for y, _ in rows]
        ratios = [results.ratio(shape, name) for _, name in rows]
        bars = axes.barh(offsets, ratios, height=height, label=shape)
        axes.bar_label(bars, labels=[f"{r:.2g}x" for r in ratios], padding=2, fontsize=7)


def draw_chart(path: Path, results: Results, machine: dict[str, Any]) -> None:
    """A grouped horizontal bar chart of ratios to each shape's floor, log x, a line at 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    contenders = [name for name in CONTENDERS if name != "floor"]
    figure, axes = plt.subplots(figsize=(11, 7), layout="constrained")
    _draw_bars(axes, results, contenders)
    axes.axvline(1.0, color="black", linewidth=1, linestyle="--", label="floor (1.0)")
    axes.set_xscale("log")
    every = [results.ratio(shape, name) for shape in SHAPES for name in results.median_us[shape]]
    axes.set_xlim(min(every) / 2, max(every) * 3)
    axes.set_yticks(range(len(contenders)), contenders)
    axes.invert_yaxis()
    axes.set_xlabel("median time per call / that shape's floor (log scale; floor = 1)")
    axes.set_title(
        "In-process cost relative to the cryptographic floor (ES256 + RS256 verify)\n"
        f"{machine['cpu_model']}, {machine['cores']} cores, {machine['python']}, "
        f"package {_commit_text(machine['package'])}",
        fontsize=10,
    )
    axes.legend(title="traffic shape", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes.grid(axis="x", which="both", alpha=0.3)
    _write_atomically(path, lambda p: figure.savefig(p, dpi=120, format="png"))
    plt.close(figure)


# --- Main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"timed rounds (default {FULL_ROUNDS}, {QUICK_ROUNDS} with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="short batches and few rounds")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results"), help="output folder"
    )
    parser.add_argument("--seed", type=int, help="seed of the per-round shuffle")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else FULL_ROUNDS
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def make_cells(bench: Bench, pools: dict[str, list[Pair]], target: float) -> list[Cell]:
    """Every (shape, contender) cell, validated and calibrated."""
    warm = pools["repeated"][0]
    cells = []
    for name in SHAPES:
        shape = make_shape(bench, name, pools[name], warm)
        validate(bench, shape)
        for contender in CONTENDERS:
            if name in ONLY_IN.get(contender, SHAPES):
                cell = Cell(name, contender, build_runner(bench, shape, contender))
                calibrate(cell, target)
                cells.append(cell)
    return cells


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    machine = machine_info()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    target = QUICK_TARGET if args.quick else FULL_TARGET
    idp = FakeIdentityProvider()
    _progress(f"minting {POOL_SIZE} ALB and {POOL_SIZE} access tokens...")
    pools = mint_pools(idp, POOL_SIZE)
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(KeyServer(idp))
        loop = asyncio.new_event_loop()
        stack.callback(loop.close)
        bench = Bench(keys_of(idp), server.settings(), loop, starlette_app(), hello_wsgi, stack)
        _progress("validating and calibrating...")
        cells = make_cells(bench, pools, target)
        run_rounds(cells, args.rounds, random.Random(seed))
    machine["load_average_end"] = list(os.getloadavg())
    results = summarise(cells)
    config = {
        "rounds": args.rounds,
        "quick": args.quick,
        "target_batch_seconds": target,
        "pool_size": POOL_SIZE,
        "max_verified_tokens": MAX_VERIFIED_TOKENS,
        "seed": seed,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "duration_seconds": round(time.perf_counter() - started, 1),
    }
    print(table(results))
    print(f"\nmachine: {describe(machine)}; run took {config['duration_seconds']} s")
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "inprocess.json", report_json(results, machine, config))
    draw_chart(args.out / "inprocess.png", results, machine)
    print(f"wrote {args.out / 'inprocess.json'} and {args.out / 'inprocess.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
