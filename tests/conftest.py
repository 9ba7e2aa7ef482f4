"""Shared fixtures: a fake identity provider with real keys, served over real HTTP on loopback."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from cognito_auth_middleware.settings import ENV_PREFIX
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

# The suite's default keeps CI quick; `./dev fuzz` selects the long profile.
settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("fuzz", max_examples=20_000, deadline=None)
settings.load_profile("default")


@pytest.fixture(scope="session", autouse=True)
def _clean_environment() -> Iterator[None]:
    """Settings fall back to COGNITO_AUTH_* variables: keep the developer's own out of tests.

    Session-wide, so module- and session-scoped fixtures (and the servers and subprocesses
    they start, which inherit ``os.environ``) see a clean environment too. A test may still
    set a variable with the ``monkeypatch`` fixture, which restores this clean state after it.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(ENV_PREFIX):
                patch.delenv(name)
        yield


@pytest.fixture(scope="session")
def idp() -> FakeIdentityProvider:
    """One set of real keys for the session (RSA key generation is slow)."""
    return FakeIdentityProvider()


@pytest.fixture
def key_server(idp: FakeIdentityProvider) -> Iterator[KeyServer]:
    """A fresh key server per test, so request counts start at zero."""
    with KeyServer(idp) as server:
        yield server


@pytest.fixture
def options(key_server: KeyServer) -> dict[str, Any]:
    """Settings keywords trusting ``idp`` and fetching from ``key_server``."""
    return key_server.settings()


class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """An AWS-compatible API server (moto's) on 127.0.0.1, for the whole session."""
    from tests.aws import moto_server

    with moto_server() as url:
        yield url


@pytest.fixture
def aws(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3's standard environment pointed at the loopback AWS server; its URL."""
    from tests.aws import point_boto3_at

    point_boto3_at(aws_endpoint, monkeypatch)
    return aws_endpoint


@pytest.fixture
def only_live_policies() -> None:
    """For tests of ``reload_policy()``, which re-reads every policy source of the process.

    Verifiers that earlier tests dropped (some holding sources those tests broke on purpose)
    may live on until the garbage collector runs; collect them, so that only this test's
    sources are re-read.
    """
    gc.collect()
