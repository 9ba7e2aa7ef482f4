"""End-to-end load benchmark: real servers under wrk, with the middleware and without.

Run ``python -m benchmarks.load [--quick] [--duration S] [--rounds N] [--connections N]
[--out DIR]`` (``./dev load``). Linux only (taskset, /proc); needs wrk, which it installs with
apt-get when missing and running as root. It prints a table, the targets (PASS/MISS) and what a
second worker costs, and writes ``load.json``; benchmarks/README.md ("End-to-end load") explains
the method. Exit status 1 if a server answers wrongly or wrk sees a non-200 or a socket error.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

import cognito_auth_middleware
from benchmarks.apps import KEY_ENV, VARIANT_ENV
from benchmarks.common import ensure_tool, es256_der, split_token, tampered
from cognito_auth_middleware.core.engine import MAX_VERIFIED_TOKENS
from cognito_auth_middleware.core.headers import ACCESS_TOKEN, IDENTITY, OIDC_DATA
from cognito_auth_middleware.settings import ENV_PREFIX
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

ROOT = Path(__file__).resolve().parent.parent  # the servers' cwd, first on their PYTHONPATH
LUA = Path(__file__).resolve().with_name("load.lua")
_ASGI = "uvicorn --factory benchmarks.apps:asgi_app --no-access-log"
SERVERS = {  # each also gets its address and --log-level warning
    "uvicorn": f"{_ASGI} --loop uvloop --http httptools --workers 1",
    "uvicorn-h11": f"{_ASGI} --loop asyncio --http h11 --workers 1",
    "gunicorn": "gunicorn benchmarks.apps:wsgi_app() --workers 1 -k gthread --threads 4",
    "uvicorn-2w": f"{_ASGI} --loop uvloop --http httptools --workers 2",
}
UNPINNED = {"uvicorn-2w"}  # its two workers and wrk share both CPUs
WITH_ALL_FRESH = {"uvicorn", "uvicorn-2w"}
LEAN = ("uvicorn", "es256")  # the headline server, verifying the signature alone
SHAPES = ("repeated", "fresh_alb", "all_fresh")
SUB = "11111111-2222-3333-4444-555555555555"
TTL = 3 * 3600.0  # the minted tokens outlive the run
POOL = 4 * MAX_VERIFIED_TOKENS  # a fresh token comes back only after 4 cachefuls of others
WARMUP, REQUEST_TIMEOUT, START_TIMEOUT, STOP_TIMEOUT = 1, 5, 30.0, 10.0
TARGET_REPEATED, TARGET_OF_CAP = 0.90, 0.85


class LoadError(RuntimeError):
    """A server or wrk did not do what it is measured for."""


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def mint(idp: FakeIdentityProvider) -> dict[str, list[tuple[str, str]]]:
    """Each shape's (ALB token, access token) pairs, minted before timing; the two fresh pools
    share no token. The identity header is always ``SUB``."""
    alb = functools.partial(idp.mint_alb_token, sub=SUB, ttl=TTL)
    access = functools.partial(idp.mint_access_token, sub=SUB, groups=["staff"], ttl=TTL)
    one = access()
    return {
        "repeated": [(alb(), one)],
        "fresh_alb": [(alb(), one) for _ in range(POOL)],
        "all_fresh": [(alb(), access()) for _ in range(POOL)],
    }


def headers(pair: tuple[str, str]) -> dict[str, str]:
    return {OIDC_DATA: pair[0], ACCESS_TOKEN: pair[1], IDENTITY: SUB}


def es256_us(idp: FakeIdentityProvider, token: str, cpu: int | None) -> float:
    """Microseconds per ES256 verify of an ALB token, on the servers' CPU (this thread moves
    there meanwhile; the servers are idle)."""
    message, raw = split_token(token)
    der = es256_der(raw)
    key, ecdsa = idp.alb_private_key.public_key(), ec.ECDSA(hashes.SHA256())
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, affinity if cpu is None else {cpu})
    try:
        times = timeit.repeat(lambda: key.verify(der, message, ecdsa), number=500, repeat=7)
    finally:
        os.sched_setaffinity(0, affinity)
    return statistics.median(times) / 500 * 1e6


def _processes() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/<pid>/stat after the name: state, ppid, pgrp, ...) of each."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # it has gone meanwhile
            text = stat.read_text()
            yield int(stat.parent.name), text[text.rindex(")") + 2 :].split()


def group_cpu_seconds(group: int) -> float:
    """User + system CPU time of the live processes of a process group."""
    ticks = sum(int(f[11]) + int(f[12]) for _, f in _processes() if int(f[2]) == group)
    return ticks / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children: the wrk runs so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Server:
    """A server process, bare or protected, and the CPUs it and wrk are pinned to (``None``:
    not pinned). A protected one has a key server of its own, so that the key fetches made in
    its life, by every worker, are counted."""

    kind: str
    variant: str
    keys: KeyServer | None
    cpus: tuple[int, int] | None
    #: For the ``es256`` variant: the ALB public key (PEM) its handler verifies with.
    alb_key: str | None = None
    port: int = 0
    log: Path = Path(os.devnull)
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"{self.kind} {self.variant}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, folder: Path) -> None:
        """Start it on a free port in a process group of its own (which also keeps a Ctrl+C
        in the terminal from reaching it) and wait until it answers."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        gunicorn = self.kind == "gunicorn"
        address = (
            f"--bind 127.0.0.1:{self.port}" if gunicorn else f"--host 127.0.0.1 --port {self.port}"
        )
        command = [*taskset(self.cpus and self.cpus[0]), sys.executable, "-m"]
        command += f"{SERVERS[self.kind]} {address} --log-level warning".split()
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        env = {k: v for k, v in env.items() if not k.lower().endswith("_proxy")}  # loopback only
        env[VARIANT_ENV] = self.variant
        if self.alb_key is not None:
            env[KEY_ENV] = self.alb_key
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        if self.keys is not None:  # configured as in production: by environment variables
            env |= {ENV_PREFIX + k.upper(): str(v) for k, v in self.keys.settings().items()}
        self.log = folder / f"{self.kind}-{self.variant}.log"
        with self.log.open("wb") as log:  # the child has its own copy
            self.process = subprocess.Popen(  # noqa: S603 (fixed arguments, no shell)
                command, stdout=log, stderr=log, env=env, cwd=ROOT, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while self.process.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(httpx.TransportError):
                    client.get(self.url)
                    return
                time.sleep(0.05)
        raise LoadError(f"{self.name} did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after ``STOP_TIMEOUT``."""
        if self.process is None or self.process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):  # it left just now
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
                return

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def check(self, pools: dict[str, list[tuple[str, str]]]) -> None:
        """Bare: 200. Protected: 200 and the user for each shape's first header set, and 401
        without headers and with a corrupted ALB signature."""
        alb, access = pools["repeated"][0]
        cases: list[tuple[str, dict[str, str], int, str | None]]
        cases = [("repeated headers", headers((alb, access)), 200, None)]
        if self.variant != "bare":
            forged = headers((tampered(alb), access))
            cases = [(f"{shape} headers", headers(pools[shape][0]), 200, SUB) for shape in SHAPES]
            cases += [("no headers", {}, 401, None), ("a corrupted signature", forged, 401, None)]
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            for what, sent, status, user in cases:
                got = client.get(self.url, headers=sent)
                if got.status_code != status or (status == 200 and got.json() != {"user": user}):
                    found = f"{got.status_code} {got.text[:200]!r}"
                    raise LoadError(f"{self.name}, {what}: expected {status} {user}, got {found}")

    def worker_rss_mib(self) -> list[float]:
        """VmRSS of each serving process: the group leader's children (not multiprocessing's
        resource tracker), or the leader itself if it serves alone (uvicorn, one worker)."""
        assert self.process is not None
        leader = self.process.pid
        children = [pid for pid, f in _processes() if int(f[1]) == leader]
        tracker = b"multiprocessing.resource_tracker"
        workers = [p for p in children if tracker not in Path(f"/proc/{p}/cmdline").read_bytes()]
        status = [Path(f"/proc/{pid}/status").read_text() for pid in sorted(workers) or [leader]]
        return [int(text.split("VmRSS:")[1].split()[0]) / 1024 for text in status]


def taskset(cpu: int | None) -> list[str]:
    return [] if cpu is None else ["taskset", "-c", str(cpu)]


@dataclass
class Cell:
    """A (server, shape) pair: where wrk stands in the shape's header file, one run a round."""

    server: Server
    shape: str
    headers: Path
    position: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)

    def drive(self, seconds: int, connections: int) -> dict[str, Any]:
        """One wrk run, checked; the next one goes on where this one stopped."""
        server, leader = self.server, self.server.process.pid if self.server.process else 0
        wrk = f"wrk -t1 -c{connections} -d{seconds}s --timeout {REQUEST_TIMEOUT}s -s".split()
        command = [*taskset(server.cpus and server.cpus[1]), *wrk, str(LUA), server.url, "--"]
        command += [str(self.headers), str(self.position)]
        server_cpu, wrk_cpu = -group_cpu_seconds(leader), -children_cpu_seconds()
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)  # noqa: S603
        server_cpu += group_cpu_seconds(leader)
        wrk_cpu += children_cpu_seconds()
        lines = [line for line in done.stdout.splitlines() if line.startswith("WRK_RESULT ")]
        if done.returncode != 0 or not lines:
            raise LoadError(f"wrk failed on {server.name}:\n{done.stderr}{done.stdout}")
        result = json.loads(lines[-1].removeprefix("WRK_RESULT "))
        problems = [f"{n} {kind} errors" for kind, n in result["errors"].items() if n]
        problems += [f"{result['non200']} non-200 responses"] if result["non200"] else []
        if problems or not result["requests"]:
            what = ", ".join(problems) or "no response"
            raise LoadError(f"{server.name} {self.shape}: {what}\n{server.log_tail()}")
        self.position = result["position"]
        duration = result["duration_us"] / 1e6
        return {
            "rps": result["requests"] / duration,
            "requests": result["requests"],
            "seconds": duration,
            "latency_ms": {k: v / 1000 for k, v in result["latency_us"].items()},
            "server_cpu_percent": 100 * server_cpu / duration,
            "server_cpu_us_per_request": 1e6 * server_cpu / result["requests"],
            "wrk_cpu_percent": 100 * wrk_cpu / duration,
        }


def measure(args: argparse.Namespace, cpus: tuple[int, int] | None) -> dict[str, Any]:
    """Start and check the servers, run the rounds, and read each server's workers' RSS and
    key fetches; every server is stopped on the way out, whatever happens."""
    idp = FakeIdentityProvider()
    progress(f"minting {2 * POOL + 1} ALB tokens and {POOL + 1} access tokens...")
    pools = mint(idp)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cognito-load-")))
        files = {shape: folder / f"{shape}.tsv" for shape in SHAPES}
        for shape, path in files.items():  # one request a line, as load.lua reads them
            path.write_text("".join(f"{alb}\t{access}\t{SUB}\n" for alb, access in pools[shape]))
        servers, cells = [], []
        for kind in SERVERS:
            for variant in ("bare", "protected"):
                keys = stack.enter_context(KeyServer(idp)) if variant == "protected" else None
                server = Server(kind, variant, keys, None if kind in UNPINNED else cpus)
                progress(f"starting {server.name}...")
                stack.callback(server.stop)
                server.start(folder)
                server.check(pools)
                servers.append(server)
                shapes = SHAPES if kind in WITH_ALL_FRESH else SHAPES[:2]
                for shape in shapes if keys else SHAPES[:1]:
                    cells.append(Cell(server, shape, files[shape]))
        # The leanest server that verifies every new ALB token (benchmarks/apps.py, es256):
        # what the protected one is measured against on fresh tokens, in the same rounds.
        lean = Server(LEAN[0], LEAN[1], None, cpus, alb_key=idp.alb_public_pem().decode())
        progress(f"starting {lean.name}...")
        stack.callback(lean.stop)
        lean.start(folder)
        lean.check(pools)
        cells.append(Cell(lean, "fresh_alb", files["fresh_alb"]))
        progress(f"{len(cells)} cells x {args.rounds} rounds x ({WARMUP} + {args.duration} s)")
        es256 = []
        for number in range(1, args.rounds + 1):
            es256.append(es256_us(idp, pools["fresh_alb"][0][0], cpus and cpus[0]))
            for cell in cells:
                cell.drive(WARMUP, args.connections)
                cell.runs.append(cell.drive(args.duration, args.connections))
                rps = cell.runs[-1]["rps"]
                progress(f"round {number}  {cell.server.name:<21} {cell.shape:<9} {rps:6.0f} req/s")
        processes = {}
        for server in servers:
            fetches = {k: server.keys.count(k) for k in ("alb", "jwks")} if server.keys else None
            processes[server.name] = {
                "command": server.process.args if server.process else None,
                "worker_rss_mib": server.worker_rss_mib(),
                "key_server_requests": fetches,
            }
    return {"cells": cells, "es256_us": es256, "processes": processes}


def figures(cells: list[Cell], es256: float) -> list[dict[str, Any]]:
    """Each cell's medians over rounds and its req/s over its server's bare req/s; for fresh_alb
    on one worker also the physical cap, 1 / (1 + ES256 time x bare req/s), and the share of it
    reached; for two workers, req/s over the one-worker uvicorn's in the same cell."""
    median = statistics.median
    rps = {(c.server.name, c.shape): median(r["rps"] for r in c.runs) for c in cells}
    rows = []
    for cell in cells:
        kind, variant, runs = cell.server.kind, cell.server.variant, cell.runs
        row: dict[str, Any] = {"server": kind, "variant": variant, "shape": cell.shape}
        row["rps"] = rps[cell.server.name, cell.shape]
        row["range_percent"] = 100 * (
            max(r["rps"] for r in runs) / row["rps"] - min(r["rps"] for r in runs) / row["rps"]
        )
        for p in ("p50", "p90", "p99"):
            row[f"{p}_ms"] = median(r["latency_ms"][p] for r in runs)
        for cpu in ("server_cpu_percent", "server_cpu_us_per_request", "wrk_cpu_percent"):
            row[cpu] = median(r[cpu] for r in runs)
        bare = rps[f"{kind} bare", "repeated"]
        row["x_bare"] = row["rps"] / bare
        if cell.shape == "fresh_alb" and kind not in UNPINNED:
            row["cap"] = 1 / (1 + es256 * 1e-6 * bare)
            row["of_cap"] = row["x_bare"] / row["cap"]
            if (kind, variant) == ("uvicorn", "protected"):
                row["of_es256_server"] = row["rps"] / rps[" ".join(LEAN), "fresh_alb"]
        if kind == "uvicorn-2w":
            row["x_1_worker"] = row["rps"] / rps[f"uvicorn {variant}", cell.shape]
        rows.append(row | {"rounds": runs})
    return rows


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """(what, value, target): both on the headline server, uvicorn (uvloop, httptools)."""
    cell = {(r["server"], r["variant"], r["shape"]): r for r in rows}
    repeated = cell["uvicorn", "protected", "repeated"]["x_bare"]
    of_cap = cell["uvicorn", "protected", "fresh_alb"]["of_cap"]
    return [
        ("uvicorn repeated, protected / bare", repeated, TARGET_REPEATED),
        ("uvicorn fresh_alb, (protected / bare) / cap", of_cap, TARGET_OF_CAP),
    ]


def report(rows: list[dict[str, Any]], processes: dict[str, Any], es256: float) -> str:
    """The table, the targets, and what the second worker costs."""
    lines = [
        "server      app       shape       req/s range%  p50ms  p99ms srv% us/req wrk% x bare"
        "  cap of cap x 1w"
    ]
    for r in rows:
        ratios = [r["x_bare"], r.get("cap"), r.get("of_cap"), r.get("x_1_worker")]
        lines.append(
            f"{r['server']:<12}{r['variant']:<10}{r['shape']:<10}{r['rps']:7.0f}"
            f"{r['range_percent']:7.1f}{r['p50_ms']:7.2f}{r['p99_ms']:7.2f}"
            f"{r['server_cpu_percent']:5.0f}{r['server_cpu_us_per_request']:7.0f}"
            f"{r['wrk_cpu_percent']:5.0f}"
            + "".join(
                f"{'-' if x is None else f'{x:.2f}':>{w}}"
                for x, w in zip(ratios, (7, 5, 7, 5), strict=True)
            )
        )
    lines.append(f"\nES256 verify: {es256:.1f} us (median of the rounds, on the servers' CPU)")
    for what, value, target in targets(rows):
        verdict = "PASS" if value >= target else "MISS"
        lines.append(f"  {verdict}  {what} = {value:.3f} (target >= {target:g})")
    lean = next(r for r in rows if "of_es256_server" in r)["of_es256_server"]
    lines.append(
        f"  uvicorn fresh_alb, protected / the {' '.join(LEAN)} server (a bare ES256 verify"
        f" per request, nothing else) = {lean:.3f}"
    )
    lines.append("\nAfter the last round (uvicorn, uvloop + httptools; caches are per worker):")
    for name in ("uvicorn bare", "uvicorn-2w bare", "uvicorn protected", "uvicorn-2w protected"):
        rss = ", ".join(f"{mib:.1f}" for mib in processes[name]["worker_rss_mib"])
        fetches = processes[name]["key_server_requests"]
        keys = f"; key fetches ALB {fetches['alb']}, JWKS {fetches['jwks']}" if fetches else ""
        lines.append(f"  {name:<21} RSS per worker {rss} MiB{keys}")
    return "\n".join(lines)


def _run(*command: str) -> str:
    """A command's output, run in the measured package's folder ("" if it fails)."""
    package = Path(cognito_auth_middleware.__file__).resolve().parent
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(command, cwd=package, capture_output=True, text=True, timeout=10)  # noqa: S603
        return done.stdout.strip()
    return ""


def machine() -> dict[str, Any]:
    """The CPU, Python, the servers' and wrk's versions, and the measured package's commit."""
    cpu = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line]
    names = "cognito-auth-middleware cryptography uvicorn uvloop httptools h11 gunicorn starlette"
    return {
        "cpu_model": cpu[0].split(":", 1)[1].strip() if cpu else None,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "versions": {name: importlib.metadata.version(name) for name in [*names.split(), "flask"]},
        "wrk": _run("wrk", "--version").split(" Copyright")[0],
        "commit": _run("git", "rev-parse", "--short", "HEAD"),
        "dirty": bool(_run("git", "status", "--porcelain", "--", ".")),  # the package's files
        "load_average_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 s runs, one round")
    parser.add_argument("--duration", type=int, help="seconds per timed run (8; --quick: 2)")
    parser.add_argument("--rounds", type=int, help="rounds over every cell (3; --quick: 1)")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections (16)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    args.duration = args.duration or (2 if args.quick else 8)
    args.rounds = args.rounds or (1 if args.quick else 3)
    ensure_tool("wrk", "wrk")
    usable = sorted(os.sched_getaffinity(0))
    cpus = (usable[0], usable[1]) if len(usable) > 1 and shutil.which("taskset") else None
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # finally: runs
    started, info = time.monotonic(), machine()
    try:
        found = measure(args, cpus)
    except KeyboardInterrupt:
        progress("interrupted; every server was stopped")
        return 130
    except LoadError as error:
        progress(f"FAILED: {error}\nevery server was stopped")
        return 1
    es256 = statistics.median(found["es256_us"])
    rows = figures(found["cells"], es256)
    print(report(rows, found["processes"], es256))
    settings = {**vars(args), "out": str(args.out), "warmup": WARMUP, "wrk_threads": 1}
    settings |= {"servers_cpu": cpus and cpus[0], "wrk_cpu": cpus and cpus[1], "pool": POOL}
    settings |= {"unpinned": sorted(UNPINNED), "date": time.strftime("%Y-%m-%d %H:%M %Z")}
    info |= {"load_average_end": os.getloadavg(), "run_seconds": round(time.monotonic() - started)}
    document = {"machine": info, "settings": settings, **found, "cells": rows}
    document["targets"] = targets(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(document, indent=2) + "\n")
    dirty = " (dirty)" if info["dirty"] else ""
    print(
        f"\n{info['cpu_model']}, {info['cores']} cores, Python {info['python']}, {info['wrk']};"
        f" commit {info['commit']}{dirty}; {info['run_seconds']} s; wrote {args.out / 'load.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
