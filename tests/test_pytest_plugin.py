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


def test_plugin_is_registered_by_entry_point() -> None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names["cognito_auth_middleware"] == "cognito_auth_middleware.testing.pytest_plugin"
