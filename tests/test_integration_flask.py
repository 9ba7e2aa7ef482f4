"""``cognito_auth_middleware.integrations.flask``: ``current_user()``, ``groups_required`` and
per-route protection with ``CognitoAuth``, in real Flask apps through Flask's test client.

Tokens are minted by ``FakeIdentityProvider`` and keys fetched over HTTP from ``KeyServer``. The
per-route decorators must answer exactly as the WSGI middleware does (one table): that is
checked by sending the same request to both.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flask")

from flask import Flask
from werkzeug.test import TestResponse

from cognito_auth_middleware import CognitoAuthWSGIMiddleware as Middleware
from cognito_auth_middleware import ConfigurationError, Settings, Verifier
from cognito_auth_middleware.integrations.flask import CognitoAuth, current_user, groups_required
from cognito_auth_middleware.testing import DEFECTS, FakeIdentityProvider, KeyServer

ALICE_SUB = "a1a1a1a1-0000-4000-8000-000000000001"
ALICE_EMAIL = "alice@example.com"
SIGN_IN = "https://login.example.com/signin"


def who() -> dict[str, Any]:
    user = current_user()
    if user is None:
        return {"user": None}
    return {"sub": user.sub, "email": user.email, "groups": list(user.groups)}


def middleware_app(options: dict[str, Any]) -> Flask:
    """Behind ``CognitoAuthWSGIMiddleware``, with ``/health`` and ``/public/*`` excluded."""
    app = Flask(__name__)

    @app.get("/me")
    def me() -> dict[str, Any]:
        return who()

    @app.get("/health")
    def health() -> dict[str, Any]:
        return who()

    @app.get("/admin")
    @groups_required("admins")
    def admin() -> dict[str, Any]:
        return who()

    @app.get("/ops-admin")
    @groups_required("admins", "ops", require_all=True)
    def ops_admin() -> dict[str, Any]:
        return who()

    @app.get("/public/admin")
    @groups_required("admins")
    def excluded_admin() -> dict[str, Any]:
        return who()  # pragma: no cover - refused: excluded paths carry no user

    app.wsgi_app = Middleware(  # type: ignore[method-assign]
        app.wsgi_app, **{**options, "exclude_paths": ["/health", "/public/*"]}
    )
    return app


def per_route_app(auth: CognitoAuth) -> Flask:
    """No middleware: views protected by ``auth``'s decorators only."""
    app = Flask(__name__)

    @app.get("/me")
    @auth.login_required
    def me() -> dict[str, Any]:
        return who()

    @app.get("/admin")
    @auth.groups_required("admins")
    def admin() -> dict[str, Any]:
        return who()

    @app.get("/ops-admin")
    @auth.groups_required("admins", "ops", require_all=True)
    def ops_admin() -> dict[str, Any]:
        return who()

    @app.get("/open")
    def open_view() -> dict[str, Any]:
        return who()

    return app


def assert_refusal(response: TestResponse, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert response.json is not None
    assert response.json["error"] == code
    assert response.json["status"] == status


# --------------------------------------------------------------------------- with middleware


def test_current_user_is_the_middlewares_user(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    client = middleware_app(options).test_client()
    response = client.get("/me", headers=idp.headers(sub=ALICE_SUB, email=ALICE_EMAIL))
    excluded = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"sub": ALICE_SUB, "email": ALICE_EMAIL, "groups": []}
    assert (excluded.status_code, excluded.json) == (200, {"user": None})


@pytest.mark.parametrize(
    ("path", "groups", "status"),
    [
        pytest.param("/admin", ["admins"], 200, id="any-member"),
        pytest.param("/admin", ["staff"], 403, id="any-other-group"),
        pytest.param("/admin", None, 403, id="any-no-groups"),
        pytest.param("/ops-admin", ["ops", "admins"], 200, id="all-both"),
        pytest.param("/ops-admin", ["ops"], 403, id="all-only-one"),
    ],
)
def test_module_groups_required_with_middleware(
    path: str,
    groups: list[str] | None,
    status: int,
    idp: FakeIdentityProvider,
    options: dict[str, Any],
) -> None:
    client = middleware_app(options).test_client()
    response = client.get(path, headers=idp.headers(sub=ALICE_SUB, groups=groups))
    if status == 200:
        assert response.status_code == 200
        assert response.json is not None
        assert response.json["sub"] == ALICE_SUB
    else:
        assert_refusal(response, 403, "access_denied")


def test_module_groups_required_on_an_excluded_path_is_a_401(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    client = middleware_app(options).test_client()
    response = client.get("/public/admin", headers=idp.headers(groups=["admins"]))
    assert_refusal(response, 401, "missing_token")


def test_groups_required_needs_a_group() -> None:
    with pytest.raises(ConfigurationError, match="at least one group"):
        groups_required()


# --------------------------------------------------------------------------- per-route


def test_login_required_verifies_and_stores_the_user(
    idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    client = per_route_app(CognitoAuth(**key_server.settings())).test_client()
    response = client.get("/me", headers=idp.headers(sub=ALICE_SUB, email=ALICE_EMAIL))
    refused = client.get("/me")
    open_response = client.get("/open")
    assert response.status_code == 200
    assert response.json == {"sub": ALICE_SUB, "email": ALICE_EMAIL, "groups": []}
    assert_refusal(refused, 401, "missing_token")
    assert (open_response.status_code, open_response.json) == (200, {"user": None})
    assert (key_server.count("alb"), key_server.count("jwks")) == (1, 1)


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
@pytest.mark.parametrize("defect", [*DEFECTS, "none"])
def test_refusals_are_the_middlewares_answers(
    defect: str, accept: str, idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    """Same request to the decorator and to the middleware: byte-identical refusal."""
    headers = {} if defect == "none" else idp.broken_headers(defect, sub=ALICE_SUB)
    headers["accept"] = accept
    by_decorator = per_route_app(CognitoAuth(**options)).test_client().get("/me", headers=headers)
    by_middleware = middleware_app(options).test_client().get("/me", headers=headers)
    assert by_middleware.status_code == 401
    assert by_decorator.status_code == by_middleware.status_code
    assert by_decorator.get_data() == by_middleware.get_data()
    for name in ("cache-control", "content-type", "content-length"):
        assert by_decorator.headers[name] == by_middleware.headers[name]
    assert by_decorator.headers["content-type"].startswith(accept)


def test_browser_is_redirected_to_sign_in(options: dict[str, Any]) -> None:
    client = per_route_app(CognitoAuth(**options, redirect_url=SIGN_IN)).test_client()
    browser = client.get("/me", headers={"accept": "text/html,application/xhtml+xml"})
    api = client.get("/me", headers={"accept": "application/json"})
    assert browser.status_code == 302
    assert browser.headers["location"] == SIGN_IN
    assert browser.headers["cache-control"] == "no-store"
    assert_refusal(api, 401, "missing_token")


def test_key_outage_is_a_503_with_retry_after(
    idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    key_server.status = 500
    client = per_route_app(CognitoAuth(**key_server.settings())).test_client()
    headers = idp.headers(sub=ALICE_SUB)
    refused = client.get("/me", headers=headers)
    key_server.status = None
    admitted = client.get("/me", headers=headers)
    assert_refusal(refused, 503, "keys_unavailable")
    assert int(refused.headers["retry-after"]) > 0
    assert admitted.status_code == 200


@pytest.mark.parametrize(
    ("path", "groups", "status", "code"),
    [
        pytest.param("/admin", ["admins"], 200, None, id="any-member"),
        pytest.param("/admin", ["staff"], 403, "access_denied", id="any-other-group"),
        pytest.param("/admin", "no-headers", 401, "missing_token", id="implies-login"),
        pytest.param("/ops-admin", ["admins", "ops"], 200, None, id="all-both"),
        pytest.param("/ops-admin", ["admins"], 403, "access_denied", id="all-only-one"),
    ],
)
def test_per_route_groups_required(
    path: str,
    groups: list[str] | str | None,
    status: int,
    code: str | None,
    idp: FakeIdentityProvider,
    options: dict[str, Any],
) -> None:
    client = per_route_app(CognitoAuth(**options)).test_client()
    headers = {} if groups == "no-headers" else idp.headers(sub=ALICE_SUB, groups=groups)
    response = client.get(path, headers=headers)
    if code is None:
        assert response.status_code == 200
        assert response.json is not None
        assert response.json["sub"] == ALICE_SUB
    else:
        assert_refusal(response, status, code)


def test_per_route_reuses_the_middlewares_user(
    idp: FakeIdentityProvider, key_server: KeyServer, options: dict[str, Any]
) -> None:
    """``auth`` alone would refuse this user (403): only the middleware's result lets it in."""
    auth = CognitoAuth(**key_server.settings(allowed_groups=["nobody-is-in-this-group"]))
    app = per_route_app(auth)
    headers = idp.headers(sub=ALICE_SUB, groups=["staff"])
    control = app.test_client().get("/me", headers=headers)
    app.wsgi_app = Middleware(app.wsgi_app, **options)  # type: ignore[method-assign]
    response = app.test_client().get("/me", headers=headers)
    assert_refusal(control, 403, "access_denied")
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["sub"] == ALICE_SUB


# --------------------------------------------------------------------------- configuration


def test_refuses_to_start_without_alb_arn(idp: FakeIdentityProvider) -> None:
    settings = Settings.load(environ={}, user_pool_id=idp.user_pool_id)
    with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN"):
        CognitoAuth(settings=settings)
    with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN"):
        CognitoAuth(verifier=Verifier(settings))
    with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN"):
        CognitoAuth()


def test_configured_from_the_environment_with_one_verifier(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    for name, value in key_server.settings().items():
        monkeypatch.setenv(f"COGNITO_AUTH_{name.upper()}", value)
    auth = CognitoAuth()
    client = per_route_app(auth).test_client()
    statuses = [client.get("/me", headers=idp.headers()).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert auth.verifier is auth.verifier
    assert key_server.count("alb") == 1


@pytest.mark.parametrize(
    ("remote_addr", "status"),
    [
        pytest.param("127.0.0.1", 200, id="loopback"),
        pytest.param("10.0.0.5", 401, id="remote"),
    ],
)
def test_dev_mode_mock_user_only_for_loopback_clients(
    remote_addr: str,
    status: int,
    key_server: KeyServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Like the middleware: the client address reaches the verifier, so dev mode works."""
    monkeypatch.chdir(tmp_path)  # no stray dev-mock-user.json from the working directory
    auth = CognitoAuth(**key_server.settings(alb_arn=None, dev_mode=True))
    client = per_route_app(auth).test_client()
    response = client.get("/me", environ_base={"REMOTE_ADDR": remote_addr})
    if status == 200:
        assert response.status_code == 200
        assert response.json is not None
        assert response.json["email"] == "dev@example.com"
    else:
        assert_refusal(response, 401, "missing_token")


def test_import_without_flask_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "flask", None)  # makes `import flask` fail
    monkeypatch.delitem(sys.modules, "cognito_auth_middleware.integrations.flask")
    with pytest.raises(ImportError, match="pip install flask"):
        importlib.import_module("cognito_auth_middleware.integrations.flask")
