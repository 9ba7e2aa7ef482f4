"""``CognitoAuthMiddleware`` in process: Starlette's TestClient against real keys on loopback.

Every test uses real tokens minted by ``FakeIdentityProvider`` and keys served by ``KeyServer``;
nothing in the package is replaced. Refusals are checked for their status, their JSON (or HTML)
body, ``Cache-Control: no-store``, and for never echoing any token text.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket, WebSocketDisconnect

from cognito_auth_middleware import CognitoAuthMiddleware, ConfigurationError, Settings
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

if TYPE_CHECKING:
    # What Starlette's TestClient is typed to return (it runs on httpx2 when installed).
    from httpx2 import Response

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 when only httpx is installed; the client works the same.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

DATA = "x-amzn-oidc-data"
ACCESS = "x-amzn-oidc-accesstoken"
IDENTITY = "x-amzn-oidc-identity"

ALICE_SUB = "a1a1a1a1-0000-4000-8000-000000000001"
ALICE_EMAIL = "alice@example.com"

BODY_SIZE = 5 * 1024 * 1024
BODY_CHUNK = 64 * 1024
STREAM_CHUNKS = [f"chunk {i:04d};".encode() * (1 + i % 13) for i in range(400)]

HeaderList = list[tuple[str, str]]
HeaderFactory = Callable[[FakeIdentityProvider], HeaderList]


@pytest.fixture(scope="module")
def big_body() -> bytes:
    return os.urandom(BODY_SIZE)


class Probe:
    """Records which endpoints the app actually entered (so refusals provably stop early)."""

    def __init__(self) -> None:
        self.entered: list[str] = []


def describe(request: Request) -> dict[str, Any]:
    user = request.state.user
    return {
        "type": type(user).__name__,
        "sub": user.sub,
        "email": user.email,
        "groups": list(user.groups),
        "is_authenticated": request.user.is_authenticated,
        "display_name": request.user.display_name,
        "scopes": request.auth.scopes,
        "same_user": request.user is user,
    }


def starlette_app(probe: Probe) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        probe.entered.append(request.scope["path"])
        return JSONResponse(describe(request))

    @requires("admins")
    async def admin(request: Request) -> PlainTextResponse:
        probe.entered.append(request.scope["path"])
        return PlainTextResponse(f"welcome, admin {request.user.display_name}")

    async def digest(request: Request) -> JSONResponse:
        probe.entered.append(request.scope["path"])
        hasher = hashlib.sha256()
        length = 0
        async for chunk in request.stream():
            hasher.update(chunk)
            length += len(chunk)
        return JSONResponse({"sha256": hasher.hexdigest(), "length": length})

    async def stream(request: Request) -> StreamingResponse:
        probe.entered.append(request.scope["path"])

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in STREAM_CHUNKS:
                yield chunk

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    async def echo(websocket: WebSocket) -> None:
        probe.entered.append(websocket.scope["path"])
        user = websocket.state.user
        await websocket.accept()
        await websocket.send_text(user.sub)
        message = await websocket.receive_text()
        await websocket.send_text(f"{user.sub}: {message}")
        await websocket.close()

    async def anything(request: Request) -> PlainTextResponse:
        probe.entered.append(request.scope["path"])
        return PlainTextResponse(f"reached {request.scope['path']}")

    return Starlette(
        routes=[
            Route("/whoami", whoami),
            Route("/admin", admin),
            Route("/digest", digest, methods=["POST"]),
            Route("/stream", stream),
            WebSocketRoute("/ws", echo),
            Route("/{path:path}", anything),
        ]
    )


def fastapi_app(probe: Probe) -> FastAPI:
    api = FastAPI()

    @api.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        probe.entered.append(request.scope["path"])
        return describe(request)

    return api


def wire_starlette_add_middleware(options: dict[str, Any]) -> tuple[ASGIApp, Probe]:
    probe = Probe()
    app = starlette_app(probe)
    app.add_middleware(CognitoAuthMiddleware, **options)
    return app, probe


def wire_fastapi_add_middleware(options: dict[str, Any]) -> tuple[ASGIApp, Probe]:
    probe = Probe()
    app = fastapi_app(probe)
    app.add_middleware(CognitoAuthMiddleware, **options)
    return app, probe


def wire_by_wrapping(options: dict[str, Any]) -> tuple[ASGIApp, Probe]:
    probe = Probe()
    return CognitoAuthMiddleware(starlette_app(probe), **options), probe


def protected(options: dict[str, Any], **overrides: Any) -> tuple[ASGIApp, Probe]:
    return wire_by_wrapping({**options, **overrides})


def tamper(token: str) -> str:
    """Change one character in the middle of the signature segment."""
    head, payload, signature = token.split(".")
    i = len(signature) // 2
    swapped = "A" if signature[i] != "A" else "B"
    return f"{head}.{payload}.{signature[:i]}{swapped}{signature[i + 1 :]}"


def sent_tokens(headers: Iterable[tuple[str, str]] | dict[str, str]) -> list[str]:
    items = headers.items() if isinstance(headers, dict) else headers
    return [value for name, value in items if name in (DATA, ACCESS)]


def assert_no_token_text(response: Response, tokens: Iterable[str]) -> None:
    """Neither the body nor any header of the answer contains a token or one of its segments."""
    surfaces = [response.content.decode("latin-1")]
    surfaces += [f"{name}: {value}" for name, value in response.headers.multi_items()]
    for token in tokens:
        pieces = [token, *(segment.rstrip("=") for segment in token.split("."))]
        for piece in pieces:
            assert len(piece) >= 16
            for surface in surfaces:
                assert piece not in surface


def assert_json_refusal(response: Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == code
    assert body["status"] == status
    assert isinstance(body["message"], str)
    assert body["message"]


# --------------------------------------------------------------------------- wiring and success


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(wire_starlette_add_middleware, id="starlette-add_middleware"),
        pytest.param(wire_fastapi_add_middleware, id="fastapi-add_middleware"),
        pytest.param(wire_by_wrapping, id="wrap-app-directly"),
    ],
)
def test_each_wiring_style_admits_a_verified_user_and_refuses_others(
    wire: Callable[[dict[str, Any]], tuple[ASGIApp, Probe]],
    idp: FakeIdentityProvider,
    options: dict[str, Any],
) -> None:
    app, probe = wire(options)
    headers = idp.headers(
        sub=ALICE_SUB, email=ALICE_EMAIL, name="Alice Example", groups=["admins", "staff"]
    )
    with TestClient(app) as client:
        admitted = client.get("/whoami", headers=headers)
        refused = client.get("/whoami")

    assert admitted.status_code == 200
    assert admitted.json() == {
        "type": "User",
        "sub": ALICE_SUB,
        "email": ALICE_EMAIL,
        "groups": ["admins", "staff"],
        "is_authenticated": True,
        "display_name": "Alice Example",
        "scopes": ["admins", "staff"],
        "same_user": True,
    }
    assert_json_refusal(refused, 401, "missing_token")
    assert probe.entered == ["/whoami"]  # only the admitted request reached the app


def test_app_parameter_is_positional_only_as_starlette_add_middleware_requires() -> None:
    """Starlette's ``_MiddlewareFactory`` takes ``app`` positionally only; with ``app`` also a
    keyword beside ``**options``, ``app.add_middleware(CognitoAuthMiddleware, ...)`` fails
    ``mypy --strict`` in user code (the calls in this file are type-checked as users write them).
    """
    app = inspect.signature(CognitoAuthMiddleware.__init__).parameters["app"]
    assert app.kind is inspect.Parameter.POSITIONAL_ONLY


def test_display_name_falls_back_to_username_when_no_name(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    app, _ = protected(options)
    headers = idp.headers(sub=ALICE_SUB, email=ALICE_EMAIL, username="alice")
    with TestClient(app) as client:
        response = client.get("/whoami", headers=headers)
    assert response.status_code == 200
    assert response.json()["display_name"] == "alice"
    assert response.json()["groups"] == []
    assert response.json()["scopes"] == []


@pytest.mark.parametrize(
    ("groups", "status", "text"),
    [
        pytest.param(["admins"], 200, "welcome, admin", id="in-admins"),
        pytest.param(["staff", "readers"], 403, "Forbidden", id="not-in-admins"),
        pytest.param(None, 403, "Forbidden", id="no-groups"),
    ],
)
def test_starlette_requires_uses_the_cognito_groups_as_scopes(
    groups: list[str] | None,
    status: int,
    text: str,
    idp: FakeIdentityProvider,
    options: dict[str, Any],
) -> None:
    app, probe = protected(options)
    with TestClient(app) as client:
        response = client.get("/admin", headers=idp.headers(sub=ALICE_SUB, groups=groups))
    assert response.status_code == status
    assert text in response.text
    # A 403 here comes from @requires inside the app, not from the middleware.
    assert probe.entered == (["/admin"] if status == 200 else [])


# --------------------------------------------------------------------------- refusals


def no_headers(idp: FakeIdentityProvider) -> HeaderList:
    return []


def valid_headers(idp: FakeIdentityProvider) -> HeaderList:
    return list(idp.headers(sub=ALICE_SUB).items())


def only_oidc_data(idp: FakeIdentityProvider) -> HeaderList:
    headers = idp.headers(sub=ALICE_SUB)
    return [(DATA, headers[DATA]), (IDENTITY, ALICE_SUB)]


def only_access_token(idp: FakeIdentityProvider) -> HeaderList:
    headers = idp.headers(sub=ALICE_SUB)
    return [(ACCESS, headers[ACCESS]), (IDENTITY, ALICE_SUB)]


def expired_alb_token(idp: FakeIdentityProvider) -> HeaderList:
    return list(idp.headers(sub=ALICE_SUB, ttl=-3600).items())


def expired_access_token(idp: FakeIdentityProvider) -> HeaderList:
    headers = idp.headers(sub=ALICE_SUB)
    headers[ACCESS] = idp.mint_access_token(sub=ALICE_SUB, ttl=-3600)
    return list(headers.items())


def tampered_alb_signature(idp: FakeIdentityProvider) -> HeaderList:
    headers = idp.headers(sub=ALICE_SUB)
    headers[DATA] = tamper(headers[DATA])
    return list(headers.items())


def tampered_access_signature(idp: FakeIdentityProvider) -> HeaderList:
    headers = idp.headers(sub=ALICE_SUB)
    headers[ACCESS] = tamper(headers[ACCESS])
    return list(headers.items())


def duplicated_oidc_data(idp: FakeIdentityProvider) -> HeaderList:
    headers = idp.headers(sub=ALICE_SUB)
    return [(DATA, headers[DATA]), *headers.items()]


def duplicated_oidc_data_second_forged(idp: FakeIdentityProvider) -> HeaderList:
    headers = idp.headers(sub=ALICE_SUB)
    return [*headers.items(), (DATA, tamper(headers[DATA]))]


def identity_of_someone_else(idp: FakeIdentityProvider) -> HeaderList:
    headers = idp.headers(sub=ALICE_SUB)
    headers[IDENTITY] = "b2b2b2b2-0000-4000-8000-000000000002"
    return list(headers.items())


def access_token_of_someone_else(idp: FakeIdentityProvider) -> HeaderList:
    headers = idp.headers(sub=ALICE_SUB)
    headers[ACCESS] = idp.mint_access_token(sub="b2b2b2b2-0000-4000-8000-000000000002")
    return list(headers.items())


REFUSALS = [
    pytest.param(no_headers, "missing_token", id="no-headers"),
    pytest.param(only_oidc_data, "missing_token", id="only-oidc-data"),
    pytest.param(only_access_token, "missing_token", id="only-access-token"),
    pytest.param(expired_alb_token, "expired_token", id="expired-alb-token"),
    pytest.param(expired_access_token, "expired_token", id="expired-access-token"),
    pytest.param(tampered_alb_signature, "invalid_token", id="tampered-alb-signature"),
    pytest.param(tampered_access_signature, "invalid_token", id="tampered-access-signature"),
    pytest.param(duplicated_oidc_data, "invalid_token", id="duplicated-oidc-data"),
    pytest.param(
        duplicated_oidc_data_second_forged, "invalid_token", id="duplicated-oidc-data-forged"
    ),
    pytest.param(identity_of_someone_else, "invalid_token", id="identity-mismatch"),
    pytest.param(access_token_of_someone_else, "invalid_token", id="access-token-other-user"),
]


@pytest.mark.parametrize(("make_headers", "code"), REFUSALS)
def test_refusals_are_401_json_no_store_and_never_echo_tokens(
    make_headers: HeaderFactory,
    code: str,
    idp: FakeIdentityProvider,
    options: dict[str, Any],
) -> None:
    app, probe = protected(options)
    headers = make_headers(idp)
    with TestClient(app) as client:
        response = client.get("/whoami", headers=headers)
    assert_json_refusal(response, 401, code)
    assert_no_token_text(response, sent_tokens(headers))
    assert probe.entered == []


def test_tampered_token_is_refused_even_after_the_genuine_one_was_accepted(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    """The verified-token cache is keyed by exact text: a one-character change is re-verified."""
    app, probe = protected(options)
    genuine = idp.headers(sub=ALICE_SUB)
    forged = {**genuine, DATA: tamper(genuine[DATA])}
    with TestClient(app) as client:
        first = client.get("/whoami", headers=genuine)
        second = client.get("/whoami", headers=forged)
    assert first.status_code == 200
    assert_json_refusal(second, 401, "invalid_token")
    assert_no_token_text(second, sent_tokens(forged))
    assert probe.entered == ["/whoami"]


@pytest.mark.parametrize(
    ("overrides", "groups", "make_headers", "status", "marker"),
    [
        pytest.param({}, None, no_headers, 401, "You are not signed in</h1>", id="html-401"),
        pytest.param(
            {}, None, expired_alb_token, 401, "Your session has expired</h1>", id="html-401-expired"
        ),
        pytest.param(
            {"redirect_url": "https://login.example.com/"},
            None,
            no_headers,
            302,
            None,
            id="redirect-missing",
        ),
        pytest.param(
            {"redirect_url": "https://login.example.com/"},
            None,
            tampered_alb_signature,
            302,
            None,
            id="redirect-invalid",
        ),
        pytest.param(
            {"redirect_url": "https://login.example.com/", "allowed_groups": ["admins"]},
            ["staff"],
            None,
            403,
            "You don&#x27;t have access to this app</h1>",
            id="html-403-is-never-redirected",
        ),
    ],
)
def test_browsers_get_an_html_page_or_a_redirect(
    overrides: dict[str, Any],
    groups: list[str] | None,
    make_headers: HeaderFactory | None,
    status: int,
    marker: str | None,
    idp: FakeIdentityProvider,
    options: dict[str, Any],
) -> None:
    app, probe = protected(options, **overrides)
    if make_headers is None:
        headers = list(idp.headers(sub=ALICE_SUB, groups=groups).items())
    else:
        headers = make_headers(idp)
    browser = [*headers, ("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]
    with TestClient(app, follow_redirects=False) as client:
        response = client.get("/whoami", headers=browser)

    assert response.status_code == status
    assert response.headers["cache-control"] == "no-store"
    if status == 302:
        assert response.headers["location"] == "https://login.example.com/"
        assert response.content == b""
    else:
        assert "location" not in response.headers
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert marker is not None
        assert marker in response.text
        assert response.text.startswith("<!doctype html>")
    assert_no_token_text(response, sent_tokens(headers))
    assert probe.entered == []


def test_redirect_location_is_exactly_the_configured_url(options: dict[str, Any]) -> None:
    """A trailing slash is part of the target (it was once stripped like a key base URL's)."""
    app, _ = protected(options, redirect_url="https://login.example.com/signin/")
    with TestClient(app, follow_redirects=False) as client:
        response = client.get("/whoami", headers={"accept": "text/html"})
    assert response.status_code == 302
    assert response.headers["location"] == "https://login.example.com/signin/"


@pytest.mark.parametrize(
    ("groups", "status"),
    [
        pytest.param(["admins"], 200, id="member"),
        pytest.param(["staff"], 403, id="other-group"),
        pytest.param(None, 403, id="no-groups"),
        pytest.param(["Admins"], 403, id="case-differs"),
    ],
)
def test_allowed_groups(
    groups: list[str] | None, status: int, idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    app, probe = protected(options, allowed_groups=["admins"])
    headers = idp.headers(sub=ALICE_SUB, groups=groups)
    with TestClient(app) as client:
        response = client.get("/whoami", headers=headers)
    if status == 200:
        assert response.status_code == 200
        assert response.json()["groups"] == ["admins"]
        assert probe.entered == ["/whoami"]
    else:
        assert_json_refusal(response, 403, "access_denied")
        assert_no_token_text(response, sent_tokens(headers))
        assert probe.entered == []


BOSS = "boss@corp.example"
BOB_SUB = "b0b0b0b0-0000-4000-8000-000000000002"


def _signed_in(
    idp: FakeIdentityProvider, *, sub: str, email: str, verified: object, username: str
) -> dict[str, str]:
    headers = idp.headers(sub=sub, email=email, username=username)
    headers["x-amzn-oidc-data"] = idp.mint_alb_token(
        sub=sub, email=email, username=username, claims={"email_verified": verified}
    )
    return headers


@pytest.mark.parametrize(
    ("who", "status"),
    [
        pytest.param({"email": BOSS, "verified": "true"}, 200, id="verified-email"),
        pytest.param({"email": "Boss@Corp.EXAMPLE", "verified": True}, 200, id="case-insensitive"),
        pytest.param({"email": BOSS, "verified": "false"}, 403, id="unverified-email"),
        pytest.param({"email": BOSS, "verified": "yes"}, 403, id="odd-verified-value"),
        pytest.param({"username": "boss"}, 200, id="listed-username"),
        pytest.param({"username": BOB_SUB}, 403, id="username-equal-to-a-listed-sub"),
        pytest.param({"username": BOSS, "verified": "false"}, 403, id="username-equal-to-email"),
        pytest.param({"sub": BOB_SUB}, 200, id="listed-sub"),
        pytest.param({"sub": ALICE_SUB, "username": "sub:" + BOB_SUB}, 403, id="prefix-is-text"),
    ],
)
def test_allowed_users_match_one_kind_and_verified_emails_only(
    who: dict[str, Any], status: int, idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    # One list, three kinds: an identifier never matches an entry of another kind.
    app, probe = protected(options, allowed_users=[BOSS, "username:boss", BOB_SUB])
    person = {"sub": ALICE_SUB, "email": "alice@example.com", "verified": "true", "username": "a"}
    headers = _signed_in(idp, **{**person, **who})
    with TestClient(app) as client:
        response = client.get("/whoami", headers=headers)
    assert response.status_code == status
    if status == 403:
        assert_json_refusal(response, 403, "access_denied")
        assert probe.entered == []


def test_key_endpoint_failure_is_503_with_retry_after_and_is_not_cached(
    idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    key_server.status = 500  # fresh server and fresh middleware: no key is cached yet
    app, probe = protected(key_server.settings())
    headers = idp.headers(sub=ALICE_SUB, email=ALICE_EMAIL)
    with TestClient(app) as client:
        refused = client.get("/whoami", headers=headers)
        key_server.status = None
        admitted = client.get("/whoami", headers=headers)

    assert_json_refusal(refused, 503, "keys_unavailable")
    assert int(refused.headers["retry-after"]) > 0
    assert_no_token_text(refused, sent_tokens(headers))
    assert admitted.status_code == 200
    assert admitted.json()["email"] == ALICE_EMAIL
    assert "retry-after" not in admitted.headers
    assert key_server.count("alb") == 2  # the failure was not cached: the key was fetched again
    assert probe.entered == ["/whoami"]


@pytest.mark.parametrize(
    "signer", [pytest.param(["x"], id="list"), pytest.param({"a": 1}, id="object")]
)
def test_unhashable_signer_in_alb_header_is_a_401_not_a_crash(
    signer: object, idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    """A list or object as ``signer`` once reached ``signer in frozenset(...)``: TypeError, 500."""
    app, probe = protected(options)
    headers = idp.headers(sub=ALICE_SUB)
    headers[DATA] = idp.mint_alb_token(sub=ALICE_SUB, header={"signer": signer})
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/whoami", headers=headers)
    assert_json_refusal(response, 401, "invalid_token")
    assert probe.entered == []


# --------------------------------------------------------------------------- exclude_paths


@pytest.mark.parametrize(
    ("path", "scope_path", "reaches_app"),
    [
        pytest.param("/health", "/health", True, id="exact"),
        pytest.param("/health/", "/health/", False, id="exact-trailing-slash"),
        pytest.param("/static/app.js", "/static/app.js", True, id="prefix"),
        pytest.param("/static/css/site.css", "/static/css/site.css", True, id="prefix-deep"),
        pytest.param("/health-admin", "/health-admin", False, id="not-a-prefix"),
        pytest.param("/healthz", "/healthz", False, id="longer-name"),
        pytest.param("/health/x", "/health/x", False, id="below-exact"),
        pytest.param("/HEALTH", "/HEALTH", False, id="case-differs"),
        pytest.param("/static", "/static", False, id="prefix-root"),
        pytest.param("/static/%2e%2e/admin", "/static/../admin", False, id="dot-dot"),
        pytest.param("/static/%2e%2e%2fadmin", "/static/../admin", False, id="encoded-slash"),
        pytest.param("/static/%2e/app.js", "/static/./app.js", False, id="dot"),
        pytest.param("/static//admin", "/static//admin", False, id="empty-segment"),
        pytest.param("/static/%2e%2e", "/static/..", False, id="trailing-dot-dot"),
        pytest.param("/admin", "/admin", False, id="unlisted"),
    ],
)
def test_exclude_paths(
    path: str,
    scope_path: str,
    reaches_app: bool,
    options: dict[str, Any],
) -> None:
    app, probe = protected(options, exclude_paths=["/health", "/static/*"])
    with TestClient(app) as client:
        response = client.get(path)
    if reaches_app:
        assert response.status_code == 200
        assert response.text == f"reached {scope_path}"
        assert probe.entered == [scope_path]
    else:
        assert_json_refusal(response, 401, "missing_token")
        assert probe.entered == []


def test_dot_segments_really_reach_the_app_as_sent(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    """Control for the dot-segment cases: the scope path is not normalised by the test client."""
    app, probe = protected(options, exclude_paths=["/static/*"])
    with TestClient(app) as client:
        response = client.get("/static/%2e%2e/admin", headers=idp.headers(sub=ALICE_SUB))
    assert response.status_code == 200
    assert probe.entered == ["/static/../admin"]


# --------------------------------------------------------------------------- WebSocket


@pytest.mark.parametrize(
    ("make_headers", "key_status", "close_code"),
    [
        pytest.param(no_headers, None, 1008, id="no-headers"),
        pytest.param(only_oidc_data, None, 1008, id="only-oidc-data"),
        pytest.param(expired_alb_token, None, 1008, id="expired"),
        pytest.param(tampered_alb_signature, None, 1008, id="tampered"),
        pytest.param(valid_headers, 500, 1013, id="keys-unavailable"),
    ],
)
def test_websocket_refused_before_the_endpoint_runs(
    make_headers: HeaderFactory,
    key_status: int | None,
    close_code: int,
    idp: FakeIdentityProvider,
    key_server: KeyServer,
) -> None:
    key_server.status = key_status
    app, probe = protected(key_server.settings())
    headers = dict(make_headers(idp))
    with (
        TestClient(app) as client,
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws", headers=headers),
    ):
        pytest.fail("the WebSocket was accepted")  # pragma: no cover
    assert refused.value.code == close_code
    assert probe.entered == []


def test_websocket_with_valid_headers_sees_the_user_and_echoes(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    app, probe = protected(options)
    headers = idp.headers(sub=ALICE_SUB)
    with TestClient(app) as client, client.websocket_connect("/ws", headers=headers) as websocket:
        greeting = websocket.receive_text()
        websocket.send_text("ping")
        echoed = websocket.receive_text()
    assert greeting == ALICE_SUB
    assert echoed == f"{ALICE_SUB}: ping"
    assert probe.entered == ["/ws"]


# --------------------------------------------------------------------------- lifespan and bodies


def test_lifespan_and_its_state_pass_through(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"greeting": "hello from lifespan"}
        events.append("shutdown")

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"greeting": request.state.greeting, "sub": request.state.user.sub})

    inner = Starlette(routes=[Route("/hello", hello)], lifespan=lifespan)
    app = CognitoAuthMiddleware(inner, **options)
    with TestClient(app) as client:
        assert events == ["startup"]
        response = client.get("/hello", headers=idp.headers(sub=ALICE_SUB))
        assert events == ["startup"]
    assert events == ["startup", "shutdown"]
    assert response.status_code == 200
    assert response.json() == {"greeting": "hello from lifespan", "sub": ALICE_SUB}


def body_chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), BODY_CHUNK):
        yield body[start : start + BODY_CHUNK]


def test_streamed_request_body_arrives_intact(
    big_body: bytes, idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    expected = {"sha256": hashlib.sha256(big_body).hexdigest(), "length": BODY_SIZE}
    results = []
    for app, headers in (
        (starlette_app(Probe()), {}),
        (protected(options)[0], idp.headers(sub=ALICE_SUB)),
    ):
        with TestClient(app) as client:
            response = client.post("/digest", content=body_chunks(big_body), headers=headers)
        assert response.status_code == 200
        results.append(response.json())
    assert results == [expected, expected]


def test_streaming_response_arrives_intact(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    expected = b"".join(STREAM_CHUNKS)
    received = []
    for app, headers in (
        (starlette_app(Probe()), {}),
        (protected(options)[0], idp.headers(sub=ALICE_SUB)),
    ):
        with TestClient(app) as client, client.stream("GET", "/stream", headers=headers) as reply:
            assert reply.status_code == 200
            received.append(b"".join(reply.iter_bytes()))
    assert received == [expected, expected]


# --------------------------------------------------------------------------- configuration


def test_missing_alb_arn_fails_at_construction(idp: FakeIdentityProvider) -> None:
    settings = Settings.load(environ={}, user_pool_id=idp.user_pool_id, client_id=idp.client_id)
    assert settings.alb_arn == ()
    probe = Probe()
    with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN"):
        CognitoAuthMiddleware(starlette_app(probe), settings=settings)
    assert probe.entered == []


def test_missing_alb_arn_with_add_middleware_fails_at_startup_not_first_request(
    idp: FakeIdentityProvider,
) -> None:
    """Starlette builds its middleware stack on the first ASGI event: the lifespan startup."""
    settings = Settings.load(environ={}, user_pool_id=idp.user_pool_id, client_id=idp.client_id)
    probe = Probe()
    app = starlette_app(probe)
    app.add_middleware(CognitoAuthMiddleware, settings=settings)
    with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN"), TestClient(app):
        pytest.fail("the app started without an alb_arn")  # pragma: no cover
    assert probe.entered == []


@pytest.mark.parametrize(
    ("alb_arn", "message"),
    [
        pytest.param("not-an-arn", "not an application load balancer ARN", id="garbage"),
        pytest.param(
            "arn:aws:ec2:eu-west-2:123456789012:loadbalancer/app/test-alb/0123456789abcdef",
            "not an application load balancer ARN",
            id="wrong-service",
        ),
        pytest.param(
            "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/net/nlb/"
            "0123456789abcdef",
            "not an application load balancer ARN",
            id="network-load-balancer",
        ),
        pytest.param(
            "arn:aws:elasticloadbalancing:eu-west-2:12345:loadbalancer/app/test-alb/"
            "0123456789abcdef",
            "not an application load balancer ARN",
            id="short-account",
        ),
        pytest.param(
            "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/test-alb/"
            "NOT-HEX-ID-00000",
            "not an application load balancer ARN",
            id="id-not-hex",
        ),
        pytest.param(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/test-alb/"
            "0123456789abcdef",
            "must name one region",
            id="region-differs-from-pool",
        ),
    ],
)
def test_malformed_alb_arn_fails_at_construction(
    alb_arn: str, message: str, options: dict[str, Any]
) -> None:
    probe = Probe()
    with pytest.raises(ConfigurationError, match=message):
        CognitoAuthMiddleware(starlette_app(probe), **{**options, "alb_arn": alb_arn})
    assert probe.entered == []


def test_bare_add_middleware_is_configured_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    monkeypatch.setenv("COGNITO_AUTH_ALB_ARN", idp.alb_arn)
    monkeypatch.setenv("COGNITO_AUTH_USER_POOL_ID", idp.user_pool_id)
    monkeypatch.setenv("COGNITO_AUTH_CLIENT_ID", idp.client_id)
    monkeypatch.setenv("COGNITO_AUTH_ALB_KEY_URL", key_server.alb_key_url)
    monkeypatch.setenv("COGNITO_AUTH_JWKS_URL", key_server.jwks_url)
    monkeypatch.setenv("COGNITO_AUTH_EXCLUDE_PATHS", "/health,/ready/")
    monkeypatch.setenv("COGNITO_AUTH_ALLOWED_GROUPS", "staff")
    probe = Probe()
    app = starlette_app(probe)
    app.add_middleware(CognitoAuthMiddleware)
    staff = idp.headers(sub=ALICE_SUB, email=ALICE_EMAIL, groups=["staff"])
    outsider = idp.headers(sub="c3c3c3c3-0000-4000-8000-000000000003", groups=["guests"])
    with TestClient(app) as client:
        health = client.get("/health")
        ready = client.get("/ready/")
        refused = client.get("/whoami")
        denied = client.get("/whoami", headers=outsider)
        admitted = client.get("/whoami", headers=staff)

    assert (health.status_code, health.text) == (200, "reached /health")
    assert (ready.status_code, ready.text) == (200, "reached /ready/")
    assert_json_refusal(refused, 401, "missing_token")
    assert_json_refusal(denied, 403, "access_denied")
    assert_no_token_text(denied, sent_tokens(outsider))
    assert admitted.status_code == 200
    assert admitted.json()["email"] == ALICE_EMAIL
    assert probe.entered == ["/health", "/ready/", "/whoami"]
    # The keys came from the URLs named in the environment.
    assert key_server.count("alb") == 1
    assert key_server.count("jwks") == 1


def test_bare_add_middleware_without_alb_arn_in_the_environment_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, idp: FakeIdentityProvider
) -> None:
    monkeypatch.setenv("COGNITO_AUTH_USER_POOL_ID", idp.user_pool_id)
    app = starlette_app(Probe())
    app.add_middleware(CognitoAuthMiddleware)
    with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN"), TestClient(app):
        pytest.fail("the app started without an alb_arn")  # pragma: no cover
