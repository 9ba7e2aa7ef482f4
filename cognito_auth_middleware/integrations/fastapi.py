"""FastAPI integration: the verified user as a dependency, with or without the middleware.

With :class:`~cognito_auth_middleware.CognitoAuthMiddleware` in front of the app every request
is already verified, and :func:`current_user` hands the user to a route::

    app.add_middleware(CognitoAuthMiddleware)               # COGNITO_AUTH_* from the environment

    @app.get("/me")
    def me(user: Annotated[User, Depends(current_user)]) -> dict[str, str]: ...

Without the middleware, :class:`CognitoAuth` protects chosen routes itself (and reuses the
middleware's result where there is one)::

    auth = CognitoAuth()                                    # cheap: keys are fetched on first use

    @app.get("/me")
    async def me(user: Annotated[User, Depends(auth.user)]) -> dict[str, str]: ...

    @app.get("/admin", dependencies=[Depends(auth.require_groups("admins"))])
    async def admin() -> dict[str, str]: ...

Machine clients (the ``bearer`` setting) are no users: :func:`current_machine` and
:func:`require_scopes` hand them to the routes meant for them, and person routes refuse them::

    @app.get("/api/reports", dependencies=[Depends(require_scopes("reports/read"))])
    async def reports() -> list[str]: ...

Refusals come from the package's one table (``responses.error_response``) and are raised as
``HTTPException``: the same status, ``Cache-Control: no-store`` and (on 503) ``Retry-After``, and
``{"detail": {"error": code, "message": ...}}`` as the body, FastAPI's shape for errors.

Security: like the middleware, this trusts nothing a client sends; it is only useful if the app
is reachable solely through the ALB named in ``alb_arn``, which strips client-supplied
``x-amzn-oidc-*`` headers. Routes without the dependency are not protected.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the annotations of the
# dependencies defined below at run time, and ``Annotated[User, Depends(self.user)]`` names a
# local that a string annotation could not resolve.

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Unpack

try:
    from fastapi import Depends, HTTPException, Request
    from fastapi.responses import Response
except ImportError as exc:  # pragma: no cover - exercised by a test that hides fastapi
    raise ImportError(
        "cognito_auth_middleware.integrations.fastapi needs FastAPI: pip install fastapi "
        "(or pip install 'cognito-auth-middleware[fastapi]')"
    ) from exc

from cognito_auth_middleware.core.dev_mode import local_client_asgi
from cognito_auth_middleware.core.policy import group_check
from cognito_auth_middleware.core.sign_out import SignOut
from cognito_auth_middleware.drivers.aio import AsyncVerifier
from cognito_auth_middleware.drivers.base import verifier_for
from cognito_auth_middleware.exceptions import (
    AccessDeniedError,
    AuthenticationError,
    ConfigurationError,
    MissingTokenError,
)
from cognito_auth_middleware.machine import MachineClient
from cognito_auth_middleware.responses import error_response
from cognito_auth_middleware.settings import Settings, SettingsOptions
from cognito_auth_middleware.user import User

__all__ = ["CognitoAuth", "current_machine", "current_user", "require_scopes"]

# The table's headers that still mean something on FastAPI's own JSON error response.
_KEPT_HEADERS = ("cache-control", "retry-after")


def _http_exception(exc: AuthenticationError) -> HTTPException:
    """The refusal of ``exc`` from the one table, as FastAPI's ``HTTPException``."""
    refusal = error_response(exc, accept="")  # JSON: a dependency answers API clients
    payload = json.loads(refusal.body)
    return HTTPException(
        status_code=refusal.status,
        detail={"error": payload["error"], "message": payload["message"]},
        headers={name: value for name, value in refusal.headers if name in _KEPT_HEADERS},
    )


def _verified_user(request: Request) -> User | None:
    user = getattr(request.state, "user", None)
    return user if isinstance(user, User) else None


def current_user(request: Request) -> User:
    """FastAPI dependency: the user ``CognitoAuthMiddleware`` verified for this request.

    Raises:
        HTTPException: 401 ``missing_token`` if the request carries no verified user (the
            middleware is not installed, or the path is one of its ``exclude_paths``).

    Example:
        >>> @app.get("/me")                                          # doctest: +SKIP
        ... def me(user: Annotated[User, Depends(current_user)]) -> dict[str, str | None]:
        ...     return {"email": user.email}
    """
    user = _verified_user(request)
    if user is None:
        raise _http_exception(
            MissingTokenError("no verified sign-in for this request (path not authenticated)")
        )
    return user


def current_machine(request: Request) -> MachineClient:
    """FastAPI dependency: the machine client the middleware verified (``bearer`` setting).

    Raises:
        HTTPException: 401 ``missing_token`` if the request carries no verified bearer token
            (a person's request included: a person is no machine client).
    """
    machine = getattr(request.state, "machine", None)
    if not isinstance(machine, MachineClient):
        raise _http_exception(MissingTokenError("no verified bearer token for this request"))
    return machine


def require_scopes(*scopes: str) -> Callable[[MachineClient], MachineClient]:
    """A dependency admitting machine clients granted every one of ``scopes``.

    Raises:
        ConfigurationError: no scope was named.

    Example:
        >>> @app.get("/api/reports", dependencies=[Depends(require_scopes("reports/read"))])
        ... async def reports() -> list[str]: ...                    # doctest: +SKIP
    """
    if not scopes:
        raise ConfigurationError("require_scopes needs at least one scope")

    def dependency(machine: Annotated[MachineClient, Depends(current_machine)]) -> MachineClient:
        try:
            return machine.require_scopes(*scopes)
        except AccessDeniedError as exc:
            raise _http_exception(exc) from exc

    return dependency


class CognitoAuth:
    """FastAPI dependencies that verify the ALB headers of the routes that use them.

    One instance per app: it owns an :class:`AsyncVerifier` (and its key cache); creating it at
    import time validates the settings and fetches nothing (keys are fetched on first use).
    ``exclude_paths`` does not apply: a route is protected exactly when it uses a dependency.

    Args:
        settings: A ready :class:`Settings`; if omitted it is built from ``options`` and the
            ``COGNITO_AUTH_*`` environment variables.
        verifier: Share an :class:`AsyncVerifier` (and its key cache), e.g. the middleware's.
        **options: Any settings keyword, as for ``CognitoAuthMiddleware``.

    Raises:
        ConfigurationError: at construction, if ``alb_arn`` is missing or a setting is invalid.

    Example:
        >>> auth = CognitoAuth()                                     # doctest: +SKIP
        >>> @app.get("/me")
        ... async def me(user: Annotated[User, Depends(auth.user)]) -> dict[str, str]:
        ...     return {"sub": user.sub}
    """

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        verifier: AsyncVerifier | None = None,
        **options: Unpack[SettingsOptions],
    ) -> None:
        # Refused here, at start-up, rather than on the first request.
        self.verifier = verifier_for(AsyncVerifier, settings, verifier, options)
        self.settings = self.verifier.settings

    async def user(self, request: Request) -> User:
        """FastAPI dependency: the verified user of this request.

        The middleware's result is reused when it ran; otherwise the request's headers are
        verified here and the user is stored at ``request.state.user``.

        Raises:
            HTTPException: 401, 403 or 503 from the package's table, with its headers.
        """
        user = _verified_user(request)
        if user is not None:
            return user
        try:
            (oidc_data, access_token, identity), _ = self.verifier.headers.from_asgi(
                request.scope["headers"]
            )
            user = await self.verifier.authenticate(
                oidc_data,
                access_token,
                identity,
                client_host=local_client_asgi(request.scope) if self.settings.dev_mode else None,
            )
        except AuthenticationError as exc:
            raise _http_exception(exc) from exc
        request.state.user = user
        return user

    def sign_out_endpoint(self) -> Callable[[Request], Response]:
        """An endpoint that signs the browser out (the middlewares' ``logout_path``, per route).

        Raises:
            ConfigurationError: at once, unless ``cognito_domain`` and ``logout_uri`` are set.

        Example:
            >>> app.get("/logout")(auth.sign_out_endpoint())         # doctest: +SKIP
        """
        sign_out = SignOut.required(self.settings)

        def sign_out_endpoint(request: Request) -> Response:
            response = Response(status_code=sign_out.status)
            del response.headers["content-length"]
            for name, value in sign_out.headers(request.headers.get("cookie")):
                response.headers.append(name, value)
            return response

        return sign_out_endpoint

    def require_groups(
        self, *groups: str, require_all: bool = False
    ) -> Callable[..., Awaitable[User]]:
        """A dependency admitting users in any of ``groups`` (all of them with ``require_all``).

        Raises:
            ConfigurationError: no group was named.

        Example:
            >>> @app.get("/admin", dependencies=[Depends(auth.require_groups("admins"))])
            ... async def admin() -> str: ...                        # doctest: +SKIP
        """
        check = group_check(groups, require_all)

        async def dependency(user: Annotated[User, Depends(self.user)]) -> User:
            try:
                check(user)
            except AccessDeniedError as exc:
                raise _http_exception(exc) from exc
            return user

        return dependency
