"""The audit trail: one log event per decision (off by default) and the app's hooks.

Both middlewares, on real servers (uvicorn, Werkzeug), with real signed headers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from werkzeug.wrappers import Request as WerkzeugRequest
from werkzeug.wrappers import Response as WerkzeugResponse

from cognito_auth_middleware import (
    AccessDeniedError,
    AuthenticationError,
    CognitoAuthMiddleware,
    CognitoAuthWSGIMiddleware,
    ConfigurationError,
    User,
)
from cognito_auth_middleware.audit import AUDIT_LOGGER
from cognito_auth_middleware.core.tokens import fingerprint
from cognito_auth_middleware.testing import FakeIdentityProvider
from tests.servers import serve, serve_wsgi

TRACE = "Root=1-67891233-abcdef012345678912345678"


async def hello(request: Request) -> PlainTextResponse:
    body = await request.body()
    return PlainTextResponse(f"hello {request.state.user.sub} {len(body)}")


def wsgi_hello(environ: dict[str, Any], start_response: Any) -> Any:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    user = environ["cognito_auth.user"]
    return WerkzeugResponse(f"hello {user.sub} {len(body)}")(environ, start_response)


Served = Callable[..., Any]


@pytest.fixture(params=["asgi", "wsgi"])
def served(request: pytest.FixtureRequest, options: dict[str, Any]) -> Served:
    """``served(**keywords)``: a context manager serving the app behind that middleware."""

    @contextmanager
    def start(**keywords: Any) -> Iterator[str]:
        if request.param == "asgi":
            app = Starlette(routes=[Route("/{path:path}", hello, methods=["GET", "POST"])])
            with serve(CognitoAuthMiddleware(app, **options, **keywords)) as address:
                yield f"http://{address}"
        else:
            with serve_wsgi(CognitoAuthWSGIMiddleware(wsgi_hello, **options, **keywords)) as url:
                yield url

    return start


def audit_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    records = [r for r in caplog.records if r.name == AUDIT_LOGGER]
    for record in records:
        assert json.loads(record.getMessage()) == record.audit  # type: ignore[attr-defined]
    return [record.audit for record in records]  # type: ignore[attr-defined]


# --- the log ----------------------------------------------------------------------------------


def test_the_audit_log_is_off_by_default(
    served: Served, idp: FakeIdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), served() as url:
        httpx.get(f"{url}/", headers=idp.headers())
        httpx.get(f"{url}/")
    assert audit_events(caplog) == []


def test_an_admission_is_one_event_with_the_trust_chain(
    served: Served, idp: FakeIdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    headers = idp.headers(sub="ann", email="ann@example.com") | {"x-amzn-trace-id": TRACE}
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER), served(audit_log=True) as url:
        assert httpx.get(f"{url}/reports?q=1", headers=headers).status_code == 200
    assert audit_events(caplog) == [
        {
            "decision": "admitted",
            "reason": "ok",
            "method": "GET",
            "path": "/reports",
            "trace_id": TRACE,
            "token": fingerprint(headers["x-amzn-oidc-data"]),
            "kid": idp.alb_kid,
            "signer": idp.alb_arn,
            "issuer": idp.issuer,
            "client": idp.client_id,
            "sub": "ann",
        }
    ]
    text = caplog.text
    assert headers["x-amzn-oidc-data"] not in text
    assert headers["x-amzn-oidc-accesstoken"] not in text
    assert "ann@example.com" not in text  # emails only at DEBUG


def test_the_email_is_in_the_event_only_at_debug(
    served: Served, idp: FakeIdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger=AUDIT_LOGGER), served(audit_log=True) as url:
        httpx.get(f"{url}/", headers=idp.headers(email="ann@example.com"))
    (event,) = audit_events(caplog)
    assert event["email"] == "ann@example.com"


@pytest.mark.parametrize(
    ("defect", "reason", "from_header"),
    [
        pytest.param(None, "missing_token", False, id="missing"),
        pytest.param("expired", "expired_token", True, id="expired"),
        pytest.param("wrong_signer", "invalid_token", True, id="wrong-signer"),
        pytest.param("tampered", "invalid_token", True, id="tampered"),
    ],
)
def test_a_refusal_is_one_event_with_its_reason(
    served: Served,
    idp: FakeIdentityProvider,
    caplog: pytest.LogCaptureFixture,
    defect: str | None,
    reason: str,
    from_header: bool,
) -> None:
    headers = {} if defect is None else idp.broken_headers(defect)
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER), served(audit_log=True) as url:
        assert httpx.post(f"{url}/x", headers=headers).status_code == 401
    (event,) = audit_events(caplog)
    assert (event["decision"], event["reason"], event["method"], event["sub"]) == (
        "refused",
        reason,
        "POST",
        None,
    )
    assert (event["kid"] is not None) is from_header
    token = headers.get("x-amzn-oidc-data")
    assert event["token"] == (fingerprint(token) if token else None)
    if token:
        assert token not in caplog.text


def test_hostile_values_are_escaped_and_cut(
    served: Served, idp: FakeIdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    forged = idp.mint_alb_token(header={"kid": "k\n" + "x" * 5000, "signer": 7})
    headers = {"x-amzn-oidc-data": forged, "x-amzn-oidc-accesstoken": "a.b.c"}
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER), served(audit_log=True) as url:
        httpx.get(f"{url}/a%0Ab%E2%80%AE" + "p" * 2000, headers=headers)
    (record,) = [r for r in caplog.records if r.name == AUDIT_LOGGER]
    assert "\n" not in record.getMessage()
    assert "\u202e" not in record.getMessage()  # ensure_ascii: a bidi control is escaped
    event = record.audit  # type: ignore[attr-defined]
    assert len(event["path"]) == 512
    assert event["signer"] is None  # not a string
    assert event["kid"] is None or len(event["kid"]) <= 200


# --- the hooks --------------------------------------------------------------------------------


def path_of(request: Any) -> str:
    """The path, from Starlette's HTTPConnection (``url.path``) or werkzeug's Request."""
    return request.path if isinstance(request, WerkzeugRequest) else request.url.path


def test_the_hooks_see_each_decision(served: Served, idp: FakeIdentityProvider) -> None:
    seen: list[tuple[str, str, str]] = []

    def admitted(user: User, request: Any) -> None:
        seen.append(("admitted", user.sub, path_of(request)))

    def refused(error: AuthenticationError, request: Any) -> None:
        seen.append(("refused", error.code, path_of(request)))

    with served(on_authenticated=admitted, on_refused=refused) as url:
        assert httpx.post(f"{url}/in", headers=idp.headers(sub="ann"), content=b"body").text == (
            "hello ann 4"  # the hook did not consume the body
        )
        assert httpx.get(f"{url}/out").status_code == 401
    assert seen == [("admitted", "ann", "/in"), ("refused", "missing_token", "/out")]


def test_on_authenticated_may_refuse_with_the_tables_answer(
    served: Served, idp: FakeIdentityProvider
) -> None:
    refusals: list[str] = []

    def only_ann(user: User, request: Any) -> None:
        if user.sub != "ann":
            raise AccessDeniedError("not ann")

    def refused(error: AuthenticationError, request: Any) -> None:
        refusals.append(error.code)

    with served(on_authenticated=only_ann, on_refused=refused) as url:
        assert httpx.get(f"{url}/", headers=idp.headers(sub="ann")).status_code == 200
        bob = httpx.get(f"{url}/", headers=idp.headers(sub="bob"))
    assert (bob.status_code, bob.json()["error"]) == (403, "access_denied")
    assert refusals == ["access_denied"]


def test_a_hook_that_fails_is_logged_and_never_admits(
    served: Served, idp: FakeIdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_: object, request: Any) -> bool:
        raise RuntimeError("the hook's database is down")

    headers = idp.headers(sub="ann")
    with caplog.at_level(logging.ERROR), served(on_authenticated=broken, on_refused=broken) as url:
        assert httpx.get(f"{url}/", headers=headers).status_code == 200  # it observes only
        assert httpx.get(f"{url}/").status_code == 401  # the refusal stands
        expired = idp.broken_headers("expired")
        assert httpx.get(f"{url}/", headers=expired).status_code == 401
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "the on_authenticated hook raised; the request goes on" in messages
    assert "the on_refused hook raised; the refusal stands" in messages
    assert headers["x-amzn-oidc-data"] not in caplog.text
    assert expired["x-amzn-oidc-data"] not in caplog.text


def test_asgi_hooks_may_be_async_and_sync_ones_run_off_the_event_loop(
    options: dict[str, Any], idp: FakeIdentityProvider
) -> None:
    seen: dict[str, Any] = {}

    async def async_hook(user: User, request: HTTPConnection) -> None:
        seen["async"] = (user.sub, request.state.user is user)

    def sync_hook(error: AuthenticationError, request: HTTPConnection) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            seen["sync"] = ("off the loop", threading.current_thread().name)
        else:
            seen["sync"] = ("on the loop", "")

    app = Starlette(routes=[Route("/", hello)])
    middleware = CognitoAuthMiddleware(
        app, **options, on_authenticated=async_hook, on_refused=sync_hook
    )
    with serve(middleware) as address:
        httpx.get(f"http://{address}/", headers=idp.headers(sub="ann"))
        httpx.get(f"http://{address}/")
    assert seen["async"] == ("ann", True)
    assert seen["sync"][0] == "off the loop"


def test_the_wsgi_hooks_get_a_shallow_request(
    options: dict[str, Any], idp: FakeIdentityProvider
) -> None:
    seen: list[bool] = []

    def peek(user: User, request: WerkzeugRequest) -> None:
        seen.append(request.shallow)
        with pytest.raises(RuntimeError):
            request.get_data()

    middleware = CognitoAuthWSGIMiddleware(wsgi_hello, **options, on_authenticated=peek)
    with serve_wsgi(middleware) as url:
        response = httpx.post(f"{url}/", headers=idp.headers(sub="ann"), content=b"12345")
    assert response.text == "hello ann 5"
    assert seen == [True]


@pytest.mark.parametrize("name", ["on_authenticated", "on_refused"])
def test_hooks_that_cannot_be_called_stop_start_up(options: dict[str, Any], name: str) -> None:
    async def coroutine(_: object, request: object) -> None: ...

    async_hook: dict[str, Any] = {name: coroutine}
    not_callable: dict[str, Any] = {name: "not callable"}
    with pytest.raises(ConfigurationError, match="async, but the WSGI middleware"):
        CognitoAuthWSGIMiddleware(wsgi_hello, **options, **async_hook)
    with pytest.raises(ConfigurationError, match=f"{name} must be a function"):
        CognitoAuthWSGIMiddleware(wsgi_hello, **options, **not_callable)
    with pytest.raises(ConfigurationError, match=f"{name} must be a function"):
        CognitoAuthMiddleware(Starlette(), **options, **not_callable)
