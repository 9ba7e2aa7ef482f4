"""Streamlit integration: verify the ALB headers of the current Streamlit session.

``streamlit run`` gives an app no middleware hook: the script itself asks for the user. Streamlit
(1.37 and later) exposes the headers of the request that opened the session as
``st.context.headers``; :func:`get_user` verifies them with a verifier shared by every session of
the process, configured from the ``COGNITO_AUTH_*`` environment variables::

    import streamlit as st
    from cognito_auth_middleware.integrations.streamlit import require_user

    user = require_user()          # shows an error and stops the script unless verified
    st.write(f"Hello {user.display_name}")

The headers are those of the WebSocket handshake that opened the session, and the ALB's token in
them expires within one to two minutes, while the session lives on. So the headers are verified
fully once, when the session starts (and again whenever they change), and the verified user is
kept in ``st.session_state`` with the access token's expiry. Each rerun then applies the
authorisation policy in force (a reload that removes the user takes effect at their next
interaction) and checks that expiry; once the access token has expired, the script is refused
(``ExpiredTokenError``) and :func:`require_user` asks the user to reload the page, which signs
in again through the ALB.

Dev mode (``COGNITO_AUTH_DEV_MODE``) works as in the middlewares: a session opened without ALB
headers runs as the mock user only from a loopback client (``st.context.ip_address``, which
Streamlit reports as ``None`` for 127.0.0.1 and ::1), on a loopback ``Host``, with no forwarding
header.

Security: this trusts nothing a client sends; it is only useful if the app is reachable solely
through the ALB named in ``alb_arn``, which strips client-supplied ``x-amzn-oidc-*`` headers.
Anything the script renders before calling :func:`get_user` is shown to everyone.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

try:
    import streamlit as st
except ImportError as exc:  # pragma: no cover - exercised by a test that hides streamlit
    raise ImportError(
        "cognito_auth_middleware.integrations.streamlit needs Streamlit: pip install streamlit "
        "(or pip install 'cognito-auth-middleware[streamlit]')"
    ) from exc

from cognito_auth_middleware.core.dev_mode import local_client
from cognito_auth_middleware.core.headers import AlbHeaders, HeaderReader
from cognito_auth_middleware.drivers.sync import Verifier
from cognito_auth_middleware.exceptions import AuthenticationError
from cognito_auth_middleware.pages import EXPIRED, Pages
from cognito_auth_middleware.settings import Settings
from cognito_auth_middleware.user import User

__all__ = ["SESSION_EXPIRED", "get_user", "require_user"]

_verifier: Verifier | None = None
_verifier_lock = threading.Lock()

# Where the session's verified user is kept in st.session_state: not a widget key.
_SESSION_KEY = "_cognito_auth_middleware_session"
#: What :func:`require_user` shows when the session's access token has expired (the words of
#: the expired-session page).
SESSION_EXPIRED = EXPIRED.text()


@dataclass(frozen=True, slots=True)
class _Session:
    """A session's verified user: valid for its headers and verifier until ``not_after``.

    Picklable (Streamlit's ``runner.enforceSerializableSessionState``): the verifier is held
    by its ``id``, and verifiers live as long as the process.
    """

    #: The verifier's ``id`` and the headers it verified.
    key: tuple[int, AlbHeaders]
    user: User
    not_after: float


def _shared_verifier() -> Verifier:
    # Streamlit reruns the script on every interaction but imports this module once per
    # process: one verifier, and one key cache, for all sessions.
    global _verifier
    with _verifier_lock:
        if _verifier is None:
            _verifier = Verifier(Settings.for_middleware())
        return _verifier


def _alb_headers(headers: Mapping[str, list[str]], reader: HeaderReader) -> AlbHeaders:
    """The identity headers from ``{name: [values]}``, by the middleware's rules."""
    # Through the ASGI reader, so a repeated header is refused exactly as by the middleware.
    # Servers decode header bytes as latin-1; "replace" only guards against a server that did
    # not, turning such a value into an invalid token instead of a crash.
    raw = [
        (name.encode(), value.encode("latin-1", errors="replace"))
        for name in reader.names
        for value in headers.get(name, ())
    ]
    found, _ = reader.from_asgi(raw)
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
    verifier = verifier or _shared_verifier()
    headers = st.context.headers  # case-insensitive; get_all keeps every repeated value
    reader = verifier.headers
    found = _alb_headers({n: headers.get_all(n) for n in reader.names}, reader)
    key = (id(verifier), found)
    session = st.session_state.get(_SESSION_KEY)
    if isinstance(session, _Session) and session.key == key:
        return verifier.resume(session.user, session.not_after)
    client_host = None
    if verifier.settings.dev_mode:
        # Streamlit reports 127.0.0.1 and ::1 as None; without a client connection there are
        # no headers either, so no loopback Host, and local_client refuses.
        lowered = {name.lower(): value for name, value in headers.items()}
        client_host = local_client(lowered, st.context.ip_address or "127.0.0.1")
    user = verifier.authenticate(*found, client_host=client_host)
    expiry = user.access_claims.get("exp")  # a number: the engine admitted it (None: mock)
    not_after = math.inf if expiry is None else float(expiry) + verifier.settings.leeway
    st.session_state[_SESSION_KEY] = _Session(key, user, not_after)
    return user


def require_user(*, verifier: Verifier | None = None) -> User:
    """The verified user; otherwise tell the person why with ``st.error`` and stop the script.

    The words are those of the middlewares' refusal pages (:mod:`cognito_auth_middleware.pages`):
    what happened and what to do, without the technical reason the log line carries, naming
    the ``support_contact`` on a refusal by the policy; when the session's access token has
    expired, :data:`SESSION_EXPIRED`.

    Args:
        verifier: As for :func:`get_user`.

    Example:
        >>> user = require_user()                                   # doctest: +SKIP
    """
    verifier = verifier or _shared_verifier()
    try:
        return get_user(verifier=verifier)
    except AuthenticationError as exc:
        contact = verifier.settings.support_contact
        # st.error reads Markdown: the package's texts hold none, but a contact's "_" or "."
        # would be read as such, so the contact is escaped (it is shown as written).
        escaped = None if contact is None else re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", contact)
        st.error(Pages(support_contact=escaped).text(exc))
        st.stop()
