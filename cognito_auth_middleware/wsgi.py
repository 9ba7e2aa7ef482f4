"""``CognitoAuthWSGIMiddleware``: verify the ALB's identity headers in front of any WSGI app.

Use it when the app is served by a WSGI server (gunicorn, waitress, Flask's or Dash's own)::

    app.wsgi_app = CognitoAuthWSGIMiddleware(app.wsgi_app)          # Flask
    app.server.wsgi_app = CognitoAuthWSGIMiddleware(app.server.wsgi_app)  # Dash

Requests are verified before the app sees them; excluded paths pass straight through. On
success the user is stored under ``environ["cognito_auth.user"]``; read it with
:func:`get_user` (in Flask: ``get_user(flask.request.environ)``).

Security: this trusts nothing a client sends; it is only useful if the app is reachable solely
through the ALB named in ``alb_arn``, which strips client-supplied ``x-amzn-oidc-*`` headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Unpack

from werkzeug.wrappers import Request, Response

from .audit import (
    Hook,
    audit_event,
    log_decision,
    run_authenticated_hook_sync,
    run_refused_hook_sync,
    sync_hook,
)
from .core.dev_mode import local_client_environ
from .core.headers import bearer_from_environ
from .core.paths import PathMatcher
from .core.sign_out import SignOut
from .drivers.base import verifier_for
from .drivers.sync import Verifier
from .exceptions import AuthenticationError
from .machine import MachineClient
from .pages import Pages
from .responses import error_response
from .settings import Settings, SettingsOptions
from .user import User

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "ENVIRON_KEY",
    "MACHINE_KEY",
    "PAGES_KEY",
    "CognitoAuthWSGIMiddleware",
    "get_machine",
    "get_user",
    "request_path",
]

ENVIRON_KEY = "cognito_auth.user"
#: Where a verified machine client (the ``bearer`` setting) is stored instead of a user.
MACHINE_KEY = "cognito_auth.machine"
#: Where the middleware leaves its refusal pages, for the decorators that refuse in a view.
PAGES_KEY = "cognito_auth.pages"


def get_user(environ: Mapping[str, Any]) -> User | None:
    """The verified user of this request, or ``None`` on an excluded path.

    Example:
        >>> from flask import request                        # doctest: +SKIP
        >>> get_user(request.environ).email
        'alice@example.com'
    """
    user = environ.get(ENVIRON_KEY)
    return user if isinstance(user, User) else None


def get_machine(environ: Mapping[str, Any]) -> MachineClient | None:
    """The verified machine client of this request (the ``bearer`` setting), or ``None``."""
    machine = environ.get(MACHINE_KEY)
    return machine if isinstance(machine, MachineClient) else None


def request_path(environ: Mapping[str, Any]) -> bytes:
    """The request's path as the browser sent it (``SCRIPT_NAME`` + ``PATH_INFO``), as bytes.

    PEP 3333 servers hand the path over as latin-1 text standing for its bytes.
    """
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    return path.encode("latin-1", errors="replace")


class CognitoAuthWSGIMiddleware:
    """WSGI middleware that admits only requests carrying valid ALB / Cognito headers.

    Args:
        app: The WSGI application to protect.
        settings: A ready :class:`Settings`; if omitted it is built from ``options`` and the
            ``COGNITO_AUTH_*`` environment variables.
        verifier: Share a :class:`Verifier` (and its key cache) between apps.
        on_authenticated: ``hook(user, request)`` as for ``CognitoAuthMiddleware``, with
            werkzeug's shallow ``Request``; a plain function, called in the request's thread.
        on_refused: ``hook(error, request)``, likewise.
        **options: The same keywords as ``CognitoAuthMiddleware``.

    Raises:
        ConfigurationError: at construction, if ``alb_arn`` is missing, a setting is invalid,
            or the ``error_template`` cannot be used.

    Example:
        >>> app.wsgi_app = CognitoAuthWSGIMiddleware(app.wsgi_app, exclude_paths=["/health"])
        ... # doctest: +SKIP
    """

    def __init__(
        self,
        app: WSGIApplication,
        /,
        *,
        settings: Settings | None = None,
        verifier: Verifier | None = None,
        on_authenticated: Hook | None = None,
        on_refused: Hook | None = None,
        **options: Unpack[SettingsOptions],
    ) -> None:
        self.app = app
        self.verifier = verifier = verifier_for(Verifier, settings, verifier, options)
        self._excluded = PathMatcher(verifier.settings.exclude_paths)
        self._redirect_url = verifier.settings.redirect_url
        self._pages = Pages.from_settings(verifier.settings)
        self._dev_mode = verifier.settings.dev_mode
        self._sign_out = SignOut.from_settings(verifier.settings)
        self._logout_path = verifier.settings.logout_path
        self._on_authenticated = sync_hook(on_authenticated, "on_authenticated")
        self._on_refused = sync_hook(on_refused, "on_refused")
        self._audit = verifier.settings.audit_log
        self._bearer = verifier.settings.bearer

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if self._sign_out is not None and path == self._logout_path:
            # As the ASGI middleware: served whether or not the browser is still signed in.
            headers = self._sign_out.headers(environ.get("HTTP_COOKIE"))
            return Response(status=self._sign_out.status, headers=headers)(environ, start_response)
        environ[PAGES_KEY] = self._pages
        if self._excluded(path):
            return self.app(environ, start_response)
        (oidc_data, access_token, identity), accept = self.verifier.headers.from_environ(environ)
        user: User | None = None
        try:
            token = None
            if self._bearer and not (oidc_data or access_token or identity):
                token = bearer_from_environ(environ)
            if token is not None:
                # A machine client: never a person, so no user and no person's hooks.
                environ[MACHINE_KEY] = self.verifier.authenticate_bearer(token)
            else:
                user = self._authenticate(environ, oidc_data, access_token, identity)
        except AuthenticationError as exc:
            environ.pop(ENVIRON_KEY, None)
            if self._on_refused is not None:
                run_refused_hook_sync(self._on_refused, exc, Request(environ, shallow=True))
            if self._audit:
                log_decision(_event(environ, exc, None, oidc_data, access_token))
            refusal = error_response(
                exc,
                accept=accept,
                redirect_url=self._redirect_url,
                path=request_path(environ),
                pages=self._pages,
            )
            response = Response(refusal.body, status=refusal.status, headers=refusal.headers)
            return response(environ, start_response)
        if self._audit and user is not None:
            log_decision(_event(environ, None, user, oidc_data, access_token))
        return self.app(environ, start_response)

    def _authenticate(
        self,
        environ: WSGIEnvironment,
        oidc_data: str | None,
        access_token: str | None,
        identity: str | None,
    ) -> User:
        """The verified user of these headers, put in the environ, the hook having run."""
        user = self.verifier.authenticate(
            oidc_data,
            access_token,
            identity,
            client_host=local_client_environ(environ) if self._dev_mode else None,
        )
        environ[ENVIRON_KEY] = user
        if self._on_authenticated is not None:
            request = Request(environ, shallow=True)
            denial = run_authenticated_hook_sync(self._on_authenticated, user, request)
            if denial is not None:
                raise denial
        return user


def _event(
    environ: WSGIEnvironment,
    error: AuthenticationError | None,
    user: User | None,
    oidc_data: str | None,
    access_token: str | None,
) -> dict[str, Any]:
    return audit_event(
        error=error,
        user=user,
        method=str(environ.get("REQUEST_METHOD", "")),
        path=str(environ.get("PATH_INFO") or "/"),
        trace_id=environ.get("HTTP_X_AMZN_TRACE_ID"),
        oidc_data=oidc_data,
        access_token=access_token,
    )
