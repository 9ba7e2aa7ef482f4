"""A protected sample app behind the ALB emulator, both under real uvicorn servers."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from cognito_auth_middleware import CognitoAuthMiddleware, User
from cognito_auth_middleware.testing import FakeIdentityProvider, FakeVerifiedAccess
from cognito_auth_middleware.tools.emulator import EmulatedUser, Emulator
from tests.servers import bind_loopback, serve


async def home(request: Request) -> Response:
    user: User = request.state.user
    groups = ", ".join(user.groups) or "none"
    return HTMLResponse(
        f"<h1 id=who>Signed in as {user.email}</h1><p id=groups>Groups: {groups}</p>"
    )


@requires("admins")
async def admin(request: Request) -> Response:
    return HTMLResponse(f"<h1 id=admin>Admin area for {request.state.user.email}</h1>")


async def digest(request: Request) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
    return JSONResponse({"size": len(body), "sha256": hashlib.sha256(body).hexdigest()})


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for n in range(100):
            yield f"{n:04d}".encode() * 256

    return StreamingResponse(chunks())


async def raw(request: Request) -> Response:
    """The request target as the app received it, to compare with what the client sent."""
    target: bytes = request.scope["raw_path"]
    if request.scope["query_string"]:
        target += b"?" + request.scope["query_string"]
    return JSONResponse({"target": target.decode("ascii")})


async def identity_headers(request: Request) -> Response:
    """The identity headers the app received (names, in order), and whom it admitted."""
    names = [name.decode() for name, _ in request.scope["headers"] if name.startswith(b"x-amzn-")]
    user: User = request.state.user
    return JSONResponse({"headers": names, "sub": user.sub, "groups": list(user.groups)})


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    user: User = websocket.state.user
    async for text in websocket.iter_text():
        await websocket.send_text(f"{user.email}: {text}")


@dataclass
class Stack:
    """The emulator's URL (what a browser talks to) and the emulator itself."""

    url: str
    emulator: Emulator

    @property
    def port(self) -> int:
        """The emulator's port on 127.0.0.1."""
        return int(self.url.rsplit(":", 1)[1])


@contextmanager
def emulated_stack(user: EmulatedUser, idp: FakeIdentityProvider | None = None) -> Iterator[Stack]:
    """Start the sample app and the emulator in front of it; yield the emulator's URL.

    ``idp`` as for :class:`Emulator`: a ``FakeVerifiedAccess`` puts Verified Access in front.
    """
    app_socket, emulator_socket = bind_loopback(), bind_loopback()
    upstream = f"http://127.0.0.1:{app_socket.getsockname()[1]}"
    public = f"http://127.0.0.1:{emulator_socket.getsockname()[1]}"
    emulator = Emulator(upstream, user, public_url=public, idp=idp or FakeIdentityProvider())
    settings: dict[str, Any] = {
        name.removeprefix("COGNITO_AUTH_").lower(): value
        for name, value in emulator.app_settings().items()
    }
    if not isinstance(emulator.idp, FakeVerifiedAccess):  # Verified Access has no pool logout
        settings["logout_path"] = "/logout"  # signs out through the emulator's logout endpoint
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/admin", admin),
            Route("/digest", digest, methods=["POST"]),
            Route("/stream", stream),
            Route("/raw/{rest:path}", raw),
            Route("/identity-headers", identity_headers),
            WebSocketRoute("/ws", echo),
        ]
    )
    protected = CognitoAuthMiddleware(app, **settings)
    # The emulator is served as `cognito-auth-middleware emulate` serves it: with h11, which
    # hands over the request target as sent (httptools would rewrite odd forms first).
    with serve(protected, app_socket), serve(emulator, emulator_socket, http="h11"):
        yield Stack(public, emulator)
