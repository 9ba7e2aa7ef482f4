"""Features off cost nothing on the repeated path; on, this much. Measured by pyperf.

The repeated path (one header pair, answered by the engine's cache of verified pairs) through
the engine and both middlewares, under one configuration per run (``--features``):

* ``off``: the default settings, what every other benchmark measures;
* ``audit``: ``audit_log=True``, the audit logger at INFO with a handler that drops records
  (the event is built, serialised and handed to logging);
* ``hooks``: no-op ``on_authenticated`` / ``on_refused`` hooks, ``async`` on the ASGI side;
* ``sync_hooks``: no-op plain-function hooks on the ASGI side (a worker-thread hop each, by
  design; on the WSGI side that is ``hooks``);
* ``policy``: the rules read from a JSON file (``config_path``) re-read every second
  (``policy_refresh=1``), so re-reads happen while the values are taken.

Each configuration's benchmarks have the same names (``repeated/<contender>``, as in
``benchmarks.inprocess``), so pyperf's own comparison sets them side by side::

    python -m benchmarks.features -o off.json
    python -m benchmarks.features --features audit -o audit.json
    python -m pyperf compare_to off.json audit.json --table

``off`` also runs on the commit before policy reload, audit hooks and the provider modes
(``52e63f6``): copy ``common.py``, ``harness.py`` and this file into its ``benchmarks/`` and
run from there (benchmarks/README.md gives the commands), then compare the two ``off`` suites.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from typing import Any

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
from cognito_auth_middleware.exceptions import AuthenticationError

CONFIGURATIONS = ("off", "audit", "hooks", "sync_hooks", "policy")
# Every configuration runs all three, so that compare_to (which keeps only the benchmarks every
# file has) shows them all. Hooks and the audit log are the middlewares': for them the engine
# row is a control, as is the WSGI row of sync_hooks (the same hooks as "hooks" there).
CONTENDERS = ("engine", "asgi_middleware", "wsgi_middleware")
POLICY_REFRESH = 1.0  # seconds: re-reads happen during the timing, not only a due check


async def _noop_async(_: object, __: object) -> None:
    return None


def _noop(_: object, __: object) -> None:
    return None


def _drop_audit_events() -> None:
    # Imported here: the module does not exist at 52e63f6, where only "off" runs.
    from cognito_auth_middleware.audit import AUDIT_LOGGER

    audit = logging.getLogger(AUDIT_LOGGER)
    audit.setLevel(logging.INFO)
    audit.addHandler(logging.NullHandler())
    audit.propagate = False


def _policy_file() -> str:
    """A policy admitting the benchmark's user (group ``staff``), removed when the worker ends."""
    handle, path = tempfile.mkstemp(prefix="bench-policy-", suffix=".json")
    with os.fdopen(handle, "w") as file:
        json.dump({"allowed_groups": ["staff"]}, file)
    atexit.register(os.remove, path)
    return path


def options(features: str, contender: str) -> dict[str, Any]:
    """The keywords that turn ``features`` on for ``contender`` (none for ``off``)."""
    if features == "audit":
        _drop_audit_events()
        return {"audit_log": True}
    if features in ("hooks", "sync_hooks") and contender != "engine":  # a Verifier has none
        asgi_async = features == "hooks" and contender.startswith("asgi_")
        hook = _noop_async if asgi_async else _noop
        return {"on_authenticated": hook, "on_refused": hook}
    if features == "policy":
        return {"config_path": _policy_file(), "policy_refresh": POLICY_REFRESH}
    return {}


def build(found: Material, features: str, contender: str) -> Cell:
    """The repeated pair through ``contender`` with ``features`` on."""
    pairs, settings = found.pairs("repeated"), {**found.settings, **options(features, contender)}
    if contender == "engine":
        timer = sync_timer(Verifier(**settings).authenticate)
        return Cell(pairs, lambda p: (p.oidc, p.access, p.identity), timer, (AuthenticationError,))
    if contender == "asgi_middleware":
        timer = asgi_timer(
            asyncio.new_event_loop(), CognitoAuthMiddleware(starlette_app(), **settings)
        )
        return Cell(pairs, asgi_headers, timer, (Refused,))
    if contender == "wsgi_middleware":
        timer = wsgi_timer(CognitoAuthWSGIMiddleware(hello_wsgi, **settings))
        return Cell(pairs, environ_headers, timer, (Refused,))
    raise ValueError(f"unknown contender {contender!r}")


def main() -> int:
    runner = make_runner(
        "benchmarks.features", __doc__.splitlines()[0] if __doc__ else "", passed=["features"]
    )
    runner.argparser.add_argument(
        "--features", choices=CONFIGURATIONS, default="off", help="the configuration to measure"
    )
    args = runner.parse_args()
    with contextlib.ExitStack() as stack:
        found = material(runner, stack, pool=0, extra={"features": args.features})
        for contender in CONTENDERS:
            name = f"repeated/{contender}"
            build_cell: Callable[[], Cell] = partial(build, found, args.features, contender)
            runner.bench_time_func(name, Timed(name, build_cell, found.base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
