"""End-to-end load benchmark: real servers, real HTTP, the middleware on and off.

Run it with ``.venv/bin/python -m benchmarks.load [--duration S] [--connections N] [--rounds N]
[--quick] [--out DIR]``. It prints a table, checks the targets (PASS/MISS) and writes
``load.json`` to ``--out`` (``benchmarks/results``). See ``benchmarks/README.md``.

What is measured
    Four servers, each its own process on a free port of 127.0.0.1, serving the tiny apps of
    ``benchmarks/apps.py``:

    * ``uvicorn`` (one worker, no access log, default loop and HTTP implementation) serving the
      Starlette app, ``bare`` and ``protected`` (wrapped in ``CognitoAuthMiddleware``);
    * ``gunicorn`` (one worker, ``gthread``, no access log) serving the Flask app, ``bare`` and
      ``protected`` (``CognitoAuthWSGIMiddleware``).

    The protected servers are configured only by ``COGNITO_AUTH_*`` environment variables and
    fetch their keys over HTTP from a ``KeyServer`` in this process, whose provider minted every
    token beforehand. Each protected server is driven with three traffic *shapes*: ``repeated``
    (one header set), ``fresh_alb`` (a new ALB token on every request, one access token) and
    ``all_fresh`` (both tokens new on every request); the bare servers get the ``repeated``
    headers, which they ignore, so that every request has about the same size.

Method
    A *cell* is a (server, shape) pair; it is driven by a load generator in another process
    (``wrk`` with ``benchmarks/load.lua``, or the ``benchmarks/pyload.py`` fallback) for
    ``--duration`` seconds over ``--connections`` keep-alive connections, after a one-second
    warm-up. Rounds go through every cell in turn (round-robin), so drift of the machine falls on
    all cells alike; a cell's figure is the median over rounds. Fresh tokens come from pools
    several times larger than the engine's cache of verified tokens, gone through in order and
    never restarted: each run of a cell goes on from where the previous one stopped, so no token
    comes back before the whole pool has, and the cache never answers for it. With two or more
    CPUs, the servers are pinned to one and the generator to another (``taskset``). The servers'
    CPU time is read from ``/proc`` before and after each run: CPU time per request is reported
    next to req/s, and CPU use near 100 % confirms that the server was the bottleneck.

    Before timing, every server must answer: a bare one 200; a protected one 200 with the user's
    ``sub`` for the first header set of each shape, and 401 without headers or with a corrupted
    signature. During timing every response must be a 200 and no socket error may occur, or the
    run stops with an error (exit status 1). Missed targets only print MISS (exit status 0).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from benchmarks.apps import VARIANT_ENV
from benchmarks.pyload import RESULT_PREFIX, percentile
from benchmarks.run import Pair, describe, machine_info, tampered, write_json
from cognito_auth_middleware.core.engine import MAX_VERIFIED_TOKENS
from cognito_auth_middleware.settings import ENV_PREFIX
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

SHAPES = ("repeated", "fresh_alb", "all_fresh")
SERVERS = ("uvicorn", "gunicorn")
VARIANTS = ("bare", "protected")

SUB = "11111111-2222-3333-4444-555555555555"
TOKEN_TTL = 3 * 3600.0  # minted tokens must outlive the run
# Pools several times the engine's cache of verified tokens (MAX_VERIFIED_TOKENS). Access
# tokens take ~1 ms each to sign (RSA-2048), so the all_fresh pool is the smaller one.
FRESH_ALB_POOL = 20_000
ALL_FRESH_POOL = 4 * MAX_VERIFIED_TOKENS

DEFAULT_DURATION = 10
QUICK_DURATION = 2
DEFAULT_ROUNDS = 3
QUICK_ROUNDS = 1
DEFAULT_CONNECTIONS = 16
WARMUP_SECONDS = 1  # wrk takes whole seconds only

GUNICORN_WORKER_CLASS = "gthread"
DEFAULT_GUNICORN_THREADS = 4

REQUEST_TIMEOUT = 5  # seconds a request may take under load before it counts as an error
START_TIMEOUT = 30.0  # seconds for a server to answer its first request
STOP_TIMEOUT = 10.0  # seconds for a process group to leave after SIGTERM, then SIGKILL
RUN_GRACE = 30.0  # seconds a generator may take beyond its duration (start-up, Lua init)
INSTALL_TIMEOUT = 300.0  # seconds for each apt-get step

TARGET_RATIOS = {("uvicorn", "repeated"): 0.85, ("uvicorn", "fresh_alb"): 0.45}

LUA_SCRIPT = Path(__file__).resolve().with_name("load.lua")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class LoadBenchmarkError(RuntimeError):
    """A server or the load generator did not do what it is being measured for."""


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- Tokens and header files -----------------------------------------------------------------


def mint_pools(idp: FakeIdentityProvider) -> dict[str, list[Pair]]:
    """The header sets of each shape, all minted now (fresh_alb and all_fresh share no token)."""
    access = idp.mint_access_token(sub=SUB, groups=["staff"], ttl=TOKEN_TTL)
    repeated = Pair(idp.mint_alb_token(sub=SUB, ttl=TOKEN_TTL), access, SUB)
    fresh_alb = [
        Pair(idp.mint_alb_token(sub=SUB, ttl=TOKEN_TTL), access, SUB) for _ in range(FRESH_ALB_POOL)
    ]
    all_fresh = [
        Pair(
            idp.mint_alb_token(sub=SUB, ttl=TOKEN_TTL),
            idp.mint_access_token(sub=SUB, groups=["staff"], ttl=TOKEN_TTL),
            SUB,
        )
        for _ in range(ALL_FRESH_POOL)
    ]
    return {"repeated": [repeated], "fresh_alb": fresh_alb, "all_fresh": all_fresh}


def request_headers(pair: Pair) -> dict[str, str]:
    """The headers the ALB would forward with a request."""
    return {
        "x-amzn-oidc-data": pair.oidc,
        "x-amzn-oidc-accesstoken": pair.access,
        "x-amzn-oidc-identity": pair.identity,
    }


def write_header_files(folder: Path, pools: dict[str, list[Pair]]) -> dict[str, Path]:
    """One file per shape, one request a line, the three header values tab-separated."""
    files = {}
    for shape, pairs in pools.items():
        path = folder / f"{shape}.tsv"
        path.write_text(
            "".join(f"{p.oidc}\t{p.access}\t{p.identity}\n" for p in pairs), encoding="ascii"
        )
        files[shape] = path
    return files


# --- Processes -------------------------------------------------------------------------------


def spawn(
    command: Sequence[str], *, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[str]:
    """Start ``command`` in a process group of its own (so that it can be stopped as a whole).

    Its output goes to ``log`` when given, else to pipes. A new session also keeps a Ctrl+C in
    the terminal from reaching it: this process stops it, in order, on the way out.
    """
    output: Any = subprocess.PIPE
    if log is not None:
        output = log.open("w")
    try:
        return subprocess.Popen(  # noqa: S603 (fixed arguments, no shell)
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if log is not None else subprocess.PIPE,
            env=env,
            cwd=PROJECT_ROOT,
            text=True,
            start_new_session=True,
        )
    finally:
        if log is not None:
            output.close()  # the child holds its own copy


def stop(process: subprocess.Popen[str]) -> None:
    """Stop the process group of ``process``: SIGTERM, then SIGKILL after ``STOP_TIMEOUT``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            continue
        break
    with contextlib.suppress(ProcessLookupError):  # members of the group left behind, if any
        os.killpg(process.pid, signal.SIGKILL)


def group_cpu_seconds(group: int) -> float | None:
    """User + system CPU time of the live processes of a process group (``None``: no /proc).

    The servers are idle between runs, so the difference over a run is the CPU time that
    serving it took (gunicorn: master and worker, every thread).
    """
    ticks = 0
    try:
        stats = list(Path("/proc").glob("[0-9]*/stat"))
    except OSError:
        return None
    if not stats:
        return None
    for stat in stats:
        try:
            text = stat.read_text()
        except OSError:  # the process has gone
            continue
        # After "pid (comm) ": state ppid pgrp ... utime (14th field) stime (15th field).
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == group:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Pinning:
    """The CPUs the servers and the load generator are confined to (``None``: not pinned)."""

    server_cpu: int | None
    generator_cpu: int | None

    @staticmethod
    def choose(enabled: bool) -> Pinning:
        cpus = sorted(os.sched_getaffinity(0))
        if not enabled or len(cpus) < 2 or shutil.which("taskset") is None:
            return Pinning(None, None)
        return Pinning(cpus[0], cpus[1])

    @staticmethod
    def prefix(cpu: int | None) -> list[str]:
        return [] if cpu is None else ["taskset", "-c", str(cpu)]


# --- Servers ---------------------------------------------------------------------------------


@dataclass
class Server:
    """One server process: uvicorn or gunicorn, serving the bare or the protected app."""

    kind: str
    variant: str
    port: int
    command: list[str]
    log: Path
    process: subprocess.Popen[str] | None = None

    @property
    def name(self) -> str:
        return f"{self.kind} {self.variant}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def server_command(kind: str, port: int, pinning: Pinning, threads: int) -> list[str]:
    """The command line of a uvicorn or gunicorn server on ``port``."""
    if kind == "uvicorn":
        # Loop and HTTP implementation left to uvicorn's default ("auto").
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "benchmarks.apps:asgi_app",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--no-access-log", "--log-level", "warning", "--app-dir", str(PROJECT_ROOT),
        ]  # fmt: skip
    else:
        # No --access-logfile: gunicorn writes no access log without one.
        command = [
            sys.executable, "-m", "gunicorn", "benchmarks.apps:wsgi_app()",
            "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--worker-class", GUNICORN_WORKER_CLASS, "--threads", str(threads),
            "--log-level", "warning", "--graceful-timeout", "5", "--chdir", str(PROJECT_ROOT),
        ]  # fmt: skip
    return Pinning.prefix(pinning.server_cpu) + command


def server_environment(key_server: KeyServer, variant: str) -> dict[str, str]:
    """This environment, the app variant, the middleware settings and no proxy: all local."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARIABLES}
    env.update({ENV_PREFIX + k.upper(): str(v) for k, v in key_server.settings().items()})
    env[VARIANT_ENV] = variant
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def start_server(server: Server, env: dict[str, str]) -> None:
    """Start ``server`` and wait until it answers HTTP (any status), within ``START_TIMEOUT``."""
    server.process = spawn(server.command, env=env, log=server.log)
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            if server.process.poll() is not None:
                raise LoadBenchmarkError(
                    f"{server.name} exited with status {server.process.returncode}:\n"
                    + server.log_tail()
                )
            try:
                client.get(server.url)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise LoadBenchmarkError(
                        f"{server.name} did not answer within {START_TIMEOUT:g} s:\n"
                        + server.log_tail()
                    ) from None
                time.sleep(0.05)
            else:
                return


def _expect(server: Server, what: str, response: httpx.Response, status: int, user: Any) -> None:
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    ok = response.status_code == status and (status != 200 or body == {"user": user})
    if not ok:
        raise LoadBenchmarkError(
            f"{server.name}, {what}: expected {status}"
            + (f" with user {user!r}" if status == 200 else "")
            + f", got {response.status_code} {response.text[:200]!r}"
        )


def check_server(server: Server, pools: dict[str, list[Pair]]) -> None:
    """One request per cell answered 200 (with the user when protected); refusals are 401s."""
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        if server.variant == "bare":
            sent = request_headers(pools["repeated"][0])
            _expect(server, "repeated headers", client.get(server.url, headers=sent), 200, None)
            return
        for shape in SHAPES:
            sent = request_headers(pools[shape][0])
            _expect(server, f"{shape} headers", client.get(server.url, headers=sent), 200, SUB)
        _expect(server, "no headers", client.get(server.url), 401, None)
        good = pools["repeated"][0]
        forged = request_headers(Pair(tampered(good.oidc), good.access, good.identity))
        _expect(server, "corrupted signature", client.get(server.url, headers=forged), 401, None)


# --- Load generators -------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    """What one run of the load generator against one cell observed."""

    requests: int
    seconds: float
    non200: int
    errors: dict[str, int]
    latency_ms: dict[str, float]  # mean, max, p50, p90, p99
    positions: list[int]  # where each thread (or process) stopped in the header file
    server_cpu_seconds: float | None = None  # CPU time the server used during the run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_request(self) -> float | None:
        """Server CPU time per request (about 1 / req/s when the server is saturated)."""
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return self.server_cpu_seconds / self.requests * 1e6

    @property
    def cpu_percent(self) -> float | None:
        """The server's CPU use over the run; below ~95 % it was not the bottleneck alone."""
        if self.server_cpu_seconds is None or self.seconds <= 0:
            return None
        return 100 * self.server_cpu_seconds / self.seconds

    def problems(self) -> list[str]:
        """Why this run cannot be counted (an empty list when it can)."""
        found = [f"{self.non200} responses were not 200"] if self.non200 else []
        found += [f"{count} {kind} errors" for kind, count in self.errors.items() if count]
        if not self.requests:
            found.append("no request completed")
        return found

    @staticmethod
    def parse(output: str) -> dict[str, Any]:
        """The ``WRK_RESULT`` document printed by ``load.lua`` or ``pyload.py``."""
        for line in output.splitlines():
            if line.startswith(RESULT_PREFIX):
                document: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
                return document
        raise LoadBenchmarkError(f"the load generator printed no result:\n{output[-2000:]}")

    @staticmethod
    def from_documents(documents: Sequence[dict[str, Any]]) -> RunResult:
        """One result from the summaries of one wrk run or of several pyload processes."""
        latency: dict[str, float]
        if len(documents) == 1 and "latencies_us" not in documents[0]:
            latency = {k: v / 1000 for k, v in documents[0]["latency_us"].items()}
        else:
            merged = sorted(x for d in documents for x in d["latencies_us"])
            latency = {
                "mean": statistics.fmean(merged) / 1000 if merged else 0.0,
                "max": merged[-1] / 1000 if merged else 0.0,
                **{f"p{p}": percentile(merged, p) / 1000 for p in (50, 90, 99)},
            }
        kinds = documents[0]["errors"].keys()
        # load.lua times each run itself ("window_us", see there); pyload's own duration is exact.
        return RunResult(
            requests=sum(d.get("responses", d["requests"]) for d in documents),
            seconds=max(d.get("window_us") or d["duration_us"] for d in documents) / 1e6,
            non200=sum(d["non200"] for d in documents),
            errors={kind: sum(d["errors"][kind] for d in documents) for kind in kinds},
            latency_ms=latency,
            positions=[p for d in documents for p in d["positions"]],
        )


def run_commands(commands: Sequence[Sequence[str]], seconds: float) -> list[str]:
    """Run the commands side by side and return their outputs; each group stopped at the end."""
    processes = [spawn(command) for command in commands]
    deadline = time.monotonic() + seconds + RUN_GRACE
    try:
        outputs = []
        for command, process in zip(commands, processes, strict=True):
            try:
                out, err = process.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise LoadBenchmarkError(f"{' '.join(command)} did not finish in time") from None
            if process.returncode != 0:
                raise LoadBenchmarkError(
                    f"{' '.join(command)} exited with status {process.returncode}:\n{err[-2000:]}"
                )
            outputs.append(out)
        return outputs
    finally:
        for process in processes:
            stop(process)


@dataclass(frozen=True)
class Generator:
    """How to drive a cell: ``wrk`` with ``load.lua``, or ``pyload.py`` processes."""

    kind: str  # "wrk" or "httpx"
    threads: int  # wrk threads, or pyload processes
    connections: int
    cpu: int | None

    def commands(self, url: str, headers: Path, starts: list[int], seconds: int) -> list[list[str]]:
        prefix = Pinning.prefix(self.cpu)
        if self.kind == "wrk":
            wrk = [
                *prefix, "wrk", "--threads", str(self.threads),
                "--connections", str(self.connections), "--duration", f"{seconds}s",
                "--timeout", f"{REQUEST_TIMEOUT}s", "--script", str(LUA_SCRIPT),
                url, "--", str(headers), ",".join(map(str, starts)),
            ]  # fmt: skip
            return [wrk]
        shares = [
            self.connections // self.threads + (i < self.connections % self.threads)
            for i in range(self.threads)
        ]
        pyload = [*prefix, sys.executable, "-m", "benchmarks.pyload", url, str(headers)]
        return [
            [
                *pyload,
                "--duration",
                str(seconds),
                "--connections",
                str(share),
                "--start",
                str(start),
            ]
            for share, start in zip(shares, starts, strict=True)
        ]

    def run(self, url: str, headers: Path, starts: list[int], seconds: int) -> RunResult:
        outputs = run_commands(self.commands(url, headers, starts, seconds), seconds)
        return RunResult.from_documents([RunResult.parse(output) for output in outputs])


def ensure_wrk() -> str | None:
    """The path of ``wrk``, installing the Debian package first if it is missing and we can."""
    found = shutil.which("wrk")
    if found is not None or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    _progress("wrk is missing: apt-get update && apt-get install -y wrk ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        try:
            subprocess.run(  # noqa: S603 (fixed arguments, no shell)
                step, env=env, capture_output=True, check=True, timeout=INSTALL_TIMEOUT
            )
        except (OSError, subprocess.SubprocessError) as exc:
            _progress(f"could not install wrk ({' '.join(step)}: {exc})")
            return None
    return shutil.which("wrk")


def wrk_version() -> str | None:
    """wrk's first line of ``--version`` (it exits with status 1 after printing it)."""
    try:
        done = subprocess.run(
            ["wrk", "--version"],  # noqa: S607 (wrk from PATH)
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].split(" Copyright")[0] if lines else None


# --- Cells and rounds ------------------------------------------------------------------------


@dataclass
class Cell:
    """One (server, shape) pair, where its header file stands, and one result per round."""

    server: Server
    shape: str
    headers: Path
    pool_size: int
    positions: list[int]
    runs: list[RunResult] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.server.name} {self.shape}"

    def drive(self, generator: Generator, seconds: int) -> RunResult:
        """One run of the generator, checked; the next run goes on where this one stopped."""
        assert self.server.process is not None
        group = self.server.process.pid
        before = group_cpu_seconds(group)
        result = generator.run(self.server.url, self.headers, self.positions, seconds)
        after = group_cpu_seconds(group)
        if before is not None and after is not None:
            result = replace(result, server_cpu_seconds=after - before)
        problems = result.problems()
        if problems:
            raise LoadBenchmarkError(
                f"{self.name}: {'; '.join(problems)}\nserver log:\n{self.server.log_tail()}"
            )
        self.positions = result.positions
        return result


def make_cells(
    servers: Sequence[Server], files: dict[str, Path], pools: dict[str, list[Pair]], threads: int
) -> list[Cell]:
    """Bare servers get one cell (repeated headers), protected ones one per shape."""
    cells = []
    for server in servers:
        for shape in SHAPES if server.variant == "protected" else ("repeated",):
            size = len(pools[shape])
            # Threads (or processes) start evenly spread over the pool.
            starts = [size * k // threads for k in range(threads)]
            cells.append(Cell(server, shape, files[shape], size, starts))
    return cells


def run_rounds(cells: Sequence[Cell], generator: Generator, rounds: int, seconds: int) -> None:
    """``rounds`` rounds, each cell once per round in a fixed order, warmed up before each run."""
    for number in range(1, rounds + 1):
        started = time.monotonic()
        for cell in cells:
            cell.drive(generator, WARMUP_SECONDS)
            result = cell.drive(generator, seconds)
            cell.runs.append(result)
            _progress(
                f"round {number}/{rounds}  {cell.name:<28} {result.rps:8.1f} req/s  "
                f"p50 {result.latency_ms['p50']:6.2f} ms  p99 {result.latency_ms['p99']:6.2f} ms"
            )
        _progress(f"round {number}/{rounds} took {time.monotonic() - started:.0f} s")


# --- Results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """A cell's medians over rounds and its comparison with its server's bare cell."""

    server: str
    variant: str
    shape: str
    rps: float
    spread_percent: float | None  # (max - min) / median of the per-round req/s; None: 1 round
    p50_ms: float
    p99_ms: float
    ratio: float  # req/s / the bare server's req/s
    added_us: float  # 1e6 / req/s - 1e6 / bare req/s: server time added per request
    cpu_us: float | None  # server CPU time per request
    cpu_percent: float | None  # server CPU use during the run
    cpu_ratio: float | None  # the bare server's CPU time per request / this cell's


def _median(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def summarise(cells: Sequence[Cell]) -> list[Figures]:
    """The figures of every cell (medians over rounds), in the order of ``cells``."""
    bare_rps, bare_cpu = {}, {}
    for cell in cells:
        if cell.server.variant == "bare":
            bare_rps[cell.server.kind] = statistics.median(r.rps for r in cell.runs)
            bare_cpu[cell.server.kind] = _median(r.cpu_us_per_request for r in cell.runs)
    figures = []
    for cell in cells:
        rates = [r.rps for r in cell.runs]
        rps, bare = statistics.median(rates), bare_rps[cell.server.kind]
        cpu_us, cpu_bare = (
            _median(r.cpu_us_per_request for r in cell.runs),
            bare_cpu[cell.server.kind],
        )
        figures.append(
            Figures(
                server=cell.server.kind,
                variant=cell.server.variant,
                shape=cell.shape,
                rps=rps,
                spread_percent=100 * (max(rates) - min(rates)) / rps if len(rates) > 1 else None,
                p50_ms=statistics.median(r.latency_ms["p50"] for r in cell.runs),
                p99_ms=statistics.median(r.latency_ms["p99"] for r in cell.runs),
                ratio=rps / bare,
                added_us=1e6 / rps - 1e6 / bare,
                cpu_us=cpu_us,
                cpu_percent=_median(r.cpu_percent for r in cell.runs),
                cpu_ratio=cpu_bare / cpu_us if cpu_us and cpu_bare else None,
            )
        )
    return figures


@dataclass(frozen=True)
class Goal:
    """One ratio of a protected cell to its bare server, with its target if it has one."""

    server: str
    shape: str
    ratio: float
    cpu_ratio: float | None
    target: float | None

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "----"
        return "PASS" if self.ratio >= self.target else "MISS"


def goals(figures: Sequence[Figures]) -> list[Goal]:
    """Every protected cell's ratio; the targets of ``TARGET_RATIOS`` checked."""
    return [
        Goal(f.server, f.shape, f.ratio, f.cpu_ratio, TARGET_RATIOS.get((f.server, f.shape)))
        for f in figures
        if f.variant == "protected"
    ]


def table(figures: Sequence[Figures]) -> str:
    """The cells, then the ratios with their verdicts, as text."""
    lines = [
        f"{'server':<9} {'app':<10} {'shape':<10} {'req/s':>7} {'range %':>7} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'x bare':>6} {'cpu us/req':>10} {'cpu %':>5} {'x bare cpu':>10}"
    ]
    for f in figures:
        spread = "-" if f.spread_percent is None else f"{f.spread_percent:.1f}"
        lines.append(
            f"{f.server:<9} {f.variant:<10} {f.shape:<10} {f.rps:7.0f} {spread:>7} "
            f"{f.p50_ms:7.2f} {f.p99_ms:7.2f} {f.ratio:6.2f} {_number(f.cpu_us, 10, 0)} "
            f"{_number(f.cpu_percent, 5, 0)} {_number(f.cpu_ratio, 10, 2)}"
        )
    lines += ["", "protected / bare, same server (req/s; in brackets, by CPU time per request):"]
    for goal in goals(figures):
        limit = "no target" if goal.target is None else f"target >= {goal.target:g}"
        cpu = "" if goal.cpu_ratio is None else f" [{goal.cpu_ratio:.3f} x]"
        lines.append(
            f"  {goal.verdict}  {goal.server} {goal.shape}: {goal.ratio:.3f} x{cpu} ({limit})"
        )
    starved = [f"{f.server} {f.variant} {f.shape}" for f in figures if (f.cpu_percent or 100) < 90]
    if starved:
        lines += [
            "",
            f"WARNING: the server used less than 90 % of its CPU in: {', '.join(starved)}. The "
            "load generator or other work held it back there, so those req/s understate what "
            "the server can do; the CPU-time ratios in brackets are the better guide.",
        ]
    return "\n".join(lines)


def _number(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.{digits}f}"


def report_json(
    cells: Sequence[Cell],
    figures: Sequence[Figures],
    machine: dict[str, Any],
    config: dict[str, Any],
) -> dict[str, Any]:
    """Everything the run found, for ``load.json``."""
    return {
        "machine": machine,
        "config": config,
        "cells": [
            {
                **vars(figure),
                "rounds": [
                    {
                        "rps": run.rps,
                        "requests": run.requests,
                        "seconds": run.seconds,
                        "latency_ms": run.latency_ms,
                        "non200": run.non200,
                        "errors": run.errors,
                        "server_cpu_seconds": run.server_cpu_seconds,
                    }
                    for run in cell.runs
                ],
            }
            for cell, figure in zip(cells, figures, strict=True)
        ],
        "ratios": [{**vars(goal), "verdict": goal.verdict} for goal in goals(figures)],
    }


# --- Main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--duration",
        type=int,
        help=f"seconds per timed cell run (default {DEFAULT_DURATION}, {QUICK_DURATION} with "
        "--quick); each is preceded by a 1 s warm-up",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=DEFAULT_CONNECTIONS,
        help=f"concurrent keep-alive connections (default {DEFAULT_CONNECTIONS})",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"rounds over every cell (default {DEFAULT_ROUNDS}, {QUICK_ROUNDS} with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="short cells, one round")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results"), help="output folder"
    )
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "httpx"),
        default="auto",
        help="load generator: wrk (installed with apt-get if missing), the httpx fallback, or "
        "auto: wrk if it can be had, else httpx (default auto)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="wrk threads (default 1), or httpx generator processes (default 2)",
    )
    parser.add_argument(
        "--gunicorn-threads",
        type=int,
        default=DEFAULT_GUNICORN_THREADS,
        help=f"threads of the gunicorn gthread worker (default {DEFAULT_GUNICORN_THREADS})",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the servers and the generator to separate CPUs",
    )
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = QUICK_DURATION if args.quick else DEFAULT_DURATION
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS
    for name in ("duration", "connections", "rounds", "gunicorn_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.threads is not None and not 1 <= args.threads <= args.connections:
        parser.error("--threads must be between 1 and --connections")
    return args


def choose_generator(args: argparse.Namespace, pinning: Pinning) -> Generator:
    """wrk if wanted and available (installing it if need be), else the httpx fallback."""
    kind = "httpx"
    if args.generator != "httpx":
        if ensure_wrk() is not None:
            kind = "wrk"
        elif args.generator == "wrk":
            raise LoadBenchmarkError("wrk is not installed and could not be installed")
        else:
            _progress(
                "NOTE: wrk is unavailable; falling back to the Python httpx load generator, "
                "which is much slower than wrk: the bare servers' figures may be its limit."
            )
    threads = args.threads or (1 if kind == "wrk" else min(2, args.connections))
    return Generator(kind, threads, args.connections, pinning.generator_cpu)


def _uvicorn_implementations() -> dict[str, str]:
    """What uvicorn's ``auto`` loop and HTTP settings resolve to in this environment."""
    return {
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
    }


def load_machine_info(generator: Generator) -> dict[str, Any]:
    """The in-process benchmark's machine description plus the servers' and wrk's versions."""
    machine = machine_info()
    for name in ("uvicorn", "gunicorn", "h11", "flask", "werkzeug", "httpx"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            machine["versions"][name] = importlib.metadata.version(name)
    machine["versions"].pop("python-jose", None)
    machine["versions"].pop("PyJWT", None)
    machine["wrk"] = wrk_version() if generator.kind == "wrk" else None
    machine["uvicorn_auto"] = _uvicorn_implementations()
    return machine


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into ``SystemExit`` so that every ``finally`` stops its processes."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def measure(
    args: argparse.Namespace, generator: Generator, pinning: Pinning
) -> tuple[list[Cell], list[Server]]:
    """Mint, start the key server and the four servers, check them, and run every round."""
    idp = FakeIdentityProvider()
    _progress(
        f"minting {FRESH_ALB_POOL} + {ALL_FRESH_POOL} ALB tokens and {ALL_FRESH_POOL} access "
        "tokens..."
    )
    pools = mint_pools(idp)
    with contextlib.ExitStack() as stack:
        key_server = stack.enter_context(KeyServer(idp))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cognito-load-")))
        files = write_header_files(folder, pools)
        servers = []
        for kind in SERVERS:
            for variant in VARIANTS:
                port = free_port()
                command = server_command(kind, port, pinning, args.gunicorn_threads)
                server = Server(kind, variant, port, command, folder / f"{kind}-{variant}.log")
                servers.append(server)
                _progress(f"starting {server.name} on 127.0.0.1:{port}...")
                start_server(server, server_environment(key_server, variant))
                assert server.process is not None
                stack.callback(stop, server.process)
        for server in servers:
            check_server(server, pools)
        cells = make_cells(servers, files, pools, generator.threads)
        _progress(
            f"correctness checked; {len(cells)} cells x {args.rounds} rounds x "
            f"({WARMUP_SECONDS} + {args.duration} s) with {generator.kind}..."
        )
        run_rounds(cells, generator, args.rounds, args.duration)
    return cells, servers


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        with _sigterm_as_exit():
            pinning = Pinning.choose(args.pin)
            generator = choose_generator(args, pinning)
            machine = load_machine_info(generator)
            cells, servers = measure(args, generator, pinning)
    except KeyboardInterrupt:
        _progress("interrupted: every server and generator process was stopped")
        return 130
    machine["load_average_end"] = list(os.getloadavg())
    figures = summarise(cells)
    config = {
        "duration_seconds_per_cell": args.duration,
        "warmup_seconds_per_cell": WARMUP_SECONDS,
        "rounds": args.rounds,
        "quick": args.quick,
        "connections": args.connections,
        "generator": {"kind": generator.kind, "threads_or_processes": generator.threads},
        "pinning": {"server_cpu": pinning.server_cpu, "generator_cpu": pinning.generator_cpu},
        "gunicorn": {"worker_class": GUNICORN_WORKER_CLASS, "threads": args.gunicorn_threads},
        "commands": {server.name: server.command for server in servers},
        "pool_sizes": {"fresh_alb": FRESH_ALB_POOL, "all_fresh": ALL_FRESH_POOL},
        "max_verified_tokens": MAX_VERIFIED_TOKENS,
        "request_timeout_seconds": REQUEST_TIMEOUT,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "run_seconds": round(time.monotonic() - started, 1),
    }
    if generator.kind != "wrk":
        print("NOTE: load generated by the Python httpx fallback, not wrk")
    print(table(figures))
    loader = machine["wrk"] if generator.kind == "wrk" else "httpx fallback generator"
    unit = "thread(s)" if generator.kind == "wrk" else "process(es)"
    pinned = (
        f"servers on CPU {pinning.server_cpu}, {generator.kind} on CPU {pinning.generator_cpu}"
        if pinning.server_cpu is not None
        else "not pinned"
    )
    print(
        f"\n{loader}, {generator.threads} {unit}, "
        f"{args.connections} connections, {args.duration} s per cell, {args.rounds} round(s); "
        f"{pinned}; uvicorn loop {machine['uvicorn_auto']['loop']}, "
        f"http {machine['uvicorn_auto']['http']}; gunicorn {GUNICORN_WORKER_CLASS} "
        f"{args.gunicorn_threads} threads"
    )
    print(f"machine: {describe(machine)}; run took {config['run_seconds']} s")
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "load.json", report_json(cells, figures, machine, config))
    print(f"wrote {args.out / 'load.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
