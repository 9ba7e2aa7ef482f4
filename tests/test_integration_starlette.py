"""The Starlette recipe: ``request.user``, ``request.auth.scopes`` and ``@requires``.

No integration module is needed: ``CognitoAuthMiddleware`` fills ``scope["user"]`` and
``scope["auth"]`` as Starlette's own ``AuthenticationMiddleware`` would, with the Cognito groups
as the scopes. Real Starlette app, real tokens, keys over HTTP on loopback.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("starlette")

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from cognito_auth_middleware import CognitoAuthMiddleware, User
from cognito_auth_middleware.testing import FakeIdentityProvider

ALICE_SUB = "a1a1a1a1-0000-4000-8000-000000000001"


class Entered:
    """Which endpoints ran (a refusal must stop before the endpoint)."""

    def __init__(self) -> None:
        self.paths: list[str] = []


def build_app(options: dict[str, Any], entered: Entered) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        entered.paths.append(request.url.path)
        return JSONResponse(
            {
                "is_user": isinstance(request.user, User),
                "same_as_state": request.user is request.state.user,
                "is_authenticated": request.user.is_authenticated,
                "display_name": request.user.display_name,
                "identity": request.user.identity,
                "scopes": request.auth.scopes,
            }
        )

    @requires("admins")
    async def admin(request: Request) -> PlainTextResponse:
        entered.paths.append(request.url.path)
        return PlainTextResponse(f"admin {request.user.display_name}")

    @requires(["admins", "ops"])
    async def ops_admin(request: Request) -> PlainTextResponse:
        entered.paths.append(request.url.path)
        return PlainTextResponse("ops admin")

    @requires("admins")
    async def health(request: Request) -> PlainTextResponse:
        entered.paths.append(request.url.path)  # pragma: no cover - never reached
        return PlainTextResponse("ok")  # pragma: no cover

    @requires("admins")
    async def admin_socket(websocket: WebSocket) -> None:
        entered.paths.append(websocket.url.path)
        await websocket.accept()
        await websocket.send_text(f"admin {websocket.user.display_name}")
        await websocket.close()

    app = Starlette(
        routes=[
            Route("/whoami", whoami),
            Route("/admin", admin),
            Route("/ops-admin", ops_admin),
            Route("/health", health),
            WebSocketRoute("/admin-ws", admin_socket),
        ]
    )
    app.add_middleware(CognitoAuthMiddleware, **{**options, "exclude_paths": ["/health"]})
    return app


def test_request_user_and_auth_scopes(idp: FakeIdentityProvider, options: dict[str, Any]) -> None:
    entered = Entered()
    headers = idp.headers(sub=ALICE_SUB, name="Alice", groups=["admins", "staff"])
    with TestClient(build_app(options, entered)) as client:
        response = client.get("/whoami", headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "is_user": True,
        "same_as_state": True,
        "is_authenticated": True,
        "display_name": "Alice",
        "identity": ALICE_SUB,
        "scopes": ["admins", "staff"],
    }
    assert entered.paths == ["/whoami"]


@pytest.mark.parametrize(
    ("path", "groups", "status"),
    [
        pytest.param("/admin", ["admins"], 200, id="member"),
        pytest.param("/admin", ["staff"], 403, id="other-group"),
        pytest.param("/admin", None, 403, id="no-groups"),
        pytest.param("/ops-admin", ["admins", "ops"], 200, id="all-scopes"),
        pytest.param("/ops-admin", ["admins"], 403, id="missing-one-scope"),
    ],
)
def test_requires_uses_the_groups(
    path: str,
    groups: list[str] | None,
    status: int,
    idp: FakeIdentityProvider,
    options: dict[str, Any],
) -> None:
    entered = Entered()
    with TestClient(build_app(options, entered)) as client:
        response = client.get(path, headers=idp.headers(sub=ALICE_SUB, groups=groups))
    assert response.status_code == status
    assert entered.paths == ([path] if status == 200 else [])


def test_requires_never_sees_a_request_without_headers(options: dict[str, Any]) -> None:
    """The middleware answers first, from its table (401 JSON), before ``@requires`` runs."""
    entered = Entered()
    with TestClient(build_app(options, entered)) as client:
        response = client.get("/admin")
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"
    assert entered.paths == []


def test_requires_on_a_websocket(idp: FakeIdentityProvider, options: dict[str, Any]) -> None:
    entered = Entered()
    admin_headers = idp.headers(sub=ALICE_SUB, name="Alice", groups=["admins"])
    with (
        TestClient(build_app(options, entered)) as client,
        client.websocket_connect("/admin-ws", headers=admin_headers) as websocket,
    ):
        greeting = websocket.receive_text()
    assert greeting == "admin Alice"
    staff_headers = idp.headers(sub=ALICE_SUB, groups=["staff"])
    with (
        TestClient(build_app(options, entered)) as client,
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("/admin-ws", headers=staff_headers),
    ):
        pytest.fail("a non-admin WebSocket was accepted")  # pragma: no cover
    assert entered.paths == ["/admin-ws"]


def test_requires_on_an_excluded_path_refuses(
    idp: FakeIdentityProvider, options: dict[str, Any]
) -> None:
    """Excluded paths are anonymous (as with Starlette's own middleware): ``@requires`` is 403.

    Headers are not even looked at there, so valid admin headers do not help.
    """
    entered = Entered()
    with TestClient(build_app(options, entered)) as client:
        response = client.get("/health", headers=idp.headers(sub=ALICE_SUB, groups=["admins"]))
    assert response.status_code == 403
    assert entered.paths == []
