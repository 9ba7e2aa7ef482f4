"""End to end over a real socket: Werkzeug's threaded WSGI server, the middleware, Flask (and
Dash when it is installed), driven by ``httpx`` like any HTTP client behind the ALB.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from cognito_auth_middleware import CognitoAuthWSGIMiddleware
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from tests.servers import serve_wsgi
from tests.test_wsgi_middleware import STREAM_CHUNKS, build_flask_app

if TYPE_CHECKING:
    pass


@pytest.fixture
def base_url(options: dict[str, Any]) -> Iterator[str]:
    """A protected Flask app served over a real socket."""
    app = build_flask_app()
    middleware = CognitoAuthWSGIMiddleware(app.wsgi_app, exclude_paths=["/health"], **options)
    app.wsgi_app = middleware  # type: ignore[method-assign]
    try:
        with serve_wsgi(app) as url:
            yield url
    finally:
        middleware.verifier.close()


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10, trust_env=False) as client:
        yield client


def test_valid_headers_reach_the_app(
    http: httpx.Client, idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    headers = idp.headers(sub="alice-sub", email="alice@example.com", groups=["admins"])

    first = http.get("/", headers=headers)
    again = http.get("/", headers=headers)

    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.json() == {
        "sub": "alice-sub",
        "email": "alice@example.com",
        "groups": ["admins"],
        "email_domain": "example.com",
    }
    assert again.json() == first.json()
    assert (key_server.count("alb"), key_server.count("jwks")) == (1, 1)


def test_missing_headers_get_json_401(http: httpx.Client) -> None:
    response = http.get("/")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "missing_token"


def test_expired_token_gets_json_401(http: httpx.Client, idp: FakeIdentityProvider) -> None:
    headers = idp.headers(ttl=-3600)

    response = http.get("/", headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "expired_token"
    assert headers["x-amzn-oidc-data"] not in response.text


def test_excluded_health_path_needs_no_headers(http: httpx.Client, key_server: KeyServer) -> None:
    response = http.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "user_is_none": True}
    assert key_server.count("alb") == 0


def test_refused_post_does_not_desync_the_connection(http: httpx.Client) -> None:
    # The middleware refuses without reading the body; the body (which looks like a request)
    # must not be parsed as the next request on the same keep-alive connection.
    smuggled = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + b"x" * 100_000

    refused = http.post("/upload", content=smuggled)
    after = http.get("/")

    assert refused.status_code == 401
    assert refused.json()["error"] == "missing_token"
    assert after.status_code == 401
    assert after.json()["error"] == "missing_token"


def test_large_body_and_streamed_response_over_the_socket(
    http: httpx.Client, idp: FakeIdentityProvider
) -> None:
    headers = idp.headers()
    body = hashlib.sha256(b"e2e").digest() * (2 * 1024 * 1024 // 32)

    upload = http.post("/upload", content=body, headers=headers)
    with http.stream("GET", "/stream", headers=headers) as streamed:
        received = b"".join(streamed.iter_bytes())

    assert upload.status_code == 200
    assert upload.json() == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    assert streamed.status_code == 200
    assert received == b"".join(STREAM_CHUNKS)


def test_dash_app_behind_the_middleware(options: dict[str, Any], idp: FakeIdentityProvider) -> None:
    with warnings.catch_warnings():  # a third-party import's deprecations are not under test
        warnings.simplefilter("ignore")
        dash = pytest.importorskip("dash")

    app = dash.Dash(__name__)
    app.layout = dash.html.Div("hello from dash", id="greeting")
    middleware = CognitoAuthWSGIMiddleware(
        app.server.wsgi_app, exclude_paths=["/health"], **options
    )
    app.server.wsgi_app = middleware
    try:
        with (
            serve_wsgi(app.server) as url,
            httpx.Client(base_url=url, timeout=10, trust_env=False) as http,
        ):
            headers = idp.headers(email="dash@example.com")
            page = http.get("/", headers=headers)
            layout = http.get("/_dash-layout", headers=headers)
            anonymous = http.get("/_dash-layout")

            assert page.status_code == 200
            assert "react-entry-point" in page.text
            assert layout.status_code == 200
            assert "hello from dash" in layout.text
            assert anonymous.status_code == 401
            assert anonymous.json()["error"] == "missing_token"
    finally:
        middleware.verifier.close()
