"""The in-process benchmarks' harness: pyperf runs them, this module feeds and checks them.

pyperf (``pyperf.Runner``) owns the method: it spawns a fresh worker process per run of a
benchmark, calibrates the loops per value, discards warm-ups and compares suites. What is left
here is what pyperf cannot know:

* :class:`Material`: the tokens and the key server's address, made once by the parent process
  and read by every worker from a temporary file (see :func:`material`);
* :class:`Timed`: a benchmark's time function, which builds its contender lazily (only the
  worker that runs it pays for it), checks it refuses forged tokens, then times batches taken
  from a cycled pool before the clock starts;
* the drivers that call an ASGI or WSGI app in process with hand-built scope / environ and
  count the ``200`` answers, so a refused request stops the run instead of looking fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyperf
from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Scope

from benchmarks.common import VERSIONS_OF, BenchmarkError, Pair, machine_info, stripped, tampered
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "Cell",
    "Material",
    "Refused",
    "Timed",
    "asgi_headers",
    "asgi_timer",
    "environ_headers",
    "hello_wsgi",
    "make_runner",
    "material",
    "starlette_app",
    "sync_timer",
    "wsgi_timer",
]

AsgiHeaders = list[tuple[bytes, bytes]]
EnvironHeaders = dict[str, str]
Timer = Callable[[list[Any]], float]  # times one call per item, returns the elapsed seconds

SUB = "11111111-2222-3333-4444-555555555555"
TOKEN_TTL = 3600.0  # minted tokens must outlive the run

# pyperf settings. A worker process costs about 0.5 s to start here (Python, imports, pyperf's
# metadata), more than its values, so: few processes, several values each, and values of
# 50-100 ms (pyperf's default is 100-200 ms; loops come in powers of two). The 25 in-process
# benchmarks then take about 3.5 minutes on 2 idle cores, and --fast (pyperf's own: max(7 // 2,
# 3) = 3 processes of max(5 * 2 // 3, 2) = 3 values) about 1.5 minutes.
PROCESSES = 7
VALUES = 5
WARMUPS = 1
MIN_TIME = 0.05  # seconds, at least, per value


class Refused(BenchmarkError):
    """An app answered something other than ``200``."""


# --- Tokens and keys, made once by the parent ------------------------------------------------


@dataclass(frozen=True)
class Material:
    """What the parent process hands its workers: where the keys are, and the tokens.

    The parent mints every token (an RSA-signed access token costs about 1 ms, a pool of them
    3 s) and serves the keys with a :class:`KeyServer` on 127.0.0.1 for the whole run; each
    worker reads this from a temporary file in tens of milliseconds, generates no key, mints
    nothing, and fetches the keys over HTTP from the parent as any verifier would.
    """

    settings: dict[str, Any]  # KeyServer.settings(): the parent's key server
    alb_pem: str
    rsa_pem: str
    jwk: dict[str, Any]
    issuer: str
    client_id: str
    base: Pair  # the repeated pair; its access token is also the fresh_alb shape's
    albs: list[str]  # fresh ALB tokens, each pool one per call
    accesses: list[str]  # fresh access tokens, paired with albs in the all_fresh shape
    metadata: dict[str, str | int | float]  # for pyperf, the same in every worker

    def save(self, path: Path) -> None:
        """Write the material as JSON for the workers."""
        path.write_text(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Material:
        """Read what :meth:`save` wrote."""
        document = json.loads(path.read_text())
        return cls(**{**document, "base": Pair(**document["base"])})

    def pairs(self, shape: str) -> list[Pair]:
        """The request pairs of a traffic shape, in the order a worker cycles through them."""
        base = self.base
        if shape == "repeated":
            return [base]
        if shape == "fresh_alb":
            return [Pair(alb, base.access, base.identity) for alb in self.albs]
        if shape == "all_fresh":
            return [
                Pair(*both, base.identity) for both in zip(self.albs, self.accesses, strict=True)
            ]
        raise ValueError(f"unknown shape {shape!r}")


def _mint(
    idp: FakeIdentityProvider, server: KeyServer, pool: int, extra: dict[str, Any]
) -> Material:
    def alb() -> str:
        return idp.mint_alb_token(sub=SUB, ttl=TOKEN_TTL)

    def access() -> str:
        return idp.mint_access_token(sub=SUB, groups=["staff"], ttl=TOKEN_TTL)

    rsa_pem = idp.rsa_private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Material(
        settings=server.settings(),
        alb_pem=idp.alb_public_pem().decode("ascii"),
        rsa_pem=rsa_pem.decode("ascii"),
        jwk=idp.jwks()["keys"][0],
        issuer=idp.issuer,
        client_id=idp.client_id,
        base=Pair(alb(), access(), SUB),
        albs=[alb() for _ in range(pool)],
        accesses=[access() for _ in range(pool)],
        metadata={**run_metadata(), **extra},
    )


def run_metadata() -> dict[str, str | int | float]:
    """What pyperf does not record: the measured package's commit, path and library versions."""
    machine = machine_info()
    package = machine["package"]
    found: dict[str, str | int | float] = {
        "package_commit": package["commit"] or "unknown",
        "package_dirty": str(package["uncommitted_changes"]),
        "tree_dirty": str(package["tree_dirty"]),
        "package_path": package["path"],
    }
    for name in VERSIONS_OF:
        found[f"{name}_version"] = machine["versions"][name] or "not installed"
    return found


def material(
    runner: Any, stack: contextlib.ExitStack, *, pool: int, extra: dict[str, Any] | None = None
) -> Material:
    """The run's material: made and served here in the parent, read from its file in a worker.

    In the parent, the key server and the temporary file live as long as ``stack``. Either way
    the material's metadata goes into ``runner.metadata``, which pyperf writes into every run.

    Raises:
        BenchmarkError: a worker imported the package from somewhere else than the parent did
            (pyperf passes ``PYTHONPATH`` on, and the working directory).
    """
    args = runner.args
    if args.worker:
        found = Material.load(Path(args.material))
        here = run_metadata()["package_path"]
        if here != found.metadata["package_path"]:
            theirs = found.metadata["package_path"]
            raise BenchmarkError(f"a worker imported the package from {here}, the parent {theirs}")
    else:
        idp = FakeIdentityProvider()
        server = stack.enter_context(KeyServer(idp))
        if pool:
            print(f"minting {pool} ALB and {pool} access tokens...", file=sys.stderr, flush=True)
        found = _mint(idp, server, pool, extra or {})
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        args.material = str(folder / "material.json")
        found.save(Path(args.material))
    runner.metadata.update(found.metadata)
    return found


def make_runner(module: str, description: str, passed: Sequence[str] = ()) -> Any:
    """A ``pyperf.Runner`` with this harness's defaults, for ``python -m module``.

    Its parser also takes the hidden ``--material FILE`` the parent passes to each worker;
    ``passed`` names the module's own options (``"features"`` for ``--features``) that the
    workers must be given too (pyperf passes on only its own).
    """

    def pass_material(cmd: list[str], args: Any) -> None:
        cmd.extend(("--material", args.material))
        for option in passed:
            cmd.extend((f"--{option.replace('_', '-')}", str(getattr(args, option))))

    runner = pyperf.Runner(
        processes=PROCESSES,
        values=VALUES,
        warmups=WARMUPS,
        min_time=MIN_TIME,
        program_args=("-m", module),
        add_cmdline_args=pass_material,
    )
    runner.argparser.description = description
    runner.argparser.add_argument("--material", help=argparse.SUPPRESS)
    return runner


# --- Cells: a contender's inputs, its timer and what it raises on a forged token ---------------


@dataclass
class Cell:
    """One benchmark's contender, ready to time.

    ``prepare`` turns a pair into the contender's input (done before timing), ``run`` times a
    batch of inputs and raises if any call fails, and ``refusals`` is what ``run`` raises for a
    forged token (empty for a bare app, which verifies nothing).
    """

    pairs: Sequence[Pair]
    prepare: Callable[[Pair], Any]
    run: Timer
    refusals: tuple[type[BaseException], ...] = ()
    items: list[Any] = field(init=False)

    def __post_init__(self) -> None:
        self.items = [self.prepare(pair) for pair in self.pairs]


def validate(cell: Cell, good: Pair, name: str) -> None:
    """Run the cell once on a good pair (keys fetched, caches warm), then on two forgeries.

    ``good`` should not be in a fresh pool, or the pool's first token would be a cache hit.

    Raises:
        BenchmarkError: the contender accepted an ALB token whose signature was corrupted, or
            whose padding (part of what the ALB signs) was stripped.
    """
    cell.run([cell.prepare(good)])
    if not cell.refusals:
        return
    for what, oidc in (
        ("tampered", tampered(good.oidc)),
        ("padding-stripped", stripped(good.oidc)),
    ):
        try:
            cell.run([cell.prepare(Pair(oidc, good.access, good.identity))])
        except cell.refusals:
            continue
        raise BenchmarkError(f"{name} accepted a {what} ALB token")


class Timed:
    """A benchmark's pyperf time function: ``loops`` calls on inputs taken from a cycled pool.

    The cell is built and validated (with ``good``) on the first call, so only the worker that
    runs this benchmark builds it: pyperf runs every benchmark's registration in every worker.
    """

    def __init__(self, name: str, build: Callable[[], Cell], good: Pair) -> None:
        self.name = name
        self._build = build
        self._good = good
        self._cell: Cell | None = None
        self._source: Iterator[Any] = iter(())

    def __call__(self, loops: int) -> float:
        cell = self._cell
        if cell is None:
            cell = self._cell = self._build()
            validate(cell, self._good, self.name)
            self._source = itertools.cycle(cell.items)
        return cell.run(list(itertools.islice(self._source, loops)))


# --- Timers ----------------------------------------------------------------------------------


def sync_timer(call: Callable[..., object]) -> Timer:
    """Time ``call(*item)`` for each item; exceptions propagate."""

    def run(batch: list[tuple[Any, ...]]) -> float:
        start = time.perf_counter()
        for args in batch:
            call(*args)
        return time.perf_counter() - start

    return run


def _expect_ok(ok: int, n: int) -> None:
    if ok != n:
        raise Refused(f"only {ok} of {n} requests were answered 200")


def asgi_timer(loop: asyncio.AbstractEventLoop, app: ASGIApp) -> Timer:
    """Time one request per header list through ``app``, in one coroutine on ``loop``."""

    def run(batch: list[AsgiHeaders]) -> float:
        elapsed, ok = loop.run_until_complete(drive_asgi(app, batch))
        _expect_ok(ok, len(batch))
        return elapsed

    return run


def wsgi_timer(app: WSGIApplication) -> Timer:
    """Time one request per environ through ``app``, as a server would call it."""

    def run(batch: list[EnvironHeaders]) -> float:
        elapsed, ok = drive_wsgi(app, batch)
        _expect_ok(ok, len(batch))
        return elapsed

    return run


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
