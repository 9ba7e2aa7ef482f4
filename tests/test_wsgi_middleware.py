"""``CognitoAuthWSGIMiddleware`` in process: a Flask app and a plain WSGI callable.

Everything is real: tokens are minted and signed by ``FakeIdentityProvider``, the keys are
fetched over HTTP from a ``KeyServer`` on loopback, and requests go through Flask's and
Werkzeug's test clients.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask, Response, jsonify, request
from werkzeug.test import Client, TestResponse

from cognito_auth_middleware import (
    CognitoAuthWSGIMiddleware,
    ConfigurationError,
    Settings,
    User,
    Verifier,
    get_user,
)
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

DATA = "x-amzn-oidc-data"
ACCESS = "x-amzn-oidc-accesstoken"
IDENTITY = "x-amzn-oidc-identity"

STREAM_CHUNKS = [f"chunk {index:03d}\n".encode() * 50 for index in range(64)]


# --- apps under test ------------------------------------------------------------------------


def build_flask_app() -> Flask:
    """A Flask app whose views report what the middleware left in the environ."""
    app = Flask(__name__)

    @app.get("/")
    def whoami() -> Response:
        user = get_user(request.environ)
        assert user is not None
        return jsonify(
            sub=user.sub,
            email=user.email,
            groups=list(user.groups),
            email_domain=user.email_domain,
        )

    @app.get("/health")
    def health() -> Response:
        return jsonify(status="ok", user_is_none=get_user(request.environ) is None)

    @app.post("/upload")
    def upload() -> Response:
        body = request.get_data()
        return jsonify(length=len(body), sha256=hashlib.sha256(body).hexdigest())

    @app.get("/stream")
    def stream() -> Response:
        def generate() -> Iterator[bytes]:
            yield from STREAM_CHUNKS

        return Response(generate(), mimetype="application/octet-stream")

    return app


def echo_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A plain WSGI app: echoes the path and the verified user's sub (or null)."""
    user = get_user(environ)
    body = json.dumps({"path": environ["PATH_INFO"], "sub": user.sub if user else None})
    start_response("200 OK", [("content-type", "application/json")])
    return [body.encode()]


def failing_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A plain WSGI app with a bug."""
    raise RuntimeError("the app itself failed")


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def wrap(options: dict[str, Any]) -> Iterator[Callable[..., CognitoAuthWSGIMiddleware]]:
    """Wrap a WSGI app in the middleware (trusting ``key_server``); verifiers closed after."""
    made: list[CognitoAuthWSGIMiddleware] = []

    def make(app: WSGIApplication, **overrides: Any) -> CognitoAuthWSGIMiddleware:
        middleware = CognitoAuthWSGIMiddleware(app, **{**options, **overrides})
        made.append(middleware)
        return middleware

    yield make
    for middleware in made:
        middleware.verifier.close()


@pytest.fixture
def make_flask(
    wrap: Callable[..., CognitoAuthWSGIMiddleware],
) -> Callable[..., Flask]:
    """A Flask app protected the documented way: ``app.wsgi_app = Middleware(app.wsgi_app)``."""

    def make(**overrides: Any) -> Flask:
        app = build_flask_app()
        app.wsgi_app = wrap(app.wsgi_app, **overrides)  # type: ignore[method-assign]
        return app

    return make


def b64_padded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def tamper_signature(token: str) -> str:
    """Flip one bit of the signature, keeping the ALB's padded encoding."""
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature))
    raw[-1] ^= 0x01
    return f"{head}.{payload}.{b64_padded(bytes(raw))}"


def secret_texts(headers: Mapping[str, str]) -> list[str]:
    """The token texts of a request, and each of their segments, that must never be echoed."""
    texts: list[str] = []
    for name in (DATA, ACCESS):
        token = headers.get(name)
        if token:
            texts.append(token)
            texts.extend(seg.rstrip("=") for seg in token.split(".") if len(seg) >= 16)
    return texts


def assert_safe_refusal(response: TestResponse, sent: Mapping[str, str]) -> None:
    """Every refusal is uncacheable and never repeats the tokens it was given."""
    assert response.headers.get("Cache-Control") == "no-store"
    body = response.get_data(as_text=True)
    header_text = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    for text in secret_texts(sent):
        assert text not in body
        assert text not in header_text


# --- refusals, table-driven -----------------------------------------------------------------


def no_headers(idp: FakeIdentityProvider) -> dict[str, str]:
    return {}


def only_alb_token(idp: FakeIdentityProvider) -> dict[str, str]:
    headers = idp.headers()
    return {DATA: headers[DATA], IDENTITY: headers[IDENTITY]}


def expired_alb_token(idp: FakeIdentityProvider) -> dict[str, str]:
    return idp.headers(ttl=-3600)


def tampered_alb_signature(idp: FakeIdentityProvider) -> dict[str, str]:
    headers = idp.headers()
    return {**headers, DATA: tamper_signature(headers[DATA])}


def spliced_pair(idp: FakeIdentityProvider) -> dict[str, str]:
    """Alice's ALB token with Bob's (validly signed) access token."""
    alice = idp.headers(sub="alice-sub", email="alice@example.com")
    bob = idp.headers(sub="bob-sub", email="bob@example.com")
    return {DATA: alice[DATA], ACCESS: bob[ACCESS], IDENTITY: alice[IDENTITY]}


def identity_mismatch(idp: FakeIdentityProvider) -> dict[str, str]:
    return {**idp.headers(sub="alice-sub"), IDENTITY: "bob-sub"}


def other_load_balancer(idp: FakeIdentityProvider) -> dict[str, str]:
    other = idp.alb_arn.replace("test-alb", "other-alb")
    headers = idp.headers()
    return {**headers, DATA: idp.mint_alb_token(header={"signer": other})}


def not_in_group(idp: FakeIdentityProvider) -> dict[str, str]:
    return idp.headers(groups=["users"])


ADMINS_ONLY = {"allowed_groups": ["admins"]}

REFUSALS = [
    pytest.param(no_headers, {}, 401, "missing_token", id="no-headers"),
    pytest.param(only_alb_token, {}, 401, "missing_token", id="no-access-token"),
    pytest.param(expired_alb_token, {}, 401, "expired_token", id="expired-alb-token"),
    pytest.param(tampered_alb_signature, {}, 401, "invalid_token", id="tampered-signature"),
    pytest.param(spliced_pair, {}, 401, "invalid_token", id="access-token-of-another-user"),
    pytest.param(identity_mismatch, {}, 401, "invalid_token", id="identity-header-mismatch"),
    pytest.param(other_load_balancer, {}, 401, "invalid_token", id="signed-by-another-alb"),
    pytest.param(not_in_group, ADMINS_ONLY, 403, "access_denied", id="not-in-allowed-group"),
]


@pytest.mark.parametrize(("build", "overrides", "status", "code"), REFUSALS)
def test_refusal_is_json_for_api_clients(
    make_flask: Callable[..., Flask],
    idp: FakeIdentityProvider,
    build: Callable[[FakeIdentityProvider], dict[str, str]],
    overrides: dict[str, Any],
    status: int,
    code: str,
) -> None:
    headers = build(idp)
    client = make_flask(**overrides).test_client()

    response = client.get("/", headers=headers)

    assert response.status_code == status
    assert response.mimetype == "application/json"
    document = response.get_json()
    assert document["error"] == code
    assert document["status"] == status
    assert isinstance(document["message"], str)
    assert document["message"]
    assert_safe_refusal(response, headers)


@pytest.mark.parametrize(("build", "overrides", "status", "code"), REFUSALS)
def test_refusal_is_html_for_browsers(
    make_flask: Callable[..., Flask],
    idp: FakeIdentityProvider,
    build: Callable[[FakeIdentityProvider], dict[str, str]],
    overrides: dict[str, Any],
    status: int,
    code: str,
) -> None:
    headers = build(idp)
    client = make_flask(**overrides).test_client()

    response = client.get("/", headers={**headers, "Accept": "text/html,*/*;q=0.8"})

    assert response.status_code == status
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert page.startswith("<!doctype html>")
    assert ("have access to this app" if status == 403 else "to sign in again") in page
    assert_safe_refusal(response, headers)


@pytest.mark.parametrize(("build", "overrides", "status", "code"), REFUSALS)
def test_browser_is_redirected_on_401_only(
    make_flask: Callable[..., Flask],
    idp: FakeIdentityProvider,
    build: Callable[[FakeIdentityProvider], dict[str, str]],
    overrides: dict[str, Any],
    status: int,
    code: str,
) -> None:
    login = "https://login.example.com/start"
    headers = build(idp)
    client = make_flask(redirect_url=login, **overrides).test_client()

    browser = client.get("/", headers={**headers, "Accept": "text/html"})
    api = client.get("/", headers={**headers, "Accept": "application/json"})

    if status == 401:
        assert browser.status_code == 302
        assert browser.headers["Location"] == login
        assert browser.get_data() == b""
    else:  # signing in again cannot help a 403: no redirect loop
        assert browser.status_code == status
        assert "Location" not in browser.headers
    assert api.status_code == status
    assert api.get_json()["error"] == code
    assert_safe_refusal(browser, headers)
    assert_safe_refusal(api, headers)


def test_refused_request_never_reaches_the_app(
    wrap: Callable[..., CognitoAuthWSGIMiddleware], idp: FakeIdentityProvider
) -> None:
    calls: list[str] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b"secret"]

    client = Client(wrap(app))
    response = client.get("/admin", headers=expired_alb_token(idp))

    assert response.status_code == 401
    assert response.get_data() != b"secret"
    assert calls == []


# --- success --------------------------------------------------------------------------------


def test_flask_view_reads_the_verified_user(
    make_flask: Callable[..., Flask], idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    client = make_flask(**ADMINS_ONLY).test_client()
    headers = idp.headers(sub="alice-sub", email="Alice@Example.COM", groups=["admins", "staff"])

    first = client.get("/", headers=headers)
    second = client.get("/", headers=idp.headers(sub="bob-sub", groups=["admins"]))

    assert first.status_code == 200
    assert first.get_json() == {
        "sub": "alice-sub",
        "email": "Alice@Example.COM",
        "groups": ["admins", "staff"],
        "email_domain": "example.com",
    }
    assert second.status_code == 200
    assert second.get_json()["sub"] == "bob-sub"
    # The keys were fetched once and then served from the cache.
    assert key_server.count("alb") == 1
    assert key_server.count("jwks") == 1


def test_plain_wsgi_app_gets_user_in_environ(
    wrap: Callable[..., CognitoAuthWSGIMiddleware], idp: FakeIdentityProvider
) -> None:
    client = Client(wrap(echo_app))

    response = client.get("/anything", headers=idp.headers(sub="carol-sub"))

    assert response.status_code == 200
    assert response.get_json() == {"path": "/anything", "sub": "carol-sub"}


def test_get_user_ignores_foreign_environ_values() -> None:
    assert get_user({}) is None
    assert get_user({"cognito_auth.user": "alice-sub"}) is None
    assert get_user({"cognito_auth.user": {"sub": "alice-sub"}}) is None


# --- keys unavailable -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(503, None, id="key-endpoint-503"),
        pytest.param(500, None, id="key-endpoint-500"),
        pytest.param(None, b"this is not a key", id="key-endpoint-garbage"),
    ],
)
def test_key_outage_is_503_and_not_cached(
    make_flask: Callable[..., Flask],
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    status: int | None,
    body: bytes | None,
) -> None:
    client = make_flask().test_client()
    headers = idp.headers()
    key_server.status = status
    key_server.body = body

    outage = client.get("/", headers=headers)

    assert outage.status_code == 503
    assert outage.get_json()["error"] == "keys_unavailable"
    assert outage.headers["Retry-After"].isdigit()
    assert int(outage.headers["Retry-After"]) > 0
    assert_safe_refusal(outage, headers)

    key_server.status = None
    key_server.body = None
    recovered = client.get("/", headers=headers)

    assert recovered.status_code == 200
    assert recovered.get_json()["sub"] == headers[IDENTITY]
    assert key_server.count("alb") == 2  # the failure was not cached


def test_key_outage_is_html_503_for_browsers(
    make_flask: Callable[..., Flask],
    idp: FakeIdentityProvider,
    key_server: KeyServer,
) -> None:
    client = make_flask(redirect_url="https://login.example.com/").test_client()
    key_server.status = 503

    response = client.get("/", headers={**idp.headers(), "Accept": "text/html"})

    # A redirect to sign-in would not help with an outage.
    assert response.status_code == 503
    assert "Location" not in response.headers
    assert "Sign-in is temporarily unavailable" in response.get_data(as_text=True)
    assert response.headers["Retry-After"].isdigit()
    assert response.headers["Cache-Control"] == "no-store"


# --- exclude_paths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/health", 200, id="exact"),
        pytest.param("/health/", 401, id="exact-trailing-slash"),
        pytest.param("/health-admin", 401, id="exact-is-not-a-prefix"),
        pytest.param("/healthz", 401, id="exact-is-not-a-prefix-2"),
        pytest.param("/health/admin", 401, id="exact-has-no-children"),
        pytest.param("/HEALTH", 401, id="case-sensitive"),
        pytest.param("/static/app.js", 200, id="prefix"),
        pytest.param("/static/css/site.css", 200, id="prefix-nested"),
        pytest.param("/static", 401, id="prefix-needs-its-slash"),
        pytest.param("/static/../admin", 401, id="dot-dot-escape"),
        pytest.param("/static/./app.js", 401, id="dot-segment"),
        pytest.param("/static//admin", 401, id="empty-segment"),
        pytest.param("/static/..", 401, id="trailing-dot-dot"),
        pytest.param("/", 401, id="root"),
        pytest.param("/admin", 401, id="protected"),
    ],
)
def test_exclude_paths(
    wrap: Callable[..., CognitoAuthWSGIMiddleware],
    key_server: KeyServer,
    path: str,
    status: int,
) -> None:
    client = Client(wrap(echo_app, exclude_paths=["/health", "/static/*"]))

    response = client.get(path)

    assert response.status_code == status
    if status == 200:
        assert response.get_json() == {"path": path, "sub": None}
    else:
        assert response.get_json()["error"] == "missing_token"
    # An excluded path never costs a key fetch.
    assert key_server.count("alb") == 0


def test_get_user_is_none_on_excluded_path(
    make_flask: Callable[..., Flask], idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    client = make_flask(exclude_paths=["/health"]).test_client()

    anonymous = client.get("/health")
    with_headers = client.get("/health", headers=idp.headers())

    assert anonymous.status_code == 200
    assert anonymous.get_json() == {"status": "ok", "user_is_none": True}
    # Headers on an excluded path are not verified, so no user is published either.
    assert with_headers.status_code == 200
    assert with_headers.get_json() == {"status": "ok", "user_is_none": True}
    assert key_server.count("alb") == 0


# --- the request and the response pass through intact ---------------------------------------


def test_request_body_reaches_the_app_intact(
    make_flask: Callable[..., Flask], idp: FakeIdentityProvider
) -> None:
    client = make_flask().test_client()
    body = hashlib.sha256(b"seed").digest() * (2 * 1024 * 1024 // 32)  # 2 MiB, not all zeros
    assert len(body) == 2 * 1024 * 1024

    response = client.post(
        "/upload",
        data=body,
        headers={**idp.headers(), "Content-Type": "application/octet-stream"},
    )

    assert response.status_code == 200
    assert response.get_json() == {
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


def test_streamed_response_is_received_intact(
    make_flask: Callable[..., Flask], idp: FakeIdentityProvider
) -> None:
    client = make_flask().test_client()

    response = client.get("/stream", headers=idp.headers())

    assert response.status_code == 200
    assert response.is_streamed
    assert response.get_data() == b"".join(STREAM_CHUNKS)


def test_app_iterable_is_passed_through_and_closed(
    wrap: Callable[..., CognitoAuthWSGIMiddleware], idp: FakeIdentityProvider
) -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"part one, "
            yield b"part two"

        def close(self) -> None:
            closed.append(True)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return Body()

    client = Client(wrap(app))
    response = client.get("/", headers=idp.headers(), buffered=True)

    assert response.get_data() == b"part one, part two"
    assert closed == [True]


def test_app_exception_propagates_instead_of_401(
    wrap: Callable[..., CognitoAuthWSGIMiddleware], idp: FakeIdentityProvider
) -> None:
    client = Client(wrap(failing_app))

    with pytest.raises(RuntimeError, match="the app itself failed"):
        client.get("/", headers=idp.headers())


# --- configuration --------------------------------------------------------------------------


def test_missing_alb_arn_is_refused_at_construction(idp: FakeIdentityProvider) -> None:
    settings = Settings.load(environ={}, user_pool_id=idp.user_pool_id, client_id=idp.client_id)
    assert settings.alb_arn == ()

    with pytest.raises(ConfigurationError, match="alb_arn is required"):
        CognitoAuthWSGIMiddleware(echo_app, settings=settings)


def test_missing_alb_arn_is_refused_with_a_shared_verifier(idp: FakeIdentityProvider) -> None:
    settings = Settings.load(environ={}, user_pool_id=idp.user_pool_id, client_id=idp.client_id)
    verifier = Verifier(settings)
    try:
        with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN"):
            CognitoAuthWSGIMiddleware(echo_app, verifier=verifier)
    finally:
        verifier.close()


def test_shared_verifier_serves_two_apps_with_one_key_cache(
    key_server: KeyServer, idp: FakeIdentityProvider
) -> None:
    verifier = Verifier(**key_server.settings())
    try:
        first = Client(CognitoAuthWSGIMiddleware(echo_app, verifier=verifier))
        second = Client(CognitoAuthWSGIMiddleware(echo_app, verifier=verifier))

        assert first.get("/", headers=idp.headers(sub="a-sub")).get_json()["sub"] == "a-sub"
        assert second.get("/", headers=idp.headers(sub="b-sub")).get_json()["sub"] == "b-sub"
        assert (key_server.count("alb"), key_server.count("jwks")) == (1, 1)
    finally:
        verifier.close()


# --- concurrency ----------------------------------------------------------------------------


def test_cold_key_fetch_is_single_flight_across_threads(idp: FakeIdentityProvider) -> None:
    threads_count = 16
    pairs = [idp.headers(sub=f"user-{index:02d}") for index in range(threads_count)]
    barrier = threading.Barrier(threads_count)
    users: dict[int, User] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    with KeyServer(idp) as server:
        server.delay = 0.3
        verifier = Verifier(**server.settings())

        def worker(index: int) -> None:
            headers = pairs[index]
            try:
                barrier.wait(timeout=10)
                user = verifier.authenticate(headers[DATA], headers[ACCESS], headers[IDENTITY])
            except BaseException as exc:  # noqa: BLE001 (reported to the main thread)
                with lock:
                    errors.append(exc)
            else:
                with lock:
                    users[index] = user

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=20)
            assert not any(thread.is_alive() for thread in threads)
        finally:
            verifier.close()

        assert errors == []
        assert {index: user.sub for index, user in users.items()} == {
            index: f"user-{index:02d}" for index in range(threads_count)
        }
        assert server.count("alb") == 1
        assert server.count("jwks") == 1


# --- regression: a malformed unverified header field ----------------------------------------


@pytest.mark.parametrize(
    "signer",
    [pytest.param(["arn"], id="list"), pytest.param({"arn": 1}, id="object")],
)
def test_non_string_signer_is_a_401(
    wrap: Callable[..., CognitoAuthWSGIMiddleware],
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    signer: object,
) -> None:
    # The header is read before any signature check, so anyone able to send the header can
    # choose this value; it must be a 401, never an unhandled TypeError (a 500).
    client = Client(wrap(echo_app))
    headers = {**idp.headers(), DATA: idp.mint_alb_token(header={"signer": signer})}

    response = client.get("/", headers=headers)

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert key_server.count("alb") == 0
