"""Live policy reload under uvicorn: how soon a change applies, and what a reload costs a request.

Run: ``.venv/bin/python -m benchmarks.policy_reload [--refresh S] [--trials N]``.

A protected Starlette app under uvicorn (defaults), configured from the environment with a
policy file re-read every ``--refresh`` seconds, answers one client on loopback:

- *apply delay*: the file is changed to remove the signed-in user, and the client polls every
  5 ms until it is refused; the seconds from the change to the first 403, per trial;
- *latency during a reload*: the policy file is a named pipe, so the re-read that a due request
  starts blocks until the benchmark writes to it; the latency of 200 requests served meanwhile,
  against 200 served with no reload running.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cognito_auth_middleware import CognitoAuthMiddleware
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from tests.servers import serve


def _app() -> Starlette:
    def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.user.sub)

    app = Starlette(routes=[Route("/", hello)])
    app.add_middleware(CognitoAuthMiddleware)
    return app


def _write(path: Path, groups: list[str]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"allowed_groups": groups}))
    temporary.replace(path)


def _feed(pipe: Path, groups: list[str]) -> None:
    with open(pipe, "w") as handle:
        handle.write(json.dumps({"allowed_groups": groups}))


def _latencies(http: httpx.Client, headers: dict[str, str], count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        if http.get("/", headers=headers).status_code != 200:
            raise RuntimeError("refused while measuring")
        times.append(time.perf_counter() - started)
    return times


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return f"median {statistics.median(values) * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refresh", type=float, default=1.0, help="policy_refresh, seconds")
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    idp = FakeIdentityProvider()
    staff = idp.headers(groups=["staff"], ttl=3600)
    with KeyServer(idp) as keys, tempfile.TemporaryDirectory() as folder:
        for name, value in keys.settings().items():
            os.environ[f"COGNITO_AUTH_{name.upper()}"] = str(value)
        os.environ["COGNITO_AUTH_POLICY_REFRESH"] = str(args.refresh)

        policy = Path(folder) / "auth-config.json"
        os.environ["COGNITO_AUTH_CONFIG_PATH"] = str(policy)
        _write(policy, ["staff"])
        delays = []
        with serve(_app()) as address, httpx.Client(base_url=f"http://{address}") as http:
            for trial in range(args.trials):
                groups = ["finance"] if trial % 2 == 0 else ["staff"]
                expected = 403 if trial % 2 == 0 else 200
                time.sleep(args.refresh * (0.3 + 0.07 * trial))  # changes land at varied phases
                _write(policy, groups)
                changed = time.monotonic()
                while http.get("/", headers=staff).status_code != expected:
                    time.sleep(0.005)
                delays.append(time.monotonic() - changed)

        pipe = Path(folder) / "auth-config.fifo"
        os.mkfifo(pipe)
        os.environ["COGNITO_AUTH_CONFIG_PATH"] = str(pipe)
        feeder = threading.Thread(target=_feed, args=(pipe, ["staff"]))
        feeder.start()
        with serve(_app()) as address, httpx.Client(base_url=f"http://{address}") as http:
            feeder.join()
            quiet = _latencies(http, staff, 200)
            time.sleep(args.refresh * 1.2)  # due: the next request starts a re-read that blocks
            try:
                during = _latencies(http, staff, 200)
            finally:
                _feed(pipe, ["staff"])

    print(f"policy_refresh {args.refresh:g} s, {args.trials} changes")
    print(
        f"apply delay: median {statistics.median(delays):.3f} s, max {max(delays):.3f} s "
        f"(bound: policy_refresh + one re-read)"
    )
    print(f"request latency, no reload running: {_ms(quiet)}")
    print(f"request latency, reload blocked on its source: {_ms(during)}")


if __name__ == "__main__":
    main()
