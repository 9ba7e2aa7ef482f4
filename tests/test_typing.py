"""Static types: ``SettingsOptions`` names every setting, and strict mypy refuses a misspelt one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

import cognito_auth_middleware
from cognito_auth_middleware import ConfigurationError, Settings
from cognito_auth_middleware.settings import SettingsOptions

ROOT = Path(cognito_auth_middleware.__file__).resolve().parent.parent
ARN = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188"


def test_options_are_the_settings_fields() -> None:
    # Declared twice (a TypedDict cannot be derived for a type checker), kept in step here.
    assert list(SettingsOptions.__annotations__) == [field.name for field in fields(Settings)]
    assert SettingsOptions.__required_keys__ == frozenset()


def test_every_option_is_a_setting_at_run_time() -> None:
    given: dict[str, Any] = dict.fromkeys(SettingsOptions.__optional_keys__)  # None: not given
    assert Settings.load(environ={}, **{**given, "region": "eu-west-2"}).region == "eu-west-2"
    untyped: dict[str, Any] = {"region": "eu-west-2", "alb_arnn": ARN}
    with pytest.raises(ConfigurationError, match="did you mean alb_arn"):
        Settings.load(environ={}, **untyped)


PRELUDE = f"""\
from typing import Unpack

from starlette.applications import Starlette

from cognito_auth_middleware import AsyncVerifier, CognitoAuthMiddleware, Verifier
from cognito_auth_middleware.settings import Settings, SettingsOptions

ARN = {ARN!r}


def build(**options: Unpack[SettingsOptions]) -> Settings:
    return Settings.load(environ={{}}, **options)


app = Starlette()

"""
# One call a line, and what strict mypy says about it (None: nothing).
CALLS = [
    pytest.param(
        'build(alb_arn=ARN, allowed_groups=["admins"], leeway=5, require_all=True)', None, id="ok"
    ),
    pytest.param('build(alb_arn=[ARN], client_id="a,b", dev_config=None)', None, id="ok-lists"),
    pytest.param('Settings.load(environ={}, region="eu-west-2")', None, id="ok-load"),
    pytest.param("Settings.for_middleware(alb_arn=ARN, key_fetch_timeout=2.5)", None, id="ok-mw"),
    pytest.param(
        "build(alb_arnn=ARN)",
        'Unexpected keyword argument "alb_arnn" for "build"; did you mean "alb_arn"?',
        id="typo",
    ),
    pytest.param(
        'Settings.load(alowed_groups="admins")',
        'Unexpected keyword argument "alowed_groups" for "load"',
        id="typo-load",
    ),
    pytest.param(
        "Settings.for_middleware(leway=5)",
        'Unexpected keyword argument "leway" for "for_middleware"',
        id="typo-mw",
    ),
    pytest.param("app.add_middleware(CognitoAuthMiddleware, alb_arn=ARN)", None, id="ok-asgi"),
    pytest.param(
        "app.add_middleware(CognitoAuthMiddleware, alb_arnn=ARN)",
        'Unexpected keyword argument "alb_arnn" for "add_middleware"',
        id="typo-add-middleware",
    ),
    pytest.param(
        "CognitoAuthMiddleware(app, exclude_path=['/health'])",
        'Unexpected keyword argument "exclude_path" for "CognitoAuthMiddleware"',
        id="typo-asgi",
    ),
    pytest.param(
        "Verifier(user_pool=ARN)",
        'Unexpected keyword argument "user_pool" for "Verifier"',
        id="typo-verifier",
    ),
    pytest.param(
        "AsyncVerifier(allowed_group=['admins'])",
        'Unexpected keyword argument "allowed_group" for "AsyncVerifier"',
        id="typo-async-verifier",
    ),
    pytest.param(
        'build(require_all="yes")',
        'Argument "require_all" to "build" has incompatible type "str"; expected "bool | None"',
        id="wrong-type",
    ),
]


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[int, list[str]]:
    """Strict mypy's errors on a file of all ``CALLS``, by line, from one run."""
    pytest.importorskip("mypy")
    folder = tmp_path_factory.mktemp("typing")
    snippet = folder / "snippet.py"
    snippet.write_text(PRELUDE + "".join(f"{call.values[0]}\n" for call in CALLS))
    (folder / "mypy.ini").write_text("[mypy]\n")  # not the project's configuration
    result = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent"),
            *("--config-file", "mypy.ini", "--cache-dir", "cache", "--no-pretty", snippet.name),
        ],
        cwd=folder,
        env={**os.environ, "MYPYPATH": str(ROOT)},  # the package under test, not an install
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    errors: dict[int, list[str]] = {}
    for line in result.stdout.splitlines():
        if found := re.fullmatch(r"snippet\.py:(\d+): error: (.*)", line):
            errors.setdefault(int(found[1]) - PRELUDE.count("\n"), []).append(found[2])
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy itself failed
    assert not [line for line in errors if line < 1], result.stdout  # the prelude is clean
    return errors


@pytest.mark.parametrize(("call", "expected"), CALLS)
def test_strict_mypy_checks_settings_keywords(
    mypy_errors: dict[int, list[str]], call: str, expected: str | None
) -> None:
    line = [param.values[0] for param in CALLS].index(call) + 1
    messages = mypy_errors.get(line, [])
    if expected is None:
        assert messages == []
    else:
        assert any(message.startswith(expected) for message in messages), messages
