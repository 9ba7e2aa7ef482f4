"""Dev mode: a mock user for header-less requests that are plainly local, and no others."""

from __future__ import annotations

import json
import logging
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import Client

from cognito_auth_middleware import (
    CognitoAuthMiddleware,
    CognitoAuthWSGIMiddleware,
    ConfigurationError,
    Settings,
    User,
    get_user,
)
from cognito_auth_middleware.core.dev_mode import is_loopback, local_client_environ
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from tests.servers import serve

LOCAL = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.7", 50000)
LOCAL_URL = "http://localhost:8000"  # the Host a local browser sends


async def whoami(request: Request) -> JSONResponse:
    user: User = request.state.user
    return JSONResponse({"sub": user.sub, "email": user.email, "groups": list(user.groups)})


def asgi_app(**options: Any) -> CognitoAuthMiddleware:
    return CognitoAuthMiddleware(Starlette(routes=[Route("/", whoami)]), **options)


@pytest.fixture
def dev_options(key_server: KeyServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)  # no stray dev-mock-user.json from the working directory
    return key_server.settings(alb_arn=None, dev_mode=True)


@pytest.mark.parametrize(
    ("client", "status"),
    [
        pytest.param(LOCAL, 200, id="ipv4-loopback"),
        pytest.param(("::1", 50000), 200, id="ipv6-loopback"),
        pytest.param(("127.9.9.9", 50000), 200, id="loopback-range"),
        pytest.param(REMOTE, 401, id="remote"),
        pytest.param(("10.0.0.5", 50000), 401, id="private-network"),
        pytest.param(("testclient", 50000), 401, id="not-an-address"),
    ],
)
def test_mock_user_only_for_loopback_clients(
    dev_options: dict[str, Any], client: tuple[str, int], status: int
) -> None:
    with TestClient(asgi_app(**dev_options), base_url=LOCAL_URL, client=client) as http:
        response = http.get("/")
    assert response.status_code == status
    if status == 200:
        assert response.json() == {
            "sub": User.create_mock().sub,
            "email": "dev@example.com",
            "groups": [],
        }
    else:
        assert response.json()["error"] == "missing_token"


def test_present_headers_are_still_verified(
    dev_options: dict[str, Any], idp: FakeIdentityProvider
) -> None:
    with TestClient(asgi_app(**dev_options), base_url=LOCAL_URL, client=LOCAL) as http:
        real = http.get("/", headers=idp.headers(sub="real-user", email="r@example.com"))
        tampered = idp.headers(sub="real-user")
        tampered["x-amzn-oidc-data"] = tampered["x-amzn-oidc-data"][:-8] + "AAAAAAA="
        forged = http.get("/", headers=tampered)
        half = http.get("/", headers={"x-amzn-oidc-data": idp.mint_alb_token()})
    assert real.json()["sub"] == "real-user"
    assert forged.status_code == 401  # never falls back to the mock user
    assert half.status_code == 401


def test_mock_user_from_file_and_from_named_config(
    dev_options: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dev-mock-user.json").write_text(
        json.dumps({"email": "ann@example.com", "sub": "ann", "groups": ["admins"]})
    )
    with TestClient(asgi_app(**dev_options), base_url=LOCAL_URL, client=LOCAL) as http:
        assert http.get("/").json() == {
            "sub": "ann",
            "email": "ann@example.com",
            "groups": ["admins"],
        }
    named = tmp_path / "other.json"
    named.write_text(json.dumps({"email": "bob@example.com", "sub": "bob"}))
    monkeypatch.setenv("COGNITO_AUTH_DEV_CONFIG", str(named))
    with TestClient(asgi_app(**dev_options), base_url=LOCAL_URL, client=LOCAL) as http:
        assert http.get("/").json()["sub"] == "bob"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "no file", id="missing"),
        pytest.param("{not json", "not readable JSON", id="not-json"),
        pytest.param("[1]", "JSON object", id="not-object"),
        pytest.param('{"colour": "blue"}', "unknown field", id="unknown-field"),
        pytest.param('{"groups": "admins"}', "groups", id="groups-string"),
        pytest.param('{"email": 5}', "email must be a string", id="email-number"),
        pytest.param('{"email_verified": "yes"}', "email_verified", id="verified-string"),
        pytest.param('{"sub": ""}', "sub must be", id="empty-sub"),
        pytest.param('{"iss": "x"}', "unknown field", id="claim-not-a-field"),
    ],
)
def test_bad_mock_user_config_fails_at_start_up(
    dev_options: dict[str, Any], tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "mock.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        asgi_app(**dev_options, dev_config=str(path))


def test_dev_mode_is_announced_loudly(
    dev_options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cognito_auth_middleware"):
        asgi_app(**dev_options)
    assert any("DEV MODE IS ON" in record.getMessage() for record in caplog.records)


def test_without_dev_mode_alb_arn_is_still_required(key_server: KeyServer) -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN"):
        asgi_app(**key_server.settings(alb_arn=None, dev_mode=False))


def test_environment_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITO_AUTH_DEV_MODE", "true")
    assert Settings.load(region="eu-west-2").dev_mode is True
    monkeypatch.setenv("COGNITO_AUTH_DEV_MODE", "false")
    assert Settings.load(region="eu-west-2").dev_mode is False


@pytest.mark.parametrize(
    ("remote_addr", "status"),
    [pytest.param("127.0.0.1", 200, id="loopback"), pytest.param("198.51.100.4", 401, id="remote")],
)
def test_wsgi_dev_mode(dev_options: dict[str, Any], remote_addr: str, status: int) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        user = get_user(environ)
        start_response("200 OK", [("content-type", "text/plain")])
        return [user.sub.encode() if user else b"none"]

    client = Client(CognitoAuthWSGIMiddleware(app, **dev_options))
    response = client.get("/", environ_base={"REMOTE_ADDR": remote_addr})
    assert response.status_code == status
    if status == 200:
        assert response.get_data() == User.create_mock().sub.encode()


FORWARDING = [
    pytest.param({"x-forwarded-for": "127.0.0.1"}, id="x-forwarded-for"),
    pytest.param({"forwarded": "for=127.0.0.1"}, id="forwarded"),
    pytest.param({"x-real-ip": "127.0.0.1"}, id="x-real-ip"),
    pytest.param({"x-forwarded-host": "localhost"}, id="x-forwarded-host"),
    pytest.param({"X-Forwarded-For": ""}, id="empty-and-capitalised"),
]


@pytest.mark.parametrize("headers", FORWARDING)
def test_no_mock_user_when_a_proxy_forwarded_the_request(
    dev_options: dict[str, Any], headers: dict[str, str]
) -> None:
    with TestClient(asgi_app(**dev_options), base_url=LOCAL_URL, client=LOCAL) as http:
        response = http.get("/", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"


@pytest.mark.parametrize(
    ("base_url", "status"),
    [
        pytest.param("http://localhost", 200, id="localhost"),
        pytest.param("http://LOCALHOST:3000", 200, id="localhost-upper-case-port"),
        pytest.param("http://127.0.0.1:8000", 200, id="ipv4"),
        pytest.param("http://127.8.0.1", 200, id="ipv4-range"),
        pytest.param("http://[::1]:8000", 200, id="ipv6"),
        pytest.param("http://app.example.com", 401, id="public-name"),
        pytest.param("http://localhost.example.com", 401, id="localhost-prefix"),
        pytest.param("http://127.0.0.1.nip.io", 401, id="rebinding-name"),
        pytest.param("http://10.0.0.1:8000", 401, id="private-address"),
    ],
)
def test_mock_user_only_for_a_loopback_host(
    dev_options: dict[str, Any], base_url: str, status: int
) -> None:
    with TestClient(asgi_app(**dev_options), base_url=base_url, client=LOCAL) as http:
        assert http.get("/").status_code == status


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("localhost:8000", True, id="name-port"),
        pytest.param("[::1]", True, id="ipv6-no-port"),
        pytest.param("localhost:80x", False, id="bad-port"),
        pytest.param("[::1]x", False, id="junk-after-bracket"),
        pytest.param("[::1", False, id="unclosed-bracket"),
        pytest.param("", False, id="empty"),
        pytest.param(None, False, id="absent"),
    ],
)
def test_loopback_host_values(
    dev_options: dict[str, Any], host: str | None, expected: bool
) -> None:
    environ = {"REMOTE_ADDR": "127.0.0.1", **({"HTTP_HOST": host} if host is not None else {})}
    assert (local_client_environ(environ) == "127.0.0.1") is expected


def test_a_server_trusting_forwarded_headers_gives_no_mock_user(
    dev_options: dict[str, Any],
) -> None:
    # uvicorn --forwarded-allow-ips='*' (common in containers) takes the client address from
    # X-Forwarded-For: a remote client claiming 127.0.0.1 must still not be the mock user.
    with serve(asgi_app(**dev_options), forwarded_allow_ips="*") as address:
        local = httpx.get(f"http://{address}/")
        claimed = httpx.get(f"http://{address}/", headers={"x-forwarded-for": "127.0.0.1"})
    assert local.status_code == 200
    assert claimed.status_code == 401


def test_werkzeug_proxy_fix_gives_no_mock_user(dev_options: dict[str, Any]) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"reached"]

    client = Client(ProxyFix(CognitoAuthWSGIMiddleware(app, **dev_options), x_for=1, x_host=1))
    remote = {"REMOTE_ADDR": "203.0.113.7"}
    claimed = client.get("/", environ_base=remote, headers={"X-Forwarded-For": "127.0.0.1"})
    local = client.get("/", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert claimed.status_code == 401
    assert local.status_code == 200


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("127.255.0.1", True),
        ("::ffff:10.0.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 (an address under test, not a bind)
        ("localhost", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(host: str | None, expected: bool) -> None:
    assert is_loopback(host) is expected


# The shape of cognito-auth's dev-mock-user.example.json: "_"-prefixed comment keys holding
# strings, a list and an object, beside the user's fields.
COGNITO_AUTH_MOCK_USER_FILE = """{
  "_comment": "development only",
  "_usage": ["copy to dev-mock-user.json", "set COGNITO_AUTH_DEV_MODE=true"],
  "email": "developer@example.com",
  "sub": "12345678-1234-1234-1234-123456789abc",
  "username": "12345678-1234-1234-1234-123456789abc",
  "name": "Dev Person",
  "given_name": "Dev",
  "family_name": "Person",
  "groups": ["developers", "users"],
  "_field_descriptions": {"email": "the mock user's email address"}
}"""


def test_a_cognito_auth_mock_user_file_is_read_as_it_is(
    dev_options: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "dev-mock-user.json"
    path.write_text(COGNITO_AUTH_MOCK_USER_FILE)
    with TestClient(asgi_app(**dev_options), base_url=LOCAL_URL, client=LOCAL) as http:
        assert http.get("/").json() == {
            "sub": "12345678-1234-1234-1234-123456789abc",
            "email": "developer@example.com",
            "groups": ["developers", "users"],
        }


def test_an_unverified_mock_email_does_not_pass_allowed_users(
    dev_options: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "mock.json"
    options = dev_options | {"dev_config": str(path), "allowed_users": ["ann@example.com"]}
    for verified, status in ((True, 200), (False, 403)):
        path.write_text(json.dumps({"email": "ann@example.com", "email_verified": verified}))
        with TestClient(asgi_app(**options), base_url=LOCAL_URL, client=LOCAL) as http:
            assert http.get("/").status_code == status


def test_create_mock_takes_cognito_auths_arguments_in_its_order() -> None:
    user = User.create_mock("eve@example.org", "eve", "sub-eve", ["staff"], False)
    assert (user.email, user.username, user.sub, user.groups) == (
        "eve@example.org",
        "eve",
        "sub-eve",
        ("staff",),
    )
    assert user.email_verified is False
    assert User.create_mock(given_name="Ann", family_name="Lee").name == "Ann Lee"
    assert User.create_mock(given_name="Ann", family_name=None).name == "Ann"


def test_create_mock_adds_extra_claims_to_both_claim_sets() -> None:
    extra: dict[str, Any] = {"custom:team": "alpha"}
    user = User.create_mock(department="data", **extra)
    for claims in (user.oidc_claims, user.access_claims):
        assert (claims["department"], claims["custom:team"]) == ("data", "alpha")
    assert User.create_mock(exp=1_700_000_000).exp == 1_700_000_000


@pytest.mark.parametrize("claim", ["iss", "cognito:groups"])
def test_create_mock_keeps_the_mock_marked(claim: str) -> None:
    extra: dict[str, Any] = {claim: "x"}
    with pytest.raises(ValueError, match="cannot be set on a mock user"):
        User.create_mock(**extra)


def test_create_mock_region_has_no_effect_and_says_so() -> None:
    with pytest.warns(DeprecationWarning, match="no effect"):
        user = User.create_mock(region="eu-west-2")
    assert user.issuer == "mock"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"email": 5}, "email must be a string", id="email"),
        pytest.param({"name": ["x"]}, "name must be a string", id="name"),
        pytest.param({"sub": None}, "sub must be", id="sub-none"),
        pytest.param({"email_verified": "true"}, "email_verified", id="verified-str"),
        pytest.param({"groups": "admins"}, "groups", id="groups-str"),
    ],
)
def test_create_mock_refuses_wrong_types(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        User.create_mock(**fields)


def test_create_mock_builds_a_complete_user() -> None:
    user = User.create_mock(email="eve@example.org", groups=["a", "b"], name="Eve")
    assert (user.email_domain, user.groups, user.display_name) == ("example.org", ("a", "b"), "Eve")
    assert user.issuer == "mock"
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'email'"):
        user.email = "changed@example.org"  # type: ignore[misc]
