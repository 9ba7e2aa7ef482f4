"""``cognito_auth_middleware.integrations.gradio``: a real ``gr.Blocks`` app mounted in FastAPI
behind the middleware, driven through Gradio's own HTTP API.

The handler declares a ``gr.Request`` and reads the user with ``user_from_request``. It is called
the way Gradio's clients call it: ``POST {mount}/gradio_api/call/<api_name>`` queues the event
and ``GET {mount}/gradio_api/call/<api_name>/<event_id>`` streams its result (server-sent
events); both requests carry the ALB headers, so the event runs through Gradio's real queue with
the ``gr.Request`` Gradio builds from the POST.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from typing import Any

import pytest

pytest.importorskip("gradio")

import gradio as gr
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cognito_auth_middleware import CognitoAuthMiddleware, MissingTokenError
from cognito_auth_middleware.integrations.gradio import user_from_request
from cognito_auth_middleware.testing import FakeIdentityProvider

ALICE_SUB = "a1a1a1a1-0000-4000-8000-000000000001"
ALICE_EMAIL = "alice@example.com"
MOUNT = "/ui"


def greet(name: str, request: gr.Request) -> str:
    """The handler under test: what it knows about the caller comes from ``gr.Request``."""
    try:
        user = user_from_request(request)
    except MissingTokenError as exc:
        return f"refused: {exc.code}"
    return f"{name}, you are {user.email} in {list(user.groups)}"


def build_app(options: dict[str, Any] | None) -> FastAPI:
    """Gradio mounted at ``/ui``; behind the middleware unless ``options`` is ``None``."""
    return asyncio.run(_build_app(options))


async def _build_app(options: dict[str, Any] | None) -> FastAPI:
    # Built inside a running event loop: outside one, Gradio creates (and never closes) an
    # event loop for each lock it makes, and the leaked loops fail the run as ResourceWarnings.
    with gr.Blocks() as demo:
        name = gr.Textbox(label="name")
        answer = gr.Textbox(label="answer")
        gr.Button("greet").click(greet, name, answer, api_name="greet")
    app = FastAPI()
    if options is not None:
        app.add_middleware(CognitoAuthMiddleware, **options)
    mounted: FastAPI = gr.mount_gradio_app(app, demo, path=MOUNT)
    return mounted


def call_greet(client: TestClient, name: str, headers: dict[str, str]) -> list[str]:
    """Queue ``greet`` through Gradio's HTTP API and return the ``complete`` event's data."""
    queued = client.post(f"{MOUNT}/gradio_api/call/greet", json={"data": [name]}, headers=headers)
    assert queued.status_code == 200, queued.text
    event_id = queued.json()["event_id"]
    stream = client.get(f"{MOUNT}/gradio_api/call/greet/{event_id}", headers=headers)
    assert stream.status_code == 200
    events = stream.text.strip().split("\n\n")
    kind, data = events[-1].split("\n")
    assert kind == "event: complete", stream.text
    result: list[str] = json.loads(data.removeprefix("data: "))
    return result


def test_handler_sees_the_verified_user(idp: FakeIdentityProvider, options: dict[str, Any]) -> None:
    headers = idp.headers(sub=ALICE_SUB, email=ALICE_EMAIL, groups=["analysts"])
    with TestClient(build_app(options)) as client:
        result = call_greet(client, "Hi", headers)
    assert result == [f"Hi, you are {ALICE_EMAIL} in ['analysts']"]


def test_each_call_sees_its_own_user(idp: FakeIdentityProvider, options: dict[str, Any]) -> None:
    alice = idp.headers(sub=ALICE_SUB, email=ALICE_EMAIL)
    bob = idp.headers(sub="b2b2b2b2-0000-4000-8000-000000000002", email="bob@example.com")
    with TestClient(build_app(options)) as client:
        results = [call_greet(client, "Hi", headers)[0] for headers in (alice, bob, alice)]
    assert results == [
        f"Hi, you are {ALICE_EMAIL} in []",
        "Hi, you are bob@example.com in []",
        f"Hi, you are {ALICE_EMAIL} in []",
    ]


def test_page_and_api_are_refused_without_headers(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    with TestClient(build_app(options)) as client:
        page = client.get(f"{MOUNT}/", headers={"accept": "text/html"})
        config = client.get(f"{MOUNT}/config")
        call = client.post(f"{MOUNT}/gradio_api/call/greet", json={"data": ["Hi"]})
        served = client.get(f"{MOUNT}/", headers={**idp.headers(), "accept": "text/html"})
    assert page.status_code == 401
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "You are not signed in" in page.text
    assert (config.status_code, config.json()["error"]) == (401, "missing_token")
    assert (call.status_code, call.json()["error"]) == (401, "missing_token")
    assert served.status_code == 200
    assert "gradio" in served.text.lower()


def test_without_the_middleware_the_handler_gets_missing_token() -> None:
    """A real ``gr.Request`` with no verified user: ``user_from_request`` refuses."""
    with TestClient(build_app(None)) as client:
        result = call_greet(client, "Hi", {})
    assert result == ["refused: missing_token"]


def test_import_without_gradio_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gradio", None)  # makes `import gradio` fail
    monkeypatch.delitem(sys.modules, "cognito_auth_middleware.integrations.gradio")
    with pytest.raises(ImportError, match="pip install gradio"):
        importlib.import_module("cognito_auth_middleware.integrations.gradio")
