"""Streamlit integration: verify the ALB headers of the current Streamlit session.

``streamlit run`` gives an app no middleware hook: the script itself asks for the user. Streamlit
(1.37 and later) exposes the headers of the request that opened the session as
``st.context.headers``; :func:`get_user` verifies them with a verifier shared by every session of
the process, configured from the ``COGNITO_AUTH_*`` environment variables::

    import streamlit as st
    from cognito_auth_middleware.integrations.streamlit import require_user

    user = require_user()          # shows an error and stops the script unless verified
    st.write(f"Hello {user.display_name}")

The headers are those of the WebSocket handshake that opened the session, so a session outlives
its tokens: each rerun verifies them again, and once they expire the script is refused
(``ExpiredTokenError``) until the browser reloads the page through the ALB.

Security: this trusts nothing a client sends; it is only useful if the app is reachable solely
through the ALB named in ``alb_arn``, which strips client-supplied ``x-amzn-oidc-*`` headers.
Anything the script renders before calling :func:`get_user` is shown to everyone.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping

try:
    import streamlit as st
except ImportError as exc:  # pragma: no cover - exercised by a test that hides streamlit
    raise ImportError(
        "cognito_auth_middleware.integrations.streamlit needs Streamlit: pip install streamlit "
        "(or pip install 'cognito-auth-middleware[streamlit]')"
    ) from exc

from cognito_auth_middleware.core.headers import (
    ACCESS_TOKEN,
    IDENTITY,
    OIDC_DATA,
    AlbHeaders,
    from_asgi,
)
from cognito_auth_middleware.drivers.sync import Verifier
from cognito_auth_middleware.exceptions import AuthenticationError
from cognito_auth_middleware.responses import error_response
from cognito_auth_middleware.settings import Settings
from cognito_auth_middleware.user import User

__all__ = ["get_user", "require_user"]

_verifier: Verifier | None = None
_verifier_lock = threading.Lock()


def _shared_verifier() -> Verifier:
    # Streamlit reruns the script on every interaction but imports this module once per
    # process: one verifier, and one key cache, for all sessions.
    global _verifier
    with _verifier_lock:
        if _verifier is None:
            _verifier = Verifier(Settings.for_middleware())
        return _verifier


def _alb_headers(headers: Mapping[str, list[str]]) -> AlbHeaders:
    """The three ALB headers from ``{name: [values]}``, by the middleware's rules."""
    # Through the ASGI reader, so a repeated header is refused exactly as by the middleware.
    # Servers decode header bytes as latin-1; "replace" only guards against a server that did
    # not, turning such a value into an invalid token instead of a crash.
    raw = [
        (name.encode(), value.encode("latin-1", errors="replace"))
        for name in (OIDC_DATA, ACCESS_TOKEN, IDENTITY)
        for value in headers.get(name, ())
    ]
    found, _ = from_asgi(raw)
    return found


def get_user(*, verifier: Verifier | None = None) -> User:
    """Verify the current session's ALB headers (``st.context.headers``) and return the user.

    Args:
        verifier: The verifier to use; by default one per process, configured from the
            ``COGNITO_AUTH_*`` environment variables when first needed.

    Raises:
        AuthenticationError: one of its subclasses, as documented in ``exceptions``.
        ConfigurationError: the environment does not configure a verifier (``alb_arn`` is
            required, as for the middlewares).

    Example:
        >>> user = get_user()                                       # doctest: +SKIP
        >>> st.write(user.email)
    """
    headers = st.context.headers  # case-insensitive; get_all keeps every repeated value
    names = (OIDC_DATA, ACCESS_TOKEN, IDENTITY)
    oidc_data, access_token, identity = _alb_headers({n: headers.get_all(n) for n in names})
    return (verifier or _shared_verifier()).authenticate(oidc_data, access_token, identity)


def require_user(*, verifier: Verifier | None = None) -> User:
    """The verified user; otherwise show why with ``st.error`` and stop the script.

    The message shown is the one the middlewares send to clients (from the package's table):
    what the user can act on, without the configuration details the log line carries.

    Args:
        verifier: As for :func:`get_user`.

    Example:
        >>> user = require_user()                                   # doctest: +SKIP
    """
    try:
        return get_user(verifier=verifier)
    except AuthenticationError as exc:
        refusal = error_response(exc)
        st.error(json.loads(refusal.body)["message"])
        st.stop()
