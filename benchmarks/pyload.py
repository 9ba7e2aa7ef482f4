"""A Python load generator, the fallback of ``benchmarks/load.py`` when ``wrk`` is unavailable.

One process of it does what one ``wrk`` run with ``benchmarks/load.lua`` does, with httpx on an
asyncio loop: for ``--duration`` seconds, ``--connections`` keep-alive connections send
``GET URL`` with the header sets of ``HEADERS_FILE`` (one request per line, tab-separated),
starting at line ``--start`` and going on in order. It then prints the same ``WRK_RESULT
{json}`` line as the Lua script, plus the raw latencies (``latencies_us``) so that
``load.py`` can merge several processes' percentiles. ``load.py`` runs a few of these processes
at once, each with its share of the connections: httpx costs far more CPU per request than
wrk, so one process alone would measure the generator rather than the server.

Run alone (rarely useful): ``python -m benchmarks.pyload URL HEADERS_FILE --duration 2``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

RESULT_PREFIX = "WRK_RESULT "  # as load.lua prints it
REQUEST_TIMEOUT = 5.0  # seconds, as wrk's --timeout in load.py


@dataclass
class Tally:
    """What the connections of one process observed."""

    position: int
    count: int
    latencies_us: list[int] = field(default_factory=list)
    received: int = 0
    non200: int = 0
    errors: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("connect", "read", "write", "status", "timeout"), 0)
    )

    def next_index(self) -> int:
        index = self.position
        self.position = (self.position + 1) % self.count
        return index


def read_headers(path: Path) -> list[dict[str, str]]:
    """The header sets of ``path``: one line each, the three values separated by tabs."""
    sets = []
    for line in path.read_text(encoding="ascii").splitlines():
        oidc, access, identity = line.split("\t")
        sets.append(
            {
                "x-amzn-oidc-data": oidc,
                "x-amzn-oidc-accesstoken": access,
                "x-amzn-oidc-identity": identity,
            }
        )
    if not sets:
        raise ValueError(f"{path} holds no request")
    return sets


def _error_kind(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.WriteError):
        return "write"
    return "read"


async def _connection(
    client: httpx.AsyncClient, url: str, sets: list[dict[str, str]], tally: Tally, deadline: float
) -> None:
    while time.perf_counter() < deadline:
        headers = sets[tally.next_index()]
        started = time.perf_counter()
        try:
            response = await client.get(url, headers=headers)
        except httpx.TransportError as exc:
            tally.errors[_error_kind(exc)] += 1
            continue
        tally.latencies_us.append(round((time.perf_counter() - started) * 1e6))
        tally.received += len(response.content)
        if response.status_code != 200:
            tally.non200 += 1
        if response.status_code > 399:
            tally.errors["status"] += 1


async def drive(
    url: str, sets: list[dict[str, str]], duration: float, connections: int, start: int
) -> dict[str, object]:
    """Send requests for ``duration`` seconds over ``connections`` connections; the summary."""
    tally = Tally(position=start % len(sets), count=len(sets))
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT) as client:
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(
            *(_connection(client, url, sets, tally, deadline) for _ in range(connections))
        )
        elapsed = time.perf_counter() - started
    return summary(tally, elapsed)


def percentile(ordered: Sequence[int], percent: float) -> int:
    """The nearest-rank ``percent`` percentile of ascending ``ordered`` (0 when empty)."""
    if not ordered:
        return 0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(percent / 100 * len(ordered)) - 1))]


def summary(tally: Tally, elapsed: float) -> dict[str, object]:
    """The same fields as ``load.lua``'s ``WRK_RESULT`` line, plus the raw latencies."""
    ordered = sorted(tally.latencies_us)
    return {
        "duration_us": round(elapsed * 1e6),
        "requests": len(ordered),
        "bytes": tally.received,
        "non200": tally.non200,
        "errors": tally.errors,
        "latency_us": {
            "mean": statistics.fmean(ordered) if ordered else 0.0,
            "max": ordered[-1] if ordered else 0,
            "p50": percentile(ordered, 50),
            "p90": percentile(ordered, 90),
            "p99": percentile(ordered, 99),
        },
        "positions": [tally.position],
        "latencies_us": tally.latencies_us,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pyload", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("headers_file", type=Path)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds (default 2)")
    parser.add_argument("--connections", type=int, default=8, help="connections (default 8)")
    parser.add_argument("--start", type=int, default=0, help="first line to send (0-based)")
    args = parser.parse_args(argv)
    sets = read_headers(args.headers_file)
    result = asyncio.run(drive(args.url, sets, args.duration, args.connections, args.start))
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
