"""The emulator in a real browser: sign in, switch user, sign out; a foreign page's post fails.

Headless Chromium (Debian's package) driven by Playwright. CI installs Chromium (.ci/run); on a
machine without it the test is skipped, except under CI, where a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from cognito_auth_middleware.tools.emulator import ALB_COOKIE, EmulatedUser
from tests.emulated_stack import Stack, emulated_stack

CI = bool(os.environ.get("CI"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and not CI:
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)
if CI:
    from playwright import sync_api  # under CI a missing Playwright must fail, not skip
else:
    sync_api = pytest.importorskip("playwright.sync_api")

# Without the background-networking flags Chromium keeps trying hosts this machine cannot reach.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def stack() -> Iterator[Stack]:
    with emulated_stack(EmulatedUser("alice@example.com", ("admins",))) as running:
        yield running


def test_switching_users_in_a_browser(stack: Stack) -> None:
    assert CHROMIUM is not None, "CI must install Chromium"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{stack.url}/_emulator/sign-in")
            page.fill("#email", "carol@example.com")
            page.fill("#groups", "admins")
            page.click("#sign-in")
            page.wait_for_url(f"{stack.url}/")
            assert page.inner_text("#who") == "Signed in as carol@example.com"
            page.goto(f"{stack.url}/admin")
            assert page.inner_text("#admin") == "Admin area for carol@example.com"

            page.goto(f"{stack.url}/_emulator/sign-in")
            page.fill("#email", "dave@example.com")
            page.fill("#groups", "")
            page.click("#sign-in")
            page.wait_for_url(f"{stack.url}/")
            assert page.inner_text("#who") == "Signed in as dave@example.com"
            assert page.inner_text("#groups") == "Groups: none"
            response = page.goto(f"{stack.url}/admin")
            assert response is not None
            assert response.status == 403

            page.goto(f"{stack.url}/_emulator/sign-in")
            page.click("#sign-out")
            page.wait_for_url(f"{stack.url}/_emulator/sign-in")
            assert page.inner_text("#current") == "Signed out"
            response = page.goto(f"{stack.url}/")
            assert response is not None
            assert response.status == 401  # no ALB headers reach the app
        finally:
            browser.close()


def test_signing_out_of_the_app_ends_both_sessions(stack: Stack) -> None:
    """The app's logout_path expires the ALB's cookie shards, the pool's logout ends its own."""
    assert CHROMIUM is not None, "CI must install Chromium"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{stack.url}/_emulator/sign-in")
            page.fill("#email", "erin@example.com")
            page.click("#sign-in")
            page.wait_for_url(f"{stack.url}/")
            assert page.inner_text("#who") == "Signed in as erin@example.com"
            shards = {c["name"] for c in context.cookies() if c["name"].startswith(ALB_COOKIE)}
            assert shards == {f"{ALB_COOKIE}-0", f"{ALB_COOKIE}-1"}

            page.goto(f"{stack.url}/logout")  # app -> the pool's logout -> logout_uri
            page.wait_for_url(f"{stack.url}/_emulator/sign-in")
            assert page.inner_text("#current") == "Signed out"
            assert not [c for c in context.cookies() if c["name"].startswith(ALB_COOKIE)]
            response = page.goto(f"{stack.url}/")
            assert response is not None
            assert response.status == 401  # the next request is no longer signed in
        finally:
            browser.close()


def test_a_foreign_page_cannot_sign_the_browser_in(stack: Stack) -> None:
    assert CHROMIUM is not None, "CI must install Chromium"
    # A page of another site that posts the sign-in form on load; Playwright serves it, so no
    # network is needed and the browser still treats it as a site of its own.
    attack = f"""<form method=post action="{stack.url}/_emulator/sign-in">
<input name=email value=mallory@example.com><input name=groups value=admins></form>
<script>document.forms[0].submit()</script>"""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.route(
                "http://attacker.example/",
                lambda route: route.fulfill(body=attack, content_type="text/html"),
            )
            with page.expect_response(f"{stack.url}/_emulator/sign-in") as posted:
                page.goto("http://attacker.example/")
            assert posted.value.status == 403
            page.goto(f"{stack.url}/")
            assert page.inner_text("#who") == "Signed in as alice@example.com"
        finally:
            browser.close()
