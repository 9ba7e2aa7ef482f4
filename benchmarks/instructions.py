"""Instructions per request, counted by valgrind: figures that do not move with the machine.

Run it with ``./dev instructions`` (``python -m benchmarks.instructions [PATH ...]
[--requests N]``). Timings on a shared VM drift by 10-30 % within minutes, more than most single
changes to the fresh path are worth; callgrind counts the instructions a path executes, the same
on every run of the same code. It is no substitute for the timed benchmarks (an instruction is
not a fixed time, and cache misses are not counted), but it says at once whether a change
removed work. Linux only; needs valgrind (Debian package ``valgrind``), which it installs with
apt-get when missing and running as root.

Each path runs in a child process of its own, this module again under ``valgrind
--tool=callgrind --toggle-collect=functools_reduce``: only what runs inside the
``functools.reduce`` that drives the measured loop is counted, so start-up, minting the tokens
and fetching the keys (from a :class:`~cognito_auth_middleware.testing.KeyServer` on 127.0.0.1,
stopped before the loop) are not. The child sets ``PYTHONHASHSEED=0`` and turns the garbage
collector off during the loop, so that runs are exactly comparable.

Paths:
    * ``fresh_alb``: ``Verifier.authenticate`` over distinct ALB tokens with one access token,
      the signature check included;
    * ``fresh_alb_python``: the same with ``Es256Key.verify`` replaced by a no-op: the
      package's own work per new token, without OpenSSL's;
    * ``all_fresh_python``: both tokens new on every request, both signature checks no-ops;
    * ``repeated_asgi``: one header pair, repeated, through ``CognitoAuthMiddleware`` around a
      no-op ASGI app: the middleware's work per request on the hit path.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import os
import re
import subprocess
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

from benchmarks.common import describe, ensure_tool, machine_info
from cognito_auth_middleware import CognitoAuthMiddleware, Verifier
from cognito_auth_middleware.core.keys import Es256Key, Rs256Key
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

PATHS = ("fresh_alb", "fresh_alb_python", "all_fresh_python", "repeated_asgi")
_COLLECTED = re.compile(r"Collected : (\d+)")


def _fresh(requests: int, *, stub: bool, both: bool) -> Callable[[], object]:
    idp = FakeIdentityProvider()
    count = requests + 1
    albs = [idp.mint_alb_token(email=f"user{n}@example.com", ttl=86400) for n in range(count)]
    one = idp.mint_access_token(ttl=86400)
    accesses = [idp.mint_access_token(ttl=86400) for _ in range(count)] if both else [one] * count
    with KeyServer(idp) as server:
        verifier = Verifier(**server.settings())
        verifier.authenticate(albs[0], accesses[0])  # fetches both keys, once
    if stub:
        Es256Key.verify = lambda self, msg, sig: True  # type: ignore[method-assign]
        Rs256Key.verify = lambda self, msg, sig: True  # type: ignore[method-assign]
    authenticate = verifier.authenticate
    pairs = list(zip(albs[1:], accesses[1:], strict=True))
    return lambda: functools.reduce(lambda _, pair: authenticate(*pair), pairs, None)


def _repeated_asgi(requests: int) -> Callable[[], object]:
    idp = FakeIdentityProvider()
    headers = idp.headers(ttl=86400)
    raw = [(b"host", b"localhost"), (b"accept", b"*/*")]
    raw += [(name.encode(), value.encode()) for name, value in headers.items()]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"refused: {message['status']}")

    def scope() -> dict[str, Any]:
        return {"type": "http", "method": "GET", "path": "/", "root_path": "", "headers": raw}

    async def drive(count: int) -> None:
        for _ in range(count):
            await middleware(scope(), receive, send)

    loop = asyncio.new_event_loop()
    with KeyServer(idp) as server:
        middleware = CognitoAuthMiddleware(app, **server.settings())
        loop.run_until_complete(drive(1))  # fetches both keys and admits the pair
    return lambda: functools.reduce(
        lambda _, n: loop.run_until_complete(drive(n)), [requests], None
    )


def child(path: str, requests: int) -> None:
    """Set ``path`` up, then run its loop once inside ``functools.reduce`` (what is counted)."""
    if path == "repeated_asgi":
        run = _repeated_asgi(requests)
    else:
        run = _fresh(requests, stub=path.endswith("_python"), both=path.startswith("all"))
    gc.collect()
    gc.disable()
    run()


def count(path: str, requests: int) -> float:
    """Instructions per request of ``path``, from a child run under callgrind."""
    command = ["valgrind", "--tool=callgrind", "--toggle-collect=functools_reduce"]
    command += ["--callgrind-out-file=/dev/null", sys.executable, "-m", "benchmarks.instructions"]
    command += ["--child", path, "--requests", str(requests)]
    env = os.environ | {"PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{path}: the child failed:\n{done.stderr[-3000:]}")
    return int(found.group(1)) / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("paths", nargs="*", metavar="PATH", help=f"of {', '.join(PATHS)} (all)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per path (2000)")
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if unknown := sorted(set(args.paths) - set(PATHS)):
        parser.error(f"unknown path(s): {', '.join(unknown)}")
    if args.child:
        child(args.child, args.requests)
        return 0
    ensure_tool("valgrind", "valgrind")
    machine = machine_info()
    print(f"{'path':20s} {'instructions per request':>25s}")
    for path in args.paths or PATHS:
        print(f"{path:20s} {count(path, args.requests):25,.0f}", flush=True)
    machine["load_average_end"] = list(os.getloadavg())
    print(f"\n{describe(machine)}; {args.requests} requests per path")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
