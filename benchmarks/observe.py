"""What the audit log and the hooks cost on the repeated path: off (the default) and on.

Run: ``.venv/bin/python -m benchmarks.observe [--requests N] [--rounds R]``.

One repeated header pair (the cached path: no signature check) through each middleware, called
in process as ``benchmarks.run`` calls them, in interleaved rounds (each configuration once per
round, the order rotated) so that drift affects all alike; the median per-request time of each
is printed with its ratio to the default. The configurations:

- ``off``: the default (``audit_log`` off, no hooks): what every other benchmark measures;
- ``audit``: ``audit_log=True`` with the audit logger at INFO and a handler that drops records
  (the event is built, serialised and handed to logging);
- ``hooks``: no-op ``on_authenticated`` / ``on_refused`` hooks (``async`` on the ASGI side: a
  sync one there adds a thread hop by design).

``off`` costs two attribute tests per request; the guard is also timed alone, to show the
order of magnitude against the request it guards.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import timeit
from collections.abc import Callable
from functools import partial
from typing import Any

from cognito_auth_middleware import CognitoAuthMiddleware, CognitoAuthWSGIMiddleware
from cognito_auth_middleware.audit import AUDIT_LOGGER
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

from .run import (
    Pair,
    asgi_headers,
    drive_asgi,
    drive_wsgi,
    environ_headers,
    hello_wsgi,
    starlette_app,
)


async def _noop_async(_: object, __: object) -> None:
    return None


def _noop(_: object, __: object) -> None:
    return None


def _configurations(settings: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{name: (asgi app, wsgi app)}`` for each configuration."""
    asgi, wsgi = starlette_app(), hello_wsgi
    return {
        "off": (
            CognitoAuthMiddleware(asgi, **settings),
            CognitoAuthWSGIMiddleware(wsgi, **settings),
        ),
        "audit": (
            CognitoAuthMiddleware(asgi, audit_log=True, **settings),
            CognitoAuthWSGIMiddleware(wsgi, audit_log=True, **settings),
        ),
        "hooks": (
            CognitoAuthMiddleware(
                asgi, on_authenticated=_noop_async, on_refused=_noop_async, **settings
            ),
            CognitoAuthWSGIMiddleware(wsgi, on_authenticated=_noop, on_refused=_noop, **settings),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="per configuration and round")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    audit = logging.getLogger(AUDIT_LOGGER)
    audit.setLevel(logging.INFO)
    audit.addHandler(logging.NullHandler())
    audit.propagate = False

    idp = FakeIdentityProvider()
    with KeyServer(idp) as server:
        settings = server.settings()
        headers = idp.headers(ttl=3600)
        pair = Pair(
            *(
                headers[name]
                for name in ("x-amzn-oidc-data", "x-amzn-oidc-accesstoken", "x-amzn-oidc-identity")
            )
        )
        apps = _configurations(settings)
        loop = asyncio.new_event_loop()
        asgi_batch = [asgi_headers(pair)] * args.requests
        wsgi_batch = [environ_headers(pair)] * args.requests
        runs: dict[tuple[str, str], Callable[[], float]] = {}
        for name, (asgi_app, wsgi_app) in apps.items():
            runs[("asgi", name)] = partial(_run_asgi, loop, asgi_app, asgi_batch)
            runs[("wsgi", name)] = partial(_run_wsgi, wsgi_app, wsgi_batch)
        for run in runs.values():  # warm: keys fetched, the pair cached
            run()
        times: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
        keys = list(runs)
        for round_ in range(args.rounds):
            shift = round_ % len(keys)
            for key in keys[shift:] + keys[:shift]:
                times[key].append(runs[key]() / args.requests * 1e6)
        loop.close()

    middleware = apps["off"][0]
    guard = timeit.timeit(
        "m._on_authenticated is not None; m._audit", globals={"m": middleware}, number=1_000_000
    )
    print(f"{'shell':6} {'configuration':14} {'us/request':>11} {'vs off':>7}")
    for shell in ("asgi", "wsgi"):
        base = statistics.median(times[(shell, "off")])
        for name in apps:
            median = statistics.median(times[(shell, name)])
            print(f"{shell:6} {name:14} {median:11.3f} {median / base:7.3f}")
    print(f"the off guard alone: {guard * 1e3:.1f} ns per request (timeit, 1e6 loops)")


def _checked(result: tuple[float, int], n: int) -> float:
    elapsed, ok = result
    if ok != n:
        raise SystemExit(f"only {ok} of {n} requests were admitted")
    return elapsed


def _run_asgi(loop: asyncio.AbstractEventLoop, app: Any, batch: list[Any]) -> float:
    return _checked(loop.run_until_complete(drive_asgi(app, batch)), len(batch))


def _run_wsgi(app: Any, batch: list[Any]) -> float:
    return _checked(drive_wsgi(app, batch), len(batch))


if __name__ == "__main__":
    main()
