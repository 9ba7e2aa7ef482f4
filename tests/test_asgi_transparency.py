"""No data lost, nobody let in: an admitted request behaves exactly as without the middleware.

Each test runs the same Starlette app twice, bare and wrapped, and compares what happened.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from cognito_auth_middleware import CognitoAuthMiddleware
from cognito_auth_middleware.testing import FakeIdentityProvider

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


class AppError(Exception):
    pass


def build_app(log: list[str]) -> Starlette:
    async def echo(request: Request) -> Response:
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        return JSONResponse(
            {"size": size, "sha256": digest.hexdigest(), "request_id": request_id.get()}
        )

    async def with_background(request: Request) -> Response:
        request_id.set("set-by-app")
        return PlainTextResponse(
            "done", background=BackgroundTask(lambda: log.append(f"bg:{request_id.get()}"))
        )

    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for n in range(200):
                yield f"{n:05d}".encode() * 100

        return StreamingResponse(chunks(), headers={"x-custom": "kept"})

    async def boom(request: Request) -> Response:
        raise AppError("the app's own bug")

    return Starlette(
        routes=[
            Route("/echo", echo, methods=["POST"]),
            Route("/background", with_background),
            Route("/stream", stream),
            Route("/boom", boom),
        ]
    )


def with_request_id(app: ASGIApp) -> ASGIApp:
    """An outer middleware that sets a context variable, as tracing libraries do."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        token = request_id.set("from-outer-middleware")
        try:
            await app(scope, receive, send)
        finally:
            request_id.reset(token)

    return wrapper


Variant = Callable[[list[str]], tuple[TestClient, dict[str, str]]]


@pytest.fixture(params=["bare", "protected"])
def variant(
    request: pytest.FixtureRequest, options: dict[str, Any], idp: FakeIdentityProvider
) -> Variant:
    def make(log: list[str]) -> tuple[TestClient, dict[str, str]]:
        app: ASGIApp = build_app(log)
        headers: dict[str, str] = {}
        if request.param == "protected":
            app = CognitoAuthMiddleware(app, **options)
            headers = idp.headers()
        return TestClient(with_request_id(app)), headers

    return make


def test_streamed_body_and_context_variables_reach_the_app(variant: Variant) -> None:
    client, headers = variant([])
    body = [bytes([n % 256]) * 65536 for n in range(40)]
    with client:
        response = client.post("/echo", content=iter(body), headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "size": 40 * 65536,
        "sha256": hashlib.sha256(b"".join(body)).hexdigest(),
        "request_id": "from-outer-middleware",
    }


def test_background_tasks_run_with_the_apps_context(variant: Variant) -> None:
    log: list[str] = []
    client, headers = variant(log)
    with client:
        assert client.get("/background", headers=headers).text == "done"
    assert log == ["bg:set-by-app"]


def test_streaming_response_and_headers_are_untouched(variant: Variant) -> None:
    client, headers = variant([])
    with client, client.stream("GET", "/stream", headers=headers) as response:
        received = b"".join(response.iter_bytes())
        assert response.headers["x-custom"] == "kept"
    assert received == b"".join(f"{n:05d}".encode() * 100 for n in range(200))


def test_app_exceptions_propagate_unchanged(variant: Variant) -> None:
    # An app bug must surface as itself, never be turned into "not logged in".
    client, headers = variant([])
    with client, pytest.raises(AppError, match="own bug"):
        client.get("/boom", headers=headers)
