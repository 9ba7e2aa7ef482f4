"""The audit trail of both middlewares: one log event per decision, and the app's hooks.

**The log.** With ``audit_log`` (``COGNITO_AUTH_AUDIT_LOG``; off by default) each decision is one
event on the logger ``cognito_auth_middleware.audit``, at INFO: a JSON object, also attached to
the record as ``record.audit`` for structured handlers::

    {"decision": "refused", "reason": "expired_token", "method": "GET", "path": "/reports",
     "trace_id": "Root=1-...", "token": "3f2a9c01be77", "kid": "...", "signer": "arn:...",
     "issuer": "https://cognito-idp...", "client": "...", "sub": null}

``reason`` is ``ok``, ``dev_mode`` or the refusal's code; ``token`` is the fingerprint of the
ALB token (a SHA-256 prefix, as in every other log line: enough to correlate, useless to
replay); ``kid``, ``signer``, ``issuer`` and ``client`` are read from the ALB token's header,
verified for an admission and as sent for a refusal (JSON-escaped and cut to 200 characters).
No token ever; the email only when the audit logger is enabled for DEBUG.

**The hooks.** ``on_authenticated(user, request)`` runs for every admitted request, after the
policy; raising an :class:`~cognito_auth_middleware.exceptions.AuthenticationError` (such as
``AccessDeniedError``) refuses the request with it, and any other exception is logged and the
request goes on (a hook observes; the decision was made). ``on_refused(error, request)`` runs
for every refusal before the answer is sent; whatever it raises is logged and the refusal
stands. ``request`` is Starlette's ``HTTPConnection`` (ASGI) or werkzeug's shallow ``Request``
(WSGI): headers, URL, client; not the body, which belongs to the app. On the ASGI side a hook
may be ``async``; a plain function runs in a worker thread (asgiref's ``sync_to_async``), never
on the event loop. The WSGI middleware calls hooks in the request's thread, so an ``async``
hook there is a ``ConfigurationError``.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from logging import DEBUG
from typing import Any

from asgiref.sync import sync_to_async

from .core.cache import BoundedCache
from .core.tokens import fingerprint
from .exceptions import AuthenticationError, ConfigurationError
from .user import User

__all__ = [
    "AUDIT_LOGGER",
    "AsyncHook",
    "Hook",
    "async_hook",
    "audit_event",
    "log_decision",
    "run_authenticated_hook",
    "run_authenticated_hook_sync",
    "run_refused_hook",
    "run_refused_hook_sync",
    "sync_hook",
]

AUDIT_LOGGER = "cognito_auth_middleware.audit"
audit_logger = logging.getLogger(AUDIT_LOGGER)
logger = logging.getLogger("cognito_auth_middleware")

Hook = Callable[[Any, Any], Any]
AsyncHook = Callable[[Any, Any], Awaitable[Any]]

_MAX_FIELD = 200
_MAX_PATH = 512
_MAX_HEADER = 4096  # characters of the token's first segment decoded for the event


def _checked(hook: object, name: str) -> Hook:
    if not callable(hook):
        raise ConfigurationError(f"{name} must be a function taking two arguments")
    return hook


def async_hook(hook: object, name: str) -> AsyncHook | None:
    """``hook`` as an awaitable: as it is if ``async``, else run in a worker thread."""
    if hook is None:
        return None
    checked = _checked(hook, name)
    if inspect.iscoroutinefunction(checked):
        return checked
    # thread_sensitive=False: the default runs every sync hook in one shared thread.
    return sync_to_async(checked, thread_sensitive=False)


def sync_hook(hook: object, name: str) -> Hook | None:
    """``hook`` for the WSGI middleware, which calls it in the request's thread."""
    if hook is None:
        return None
    checked = _checked(hook, name)
    if inspect.iscoroutinefunction(checked):
        raise ConfigurationError(
            f"{name} is async, but the WSGI middleware calls hooks in the request's thread: "
            "pass a plain function"
        )
    return checked


def _hook_failed(name: str, outcome: str) -> None:
    logger.exception("the %s hook raised; %s", name, outcome)


async def run_authenticated_hook(
    hook: AsyncHook, user: User, request: object
) -> AuthenticationError | None:
    """Run ``on_authenticated``; the refusal it raised, if it raised one."""
    try:
        await hook(user, request)
    except AuthenticationError as exc:
        return exc
    except Exception:  # noqa: BLE001 (the hook is the app's code: log it, keep the decision)
        _hook_failed("on_authenticated", "the request goes on")
    return None


def run_authenticated_hook_sync(
    hook: Hook, user: User, request: object
) -> AuthenticationError | None:
    """As :func:`run_authenticated_hook`, in the caller's thread."""
    try:
        hook(user, request)
    except AuthenticationError as exc:
        return exc
    except Exception:  # noqa: BLE001 (as above)
        _hook_failed("on_authenticated", "the request goes on")
    return None


async def run_refused_hook(hook: AsyncHook, error: AuthenticationError, request: object) -> None:
    """Run ``on_refused``; nothing it does changes the refusal."""
    try:
        await hook(error, request)
    except Exception:  # noqa: BLE001 (as above)
        _hook_failed("on_refused", "the refusal stands")


def run_refused_hook_sync(hook: Hook, error: AuthenticationError, request: object) -> None:
    """As :func:`run_refused_hook`, in the caller's thread."""
    try:
        hook(error, request)
    except Exception:  # noqa: BLE001 (as above)
        _hook_failed("on_refused", "the refusal stands")


_NOTHING = {"token": None, "kid": None, "signer": None, "issuer": None, "client": None}
# A token's description, by its text: a repeated token is decoded and hashed once.
_descriptions: BoundedCache[str, dict[str, str | None]] = BoundedCache(1024)


def _described(token: str) -> dict[str, str | None]:
    """The token's fingerprint and, for an ALB token, its header's trust-chain fields."""
    found = _descriptions.get(token)
    if found is None:
        header = _alb_header(token)
        found = {
            "token": fingerprint(token),
            "kid": _field(header, "kid"),
            "signer": _field(header, "signer"),
            "issuer": _field(header, "iss"),
            "client": _field(header, "client"),
        }
        _descriptions.put(token, found)
    return found


def _alb_header(oidc_data: str) -> Mapping[str, Any]:
    """The ALB token's header as sent (only its first segment is decoded), or ``{}``."""
    first = oidc_data.partition(".")[0][:_MAX_HEADER]
    try:
        header = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    except (ValueError, RecursionError, binascii.Error):  # UnicodeDecodeError is a ValueError
        return {}
    return header if isinstance(header, dict) else {}


def _field(header: Mapping[str, Any], name: str) -> str | None:
    value = header.get(name)
    return value[:_MAX_FIELD] if isinstance(value, str) else None


def audit_event(
    *,
    error: AuthenticationError | None,
    user: User | None,
    method: str,
    path: str,
    trace_id: str | None,
    oidc_data: str | None,
    access_token: str | None,
) -> dict[str, Any]:
    """The audit event of one decision (``error`` is ``None`` for an admission).

    The user's email is in it only when the audit logger is enabled for DEBUG.
    """
    token = oidc_data or access_token
    described = _described(token) if token else _NOTHING
    if error is not None:
        reason = error.code
    else:
        reason = "dev_mode" if user is not None and user.issuer == "mock" else "ok"
    return {
        "decision": "refused" if error is not None else "admitted",
        "reason": reason,
        "method": method[:_MAX_FIELD],
        "path": path[:_MAX_PATH],
        "trace_id": trace_id[:_MAX_FIELD] if trace_id else None,
        **described,
        "sub": user.sub if user is not None else None,
    } | ({"email": user.email} if user is not None and audit_logger.isEnabledFor(DEBUG) else {})


def log_decision(event: dict[str, Any]) -> None:
    """Log one audit event at INFO, as JSON and as ``record.audit``."""
    audit_logger.info(
        "%s", json.dumps(event, ensure_ascii=True, separators=(",", ":")), extra={"audit": event}
    )
