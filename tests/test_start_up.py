"""Start-up: configuration that cannot be honoured stops the app, loudly, however it is served.

Every constructor refuses keywords it would drop and environment variables no setting reads.
The last tests run a FastAPI app exactly as users do (``uvicorn app:app``, lifespan ``auto``)
in a real uvicorn process, and with ``--lifespan on``, to check what the README says happens.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from cognito_auth_middleware import (
    AsyncVerifier,
    CognitoAuthMiddleware,
    CognitoAuthWSGIMiddleware,
    ConfigurationError,
    Settings,
    Verifier,
)
from cognito_auth_middleware.integrations import fastapi as fastapi_integration
from cognito_auth_middleware.integrations import flask as flask_integration
from cognito_auth_middleware.testing import KeyServer


def _wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b""]


def _asgi(**kwargs: Any) -> object:
    return CognitoAuthMiddleware(Starlette(), **kwargs)


def _wsgi(**kwargs: Any) -> object:
    return CognitoAuthWSGIMiddleware(_wsgi_app, **kwargs)


CONSTRUCTORS: list[Any] = [
    pytest.param(_asgi, AsyncVerifier, id="asgi-middleware"),
    pytest.param(_wsgi, Verifier, id="wsgi-middleware"),
    pytest.param(fastapi_integration.CognitoAuth, AsyncVerifier, id="fastapi-cognito-auth"),
    pytest.param(flask_integration.CognitoAuth, Verifier, id="flask-cognito-auth"),
]


@pytest.mark.parametrize(("build", "kind"), CONSTRUCTORS)
@pytest.mark.parametrize("given", ["settings", "verifier"])
def test_keywords_next_to_ready_settings_are_refused(
    build: Callable[..., object], kind: type[Verifier | AsyncVerifier], given: str, options: Any
) -> None:
    # Observed before: the keyword was dropped and a user outside the group got 200.
    settings = Settings.load(environ={}, **options)
    ready = settings if given == "settings" else kind(settings)
    with pytest.raises(ConfigurationError, match="allowed_groups cannot be applied"):
        build(**{given: ready}, allowed_groups=["admins"])
    with pytest.raises(ConfigurationError, match="alowed_groups cannot be applied"):
        build(**{given: ready}, alowed_groups=["admins"])  # a typo is no excuse either
    build(**{given: ready})  # alone, accepted


@pytest.mark.parametrize(("build", "kind"), CONSTRUCTORS)
def test_settings_and_verifier_together_are_refused(
    build: Callable[..., object], kind: type[Verifier | AsyncVerifier], options: Any
) -> None:
    settings = Settings.load(environ={}, **options)
    with pytest.raises(ConfigurationError, match="not both"):
        build(settings=settings, verifier=kind(settings))


@pytest.mark.parametrize("kind", [Verifier, AsyncVerifier])
def test_verifiers_refuse_settings_and_keywords_together(
    kind: type[Verifier | AsyncVerifier], options: Any
) -> None:
    with pytest.raises(ConfigurationError, match="leeway cannot be applied"):
        kind(Settings.load(environ={}, **options), leeway=0)


@pytest.mark.parametrize(("build", "kind"), CONSTRUCTORS)
def test_a_misspelt_environment_variable_stops_every_constructor(
    build: Callable[..., object],
    kind: type[Verifier | AsyncVerifier],
    options: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COGNITO_AUTH_ALLOWED_GROUP", "admins")  # the app would serve everyone
    with pytest.raises(ConfigurationError, match="did you mean COGNITO_AUTH_ALLOWED_GROUPS"):
        build(**options)


def test_a_configuration_error_is_logged_once_at_error(
    caplog: pytest.LogCaptureFixture, options: Any
) -> None:
    # Once per process and message: a value of its own keeps other tests' reports out.
    wrong = f"soon-{uuid.uuid4()}"
    for _ in range(3):
        with pytest.raises(ConfigurationError):
            # A wrong type on purpose: untyped callers (and the environment) reach the check.
            CognitoAuthMiddleware(Starlette(), **options, leeway=wrong)  # type: ignore[arg-type]
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert f"leeway must be a number of seconds, got '{wrong}'" in errors[0].getMessage()


# --- served exactly as the README shows -------------------------------------------------

APP = """
from fastapi import FastAPI
from cognito_auth_middleware import CognitoAuthMiddleware

app = FastAPI()
app.add_middleware(CognitoAuthMiddleware)


@app.get("/")
def home() -> str:
    return "home"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGNITO_AUTH_")}
    return {**env, **settings, "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def _uvicorn(app_dir: Path, port: int, env: dict[str, str], *flags: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port), *flags]
    return subprocess.Popen(
        command, cwd=app_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture
def running(app_dir: Path) -> Iterator[Callable[..., tuple[int, subprocess.Popen[str]]]]:
    started: list[subprocess.Popen[str]] = []

    def start(env: dict[str, str], *flags: str) -> tuple[int, subprocess.Popen[str]]:
        port = _free_port()
        process = _uvicorn(app_dir, port, env, *flags)
        started.append(process)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        return port, process

    yield start
    for process in started:
        process.kill()
        process.communicate(timeout=10)  # also closes the pipe


def test_default_uvicorn_serves_500_and_logs_the_setting_once(
    running: Callable[..., tuple[int, subprocess.Popen[str]]],
) -> None:
    port, process = running(_environment())
    answers = [httpx.get(f"http://127.0.0.1:{port}/", timeout=5) for _ in range(3)]
    process.terminate()
    output, _ = process.communicate(timeout=10)
    assert [answer.status_code for answer in answers] == [500, 500, 500]
    assert all(answer.text == "Internal Server Error" for answer in answers)  # no traceback
    lines = [line for line in output.splitlines() if "cognito-auth-middleware cannot start" in line]
    assert len(lines) == 1, output
    assert "COGNITO_AUTH_ALB_ARN" in lines[0]
    assert "lifespan' protocol appears unsupported" in output  # why uvicorn served on


def test_lifespan_on_refuses_to_start(
    running: Callable[..., tuple[int, subprocess.Popen[str]]],
) -> None:
    _, process = running(_environment(), "--lifespan", "on")
    output, _ = process.communicate(timeout=20)
    assert process.returncode != 0
    assert "COGNITO_AUTH_ALB_ARN" in output
    assert "Application startup failed" in output


def test_a_configured_app_serves_under_default_uvicorn(
    running: Callable[..., tuple[int, subprocess.Popen[str]]], key_server: KeyServer
) -> None:
    env = _environment(
        **{f"COGNITO_AUTH_{k.upper()}": str(v) for k, v in key_server.settings().items()}
    )
    port, process = running(env)
    refused = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    assert refused.status_code == 401
    assert refused.json()["error"] == "missing_token"
    assert process.poll() is None
