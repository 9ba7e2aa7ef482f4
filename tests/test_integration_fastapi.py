"""``cognito_auth_middleware.integrations.fastapi``: FastAPI dependencies, with and without the
middleware.

Real FastAPI apps through Starlette's TestClient; tokens minted by ``FakeIdentityProvider``, keys
fetched over HTTP from ``KeyServer``. A refusal of the dependency is compared with the
middleware's answer to the same request: both must come from the one table.
"""

# No ``from __future__ import annotations``: FastAPI resolves route annotations at run time,
# and ``Annotated[User, Depends(auth.user)]`` names a local of the function building the app.

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest

pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from cognito_auth_middleware import (
    AsyncVerifier,
    CognitoAuthMiddleware,
    ConfigurationError,
    Settings,
    User,
)
from cognito_auth_middleware.integrations.fastapi import CognitoAuth, current_user
from cognito_auth_middleware.testing import DEFECTS, FakeIdentityProvider, KeyServer

ALICE_SUB = "a1a1a1a1-0000-4000-8000-000000000001"
ALICE_EMAIL = "alice@example.com"


def describe(user: User) -> dict[str, Any]:
    return {"sub": user.sub, "email": user.email, "groups": list(user.groups)}


def dependency_app(auth: CognitoAuth) -> FastAPI:
    """Routes protected by ``auth``'s dependencies alone (no middleware)."""
    app = FastAPI()

    @app.get("/me")
    async def me(user: Annotated[User, Depends(auth.user)], request: Request) -> dict[str, Any]:
        return {**describe(user), "stored": request.state.user is user}

    @app.get("/admin", dependencies=[Depends(auth.require_groups("admins"))])
    async def admin() -> str:
        return "admin area"

    @app.get("/ops-admin")
    async def ops_admin(
        user: Annotated[User, Depends(auth.require_groups("admins", "ops", require_all=True))],
    ) -> str:
        return f"ops admin {user.sub}"

    @app.get("/open")
    async def open_route() -> str:
        return "open"

    return app


def middleware_app(options: dict[str, Any], auth: CognitoAuth | None = None) -> FastAPI:
    """Behind ``CognitoAuthMiddleware``; ``/health`` is excluded."""
    app = FastAPI()

    @app.get("/me")
    def me(user: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
        return describe(user)

    @app.get("/health")
    def health(user: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
        return describe(user)  # pragma: no cover - refused: excluded paths carry no user

    if auth is not None:

        @app.get("/via-auth")
        async def via_auth(user: Annotated[User, Depends(auth.user)]) -> dict[str, Any]:
            return describe(user)

    app.add_middleware(CognitoAuthMiddleware, **{**options, "exclude_paths": ["/health"]})
    return app


def assert_detail_refusal(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail"}
    assert set(body["detail"]) == {"error", "message"}
    assert body["detail"]["error"] == code
    assert body["detail"]["message"]


# --------------------------------------------------------------------------- without middleware


def test_user_dependency_verifies_the_headers_itself(
    idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    auth = CognitoAuth(**key_server.settings())
    with TestClient(dependency_app(auth)) as client:
        response = client.get("/me", headers=idp.headers(sub=ALICE_SUB, email=ALICE_EMAIL))
        open_response = client.get("/open")
    assert response.status_code == 200
    assert response.json() == {"sub": ALICE_SUB, "email": ALICE_EMAIL, "groups": [], "stored": True}
    assert (key_server.count("alb"), key_server.count("jwks")) == (1, 1)
    # Routes without the dependency are not protected: that is the point of per-route use.
    assert (open_response.status_code, open_response.json()) == (200, "open")


@pytest.mark.parametrize("defect", [*DEFECTS, "none"])
def test_refusals_match_the_middleware_table(
    defect: str, idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    """Same request, same answer: status, code, message and headers as the middleware's."""
    headers = {} if defect == "none" else idp.broken_headers(defect, sub=ALICE_SUB)
    with TestClient(dependency_app(CognitoAuth(**options))) as client:
        by_dependency = client.get("/me", headers=headers)
    with TestClient(middleware_app(options)) as client:
        by_middleware = client.get("/me", headers=headers)

    expected = by_middleware.json()
    assert by_middleware.status_code == 401
    assert_detail_refusal(by_dependency, expected["status"], expected["error"])
    assert by_dependency.json()["detail"] == {
        "error": expected["error"],
        "message": expected["message"],
    }
    for token in headers.values():
        assert token not in by_dependency.text


def test_key_outage_is_a_503_with_retry_after(
    idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    key_server.status = 500
    auth = CognitoAuth(**key_server.settings())
    headers = idp.headers(sub=ALICE_SUB)
    with TestClient(dependency_app(auth)) as client:
        refused = client.get("/me", headers=headers)
        key_server.status = None
        admitted = client.get("/me", headers=headers)
    assert_detail_refusal(refused, 503, "keys_unavailable")
    assert int(refused.headers["retry-after"]) > 0
    assert admitted.status_code == 200
    assert "retry-after" not in admitted.headers


@pytest.mark.parametrize(
    ("path", "groups", "status"),
    [
        pytest.param("/admin", ["admins"], 200, id="any-member"),
        pytest.param("/admin", ["staff", "admins"], 200, id="any-member-of-several"),
        pytest.param("/admin", ["staff"], 403, id="any-other-group"),
        pytest.param("/admin", None, 403, id="any-no-groups"),
        pytest.param("/admin", ["Admins"], 403, id="any-case-differs"),
        pytest.param("/ops-admin", ["admins", "ops"], 200, id="all-both"),
        pytest.param("/ops-admin", ["admins"], 403, id="all-only-one"),
    ],
)
def test_require_groups(
    path: str,
    groups: list[str] | None,
    status: int,
    idp: FakeIdentityProvider,
    options: dict[str, Any],
) -> None:
    with TestClient(dependency_app(CognitoAuth(**options))) as client:
        response = client.get(path, headers=idp.headers(sub=ALICE_SUB, groups=groups))
    if status == 200:
        assert response.status_code == 200
        assert response.json() in ("admin area", f"ops admin {ALICE_SUB}")
    else:
        assert_detail_refusal(response, 403, "access_denied")
        assert response.json()["detail"]["message"] == (
            "You are signed in but not allowed to use this application."
        )


def test_require_groups_without_headers_is_a_401_not_a_403(options: dict[str, Any]) -> None:
    with TestClient(dependency_app(CognitoAuth(**options))) as client:
        response = client.get("/admin")
    assert_detail_refusal(response, 401, "missing_token")


def test_require_groups_needs_a_group(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="at least one group"):
        CognitoAuth(**options).require_groups()


# --------------------------------------------------------------------------- with middleware


def test_current_user_returns_the_middlewares_user(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    with TestClient(middleware_app(options)) as client:
        response = client.get("/me", headers=idp.headers(sub=ALICE_SUB, groups=["admins"]))
    assert response.status_code == 200
    assert response.json() == {"sub": ALICE_SUB, "email": "user@example.com", "groups": ["admins"]}


def test_current_user_on_an_excluded_path_is_a_401(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    with TestClient(middleware_app(options)) as client:
        response = client.get("/health", headers=idp.headers(sub=ALICE_SUB))
    assert_detail_refusal(response, 401, "missing_token")


def test_user_dependency_reuses_the_middlewares_user(
    idp: FakeIdentityProvider, key_server: KeyServer, options: dict[str, Any]
) -> None:
    """``auth`` alone would refuse this user (403): only the middleware's result lets it in."""
    auth = CognitoAuth(**key_server.settings(allowed_groups=["nobody-is-in-this-group"]))
    headers = idp.headers(sub=ALICE_SUB, groups=["staff"])
    with TestClient(middleware_app(options, auth)) as client:
        response = client.get("/via-auth", headers=headers)
    with TestClient(dependency_app(auth)) as client:
        control = client.get("/me", headers=headers)
    assert response.status_code == 200
    assert response.json()["sub"] == ALICE_SUB
    assert_detail_refusal(control, 403, "access_denied")


# --------------------------------------------------------------------------- configuration


def test_refuses_to_start_without_alb_arn(idp: FakeIdentityProvider) -> None:
    settings = Settings.load(environ={}, user_pool_id=idp.user_pool_id)
    with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN"):
        CognitoAuth(settings=settings)
    with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN"):
        CognitoAuth(verifier=AsyncVerifier(settings))  # a shared verifier must be pinned too
    with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN"):
        CognitoAuth()  # nothing in the environment


def test_configured_from_the_environment_and_verifier_built_once(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    for name, value in key_server.settings().items():
        monkeypatch.setenv(f"COGNITO_AUTH_{name.upper()}", value)
    auth = CognitoAuth()
    with TestClient(dependency_app(auth)) as client:
        responses = [client.get("/me", headers=idp.headers(sub=ALICE_SUB)) for _ in range(3)]
    assert [response.status_code for response in responses] == [200, 200, 200]
    assert auth.verifier is auth.verifier
    assert auth.settings.alb_key_url == key_server.alb_key_url
    assert key_server.count("alb") == 1  # one verifier, one key cache


@pytest.mark.parametrize(
    ("client", "status"),
    [
        pytest.param(("127.0.0.1", 50000), 200, id="loopback"),
        pytest.param(("10.0.0.5", 50000), 401, id="remote"),
    ],
)
def test_dev_mode_mock_user_only_for_loopback_clients(
    client: tuple[str, int],
    status: int,
    key_server: KeyServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Like the middleware: the client address reaches the verifier, so dev mode works."""
    monkeypatch.chdir(tmp_path)  # no stray dev-mock-user.json from the working directory
    auth = CognitoAuth(**key_server.settings(alb_arn=None, dev_mode=True))
    with TestClient(dependency_app(auth), base_url="http://127.0.0.1", client=client) as http:
        response = http.get("/me")
        proxied = http.get("/me", headers={"x-forwarded-for": "127.0.0.1"})
    assert_detail_refusal(proxied, 401, "missing_token")
    if status == 200:
        assert response.status_code == 200
        assert response.json()["email"] == "dev@example.com"
    else:
        assert_detail_refusal(response, 401, "missing_token")


def test_import_without_fastapi_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)  # makes `import fastapi` fail
    monkeypatch.delitem(sys.modules, "cognito_auth_middleware.integrations.fastapi")
    with pytest.raises(ImportError, match="pip install fastapi"):
        importlib.import_module("cognito_auth_middleware.integrations.fastapi")


def test_expired_session_detail_is_exact(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    with TestClient(dependency_app(CognitoAuth(**options))) as client:
        response = client.get("/me", headers=idp.broken_headers("expired"))
    assert json.loads(response.content) == {
        "detail": {
            "error": "expired_token",
            "message": "The sign-in session has expired; sign in again.",
        }
    }
