"""The refusal pages a person reads: plain words, no technical reason, escaped, replaceable."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.test import Client
from werkzeug.wrappers import Response

from cognito_auth_middleware import (
    CognitoAuthMiddleware,
    CognitoAuthWSGIMiddleware,
    ConfigurationError,
    Settings,
    pages,
)
from cognito_auth_middleware.exceptions import (
    AccessDeniedError,
    AuthenticationError,
    ExpiredTokenError,
    InvalidTokenError,
    KeysUnavailableError,
    MissingTokenError,
)
from cognito_auth_middleware.integrations.flask import CognitoAuth, groups_required
from cognito_auth_middleware.pages import (
    DENIED,
    EXPIRED,
    MAX_TEMPLATE_BYTES,
    NOT_SIGNED_IN,
    UNAVAILABLE,
    Notice,
    Pages,
    reload_link,
)
from cognito_auth_middleware.responses import error_response
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

# Reasons as the engine writes them for the log: header names, ARNs, claim names, key URLs.
ARN = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188"
REASONS: list[tuple[AuthenticationError, Notice]] = [
    (MissingTokenError("the x-amzn-oidc-data header is missing"), NOT_SIGNED_IN),
    (InvalidTokenError(f"signer {ARN} is not the configured ALB"), NOT_SIGNED_IN),
    (ExpiredTokenError("exp 1700000000 is in the past (x-amzn-oidc-accesstoken)"), EXPIRED),
    (AccessDeniedError("groups ['staff'] not in allowed_groups ['admins']"), DENIED),
    (
        KeysUnavailableError("https://public-keys.auth.elb.eu-west-2.amazonaws.com: 503"),
        UNAVAILABLE,
    ),
]
IDS = ["missing", "invalid", "expired", "denied", "keys"]
# Anything technical a page must never carry.
TECHNICAL = re.compile(r"x-amzn|oidc|token|arn:|amazonaws|allowed_groups|\bexp\b|signer", re.I)
CONTACT_EMAIL = "it_help@example.com"
CONTACT_URL = "https://help.example.com/access?app=reports&team=data"


def visible(page: bytes) -> str:
    """The page's text with tags removed and entities decoded (what a person reads)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page.decode()))


def test_the_documented_table_is_what_the_notices_say() -> None:
    rows = re.findall(r"^(\d{3}[ \w/]*?)  +(\S.*?)  +(\S.*?)$", pages.__doc__ or "", re.M)
    documented = {title: action.replace(" (``support_contact``)", "") for _, title, action in rows}
    assert documented == {
        NOT_SIGNED_IN.title: NOT_SIGNED_IN.action,
        EXPIRED.title: EXPIRED.action,
        DENIED.title: "Ask for access",
        UNAVAILABLE.title: UNAVAILABLE.action,
    }


@pytest.mark.parametrize(("exc", "notice"), REASONS, ids=IDS)
def test_each_page_says_what_happened_and_what_to_do(
    exc: AuthenticationError, notice: Notice
) -> None:
    page = Pages().html(exc, "/reports")
    text = page.decode()
    assert text.startswith("<!doctype html><html lang=en><meta charset=utf-8>")
    assert "<meta name=viewport content='width=device-width,initial-scale=1'>" in text
    assert f"<title>{html.escape(notice.title)}</title>" in text
    assert re.search(rf"<h1[^>]*>{re.escape(html.escape(notice.title))}</h1>", text)
    assert f"<p>{html.escape(notice.message)}</p>" in text
    assert notice.action in visible(page)
    assert "<script" not in text
    assert "javascript:" not in text
    assert len(page) < 1024


@pytest.mark.parametrize(("exc", "notice"), REASONS, ids=IDS)
def test_the_technical_reason_stays_out_of_the_page(
    exc: AuthenticationError, notice: Notice
) -> None:
    page = visible(Pages(support_contact=CONTACT_EMAIL).html(exc, "/reports"))
    assert exc.message not in page
    assert TECHNICAL.search(page) is None, TECHNICAL.search(page)
    # ...and in the JSON for API clients, as before (the missing header's name included).
    body = json.loads(error_response(exc, accept="application/json").body)
    assert body == {"error": exc.code, "message": exc.public_message, "status": exc.status_code}


@pytest.mark.parametrize(
    ("exc", "linked"),
    [
        pytest.param(MissingTokenError("x"), True, id="missing"),
        pytest.param(ExpiredTokenError("x"), True, id="expired"),
        pytest.param(KeysUnavailableError("x"), True, id="keys"),
        pytest.param(AccessDeniedError("x"), False, id="denied"),
    ],
)
def test_401_and_503_pages_link_back_to_the_page_itself(
    exc: AuthenticationError, linked: bool
) -> None:
    text = Pages().html(exc, "/reports/q3").decode()
    links = re.findall(r"<a href='([^']*)'>", text)
    assert links == (["/reports/q3"] if linked else [])


@pytest.mark.parametrize(
    ("path", "link"),
    [
        pytest.param("/", "/", id="root"),
        pytest.param("/reports/q3", "/reports/q3", id="plain"),
        pytest.param("//evil.example/x", "/evil.example/x", id="protocol-relative"),
        pytest.param("///evil.example", "/evil.example", id="three-slashes"),
        pytest.param("/\\evil.example", "/%5Cevil.example", id="backslash"),
        pytest.param(
            "/a'><script>alert(1)</script>",
            "/a%27%3E%3Cscript%3Ealert(1)%3C/script%3E",
            id="markup",
        ),
        pytest.param("/a?b#c", "/a%3Fb%23c", id="no-query-or-fragment"),
        pytest.param("/caf\u00e9 menu", "/caf%C3%A9%20menu", id="utf-8"),
        pytest.param(b"/caf\xe9", "/caf%E9", id="wsgi-bytes"),
        pytest.param("", "/", id="empty"),
        pytest.param("javascript:alert(1)", "/javascript:alert(1)", id="scheme"),
    ],
)
def test_the_link_stays_on_this_site_and_is_escaped(path: str | bytes, link: str) -> None:
    assert reload_link(path) == link
    text = Pages().html(MissingTokenError("x"), path).decode()
    assert re.findall(r"<a href='([^']*)'>", text) == [html.escape(link)]
    assert "<script" not in text


def test_support_contact_email_is_a_mailto_link_on_the_403_page_only() -> None:
    contacted = Pages(support_contact=CONTACT_EMAIL)
    text = contacted.html(AccessDeniedError("x"), "/").decode()
    assert f"Ask for access: <a href='mailto:{CONTACT_EMAIL}'>{CONTACT_EMAIL}</a>" in text
    assert DENIED.action not in text  # the contact replaces the generic advice
    for other in (MissingTokenError("x"), ExpiredTokenError("x"), KeysUnavailableError("x")):
        assert CONTACT_EMAIL not in contacted.html(other, "/").decode()


def test_support_contact_url_is_a_link_and_escaped() -> None:
    text = Pages(support_contact=CONTACT_URL).html(AccessDeniedError("x"), "/").decode()
    escaped = html.escape(CONTACT_URL)
    assert "&amp;" in escaped
    assert f"Ask for access: <a href='{escaped}'>{escaped}</a>" in text


def test_without_support_contact_the_403_page_gives_plain_advice() -> None:
    text = Pages().html(AccessDeniedError("x"), "/").decode()
    assert "<a " not in text
    assert f"<p>{DENIED.action}.</p>" in text


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        pytest.param(
            MissingTokenError("x-amzn-oidc-data"),
            "You are not signed in. You need to be signed in to use this app. "
            "Reload the page to sign in again.",
            id="missing",
        ),
        pytest.param(
            ExpiredTokenError("x"),
            "Your session has expired. Sign-ins last a limited time, and yours has ended. "
            "Reload the page to sign in again.",
            id="expired",
        ),
        pytest.param(
            AccessDeniedError("x"),
            "You don't have access to this app. You are signed in, but your account has not "
            f"been given access to this app. Ask for access: {CONTACT_EMAIL}",
            id="denied",
        ),
        pytest.param(
            KeysUnavailableError("x"),
            "Sign-in is temporarily unavailable. This app cannot check your sign-in right now. "
            "Try again in a minute.",
            id="keys",
        ),
    ],
)
def test_the_plain_text_is_the_pages_words(exc: AuthenticationError, text: str) -> None:
    assert Pages(support_contact=CONTACT_EMAIL).text(exc) == text


# --- error_template -------------------------------------------------------------------------

TEMPLATE = (
    "<!doctype html><html lang=en><title>$status $title</title>"
    "<h1>$title</h1><p>$message</p><a href='$link'>$action</a> $$5</html>"
)


def template_pages(tmp_path: Path, text: str | bytes, **options: Any) -> Pages:
    path = tmp_path / "refused.html"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    settings = Settings.load(environ={}, region="eu-west-2", error_template=str(path), **options)
    return Pages.from_settings(settings)


def test_the_template_replaces_the_page_with_every_value_escaped(tmp_path: Path) -> None:
    custom = template_pages(tmp_path, TEMPLATE, support_contact=CONTACT_URL)
    denied = custom.html(AccessDeniedError("x"), "/").decode()
    assert denied == (
        "<!doctype html><html lang=en><title>403 You don&#x27;t have access to this app</title>"
        "<h1>You don&#x27;t have access to this app</h1>"
        f"<p>{html.escape(DENIED.message)}</p>"
        f"<a href='{html.escape(CONTACT_URL)}'>Ask for access: {html.escape(CONTACT_URL)}</a>"
        " $5</html>"
    )
    expired = custom.html(ExpiredTokenError("x"), "/a'b").decode()
    assert "<title>401 Your session has expired</title>" in expired
    assert "<a href='/a%27b'>Reload the page to sign in again</a>" in expired


def test_the_template_has_no_link_for_a_403_without_contact(tmp_path: Path) -> None:
    page = template_pages(tmp_path, TEMPLATE).html(AccessDeniedError("x"), "/x").decode()
    assert f"<a href=''>{DENIED.action}</a>" in page


def test_the_template_may_be_exactly_the_size_cap(tmp_path: Path) -> None:
    text = "$title" + " " * (MAX_TEMPLATE_BYTES - len("$title"))
    assert template_pages(tmp_path, text).template is not None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param("<p>$title $user</p>", r"unknown placeholder\(s\) \$user", id="unknown"),
        pytest.param("<p>${token}</p>", r"unknown placeholder\(s\) \$token", id="braced"),
        pytest.param("<p>costs $5</p>", r"'\$' that starts no placeholder", id="stray-dollar"),
        pytest.param(" " * (MAX_TEMPLATE_BYTES + 1), "larger than 65536 bytes", id="too-large"),
        pytest.param(b"<p>\xff\xfe</p>", "not UTF-8", id="not-utf-8"),
    ],
)
def test_a_template_that_cannot_be_used_stops_the_app(
    tmp_path: Path, content: str | bytes, reason: str
) -> None:
    with pytest.raises(ConfigurationError, match=reason) as raised:
        template_pages(tmp_path, content)
    assert "error_template (COGNITO_AUTH_ERROR_TEMPLATE)" in str(raised.value)


@pytest.mark.parametrize("make", [lambda p: p / "absent.html", lambda p: p], ids=["absent", "dir"])
def test_an_unreadable_template_stops_the_app(tmp_path: Path, make: Any) -> None:
    settings = Settings.load(environ={}, region="eu-west-2", error_template=str(make(tmp_path)))
    with pytest.raises(ConfigurationError, match=r"error_template \(COGNITO_AUTH_ERROR_TEMPLATE\)"):
        Pages.from_settings(settings)


# --- both middlewares, and the Flask decorator behind the middleware -----------------------

BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def asgi_app(**options: Any) -> CognitoAuthMiddleware:
    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("home")

    starlette = Starlette(routes=[Route("/{path:path}", home)])
    return CognitoAuthMiddleware(starlette, **options)


def wsgi_app(**options: Any) -> CognitoAuthWSGIMiddleware:
    def home(environ: Any, start_response: Any) -> Any:
        return Response("home")(environ, start_response)

    return CognitoAuthWSGIMiddleware(home, **options)


def asgi_get(app: CognitoAuthMiddleware, path: str, headers: dict[str, str]) -> tuple[int, str]:
    with TestClient(app, root_path="") as client:
        response = client.get(path, headers={**BROWSER, **headers})
    return response.status_code, response.text


def wsgi_get(app: CognitoAuthWSGIMiddleware, path: str, headers: dict[str, str]) -> tuple[int, str]:
    response = Client(app).get(path, headers={**BROWSER, **headers})
    return response.status_code, response.get_data(as_text=True)


SHELLS = [
    pytest.param((asgi_app, asgi_get), id="asgi"),
    pytest.param((wsgi_app, wsgi_get), id="wsgi"),
]


@pytest.mark.parametrize("shell", SHELLS)
def test_both_middlewares_serve_the_pages(
    shell: Any, idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    build, get = shell
    options = key_server.settings(allowed_groups=["admins"], support_contact=CONTACT_EMAIL)
    key_server.status = 503  # first, with an app of its own: nothing is cached yet
    status, page = get(build(**options), "/", idp.headers(groups=["admins"]))
    assert status == 503
    assert UNAVAILABLE.title in page
    assert TECHNICAL.search(visible(page.encode())) is None
    key_server.status = None
    app = build(**options)
    status, page = get(app, "/reports/q3", {})
    assert status == 401
    assert f">{NOT_SIGNED_IN.title}</h1>" in page
    assert "<a href='/reports/q3'>" in page
    status, page = get(app, "/", idp.broken_headers("expired"))
    assert status == 401
    assert html.escape(EXPIRED.title) in page
    status, page = get(app, "/", idp.headers(groups=["staff"]))
    assert status == 403
    assert f"href='mailto:{CONTACT_EMAIL}'" in page


@pytest.mark.parametrize("shell", SHELLS)
def test_both_middlewares_serve_the_template(
    shell: Any, tmp_path: Path, idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    build, get = shell
    template = tmp_path / "refused.html"
    template.write_text(TEMPLATE)
    app = build(**key_server.settings(error_template=str(template)))
    status, page = get(app, "/x", {"accept": "application/json"})
    assert status == 401
    assert json.loads(page)["error"] == "missing_token"  # API clients: JSON, as without it
    status, page = get(app, "/x", {})
    assert (status, page) == (
        401,
        "<!doctype html><html lang=en><title>401 You are not signed in</title>"
        f"<h1>You are not signed in</h1><p>{NOT_SIGNED_IN.message}</p>"
        f"<a href='/x'>{NOT_SIGNED_IN.action}</a> $5</html>",
    )


@pytest.mark.parametrize("build", [asgi_app, wsgi_app], ids=["asgi", "wsgi"])
def test_both_middlewares_refuse_to_start_with_a_bad_template(
    build: Any, tmp_path: Path, key_server: KeyServer
) -> None:
    template = tmp_path / "refused.html"
    template.write_text("$title $secret")
    with pytest.raises(ConfigurationError, match=r"error_template .* \$secret"):
        build(**key_server.settings(error_template=str(template)))


def test_the_asgi_link_keeps_the_mount_path(key_server: KeyServer) -> None:
    with TestClient(asgi_app(**key_server.settings()), root_path="/app") as client:
        response = client.get("/reports", headers=BROWSER)
    assert "<a href='/app/reports'>" in response.text


def test_the_wsgi_link_keeps_the_script_name(key_server: KeyServer) -> None:
    client = Client(wsgi_app(**key_server.settings()))
    response = client.get("/reports", headers=BROWSER, environ_overrides={"SCRIPT_NAME": "/app"})
    assert "<a href='/app/reports'>" in response.get_data(as_text=True)


def test_a_flask_decorator_behind_the_middleware_uses_its_pages(
    idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    """@groups_required refuses inside the view: with the middleware's support_contact."""
    app = Flask(__name__)

    @app.get("/admin")
    @groups_required("admins")
    def admin() -> str:
        return "admins only"

    app.wsgi_app = CognitoAuthWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, **key_server.settings(support_contact=CONTACT_URL)
    )
    response = app.test_client().get("/admin", headers={**idp.headers(), **BROWSER})
    assert response.status_code == 403
    assert f"href='{html.escape(CONTACT_URL)}'" in response.get_data(as_text=True)


def test_the_flask_decorators_serve_the_template(tmp_path: Path, key_server: KeyServer) -> None:
    template = tmp_path / "refused.html"
    template.write_text("<h1>$title</h1>")
    auth = CognitoAuth(**key_server.settings(error_template=str(template)))
    app = Flask(__name__)

    @app.get("/me")
    @auth.login_required
    def me() -> str:
        return "me"

    response = app.test_client().get("/me", headers=BROWSER)
    assert response.get_data(as_text=True) == f"<h1>{NOT_SIGNED_IN.title}</h1>"


README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_the_readme_quotes_the_pages_words() -> None:
    flat = " ".join(README.split())
    for notice in (NOT_SIGNED_IN, EXPIRED, DENIED, UNAVAILABLE):
        row = f"| {html.unescape(notice.title)} | {notice.message} |"
        assert row in flat, row
    assert f'"{EXPIRED.text()}"' in flat  # the Streamlit paragraph
    assert f'"{DENIED.action}."' in flat


def test_the_readme_template_is_a_valid_template(tmp_path: Path) -> None:
    (example,) = re.findall(r"```html\n(.*?)```", README, flags=re.S)
    page = template_pages(tmp_path, example).html(ExpiredTokenError("x"), "/a")
    assert b'<a href="/a">Reload the page to sign in again</a>' in page
