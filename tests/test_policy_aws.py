"""The policy from AWS: Secrets Manager (``secret_name``) and SSM (``parameter_name``).

boto3, as deployed, calls an AWS-compatible API server that the tests start on 127.0.0.1
(moto's standalone server, see ``tests/aws.py``), reached through boto3's standard
``AWS_ENDPOINT_URL``; nothing is patched. Tokens are real and verified against keys served on
loopback; the verifier's clock is injected, so a refresh needs no sleep.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cognito_auth_middleware import (
    AccessDeniedError,
    CognitoAuthMiddleware,
    ConfigurationError,
    User,
    Verifier,
    reload_policy,
)
from cognito_auth_middleware.settings import SettingsOptions
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from tests.aws import REGION, client
from tests.conftest import Clock
from tests.servers import bind_loopback, serve
from tests.test_policy_file import wait_for

REFRESH = 60.0
STAFF = {"allowed_groups": ["staff"], "admin_groups": ["ops"], "_comment": "who may use the app"}


class Store:
    """One way of holding the policy document in AWS: put it, change it, remove it."""

    def __init__(self, kind: str, endpoint: str, region: str = REGION) -> None:
        self.kind = kind
        self.name = f"/app-{uuid.uuid4().hex[:8]}/auth-config"
        service = "secretsmanager" if kind.startswith("secret") else "ssm"
        self._client = client(service, endpoint, region)

    @property
    def description(self) -> str:
        kind = "Secrets Manager secret" if self.kind.startswith("secret") else "SSM parameter"
        return f"{kind} {self.name!r}"

    @property
    def setting(self) -> SettingsOptions:
        if self.kind.startswith("secret"):
            return {"secret_name": self.name}
        return {"parameter_name": self.name}

    def put(self, document: object, *, first: bool = False) -> None:
        text = document if isinstance(document, str) else json.dumps(document)
        if self.kind == "secret":
            if first:
                self._client.create_secret(Name=self.name, SecretString=text)
            else:
                self._client.put_secret_value(SecretId=self.name, SecretString=text)
        elif self.kind == "secret-binary":
            if first:
                self._client.create_secret(Name=self.name, SecretBinary=text.encode())
            else:
                self._client.put_secret_value(SecretId=self.name, SecretBinary=text.encode())
        else:
            kind = "SecureString" if self.kind == "parameter-secure" else "String"
            self._client.put_parameter(Name=self.name, Value=text, Type=kind, Overwrite=not first)

    def remove(self) -> None:
        if self.kind.startswith("secret"):
            self._client.delete_secret(SecretId=self.name, ForceDeleteWithoutRecovery=True)
        else:
            self._client.delete_parameter(Name=self.name)


KINDS = ["secret", "secret-binary", "parameter", "parameter-secure"]


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, aws: str) -> Store:
    store = Store(request.param, aws)
    store.put(STAFF, first=True)
    return store


@pytest.fixture
def verifier(options: dict[str, Any], store: Store, clock: Clock) -> Iterator[Verifier]:
    verifier = Verifier(clock=clock, **store.setting, **{**options, "policy_refresh": REFRESH})
    yield verifier
    verifier.close()


def decision(verifier: Verifier, headers: dict[str, str]) -> str:
    try:
        user = verifier.authenticate(
            headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"]
        )
    except AccessDeniedError:
        return "refused"
    return "admin" if user.is_admin else "admitted"


def refresh(verifier: Verifier, clock: Clock, headers: dict[str, str]) -> None:
    """Move past policy_refresh; a request starts the re-read; wait until it has ended."""
    before = verifier.policies.due_at
    clock.now += REFRESH + 1
    decision(verifier, headers)
    wait_for(lambda: verifier.policies.due_at > before)


def test_the_document_in_aws_decides(verifier: Verifier, idp: FakeIdentityProvider) -> None:
    assert decision(verifier, idp.headers(groups=["staff"])) == "admitted"
    assert decision(verifier, idp.headers(groups=["ops"])) == "admin"
    assert decision(verifier, idp.headers(groups=["other"])) == "refused"


def test_a_change_in_aws_applies_after_the_refresh(
    verifier: Verifier, idp: FakeIdentityProvider, store: Store, clock: Clock
) -> None:
    staff, finance = idp.headers(groups=["staff"]), idp.headers(groups=["finance"])
    assert decision(verifier, staff) == "admitted"
    store.put({"allowed_groups": ["finance"]})
    assert decision(verifier, staff) == "admitted"  # not due yet
    refresh(verifier, clock, staff)
    assert decision(verifier, staff) == "refused"
    assert decision(verifier, finance) == "admitted"


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        pytest.param("invalid", "is invalid: not JSON", id="invalid-json"),
        pytest.param("no-rule", "it names no rule", id="no-rule"),
        pytest.param("removed", "NotFound", id="removed"),
    ],
)
def test_a_broken_document_in_aws_keeps_the_last_good_policy(
    verifier: Verifier,
    idp: FakeIdentityProvider,
    store: Store,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    breakage: str,
    reason: str,
) -> None:
    staff = idp.headers(groups=["staff"])
    if breakage == "removed":
        store.remove()
    else:
        store.put("{" if breakage == "invalid" else {"_comment": "emptied"})
    with caplog.at_level(logging.WARNING, logger="cognito_auth_middleware"):
        refresh(verifier, clock, staff)
    assert decision(verifier, staff) == "admitted"
    assert decision(verifier, idp.headers(groups=["other"])) == "refused"
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert store.name in warning
    assert reason in warning
    assert "the last good policy stays in force" in warning


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_document_stops_the_app_naming_it(
    options: dict[str, Any], aws: str, kind: str
) -> None:
    store = Store(kind, aws)  # never created
    with pytest.raises(ConfigurationError) as refused:
        Verifier(**store.setting, **options)
    message = str(refused.value)
    assert message.startswith("cannot read the authorisation policy from ")
    assert repr(store.name) in message
    assert ("ResourceNotFoundException" if kind.startswith("secret") else "ParameterNotFound") in (
        message
    )


@pytest.mark.parametrize("kind", KINDS)
def test_an_invalid_document_stops_the_app_naming_it(
    options: dict[str, Any], aws: str, kind: str
) -> None:
    store = Store(kind, aws)
    store.put({"allowed_groups": ["staff"], "allowed_user": ["ann@example.com"]}, first=True)
    with pytest.raises(ConfigurationError) as refused:
        Verifier(**store.setting, **options)
    assert str(refused.value).startswith(f"the authorisation policy in {store.description}")


def test_without_credentials_the_app_stops_naming_the_source(
    options: dict[str, Any], aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store("secret", aws)
    store.put(STAFF, first=True)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(ConfigurationError, match="NoCredentialsError") as refused:
        Verifier(**store.setting, **options)
    assert repr(store.name) in str(refused.value)


@pytest.mark.parametrize("kind", KINDS)
def test_the_region_comes_from_the_settings(
    options: dict[str, Any], aws: str, idp: FakeIdentityProvider, kind: str
) -> None:
    # boto3 has no region of its own here: the settings' (that of the pinned ALB) is used.
    here, elsewhere = Store(kind, aws), Store(kind, aws, region="us-east-1")
    elsewhere.name = here.name
    elsewhere.put({"allowed_groups": ["everyone"]}, first=True)
    with pytest.raises(ConfigurationError, match="NotFound"):
        Verifier(**here.setting, **options)
    here.put(STAFF, first=True)
    verifier = Verifier(**here.setting, **options)
    assert decision(verifier, idp.headers(groups=["staff"])) == "admitted"
    assert decision(verifier, idp.headers(groups=["everyone"])) == "refused"


def test_without_boto3_an_aws_source_is_refused_at_start_up(
    options: dict[str, Any], tmp_path: Any
) -> None:
    # A fresh interpreter in which boto3 cannot be imported, as without the aws extra.
    script = (
        "import sys; sys.modules['boto3'] = None\n"
        "from cognito_auth_middleware import Verifier, ConfigurationError\n"
        f"options = {options!r}\n"
        "try:\n"
        "    Verifier(secret_name='app/auth', **options)\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert "needs boto3: pip install 'cognito-auth-middleware[aws]'" in result.stdout


# --- end to end: uvicorn, configured from the environment only ---------------------------------


def whoami(request: Request) -> JSONResponse:
    user: User = request.state.user
    return JSONResponse({"sub": user.sub, "admin": user.is_admin})


@pytest.mark.usefixtures("only_live_policies")
def test_uvicorn_with_a_secret_from_the_environment(
    key_server: KeyServer,
    idp: FakeIdentityProvider,
    aws: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store("secret", aws)
    store.put(STAFF, first=True)
    for name, value in key_server.settings().items():
        monkeypatch.setenv(f"COGNITO_AUTH_{name.upper()}", str(value))
    monkeypatch.setenv("COGNITO_AUTH_SECRET_NAME", store.name)
    app = Starlette(routes=[Route("/", whoami)])
    app.add_middleware(CognitoAuthMiddleware)
    staff, ops = idp.headers(sub="staff", groups=["staff"]), idp.headers(sub="ops", groups=["ops"])
    with serve(app) as address, httpx.Client(base_url=f"http://{address}") as http:
        assert http.get("/", headers=staff).json() == {"sub": "staff", "admin": False}
        assert http.get("/", headers=ops).json() == {"sub": "ops", "admin": True}
        store.put({"allowed_groups": ["finance"]})
        reload_policy()
        assert http.get("/", headers=staff).status_code == 403
        assert http.get("/", headers=ops).status_code == 403


def test_uvicorn_does_not_start_when_the_secret_is_missing(
    key_server: KeyServer, aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in key_server.settings().items():
        monkeypatch.setenv(f"COGNITO_AUTH_{name.upper()}", str(value))
    monkeypatch.setenv("COGNITO_AUTH_SECRET_NAME", "no/such/secret")
    app = Starlette(routes=[Route("/", whoami)])
    app.add_middleware(CognitoAuthMiddleware)
    # Run in this thread, as `uvicorn --lifespan on` runs: start-up fails and uvicorn exits.
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="critical"))
    sock = bind_loopback()
    with sock, pytest.raises(SystemExit) as exited:
        server.run(sockets=[sock])
    assert exited.value.code == 3  # uvicorn's STARTUP_FAILURE
    assert not server.started
