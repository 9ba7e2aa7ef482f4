"""A worker's memory: its RSS with the caches full, and under a flood of distinct forged tokens.

Run: ``.venv/bin/python -m benchmarks.memory [--flood 20000 100000] [--out DIR]``
(Linux only: the RSS is read from ``/proc/self/status``).

Each measurement runs in a fresh subprocess, so that its RSS starts clean. Each subprocess
makes a ``FakeIdentityProvider``, serves its keys with a ``KeyServer`` on 127.0.0.1 (a thread
of the same process, so its memory is in every figure alike) and builds one sync ``Verifier``:

- ``baseline``: the RSS once the package is imported and the ``Verifier`` built;
- ``fill``: then 2048 distinct valid header pairs verified (one user each: the engine's
  ``alb_tokens`` / ``access_tokens`` / ``users`` caches reach their bound, ``Engine.bounds()``),
  then 2048 more, which evict the oldest and leave the sizes, and the RSS, where they were;
- ``flood N``: caches filled as above, then N distinct forged requests, in turn an ALB token
  signed by another key (naming the real kid), an ALB token naming an unknown kid (the key
  server answers 404; the ``KeyStore`` remembers a bounded number of unknown kids and
  rate-limits fetches), an access token naming an unknown kid (the JWKS is not refetched past
  the rate limit), and a garbage string; the RSS is sampled every N / 20 requests. Every forged
  request must be refused, or the run stops.

Tokens are minted one at a time while the requests run, never all beforehand, so that the
figures are the verifier's memory and not a pool of test tokens. No ``gc.collect()`` is forced.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

FILL = 2048  # MAX_VERIFIED_TOKENS; checked against Engine.bounds() in the subprocess
KINDS = ("alb_other_key", "alb_unknown_kid", "access_unknown_kid", "garbage")


def rss_kib() -> int:
    """This process's resident set size in KiB (``VmRSS`` in ``/proc/self/status``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _with_kid(token: str, kid: str) -> str:
    """``token`` with its header's kid replaced (the signature no longer matches, by design)."""
    header, rest = token.split(".", 1)
    fields = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    return _b64(json.dumps(fields | {"kid": kid}).encode()) + "." + rest


def _child(measurement: str, requests: int) -> dict[str, Any]:
    """One measurement, in this (fresh) process; returns what it found."""
    from cognito_auth_middleware import AuthenticationError, Verifier
    from cognito_auth_middleware.core.engine import Engine
    from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

    logging.getLogger("cognito_auth_middleware").setLevel(logging.CRITICAL)  # warnings per kid
    bounds = Engine.bounds()
    assert bounds["alb_tokens"] == bounds["users"] == FILL, bounds
    idp = FakeIdentityProvider()
    with KeyServer(idp) as server:
        verifier = Verifier(**server.settings())
        report: dict[str, Any] = {"baseline_kib": rss_kib(), "bounds": bounds}
        if measurement == "baseline":
            return report

        def fill(start: int) -> None:
            for i in range(start, start + FILL):
                pair = idp.headers(sub=f"user-{i}", ttl=3600)
                verifier.authenticate(*pair.values())

        fill(0)
        report["filled_kib"], report["filled_sizes"] = rss_kib(), verifier.engine.sizes
        if measurement == "fill":
            fill(FILL)
            report["refilled_kib"], report["refilled_sizes"] = rss_kib(), verifier.engine.sizes
            return report

        interval = max(1, requests // 20)
        samples: list[tuple[int, int]] = [(0, rss_kib())]
        outcomes: Counter[str] = Counter()
        started = time.perf_counter()
        for i, (kind, pair) in enumerate(_forged(idp), start=1):
            try:
                verifier.authenticate(*pair)
            except AuthenticationError as error:
                outcomes[f"{kind}: {type(error).__name__}"] += 1
            else:
                raise SystemExit(f"a forged request ({kind}) was accepted")
            if i % interval == 0:
                samples.append((i, rss_kib()))
            if i == requests:
                break
        report |= {
            "flood_seconds": round(time.perf_counter() - started, 1),
            "samples_kib": samples,
            "flood_sizes": verifier.engine.sizes,
            "outcomes": dict(sorted(outcomes.items())),
            "key_server_requests": len(server.requests),
        }
        return report


def _forged(idp: Any) -> Iterator[tuple[str, tuple[str, str, str]]]:
    """Endless distinct forged header triples, one kind after the other."""
    from cognito_auth_middleware.testing import FakeIdentityProvider

    forger = FakeIdentityProvider(alb_arn=idp.alb_arn)  # same ARN and pool, another ALB key
    valid = idp.headers(ttl=3600)
    oidc, access, identity = valid.values()
    makers: dict[str, Callable[[int], tuple[str, str, str]]] = {
        "alb_other_key": lambda i: (
            forger.mint_alb_token(sub=f"forged-{i}", header={"kid": idp.alb_kid}),
            access,
            identity,
        ),
        "alb_unknown_kid": lambda i: (_with_kid(oidc, str(uuid.uuid4())), access, identity),
        "access_unknown_kid": lambda i: (
            oidc,
            _with_kid(access, _b64(uuid.uuid4().bytes)),
            identity,
        ),
        "garbage": lambda i: (
            f"{secrets.token_urlsafe(60)}.{secrets.token_urlsafe(300)}.{secrets.token_urlsafe(64)}",
            secrets.token_urlsafe(500),
            identity,
        ),
    }
    i = 0
    while True:
        for kind in KINDS:
            i += 1
            yield kind, makers[kind](i)


def _measure(measurement: str, requests: int = 0) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its report."""
    done = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "benchmarks.memory", "--child", measurement, str(requests)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{measurement} {requests} failed:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return report


def _mib(kib: int) -> str:
    return f"{kib / 1024:8.1f}"


def _print_table(results: dict[str, Any]) -> None:
    base = results["baseline"]["baseline_kib"]
    fill = results["fill"]
    print(f"{'measurement':40} {'RSS MiB':>8} {'+ MiB':>8}  caches (alb_tokens/access/users)")
    rows = [
        ("baseline (imported, Verifier built)", base, None),
        (f"{FILL} distinct pairs verified", fill["filled_kib"], fill["filled_sizes"]),
        (f"{2 * FILL} distinct pairs verified", fill["refilled_kib"], fill["refilled_sizes"]),
    ]
    for label, kib, sizes in rows:
        caches = (
            ""
            if sizes is None
            else "/".join(str(sizes[k]) for k in ("alb_tokens", "access_tokens", "users"))
        )
        print(f"{label:40} {_mib(kib)} {_mib(kib - base)}  {caches}")
    print()
    print(
        f"{'flood (caches full)':20} {'before':>8} {'first':>8} {'last':>8} {'max':>8}"
        f" {'last-1st':>8} {'seconds':>8}  (RSS MiB; first = after N/20 requests)"
    )
    for name, flood in results["floods"].items():
        values = [kib for _, kib in flood["samples_kib"]]
        before, first, last = values[0], values[1], values[-1]
        print(
            f"{name:20} {_mib(before)} {_mib(first)} {_mib(last)} {_mib(max(values))}"
            f" {_mib(last - first)} {flood['flood_seconds']:8.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--child", nargs=2, metavar=("MEASUREMENT", "REQUESTS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], int(args.child[1]))))
        return

    from .common import machine_info, write_json

    machine = machine_info()
    results: dict[str, Any] = {
        "baseline": _measure("baseline"),
        "fill": _measure("fill"),
        "floods": {f"flood {n}": _measure("flood", n) for n in args.flood},
    }
    machine["load_average_end"] = list(os.getloadavg())
    _print_table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "memory.json", {"machine": machine, "kinds": KINDS, **results})
    print(f"\nwrote {args.out / 'memory.json'}")


if __name__ == "__main__":
    main()
