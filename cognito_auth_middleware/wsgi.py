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

from werkzeug.wrappers import Response

from .core.dev_mode import local_client_environ
from .core.headers import from_environ
from .core.paths import PathMatcher
from .drivers.base import verifier_for
from .drivers.sync import Verifier
from .exceptions import AuthenticationError
from .pages import Pages
from .responses import error_response
from .settings import Settings, SettingsOptions
from .user import User

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ENVIRON_KEY", "PAGES_KEY", "CognitoAuthWSGIMiddleware", "get_user", "request_path"]

ENVIRON_KEY = "cognito_auth.user"
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
        **options: Unpack[SettingsOptions],
    ) -> None:
        self.app = app
        self.verifier = verifier = verifier_for(Verifier, settings, verifier, options)
        self._excluded = PathMatcher(verifier.settings.exclude_paths)
        self._redirect_url = verifier.settings.redirect_url
        self._pages = Pages.from_settings(verifier.settings)
        self._dev_mode = verifier.settings.dev_mode

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ[PAGES_KEY] = self._pages
        if self._excluded(environ.get("PATH_INFO") or "/"):
            return self.app(environ, start_response)
        (oidc_data, access_token, identity), accept = from_environ(environ)
        try:
            user = self.verifier.authenticate(
                oidc_data,
                access_token,
                identity,
                client_host=local_client_environ(environ) if self._dev_mode else None,
            )
        except AuthenticationError as exc:
            refusal = error_response(
                exc,
                accept=accept,
                redirect_url=self._redirect_url,
                path=request_path(environ),
                pages=self._pages,
            )
            response = Response(refusal.body, status=refusal.status, headers=refusal.headers)
            return response(environ, start_response)
        environ[ENVIRON_KEY] = user
        return self.app(environ, start_response)
