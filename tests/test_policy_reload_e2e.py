"""Live reload end to end: real servers, the real clock, a policy file changed on disk.

uvicorn (defaults, lifespan ``auto``) with the ASGI middleware and Werkzeug's threaded server
with the WSGI middleware, each configured from the environment only, as deployed. The policy is
re-read every ``REFRESH`` seconds; a named pipe stands in for a source that is slow to answer.
The bounds asserted are loose (this is no benchmark): they tell "did not wait for the re-read"
from "waited", and "applied at the next interval" from "never applied".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cognito_auth_middleware import CognitoAuthMiddleware, CognitoAuthWSGIMiddleware, get_user
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from tests.servers import serve, serve_wsgi
from tests.test_policy_file import piped, write, write_fifo

REFRESH = 0.2


def asgi_app() -> Any:
    def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.user.sub)

    app = Starlette(routes=[Route("/", hello)])
    app.add_middleware(CognitoAuthMiddleware)
    return app


def wsgi_app() -> Any:
    app = Flask(__name__)

    @app.get("/")
    def hello() -> str:
        user = get_user(flask_request.environ)
        return user.sub if user else "?"

    app.wsgi_app = CognitoAuthWSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


@contextmanager
def run_asgi() -> Iterator[str]:
    with serve(asgi_app()) as address:
        yield address


@contextmanager
def run_wsgi() -> Iterator[str]:
    with serve_wsgi(wsgi_app()) as url:
        yield url.removeprefix("http://")


SERVERS: dict[str, Callable[[], AbstractContextManager[str]]] = {"asgi": run_asgi, "wsgi": run_wsgi}


@pytest.fixture
def environment(key_server: KeyServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """COGNITO_AUTH_* only: the key server, a policy file, and a fast refresh."""
    for name, value in key_server.settings().items():
        monkeypatch.setenv(f"COGNITO_AUTH_{name.upper()}", str(value))
    path = tmp_path / "auth-config.json"
    monkeypatch.setenv("COGNITO_AUTH_CONFIG_PATH", str(path))
    monkeypatch.setenv("COGNITO_AUTH_POLICY_REFRESH", str(REFRESH))
    return path


def until_status(http: httpx.Client, headers: dict[str, str], status: int) -> float:
    """Poll until the answer has ``status``; the seconds it took."""
    started = time.monotonic()
    while http.get("/", headers=headers).status_code != status:
        assert time.monotonic() - started < 10, f"never answered {status}"
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.mark.parametrize("server", list(SERVERS))
def test_a_change_on_disk_applies_within_the_refresh(
    environment: Path, idp: FakeIdentityProvider, server: str
) -> None:
    write(environment, {"allowed_groups": ["staff"]})
    staff = idp.headers(groups=["staff"])
    with SERVERS[server]() as address, httpx.Client(base_url=f"http://{address}") as http:
        assert http.get("/", headers=staff).status_code == 200
        write(environment, {"allowed_groups": ["finance"]})
        removed = until_status(http, staff, 403)
        write(environment, {"allowed_groups": ["staff"]})
        added = until_status(http, staff, 200)
    # One interval, plus the request that starts the re-read and the re-read itself.
    assert removed < REFRESH + 2
    assert added < REFRESH + 2


@pytest.mark.parametrize("server", list(SERVERS))
def test_requests_during_a_slow_reload_are_served_at_once_by_the_old_policy(
    environment: Path, idp: FakeIdentityProvider, server: str
) -> None:
    _, feeder = piped(environment, {"allowed_groups": ["staff"]})
    staff = idp.headers(groups=["staff"])
    with SERVERS[server]() as address, httpx.Client(base_url=f"http://{address}") as http:
        try:
            assert http.get("/", headers=staff).status_code == 200  # start-up read the pipe
            feeder.join()
            time.sleep(REFRESH * 1.5)  # the policy is now due: the next request starts a re-read
            latencies = []
            for _ in range(20):
                started = time.perf_counter()
                assert http.get("/", headers=staff).status_code == 200  # the old policy
                latencies.append(time.perf_counter() - started)
        finally:
            write_fifo(environment, {"allowed_groups": ["finance"]})  # the re-read ends
        until_status(http, staff, 403)
    # Twenty requests while the re-read waited on the pipe, none of them waiting for it.
    assert max(latencies) < 0.5, latencies
