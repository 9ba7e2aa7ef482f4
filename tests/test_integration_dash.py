"""The Dash recipe: a real Dash app behind ``CognitoAuthWSGIMiddleware``.

``app.server`` is Dash's Flask app; the middleware wraps its ``wsgi_app``. Callbacks run inside
Flask requests to Dash's own endpoint ``/_dash-update-component``, so they read the user
with ``cognito_auth_middleware.integrations.flask.current_user()`` (or
``get_user(flask.request.environ)``). The callback is called here through that real endpoint,
with the JSON body Dash's front end sends.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("dash")

import dash
import flask
from dash import Input, Output, html
from werkzeug.test import TestResponse

from cognito_auth_middleware import CognitoAuthWSGIMiddleware, get_user
from cognito_auth_middleware.integrations.flask import current_user
from cognito_auth_middleware.testing import FakeIdentityProvider

ALICE_SUB = "a1a1a1a1-0000-4000-8000-000000000001"

# What Dash's renderer posts when the "greeting" div's ``children`` must be computed.
GREET_CALL = {
    "output": "greeting.children",
    "outputs": {"id": "greeting", "property": "children"},
    "inputs": [{"id": "greeting", "property": "id", "value": "greeting"}],
    "changedPropIds": [],
    "state": [],
}


class Calls:
    """Callback invocations (a refused request must not run the callback)."""

    def __init__(self) -> None:
        self.count = 0


def build_app(options: dict[str, Any], calls: Calls) -> dash.Dash:
    app = dash.Dash(__name__)
    app.layout = html.Div([html.H1("Protected"), html.Div(id="greeting")])

    @app.callback(Output("greeting", "children"), Input("greeting", "id"))
    def greet(_: str) -> str:
        calls.count += 1
        user = current_user()
        environ_user = get_user(flask.request.environ)
        assert user is not None
        assert environ_user is user
        return f"Hello {user.display_name} ({', '.join(user.groups)})"

    app.server.wsgi_app = CognitoAuthWSGIMiddleware(app.server.wsgi_app, **options)
    return app


def call_greet(app: dash.Dash, headers: dict[str, str]) -> TestResponse:
    server: flask.Flask = app.server
    return server.test_client().post("/_dash-update-component", json=GREET_CALL, headers=headers)


def test_callback_sees_the_user(idp: FakeIdentityProvider, options: dict[str, Any]) -> None:
    calls = Calls()
    app = build_app(options, calls)
    headers = idp.headers(sub=ALICE_SUB, name="Alice", groups=["analysts", "admins"])
    response = call_greet(app, headers)
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["response"] == {"greeting": {"children": "Hello Alice (analysts, admins)"}}
    assert calls.count == 1


def test_callback_without_headers_is_refused_before_it_runs(options: dict[str, Any]) -> None:
    calls = Calls()
    response = call_greet(build_app(options, calls), {})
    assert response.status_code == 401
    assert response.json is not None
    assert response.json["error"] == "missing_token"
    assert calls.count == 0


def test_page_and_layout_are_protected(idp: FakeIdentityProvider, options: dict[str, Any]) -> None:
    server: flask.Flask = build_app(options, Calls()).server
    client = server.test_client()
    refused_page = client.get("/", headers={"accept": "text/html"})
    refused_layout = client.get("/_dash-layout")
    headers = idp.headers(sub=ALICE_SUB)
    page = client.get("/", headers={**headers, "accept": "text/html"})
    layout = client.get("/_dash-layout", headers=headers)
    assert refused_page.status_code == 401
    assert refused_page.headers["content-type"] == "text/html; charset=utf-8"
    assert refused_layout.status_code == 401
    assert page.status_code == 200
    assert "<title>Dash</title>" in page.get_data(as_text=True)
    assert layout.status_code == 200
    assert "Protected" in layout.get_data(as_text=True)
