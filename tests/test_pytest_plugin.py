"""The pytest plugin, used exactly as a user's test suite would: in a separate pytest run."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import pytest
from flask import Flask, request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from cognito_auth_middleware import CognitoAuthMiddleware, CognitoAuthWSGIMiddleware, get_user
from cognito_auth_middleware.testing import DEFECTS


async def home(request: Request) -> JSONResponse:
    return JSONResponse({"email": request.state.user.email, "groups": list(request.user.groups)})


def starlette_app(settings):
    app = Starlette(routes=[Route("/", home)])
    app.add_middleware(CognitoAuthMiddleware, **settings)
    return app


def test_starlette_valid_headers(cognito_settings, cognito_headers):
    with TestClient(starlette_app(cognito_settings)) as client:
        response = client.get("/", headers=cognito_headers(email="ann@example.com", groups=["x"]))
    assert response.json() == {"email": "ann@example.com", "groups": ["x"]}


@pytest.mark.parametrize("defect", DEFECTS)
def test_starlette_broken_headers(cognito_settings, cognito_headers, defect):
    with TestClient(starlette_app(cognito_settings)) as client:
        response = client.get("/", headers=cognito_headers.broken(defect))
    assert response.status_code == 401, defect


def test_flask(cognito_settings, cognito_headers):
    app = Flask(__name__)

    @app.get("/")
    def index():
        return {"email": get_user(request.environ).email}

    app.wsgi_app = CognitoAuthWSGIMiddleware(app.wsgi_app, **cognito_settings)
    client = app.test_client()
    assert client.get("/", headers=cognito_headers(email="bo@example.com")).json == {
        "email": "bo@example.com"
    }
    assert client.get("/").status_code == 401


def test_keys_are_served_over_http(cognito_key_server, cognito_headers, cognito_settings):
    with TestClient(starlette_app(cognito_settings)) as client:
        client.get("/", headers=cognito_headers())
    assert cognito_key_server.count("alb") >= 1
"""


def test_plugin_fixtures_work_in_a_users_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_app=textwrap.dedent(USER_TESTS))
    pytester.makeini("[pytest]\nfilterwarnings =\n    error\n    ignore:Using `httpx`")
    # dash registers a pytest plugin that warns on load; warnings are errors in this run.
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-p", "no:dash")
    result.assert_outcomes(passed=3 + 8)


# Run in this order. Each test leaves behind what a careless test would: a failing key server,
# a shared verifier (``User(...)`` keeps one per process, keyed by settings) holding keys or a
# failure, an identity provider with other ids. The last three must see none of it.
LEAKY_TESTS = """
import pytest

from cognito_auth_middleware import KeysUnavailableError, User
from cognito_auth_middleware.testing import DEFAULT_CLIENT_ID


def user(headers, settings):
    return User(
        headers["x-amzn-oidc-data"],
        headers["x-amzn-oidc-accesstoken"],
        identity_header=headers["x-amzn-oidc-identity"],
        **settings,
    )


def test_warms_the_shared_verifier(cognito_settings, cognito_headers):
    headers = cognito_headers(email="ann@example.com")
    assert user(headers, cognito_settings).email == "ann@example.com"


def test_an_outage_is_not_hidden_by_keys_another_test_fetched(
    cognito_key_server, cognito_settings, cognito_headers
):
    cognito_key_server.status = 503  # and never set back
    with pytest.raises(KeysUnavailableError):
        user(cognito_headers(), cognito_settings)


def test_changes_the_identity_provider(cognito_idp):
    cognito_idp.client_id = "another-client"
    cognito_idp.rsa_kid = "rotated-kid"


def test_the_key_server_starts_clean(cognito_key_server):
    assert cognito_key_server.status is None
    assert cognito_key_server.requests == []


def test_the_identity_provider_starts_clean(cognito_idp, cognito_settings):
    assert cognito_idp.client_id == cognito_settings["client_id"] == DEFAULT_CLIENT_ID


def test_a_user_is_verified_with_keys_fetched_now(
    cognito_key_server, cognito_settings, cognito_headers
):
    headers = cognito_headers(email="bo@example.com")
    assert user(headers, cognito_settings).email == "bo@example.com"
    assert cognito_key_server.count("alb") == 1  # fetched by this test, from this server
"""


def test_no_test_carries_its_key_server_or_provider_into_the_next(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_leaky=textwrap.dedent(LEAKY_TESTS))
    pytester.makeini("[pytest]\nfilterwarnings =\n    error")
    result = pytester.runpytest_subprocess(
        "-q", "-p", "no:cacheprovider", "-p", "no:dash", "-p", "no:randomly"
    )
    result.assert_outcomes(passed=6)


def test_plugin_is_registered_by_entry_point() -> None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names["cognito_auth_middleware"] == "cognito_auth_middleware.testing.pytest_plugin"
