"""The refusal pages as a person sees them: served by uvicorn, rendered by headless Chromium.

Each page (401 missing, 401 expired, 403 with a support contact, 503) is fetched from the
middleware under a real server, its visible text read with ``inner_text`` and a screenshot
written under the test's ``tmp_path``. Skipped without Chromium, except under CI (as
``tests/test_emulator_browser.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cognito_auth_middleware import CognitoAuthMiddleware
from cognito_auth_middleware.pages import DENIED, EXPIRED, NOT_SIGNED_IN, UNAVAILABLE, Notice
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from tests.servers import serve
from tests.test_emulator_browser import CHROMIUM, FLAGS  # skips here too, by its rules

CONTACT = "it-help@example.com"
PATH = "/reports/q3"


async def home(request: Any) -> PlainTextResponse:
    return PlainTextResponse("home")


def served(options: dict[str, Any]) -> Any:
    app = Starlette(routes=[Route("/{path:path}", home)])
    return serve(CognitoAuthMiddleware(app, **options))


@pytest.fixture
def browser() -> Iterator[Any]:
    assert CHROMIUM is not None, "CI must install Chromium"
    # Importable here: the import above skipped the module (or failed, under CI) otherwise.
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def render(browser: Any, url: str, headers: dict[str, str], shot: Path) -> tuple[int, str, Any]:
    """Open ``url`` with ``headers`` (as the ALB would add them); screenshot it to ``shot``."""
    context = browser.new_context(extra_http_headers=headers)
    page = context.new_page()
    page.set_default_timeout(15_000)
    response = page.goto(url)
    assert response is not None
    text = page.inner_text("body")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert shot.stat().st_size > 1000
    return response.status, text, page


def lines(notice: Notice, action: str | None = None) -> str:
    """What ``inner_text`` reads off a page: the heading, the message and the action."""
    return f"{notice.title}\n\n{notice.message}\n\n{action or notice.action}"


def test_each_page_as_a_person_sees_it(
    browser: Any, idp: FakeIdentityProvider, key_server: KeyServer, tmp_path: Path
) -> None:
    options = key_server.settings(allowed_groups=["admins"], support_contact=CONTACT)
    with served(options) as address:
        url = f"http://{address}{PATH}"
        status, text, page = render(browser, url, {}, tmp_path / "401-missing.png")
        assert (status, text) == (401, lines(NOT_SIGNED_IN))
        assert page.title() == NOT_SIGNED_IN.title
        # The link is the page itself, so following it goes through the ALB's sign-in again.
        assert page.eval_on_selector("a", "a => a.href") == url
        page.click("a")
        page.wait_for_load_state()
        assert page.url == url

        expired = idp.broken_headers("expired")
        status, text, _ = render(browser, url, expired, tmp_path / "401-expired.png")
        assert (status, text) == (401, lines(EXPIRED))

        staff = idp.headers(groups=["staff"])
        status, text, page = render(browser, url, staff, tmp_path / "403.png")
        assert (status, text) == (403, lines(DENIED, f"Ask for access: {CONTACT}"))
        assert page.eval_on_selector("a", "a => a.href") == f"mailto:{CONTACT}"

    key_server.status = 503
    with served(options) as address:
        url = f"http://{address}{PATH}"
        status, text, _ = render(browser, url, idp.headers(), tmp_path / "503.png")
        assert (status, text) == (503, lines(UNAVAILABLE))
    assert sorted(path.name for path in tmp_path.glob("*.png")) == [
        "401-expired.png",
        "401-missing.png",
        "403.png",
        "503.png",
    ]
