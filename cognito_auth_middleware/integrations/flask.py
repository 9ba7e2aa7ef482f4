"""Flask integration: the verified user of the current request, and decorators that require one.

With :class:`~cognito_auth_middleware.CognitoAuthWSGIMiddleware` in front of the app every
request is already verified; :func:`current_user` reads the result and :func:`groups_required`
narrows a view to some Cognito groups::

    app.wsgi_app = CognitoAuthWSGIMiddleware(app.wsgi_app)  # COGNITO_AUTH_* from the environment

    @app.get("/admin")
    @groups_required("admins")
    def admin() -> str:
        return f"hello {current_user().email}"

Without the middleware, :class:`CognitoAuth` protects chosen views itself::

    auth = CognitoAuth()                                    # cheap: keys are fetched on first use

    @app.get("/me")
    @auth.login_required
    def me() -> dict[str, str]: ...

Refusals are the package's one table (``responses.error_response``), so a view answers exactly
as the middleware would: JSON for API clients, an HTML page (or the ``redirect_url``) for
browsers, ``Cache-Control: no-store``, ``Retry-After`` on 503. The decorators go below the route
decorator and wrap synchronous views.

Security: this trusts nothing a client sends; it is only useful if the app is reachable solely
through the ALB named in ``alb_arn``, which strips client-supplied ``x-amzn-oidc-*`` headers.
Views without a decorator are not protected unless the middleware is installed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar, Unpack

try:
    from flask import Response, request
except ImportError as exc:  # pragma: no cover - exercised by a test that hides flask
    raise ImportError(
        "cognito_auth_middleware.integrations.flask needs Flask: pip install flask "
        "(or pip install 'cognito-auth-middleware[flask]')"
    ) from exc

from cognito_auth_middleware.core.dev_mode import local_client_environ
from cognito_auth_middleware.core.policy import group_check
from cognito_auth_middleware.core.sign_out import SignOut
from cognito_auth_middleware.drivers.base import verifier_for
from cognito_auth_middleware.drivers.sync import Verifier
from cognito_auth_middleware.exceptions import (
    AuthenticationError,
    ConfigurationError,
    MissingTokenError,
)
from cognito_auth_middleware.machine import MachineClient
from cognito_auth_middleware.pages import Pages
from cognito_auth_middleware.responses import error_response
from cognito_auth_middleware.settings import Settings, SettingsOptions
from cognito_auth_middleware.user import User
from cognito_auth_middleware.wsgi import (
    ENVIRON_KEY,
    PAGES_KEY,
    get_machine,
    get_user,
    request_path,
)

__all__ = ["CognitoAuth", "current_machine", "current_user", "groups_required", "scopes_required"]

P = ParamSpec("P")
R = TypeVar("R")


def current_user() -> User | None:
    """The verified user of the current Flask request, or ``None`` if there is none.

    ``None`` means the request was not verified: an excluded path of the middleware, or a view
    that neither the middleware nor :meth:`CognitoAuth.login_required` protects.

    Example:
        >>> current_user().email                                     # doctest: +SKIP
        'alice@example.com'
    """
    return get_user(request.environ)


def _refusal(exc: AuthenticationError, redirect_url: str | None, pages: Pages | None) -> Response:
    if pages is None:  # behind the middleware: its pages (its support_contact, its template)
        found = request.environ.get(PAGES_KEY)
        pages = found if isinstance(found, Pages) else Pages()
    refusal = error_response(
        exc,
        accept=request.headers.get("accept", ""),
        redirect_url=redirect_url,
        path=request_path(request.environ),
        pages=pages,
    )
    return Response(refusal.body, status=refusal.status, headers=refusal.headers)


def _guard(
    view: Callable[P, R],
    admit: Callable[[], object],
    redirect_url: str | None,
    pages: Pages | None = None,
) -> Callable[P, R | Response]:
    """``view``, answering the table's refusal instead whenever ``admit()`` refuses."""

    @functools.wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        try:
            admit()
        except AuthenticationError as exc:
            return _refusal(exc, redirect_url, pages)
        return view(*args, **kwargs)

    return guarded


def _middleware_user() -> User:
    user = current_user()
    if user is None:
        raise MissingTokenError("no verified sign-in for this request (path not authenticated)")
    return user


def current_machine() -> MachineClient | None:
    """The machine client the middleware verified for this request (``bearer``), or ``None``."""
    return get_machine(request.environ)


def scopes_required(*scopes: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Admit machine clients the middleware verified that were granted every one of ``scopes``.

    For apps behind ``CognitoAuthWSGIMiddleware`` with the ``bearer`` setting. A request
    without a verified bearer token (a person's included) is answered 401, a client without
    the scopes 403, from the package's table.

    Raises:
        ConfigurationError: no scope was named.

    Example:
        >>> @app.get("/api/reports")                                 # doctest: +SKIP
        ... @scopes_required("reports/read")
        ... def reports() -> list[str]: ...
    """
    if not scopes:
        raise ConfigurationError("scopes_required needs at least one scope")

    def admit() -> None:
        machine = current_machine()
        if machine is None:
            raise MissingTokenError("no verified bearer token for this request")
        machine.require_scopes(*scopes)

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        return _guard(view, admit, None)

    return decorator


def groups_required(
    *groups: str, require_all: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Admit users the middleware verified who are in any of ``groups`` (all with ``require_all``).

    For apps behind ``CognitoAuthWSGIMiddleware``. A request without a verified user (an
    excluded path) is answered 401, a user outside the groups 403, from the package's table.

    Raises:
        ConfigurationError: no group was named.

    Example:
        >>> @app.get("/admin")                                       # doctest: +SKIP
        ... @groups_required("admins")
        ... def admin() -> str: ...
    """
    check = group_check(groups, require_all)

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        return _guard(view, lambda: check(_middleware_user()), None)

    return decorator


class CognitoAuth:
    """Decorators that verify the ALB headers of the views they wrap, without the middleware.

    One instance per app: it owns a :class:`Verifier` (and its key cache); creating it at import
    time validates the settings and fetches nothing (keys are fetched on first use). A view
    the middleware already verified is not verified again. The user is stored where the
    middleware stores it, so :func:`current_user` works in the view.

    Args:
        settings: A ready :class:`Settings`; if omitted it is built from ``options`` and the
            ``COGNITO_AUTH_*`` environment variables.
        verifier: Share a :class:`Verifier` (and its key cache).
        **options: Any settings keyword, as for ``CognitoAuthWSGIMiddleware``;
            ``exclude_paths`` does not apply (a view is protected exactly when decorated).

    Raises:
        ConfigurationError: at construction, if ``alb_arn`` is missing, a setting is invalid,
            or the ``error_template`` cannot be used.

    Example:
        >>> auth = CognitoAuth()                                     # doctest: +SKIP
        >>> @app.get("/me")
        ... @auth.login_required
        ... def me() -> dict[str, str]:
        ...     return {"sub": current_user().sub}
    """

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        verifier: Verifier | None = None,
        **options: Unpack[SettingsOptions],
    ) -> None:
        # Refused here, at start-up, rather than on the first request.
        self.verifier = verifier_for(Verifier, settings, verifier, options)
        self.settings = self.verifier.settings
        self.pages = Pages.from_settings(self.settings)

    def user(self) -> User:
        """The verified user of the current request: the middleware's, or verified here.

        Raises:
            AuthenticationError: one of its subclasses, as documented in ``exceptions``.
        """
        environ = request.environ
        user = get_user(environ)
        if user is None:
            (oidc_data, access_token, identity), _ = self.verifier.headers.from_environ(environ)
            user = self.verifier.authenticate(
                oidc_data,
                access_token,
                identity,
                client_host=local_client_environ(environ) if self.settings.dev_mode else None,
            )
            environ[ENVIRON_KEY] = user
        return user

    def sign_out_view(self) -> Callable[[], Response]:
        """A view that signs the browser out (the middleware's ``logout_path``, per route).

        Raises:
            ConfigurationError: at once, unless ``cognito_domain`` and ``logout_uri`` are set.

        Example:
            >>> app.add_url_rule("/logout", view_func=auth.sign_out_view())  # doctest: +SKIP
        """
        sign_out = SignOut.required(self.settings)

        def sign_out_view() -> Response:
            headers = sign_out.headers(request.headers.get("Cookie"))
            return Response(status=sign_out.status, headers=headers)

        return sign_out_view

    def login_required(self, view: Callable[P, R]) -> Callable[P, R | Response]:
        """Decorator: run ``view`` only for a verified user; otherwise answer the refusal."""
        return _guard(view, self.user, self.settings.redirect_url, self.pages)

    def groups_required(
        self, *groups: str, require_all: bool = False
    ) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
        """Decorator: like :meth:`login_required`, and the user must be in any (all) of ``groups``.

        Raises:
            ConfigurationError: no group was named.
        """
        check = group_check(groups, require_all)

        def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
            return _guard(view, lambda: check(self.user()), self.settings.redirect_url, self.pages)

        return decorator
