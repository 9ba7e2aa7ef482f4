"""Signing out behind the ALB: expire every shard of its session cookie, end the pool's session.

The rules (``core/sign_out.py``), the settings, and the answer of both middlewares served by
real servers (uvicorn, Werkzeug) and of the FastAPI and Flask per-route helpers. The emulator's
side and a browser signing in and out are in ``test_emulator.py`` and ``test_emulator_browser.py``.
"""

# No ``from __future__ import annotations``: FastAPI resolves route annotations at run time.

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cognito_auth_middleware import (
    CognitoAuthMiddleware,
    CognitoAuthWSGIMiddleware,
    ConfigurationError,
    Settings,
)
from cognito_auth_middleware.core.sign_out import MAX_SHARDS, SignOut
from cognito_auth_middleware.integrations import fastapi as fastapi_auth
from cognito_auth_middleware.integrations import flask as flask_auth
from cognito_auth_middleware.testing import FakeIdentityProvider
from tests.servers import serve, serve_wsgi

ARN = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188"
COOKIE = "AWSELBAuthSessionCookie"
EXPIRED = "=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; Secure; HttpOnly"
SIGN_OUT: dict[str, Any] = {
    "logout_path": "/logout",
    "cognito_domain": "my-app",
    "logout_uri": "https://app.example.com/signed-out?from=app",
}
LOGOUT_URL = (
    "https://my-app.auth.eu-west-2.amazoncognito.com/logout?client_id={client}"
    "&logout_uri=https%3A%2F%2Fapp.example.com%2Fsigned-out%3Ffrom%3Dapp"
)


def settings(**options: Any) -> Settings:
    return Settings.load(environ={}, **({"alb_arn": ARN, "client_id": "abc"} | SIGN_OUT | options))


def expired(*shards: int, cookie: str = COOKIE) -> list[str]:
    return [f"{cookie}-{shard}{EXPIRED}" for shard in shards]


# --- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie_header", "shards"),
    [
        pytest.param(None, [0], id="no-cookie-header"),
        pytest.param("", [0], id="empty"),
        pytest.param(f"{COOKIE}-0=a", [0], id="one-shard"),
        pytest.param(f"{COOKIE}-1=b; theme=dark; {COOKIE}-0=a", [0, 1], id="two-shards"),
        pytest.param(f"{COOKIE}-3=d;{COOKIE}-2=c", [0, 2, 3], id="no-space"),
        pytest.param(f"  {COOKIE}-1 = b ", [0, 1], id="spaces"),
        pytest.param(f"{COOKIE}-1=ab==; {COOKIE}-2=a=b", [0, 1, 2], id="values-with-equals"),
        pytest.param(f"{COOKIE}-01=x", [0], id="leading-zero-is-not-a-shard"),
        pytest.param(f"{COOKIE}-100=x", [0], id="three-digits"),
        pytest.param(f"{COOKIE}-a=x; {COOKIE}=x; {COOKIE}-=x", [0], id="no-number"),
        pytest.param(f"X{COOKIE}-1=x; {COOKIE}X-1=x", [0], id="other-names"),
        pytest.param(f"{COOKIE.lower()}-1=x", [0], id="case-matters"),
        pytest.param(f"{COOKIE}-\x001=x; {COOKIE}-\u0661=x", [0], id="control-and-unicode"),
    ],
)
def test_the_shards_expired_are_those_sent_and_the_first(
    cookie_header: str | None, shards: list[int]
) -> None:
    answer = SignOut.required(settings()).headers(cookie_header)
    assert [value for name, value in answer if name == "set-cookie"] == expired(*shards)


def test_a_flood_of_shard_names_expires_a_bounded_number() -> None:
    header = "; ".join(f"{COOKIE}-{n}=x" for n in range(100))
    names = SignOut.required(settings()).shards(header)
    assert len(names) == MAX_SHARDS
    assert names[0] == f"{COOKIE}-0"


def test_the_answer_redirects_to_the_pools_logout_endpoint() -> None:
    sign_out = SignOut.required(settings())
    assert sign_out.status == 302
    assert sign_out.headers(None) == [
        ("location", LOGOUT_URL.format(client="abc")),
        ("cache-control", "no-store"),
        ("set-cookie", expired(0)[0]),
        ("content-length", "0"),
    ]


def test_a_renamed_session_cookie_is_the_one_expired() -> None:
    sign_out = SignOut.required(settings(session_cookie="MyAppSession"))
    answer = sign_out.headers(f"{COOKIE}-1=x; MyAppSession-1=y")
    cookies = [value for name, value in answer if name == "set-cookie"]
    assert cookies == expired(0, 1, cookie="MyAppSession")


# --- the settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "base"),
    [
        pytest.param("my-app", "https://my-app.auth.eu-west-2.amazoncognito.com", id="prefix"),
        pytest.param("Auth.Example.COM", "https://auth.example.com", id="custom-domain"),
        pytest.param("https://auth.example.com/", "https://auth.example.com", id="url"),
        pytest.param(
            "http://127.0.0.1:9000/_emulator", "http://127.0.0.1:9000/_emulator", id="local"
        ),
    ],
)
def test_the_pools_domain_is_read_as_aws_names_it(domain: str, base: str) -> None:
    assert settings(cognito_domain=domain).cognito_domain == base


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"cognito_domain": None}, "needs both cognito_domain", id="no-domain"),
        pytest.param({"logout_uri": None}, "needs both cognito_domain", id="no-uri"),
        pytest.param({"cognito_domain": None, "logout_uri": None}, "needs both", id="path-alone"),
        pytest.param({"logout_path": None, "logout_uri": None}, "needs both", id="domain-alone"),
        pytest.param({"client_id": None}, "exactly one id, got 0", id="no-client"),
        pytest.param({"client_id": "a,b"}, "exactly one id, got 2", id="two-clients"),
        pytest.param({"logout_path": "logout"}, "plain path", id="relative-path"),
        pytest.param({"logout_path": "/a/../logout"}, "plain path", id="dot-dot"),
        pytest.param({"logout_path": "/a/./logout"}, "plain path", id="dot"),
        pytest.param({"logout_path": "//logout"}, "plain path", id="empty-segment"),
        pytest.param({"logout_path": "/log out"}, "plain path", id="space"),
        pytest.param({"logout_path": "/logout\n"}, None, id="newline-is-stripped"),
        pytest.param({"logout_path": "/log\nout"}, "plain path", id="inner-newline"),
        pytest.param({"logout_path": "/log\u00e9"}, "plain path", id="unicode"),
        pytest.param({"cognito_domain": "-bad"}, "cognito_domain", id="bad-prefix"),
        pytest.param({"cognito_domain": "a b.example.com"}, "cognito_domain", id="space-in-domain"),
        pytest.param({"cognito_domain": "ftp://auth.example.com"}, r"http\(s\) URL", id="scheme"),
        pytest.param({"cognito_domain": "https://a.example.com/?x=1"}, "query", id="query"),
        pytest.param({"logout_uri": "/signed-out"}, "absolute", id="relative-uri"),
        pytest.param({"logout_uri": "https://a.example.com/\r\nx"}, "control", id="crlf-uri"),
        pytest.param({"session_cookie": "a;b"}, "cookie name", id="cookie-name"),
    ],
)
def test_a_sign_out_that_cannot_be_honoured_stops_start_up(
    options: dict[str, Any], message: str | None
) -> None:
    if message is None:
        assert settings(**options).logout_path == "/logout"
        return
    with pytest.raises(ConfigurationError, match=message):
        settings(**options)


def test_without_sign_out_settings_nothing_is_answered_for_it() -> None:
    plain = Settings.load(environ={}, alb_arn=ARN)
    assert SignOut.from_settings(plain) is None
    with pytest.raises(ConfigurationError) as refused:
        SignOut.required(plain)
    assert str(refused.value) == (
        "a sign-out route needs cognito_domain (COGNITO_AUTH_COGNITO_DOMAIN) and "
        "logout_uri (COGNITO_AUTH_LOGOUT_URI)"
    )


# --- both middlewares, on real servers --------------------------------------------------------


def hello(request: Any) -> PlainTextResponse:
    return PlainTextResponse(f"hello {request.state.user.sub}")


def asgi_app(options: dict[str, Any]) -> CognitoAuthMiddleware:
    app = Starlette(routes=[Route("/", hello), Route("/logout", hello)])
    return CognitoAuthMiddleware(app, **options)


def wsgi_app(options: dict[str, Any]) -> CognitoAuthWSGIMiddleware:
    app = Flask(__name__)

    @app.get("/")
    def home() -> str:
        user = flask_auth.current_user()
        return f"hello {user.sub if user else '-'}"

    return CognitoAuthWSGIMiddleware(app.wsgi_app, **options)


@pytest.fixture(params=["asgi", "wsgi"])
def served(request: pytest.FixtureRequest, options: dict[str, Any]) -> Iterator[str]:
    configured = options | SIGN_OUT
    if request.param == "asgi":
        with serve(asgi_app(configured)) as address:
            yield f"http://{address}"
    else:
        with serve_wsgi(wsgi_app(configured)) as url:
            yield url


def logout_target(response: httpx.Response) -> dict[str, list[str]]:
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "my-app.auth.eu-west-2.amazoncognito.com",
        "/logout",
    )
    return parse_qs(location.query)


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_the_logout_path_signs_out_whether_or_not_signed_in(
    served: str, idp: FakeIdentityProvider, options: dict[str, Any], method: str
) -> None:
    shards = {f"{COOKIE}-0": "a", f"{COOKIE}-1": "b", "theme": "dark"}
    for headers in ({}, idp.headers(), idp.broken_headers("expired")):
        with httpx.Client(cookies=shards) as client:
            response = client.request(method, f"{served}/logout", headers=headers)
        assert response.status_code == 302
        assert logout_target(response) == {
            "client_id": [options["client_id"]],
            "logout_uri": [SIGN_OUT["logout_uri"]],
        }
        assert response.headers.get_list("set-cookie") == expired(0, 1)
        assert response.headers["cache-control"] == "no-store"
        assert response.content == b""


def test_every_other_path_is_still_verified(served: str, idp: FakeIdentityProvider) -> None:
    assert httpx.get(f"{served}/").status_code == 401
    assert httpx.get(f"{served}/logout/").status_code == 401  # exact match only
    assert httpx.get(f"{served}/", headers=idp.headers(sub="ann")).text == "hello ann"


def test_a_websocket_to_the_logout_path_is_verified_like_any_other(
    options: dict[str, Any],
) -> None:
    with (
        TestClient(asgi_app(options | SIGN_OUT)) as client,
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/logout"),
    ):
        pass
    assert closed.value.code == 1008


def test_without_a_logout_path_that_path_is_the_apps(
    options: dict[str, Any], idp: FakeIdentityProvider
) -> None:
    configured = options | SIGN_OUT | {"logout_path": None}
    with serve(asgi_app(configured)) as address:
        url = f"http://{address}"
        assert httpx.get(f"{url}/logout").status_code == 401
        assert httpx.get(f"{url}/logout", headers=idp.headers(sub="ann")).text == "hello ann"


# --- per route: FastAPI and Flask -------------------------------------------------------------


def test_fastapi_sign_out_endpoint(options: dict[str, Any]) -> None:
    auth = fastapi_auth.CognitoAuth(**options, **(SIGN_OUT | {"logout_path": None}))
    app = FastAPI()
    app.get("/bye")(auth.sign_out_endpoint())
    with serve(app) as address:
        response = httpx.get(f"http://{address}/bye", cookies={f"{COOKIE}-2": "x"})
    assert response.status_code == 302
    assert logout_target(response)["client_id"] == [options["client_id"]]
    assert response.headers.get_list("set-cookie") == expired(0, 2)
    assert response.headers["content-length"] == "0"


def test_flask_sign_out_view(options: dict[str, Any]) -> None:
    auth = flask_auth.CognitoAuth(**options, **(SIGN_OUT | {"logout_path": None}))
    app = Flask(__name__)
    app.add_url_rule("/bye", view_func=auth.sign_out_view())
    with serve_wsgi(app) as url:
        response = httpx.get(f"{url}/bye", cookies={f"{COOKIE}-2": "x"})
    assert response.status_code == 302
    assert logout_target(response)["client_id"] == [options["client_id"]]
    assert response.headers.get_list("set-cookie") == expired(0, 2)


def test_a_sign_out_route_without_its_settings_fails_at_definition(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="cognito_domain"):
        fastapi_auth.CognitoAuth(**options).sign_out_endpoint()
    with pytest.raises(ConfigurationError, match="cognito_domain"):
        flask_auth.CognitoAuth(**options).sign_out_view()
