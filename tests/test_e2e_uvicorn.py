"""End to end over a real socket: a FastAPI app behind ``CognitoAuthMiddleware`` under uvicorn.

The server runs in a background thread on 127.0.0.1 (a socket bound to a free port and handed to
uvicorn), clients are ``httpx`` and the ``websockets`` library, keys come from ``KeyServer``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from cognito_auth_middleware import CognitoAuthMiddleware
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from tests.servers import serve

CLIENT_TIMEOUT = 10.0


@dataclass
class Probe:
    """What happened inside the app."""

    events: list[str] = field(default_factory=list)
    websocket_entered: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Live:
    http_url: str
    ws_url: str
    probe: Probe


def build_app(options: dict[str, Any], probe: Probe) -> ASGIApp:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        probe.events.append("startup")
        yield
        probe.events.append("shutdown")

    api = FastAPI(lifespan=lifespan)

    @api.get("/me")
    async def me(request: Request) -> dict[str, Any]:
        user = request.state.user
        return {"sub": user.sub, "email": user.email, "groups": list(user.groups)}

    @api.post("/digest")
    async def digest(request: Request) -> dict[str, Any]:
        hasher = hashlib.sha256()
        length = chunks = 0
        async for chunk in request.stream():
            hasher.update(chunk)
            length += len(chunk)
            chunks += 1
        return {"sha256": hasher.hexdigest(), "length": length, "chunks": chunks}

    @api.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        probe.websocket_entered.append(websocket.scope["path"])
        user = websocket.state.user
        await websocket.accept()
        await websocket.send_text(f"hello {user.sub}")
        try:
            while True:
                text = await websocket.receive_text()
                await websocket.send_text(f"{user.sub}: {text}")
        except WebSocketDisconnect:
            return

    return CognitoAuthMiddleware(api, **options)


@pytest.fixture
def live(options: dict[str, Any]) -> Iterator[Live]:
    probe = Probe()
    with serve(build_app(options, probe)) as address:
        yield Live(f"http://{address}", f"ws://{address}", probe)


def http_client(live: Live) -> httpx.Client:
    return httpx.Client(base_url=live.http_url, timeout=CLIENT_TIMEOUT, trust_env=False)


def test_valid_headers_get_200_with_the_users_email(live: Live, idp: FakeIdentityProvider) -> None:
    headers = idp.headers(sub="e2e-alice", email="alice@example.com", groups=["staff"])
    with http_client(live) as client:
        response = client.get("/me", headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "sub": "e2e-alice",
        "email": "alice@example.com",
        "groups": ["staff"],
    }


def test_no_headers_get_401(live: Live) -> None:
    with http_client(live) as client:
        response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "missing_token"


def test_expired_token_gets_401_over_the_wire(live: Live, idp: FakeIdentityProvider) -> None:
    headers = idp.headers(sub="e2e-alice", ttl=-3600)
    with http_client(live) as client:
        response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "expired_token"
    assert headers["x-amzn-oidc-data"] not in response.text


def test_request_body_streams_through_intact(live: Live, idp: FakeIdentityProvider) -> None:
    body = os.urandom(5 * 1024 * 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    with http_client(live) as client:
        response = client.post("/digest", content=chunks(), headers=idp.headers(sub="e2e-alice"))
    assert response.status_code == 200
    result = response.json()
    assert result["sha256"] == hashlib.sha256(body).hexdigest()
    assert result["length"] == len(body)
    assert result["chunks"] > 1  # it really arrived as a stream of ASGI messages


def test_websocket_round_trip_with_valid_headers(live: Live, idp: FakeIdentityProvider) -> None:
    headers = idp.headers(sub="e2e-ws-user")
    with connect(
        f"{live.ws_url}/ws",
        additional_headers=headers,
        open_timeout=CLIENT_TIMEOUT,
        close_timeout=CLIENT_TIMEOUT,
        proxy=None,
    ) as websocket:
        greeting = websocket.recv(timeout=CLIENT_TIMEOUT)
        websocket.send("ping")
        echoed = websocket.recv(timeout=CLIENT_TIMEOUT)
    assert greeting == "hello e2e-ws-user"
    assert echoed == "e2e-ws-user: ping"
    assert live.probe.websocket_entered == ["/ws"]


def test_websocket_without_headers_is_rejected_at_the_handshake(live: Live) -> None:
    with (
        pytest.raises(InvalidStatus) as rejected,
        connect(f"{live.ws_url}/ws", open_timeout=CLIENT_TIMEOUT, proxy=None),
    ):
        pytest.fail("the WebSocket handshake succeeded")  # pragma: no cover
    assert rejected.value.response.status_code == 403
    assert live.probe.websocket_entered == []


def test_lifespan_runs_under_uvicorn(options: dict[str, Any], idp: FakeIdentityProvider) -> None:
    probe = Probe()
    with serve(build_app(options, probe)) as address:
        assert probe.events == ["startup"]
        with httpx.Client(timeout=CLIENT_TIMEOUT, trust_env=False) as client:
            response = client.get(f"http://{address}/me", headers=idp.headers(sub="e2e-alice"))
        assert response.status_code == 200
    assert probe.events == ["startup", "shutdown"]


class InFlight:
    """An outer ASGI layer counting HTTP requests in progress, to show that requests overlapped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.current = 0
        self.peak = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.current += 1
        self.peak = max(self.peak, self.current)
        try:
            await self.app(scope, receive, send)
        finally:
            self.current -= 1


def test_concurrent_cold_requests_share_one_fetch_per_key(
    options: dict[str, Any], idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    key_server.delay = 0.3  # slow key endpoints, on a fresh server: nothing is cached yet
    workers = 20
    start = threading.Barrier(workers)
    headers = [
        idp.headers(sub=f"user-{i:02d}", email=f"user{i:02d}@example.com") for i in range(workers)
    ]
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    app = InFlight(build_app(options, Probe()))

    with (
        serve(app) as address,
        httpx.Client(
            base_url=f"http://{address}", timeout=CLIENT_TIMEOUT, trust_env=False, limits=limits
        ) as client,
        ThreadPoolExecutor(max_workers=workers) as pool,
    ):

        def one(i: int) -> tuple[int, str | None]:
            start.wait(timeout=CLIENT_TIMEOUT)  # all go at once, each on its own connection
            response = client.get("/me", headers=headers[i])
            return response.status_code, response.json().get("email")

        results = list(pool.map(one, range(workers)))

    assert results == [(200, f"user{i:02d}@example.com") for i in range(workers)]
    # The requests really were in flight together while the keys were being fetched ...
    assert app.peak == workers
    # ... and they shared one fetch of each key.
    assert key_server.count("alb") == 1
    assert key_server.count("jwks") == 1
