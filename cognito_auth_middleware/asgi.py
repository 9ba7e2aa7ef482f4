"""``CognitoAuthMiddleware``: verify the ALB's identity headers in front of any ASGI app.

Use it with Starlette, FastAPI, Gradio (mounted in FastAPI) or any ASGI framework::

    app.add_middleware(CognitoAuthMiddleware)          # configured from COGNITO_AUTH_* variables

HTTP requests and WebSocket connections are verified before the app sees them; lifespan events
and excluded paths pass straight through. On success the user is at ``request.state.user``
(``websocket.state.user``), at ``request.user`` and in ``request.auth.scopes`` (the Cognito
groups), so Starlette's ``@requires("admins")`` works. Bodies are passed through untouched.

Security: this trusts nothing a client sends; it is only useful if the app is reachable solely
through the ALB named in ``alb_arn``, which strips client-supplied ``x-amzn-oidc-*`` headers.
"""

from __future__ import annotations

from typing import Any, Unpack

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from .audit import (
    Hook,
    async_hook,
    audit_event,
    log_decision,
    run_authenticated_hook,
    run_refused_hook,
)
from .core.dev_mode import local_client_asgi
from .core.headers import bearer_from_asgi
from .core.paths import PathMatcher
from .core.sign_out import SignOut
from .drivers.aio import AsyncVerifier
from .drivers.base import verifier_for
from .exceptions import AuthenticationError
from .machine import SCOPE_PREFIX
from .pages import Pages
from .responses import ErrorResponse, error_response
from .settings import Settings, SettingsOptions
from .user import User

__all__ = ["CognitoAuthMiddleware"]


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        return path[len(root_path) :] or "/"
    return path


def _event(
    scope: Scope,
    error: AuthenticationError | None,
    user: User | None,
    oidc_data: str | None,
    access_token: str | None,
) -> dict[str, Any]:
    trace = next((v for n, v in scope["headers"] if n == b"x-amzn-trace-id"), None)
    return audit_event(
        error=error,
        user=user,
        method=scope.get("method", "WEBSOCKET"),
        path=_route_path(scope),
        trace_id=trace.decode("latin-1") if trace is not None else None,
        oidc_data=oidc_data,
        access_token=access_token,
    )


class CognitoAuthMiddleware:
    """Pure ASGI middleware that admits only requests carrying valid ALB / Cognito headers.

    Args:
        app: The ASGI application to protect.
        settings: A ready :class:`Settings`; if omitted it is built from ``options`` and the
            ``COGNITO_AUTH_*`` environment variables.
        verifier: Share an :class:`AsyncVerifier` (and its key cache) between apps.
        on_authenticated: ``hook(user, request)``, run for every admitted request; raising an
            ``AuthenticationError`` refuses it (see :mod:`cognito_auth_middleware.audit`).
        on_refused: ``hook(error, request)``, run for every refusal; it cannot change it.
            Either hook may be ``async``; a plain function runs in a worker thread.
        **options: Any settings keyword (:class:`~cognito_auth_middleware.settings.Settings`):
            ``alb_arn``, ``user_pool_id``, ``client_id``, ``exclude_paths``, the policy's
            rules or its source (``allowed_groups``, ``config_path``, ``secret_name``, ...).

    Raises:
        ConfigurationError: at construction, if ``alb_arn`` is missing, a setting is invalid,
            or the ``error_template`` cannot be used.

    Example:
        >>> app.add_middleware(CognitoAuthMiddleware, alb_arn=ARN, user_pool_id=POOL,
        ...                    client_id=CLIENT, exclude_paths=["/health"])  # doctest: +SKIP
    """

    def __init__(
        self,
        app: ASGIApp,
        /,
        *,
        settings: Settings | None = None,
        verifier: AsyncVerifier | None = None,
        on_authenticated: Hook | None = None,
        on_refused: Hook | None = None,
        **options: Unpack[SettingsOptions],
    ) -> None:
        self.app = app
        self.verifier = verifier = verifier_for(AsyncVerifier, settings, verifier, options)
        self._excluded = PathMatcher(verifier.settings.exclude_paths)
        self._redirect_url = verifier.settings.redirect_url
        self._pages = Pages.from_settings(verifier.settings)
        self._dev_mode = verifier.settings.dev_mode
        self._sign_out = SignOut.from_settings(verifier.settings)
        self._logout_path = verifier.settings.logout_path
        self._by_path = bool(self._excluded) or self._sign_out is not None
        self._on_authenticated = async_hook(on_authenticated, "on_authenticated")
        self._on_refused = async_hook(on_refused, "on_refused")
        self._audit = verifier.settings.audit_log
        self._read_headers = verifier.headers.from_asgi
        self._bearer = verifier.settings.bearer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        if self._by_path:  # without exclude_paths and sign-out, no path is special
            path = _route_path(scope)
            sign_out = self._sign_out
            if sign_out is not None and kind == "http" and path == self._logout_path:
                await self._send_sign_out(scope, send, sign_out)
                return
            if self._excluded(path):
                # As Starlette's AuthenticationMiddleware does for anonymous requests, so that
                # request.user works and @requires refuses (403) instead of failing (500).
                scope["user"] = UnauthenticatedUser()
                scope["auth"] = AuthCredentials()
                await self.app(scope, receive, send)
                return
        accept = ""
        oidc_data = access_token = None
        user: User | None = None
        try:
            (oidc_data, access_token, identity), accept = self._read_headers(scope["headers"])
            token = None
            if self._bearer and not (oidc_data or access_token or identity):
                token = bearer_from_asgi(scope["headers"])
            if token is not None:
                # A machine client: never a person, so no user and no person's hooks.
                machine = await self.verifier.authenticate_bearer(token)
                scope.setdefault("state", {}).update(user=None, machine=machine)
                scope["user"] = machine
                scope["auth"] = AuthCredentials([SCOPE_PREFIX + s for s in machine.scopes])
            else:
                # Decided without a coroutine unless a key must be fetched first: a pair
                # verified before by one look-up, a new one by the flow.
                verifier = self.verifier
                user = verifier.known(oidc_data, access_token, identity)
                if user is None:
                    host = local_client_asgi(scope) if self._dev_mode else None
                    user = verifier.verify_now(oidc_data, access_token, identity, client_host=host)
                    if user is None:
                        user = await verifier.verify_new(
                            oidc_data, access_token, identity, client_host=host
                        )
                scope.setdefault("state", {})["user"] = user
                scope["user"] = user
                scope["auth"] = AuthCredentials(user.groups)  # which copies them into a list
                if self._on_authenticated is not None:
                    connection = HTTPConnection(scope)
                    denial = await run_authenticated_hook(self._on_authenticated, user, connection)
                    if denial is not None:
                        raise denial
        except AuthenticationError as exc:
            if self._on_refused is not None:
                await run_refused_hook(self._on_refused, exc, HTTPConnection(scope))
            if self._audit:
                log_decision(_event(scope, exc, None, oidc_data, access_token))
            refusal = error_response(
                exc,
                accept=accept,
                redirect_url=self._redirect_url,
                path=scope.get("root_path", "") + _route_path(scope),  # as the browser sent it
                pages=self._pages,
            )
            await self._refuse(scope, send, refusal)
            return
        if self._audit and user is not None:
            log_decision(_event(scope, None, user, oidc_data, access_token))
        await self.app(scope, receive, send)

    @staticmethod
    async def _send_sign_out(scope: Scope, send: Send, sign_out: SignOut) -> None:
        # Served to signed-in and signed-out browsers alike: it reveals nothing, and a browser
        # whose session has already expired must still be able to end the pool's session.
        cookies = b"; ".join(value for name, value in scope["headers"] if name == b"cookie")
        headers = sign_out.headers(cookies.decode("latin-1"))
        raw = [(name.encode(), value.encode()) for name, value in headers]
        await send({"type": "http.response.start", "status": sign_out.status, "headers": raw})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _refuse(scope: Scope, send: Send, refusal: ErrorResponse) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting makes the server reject the handshake (HTTP 403). The
            # "websocket.http.response" extension could carry our 401/503 instead, but uvicorn
            # logs every such response as an error, so the plain close is kept.
            await send({"type": "websocket.close", "code": refusal.websocket_close_code})
            return
        headers = [(name.encode(), value.encode()) for name, value in refusal.headers]
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": refusal.body})
