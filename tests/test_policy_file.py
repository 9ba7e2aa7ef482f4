"""The policy from a JSON file (``config_path``): loaded at start-up, reloaded live, never open.

Real files on disk, changed during the test; real tokens verified against keys served on
loopback. The verifier's clock is injected, so "policy_refresh seconds later" needs no sleep;
only the background re-read itself is waited for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cognito_auth_middleware import (
    AccessDeniedError,
    AsyncVerifier,
    CognitoAuthMiddleware,
    CognitoAuthWSGIMiddleware,
    ConfigurationError,
    User,
    Verifier,
    reload_policy,
)
from cognito_auth_middleware.testing import FakeIdentityProvider
from tests.conftest import Clock

REFRESH = 60.0


def write(path: Path, document: object) -> None:
    """Replace the file at once, as an editor or a deployment does (no half-written reads)."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(document if isinstance(document, str) else json.dumps(document))
    temporary.replace(path)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.005)


def admitted(verifier: Verifier, headers: dict[str, str]) -> User | None:
    try:
        return verifier.authenticate(
            headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"]
        )
    except AccessDeniedError:
        return None


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "auth-config.json"
    write(path, {"allowed_groups": ["staff"], "admin_users": ["boss@example.com"]})
    return path


@pytest.fixture
def verifier(options: dict[str, Any], policy_file: Path, clock: Clock) -> Verifier:
    return Verifier(clock=clock, config_path=str(policy_file), policy_refresh=REFRESH, **options)


def reloaded(verifier: Verifier, clock: Clock, headers: dict[str, str]) -> None:
    """Move past policy_refresh, let a request start the re-read, and wait for it to end."""
    before = verifier.policies.due_at
    clock.now += REFRESH + 1
    admitted(verifier, headers)  # decided by the policy in force; starts the re-read
    wait_for(lambda: verifier.policies.due_at > before)


def test_the_file_decides_who_is_admitted_and_who_is_admin(
    verifier: Verifier, idp: FakeIdentityProvider
) -> None:
    assert admitted(verifier, idp.headers(groups=["staff"])) is not None
    assert admitted(verifier, idp.headers(groups=["other"])) is None
    boss = admitted(verifier, idp.headers(sub="boss", email="Boss@Example.com"))
    assert boss is not None
    assert boss.is_admin is True


def test_a_reload_that_removes_a_user_refuses_their_next_request(
    verifier: Verifier, idp: FakeIdentityProvider, policy_file: Path, clock: Clock
) -> None:
    staff = idp.headers(groups=["staff"])
    assert admitted(verifier, staff) is not None  # now cached with the pair
    write(policy_file, {"allowed_groups": ["finance"]})
    assert admitted(verifier, staff) is not None  # not due yet: the file is not read again
    reloaded(verifier, clock, staff)
    assert admitted(verifier, staff) is None
    assert admitted(verifier, idp.headers(groups=["finance"])) is not None


def test_a_reload_that_adds_a_user_admits_them(
    verifier: Verifier, idp: FakeIdentityProvider, policy_file: Path, clock: Clock
) -> None:
    finance = idp.headers(groups=["finance"])
    assert admitted(verifier, finance) is None
    write(policy_file, {"allowed_groups": ["staff", "finance"]})
    reloaded(verifier, clock, finance)
    assert admitted(verifier, finance) is not None


def test_an_admin_removed_by_a_reload_is_no_longer_marked(
    verifier: Verifier, idp: FakeIdentityProvider, policy_file: Path, clock: Clock
) -> None:
    boss = idp.headers(sub="boss", email="boss@example.com", groups=["staff"])
    user = admitted(verifier, boss)
    assert user is not None
    assert user.is_admin
    write(policy_file, {"allowed_groups": ["staff"]})
    reloaded(verifier, clock, boss)
    user = admitted(verifier, boss)
    assert user is not None
    assert not user.is_admin


def test_a_session_resumed_after_the_refresh_starts_the_reread_and_is_decided_by_it(
    options: dict[str, Any], idp: FakeIdentityProvider, tmp_path: Path, clock: Clock
) -> None:
    """What a Streamlit rerun does: no headers verified, yet the policy stays current."""
    fifo, feed = piped(tmp_path / "auth-config.fifo", {"allowed_groups": ["staff"]})
    verifier = Verifier(clock=clock, config_path=str(fifo), policy_refresh=REFRESH, **options)
    feed.join()
    user = admitted(verifier, idp.headers(groups=["staff"]))
    assert user is not None
    clock.now += REFRESH + 1
    try:
        # Starts the re-read, which blocks on the pipe: decided by the policy in force, at once.
        assert verifier.resume(user, float("inf")) == user
        assert any(t.name == "policy reload" for t in threading.enumerate())
    finally:
        write_fifo(fifo, {"allowed_groups": ["finance"]})

    def refused() -> bool:
        try:
            verifier.resume(user, float("inf"))
        except AccessDeniedError:
            return True
        return False

    wait_for(refused)


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param({"allowed_group": ["everyone"]}, id="unknown-key"),
        pytest.param({}, id="no-rule"),
        pytest.param({"allowed_users": ["ann@"]}, id="bad-email"),
        pytest.param(None, id="deleted"),
    ],
)
def test_a_broken_reload_keeps_the_last_good_policy_and_warns(
    verifier: Verifier,
    idp: FakeIdentityProvider,
    policy_file: Path,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    broken: object,
) -> None:
    staff, other = idp.headers(groups=["staff"]), idp.headers(groups=["other"])
    if broken is None:
        policy_file.unlink()
    else:
        write(policy_file, broken)
    with caplog.at_level(logging.WARNING, logger="cognito_auth_middleware"):
        reloaded(verifier, clock, staff)
    assert admitted(verifier, staff) is not None
    assert admitted(verifier, other) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(policy_file) in warnings[0].getMessage()
    assert "the last good policy stays in force" in warnings[0].getMessage()
    # It is tried again one policy_refresh later, and a fixed file then applies.
    write(policy_file, {"allowed_groups": ["other"]})
    reloaded(verifier, clock, staff)
    assert admitted(verifier, other) is not None
    assert admitted(verifier, staff) is None


def test_an_unchanged_file_keeps_the_policy_object_and_its_cached_decisions(
    verifier: Verifier, idp: FakeIdentityProvider, clock: Clock
) -> None:
    staff = idp.headers(groups=["staff"])
    first = admitted(verifier, staff)
    policy = verifier.engine.policy
    reloaded(verifier, clock, staff)
    assert verifier.engine.policy is policy
    assert admitted(verifier, staff) is first


@pytest.mark.usefixtures("only_live_policies")
def test_reload_policy_rereads_at_once(
    verifier: Verifier, idp: FakeIdentityProvider, policy_file: Path
) -> None:
    staff = idp.headers(groups=["staff"])
    assert admitted(verifier, staff) is not None
    write(policy_file, {"allowed_groups": ["finance"]})
    reload_policy()
    assert admitted(verifier, staff) is None


@pytest.mark.usefixtures("only_live_policies")
def test_reload_policy_raises_the_reason_and_keeps_the_policy(
    verifier: Verifier, idp: FakeIdentityProvider, policy_file: Path
) -> None:
    write(policy_file, "[]")
    with pytest.raises(ConfigurationError, match="expected a JSON object"):
        reload_policy()
    assert admitted(verifier, idp.headers(groups=["staff"])) is not None


def test_policy_refresh_zero_reads_the_file_once(
    options: dict[str, Any],
    idp: FakeIdentityProvider,
    policy_file: Path,
    clock: Clock,
) -> None:
    verifier = Verifier(clock=clock, config_path=str(policy_file), policy_refresh=0, **options)
    write(policy_file, {"allowed_groups": ["finance"]})
    clock.now += 10 * 86400
    assert admitted(verifier, idp.headers(groups=["staff"], now=clock.now)) is not None
    assert verifier.policies.due_at == float("inf")
    assert not any(t.name == "policy reload" for t in threading.enumerate())


def test_a_request_during_a_reload_is_decided_by_the_policy_in_force(
    options: dict[str, Any], idp: FakeIdentityProvider, tmp_path: Path, clock: Clock
) -> None:
    fifo, feed = piped(tmp_path / "auth-config.fifo", {"allowed_groups": ["staff"]})
    verifier = Verifier(clock=clock, config_path=str(fifo), policy_refresh=REFRESH, **options)
    feed.join()
    staff = idp.headers(groups=["staff"])
    clock.now += REFRESH + 1
    try:
        started = time.perf_counter()
        assert admitted(verifier, staff) is not None  # starts the re-read, which blocks
        assert admitted(verifier, staff) is not None
        during = time.perf_counter() - started
        assert any(t.name == "policy reload" for t in threading.enumerate())
    finally:
        write_fifo(fifo, {"allowed_groups": ["finance"]})
    wait_for(lambda: admitted(verifier, staff) is None)
    # Two requests while the re-read waited on the pipe: neither waited for it.
    assert during < 0.5


def write_fifo(fifo: Path, document: object) -> None:
    with open(fifo, "w") as pipe:
        pipe.write(json.dumps(document))


def piped(fifo: Path, first: object) -> tuple[Path, threading.Thread]:
    """A named pipe as the policy file: a real file whose read blocks until someone writes,
    the slowest of sources. The returned thread feeds ``first`` to the start-up read."""
    os.mkfifo(fifo)
    feed = threading.Thread(target=write_fifo, args=(fifo, first))
    feed.start()
    return fifo, feed


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(None, "FileNotFoundError", id="missing"),
        pytest.param("{", "not JSON", id="not-json"),
        pytest.param("{}", "it names no rule", id="no-rule"),
        pytest.param('{"allowed_groups": ["a"], "requre_all": true}', "did you mean", id="typo"),
    ],
)
@pytest.mark.parametrize("shell", ["verifier", "asgi", "wsgi", "User"])
def test_a_policy_that_cannot_be_loaded_stops_the_app_naming_the_file(
    options: dict[str, Any],
    tmp_path: Path,
    content: str | None,
    reason: str,
    shell: str,
    monkeypatch: pytest.MonkeyPatch,
    idp: FakeIdentityProvider,
) -> None:
    path = tmp_path / "auth.json"
    if content is not None:
        path.write_text(content)

    def build() -> object:
        if shell == "verifier":
            return Verifier(config_path=str(path), **options)
        if shell == "asgi":
            return CognitoAuthMiddleware(lambda *_: None, config_path=str(path), **options)  # type: ignore[arg-type]
        if shell == "wsgi":
            return CognitoAuthWSGIMiddleware(lambda *_: [], config_path=str(path), **options)
        # User(...) reads the environment only, as the library it replaces did.
        for name, value in options.items():
            monkeypatch.setenv(f"COGNITO_AUTH_{name.upper()}", str(value))
        monkeypatch.setenv("COGNITO_AUTH_CONFIG_PATH", str(path))
        headers = idp.headers()
        return User(headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"])

    with pytest.raises(ConfigurationError) as refused:
        build()
    assert str(path) in str(refused.value)
    assert reason in str(refused.value)


def test_the_async_verifier_reloads_in_a_task_without_blocking_the_loop(
    options: dict[str, Any], idp: FakeIdentityProvider, tmp_path: Path, clock: Clock
) -> None:
    fifo, feed = piped(tmp_path / "auth-config.fifo", {"allowed_groups": ["staff"]})
    verifier = AsyncVerifier(clock=clock, config_path=str(fifo), policy_refresh=REFRESH, **options)
    feed.join()
    staff = idp.headers(groups=["staff"])
    oidc, access = staff["x-amzn-oidc-data"], staff["x-amzn-oidc-accesstoken"]

    async def scenario() -> float:
        await verifier.authenticate(oidc, access)
        clock.now += REFRESH + 1
        started = time.perf_counter()
        await verifier.authenticate(oidc, access)  # starts the re-read task
        # The loop keeps running other work while the re-read waits on the pipe.
        ticks = 0
        for _ in range(20):
            await asyncio.sleep(0.005)
            ticks += 1
        await verifier.authenticate(oidc, access)
        during = time.perf_counter() - started
        assert ticks == 20
        await asyncio.to_thread(write_fifo, fifo, {"allowed_groups": ["finance"]})
        deadline = time.monotonic() + 5
        while True:
            try:
                await verifier.authenticate(oidc, access)
            except AccessDeniedError:
                return during
            assert time.monotonic() < deadline, "the reload did not apply"
            await asyncio.sleep(0.005)

    assert asyncio.run(scenario()) < 0.5
