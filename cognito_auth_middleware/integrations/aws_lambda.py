"""AWS Lambda behind an ALB: verify the identity headers of the events an ALB invokes it with.

An ALB can invoke a Lambda function as its target: the request arrives as an event (a dict) with
``headers`` (one string per lower-cased name) or, when the target group enables multi-value
headers, ``multiValueHeaders`` (a list of strings per name), and the answer goes back as a dict
of the same shape. :func:`alb_handler` wraps a plain handler so that it runs only for a verified
user, which it receives as a third argument::

    @alb_handler(exclude_paths=["/health"])                 # COGNITO_AUTH_* from the environment
    def handler(event: dict[str, Any], context: Any, user: User | None) -> dict[str, Any]:
        return {"statusCode": 200, "statusDescription": "200 OK", "isBase64Encoded": False,
                "headers": {"content-type": "text/plain"}, "body": f"hello {user.email}"}

The verifier is built once, when the decorator is applied (at import, the function's cold start),
so a configuration error stops the function there and the key cache lasts as long as the
execution environment. A refusal is the package's one table (``responses.error_response``),
answered in the event's shape: JSON, an HTML page or the ``redirect_url`` for browsers,
``Cache-Control: no-store``, ``Retry-After`` on 503. For an ASGI app, run
``CognitoAuthMiddleware`` under Mangum instead (README, "AWS Lambda").

Security: the function must be invocable only by the ALB whose listener authenticates (the
``lambda:InvokeFunction`` permission with ``aws:SourceArn`` naming its target group). An event
carries no peer address that could be trusted, so dev mode never serves its mock user here:
``X-Forwarded-For`` is written by whoever builds the event, and a loopback value in it proves
nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection, Mapping
from http import HTTPStatus
from typing import Any, Generic, TypeVar, Unpack
from urllib.parse import unquote

from cognito_auth_middleware.core.paths import PathMatcher
from cognito_auth_middleware.drivers.base import verifier_for
from cognito_auth_middleware.drivers.sync import Verifier
from cognito_auth_middleware.exceptions import AuthenticationError, InvalidTokenError
from cognito_auth_middleware.pages import Pages
from cognito_auth_middleware.responses import error_response
from cognito_auth_middleware.settings import Settings, SettingsOptions
from cognito_auth_middleware.user import User

__all__ = ["AlbHandler", "alb_handler"]

logger = logging.getLogger("cognito_auth_middleware")

R = TypeVar("R")
#: A handler :func:`alb_handler` wraps: ``(event, context, user)``; ``user`` is ``None`` exactly
#: on an excluded path.
Handler = Callable[[dict[str, Any], Any, User | None], R]


def _asgi_headers(event: object, identity_names: Collection[str]) -> list[tuple[bytes, bytes]]:
    """The event's headers as ASGI ``(name, value)`` pairs, one per value, for ``from_asgi``.

    Both shapes are read: an event carries one of them, and one that carries both has each
    identity header counted from both, so a copy in each is refused as a duplicate. Names that
    are not ASCII strings, and other headers whose values are not of the shape's type, cannot
    come from the ALB and are skipped.

    Raises:
        InvalidTokenError: an identity header's value is not a string (``headers``) or a list
            of strings (``multiValueHeaders``).
    """
    if not isinstance(event, Mapping):
        return []
    pairs: list[tuple[bytes, bytes]] = []
    for key, multi in (("headers", False), ("multiValueHeaders", True)):
        headers = event.get(key)
        if not isinstance(headers, Mapping):
            continue
        for name, given in headers.items():
            if not (isinstance(name, str) and name.isascii()):
                continue
            name = name.lower()
            values = given if multi else [given]
            if not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
                if name in identity_names:
                    kind = "a list of strings" if multi else "a string"
                    raise InvalidTokenError(f"the {name} header of the event is not {kind}")
                continue
            # surrogatepass: JSON may hold a lone surrogate, which is no token either.
            pairs += [(name.encode(), value.encode("utf-8", "surrogatepass")) for value in values]
    return pairs


class AlbHandler(Generic[R]):
    """A Lambda handler that verifies the event's ALB headers before calling the one it wraps.

    Made by :func:`alb_handler`; Lambda calls it as ``handler(event, context)``.

    Attributes:
        verifier: The :class:`Verifier` (and key cache) of this handler, one per process.
    """

    def __init__(self, handler: Handler[R], verifier: Verifier) -> None:
        functools.update_wrapper(self, handler)
        self._handler = handler
        self.verifier = verifier
        self._excluded = PathMatcher(verifier.settings.exclude_paths)
        self._redirect_url = verifier.settings.redirect_url
        self._pages = Pages.from_settings(verifier.settings)

    def __call__(self, event: Any, context: Any) -> R | dict[str, Any]:
        if self._is_excluded(event):
            return self._handler(event, context, None)
        accept = ""
        try:
            headers = self.verifier.headers
            (oidc_data, access_token, identity), accept = headers.from_asgi(
                _asgi_headers(event, headers.names)
            )
            # No client address: an event has none that could be trusted (see the module's
            # docstring), so dev mode's mock user is never served.
            user = self.verifier.authenticate(oidc_data, access_token, identity, client_host=None)
        except AuthenticationError as exc:
            return self._refuse(exc, event, accept)
        return self._handler(event, context, user)

    def _is_excluded(self, event: object) -> bool:
        # The ALB passes the path as the client sent it. It must match both as sent and
        # percent-decoded, so that neither "/static/%2e%2e/admin" (which decodes to a dot
        # segment) nor "/h%65alth" (which a handler may or may not decode) skips verification.
        path = event.get("path") if isinstance(event, Mapping) else None
        return isinstance(path, str) and self._excluded(path) and self._excluded(unquote(path))

    def _refuse(self, exc: AuthenticationError, event: object, accept: str) -> dict[str, Any]:
        path = event.get("path") if isinstance(event, Mapping) else None
        refusal = error_response(
            exc,
            accept=accept,
            redirect_url=self._redirect_url,
            path=path if isinstance(path, str) else "/",
            pages=self._pages,
        )
        status = refusal.status
        response: dict[str, Any] = {
            "statusCode": status,
            "statusDescription": f"{status} {HTTPStatus(status).phrase}",
            "isBase64Encoded": False,
            "body": refusal.body.decode(),
        }
        # The ALB requires multiValueHeaders in the answer when it sent them, headers otherwise.
        if isinstance(event, Mapping) and "multiValueHeaders" in event:
            multi: dict[str, list[str]] = {}
            for name, value in refusal.headers:
                multi.setdefault(name, []).append(value)
            response["multiValueHeaders"] = multi
        else:
            response["headers"] = dict(refusal.headers)
        return response


def alb_handler(
    *,
    settings: Settings | None = None,
    verifier: Verifier | None = None,
    **options: Unpack[SettingsOptions],
) -> Callable[[Handler[R]], AlbHandler[R]]:
    """Decorator: run a Lambda handler only for events whose ALB headers verify.

    The handler takes ``(event, context, user)``: the event and context as Lambda passes them,
    and the verified :class:`User`, or ``None`` on a path of ``exclude_paths`` (the ALB's health
    check, which carries no identity headers). The user is an argument rather than a key added
    to the event so that the handler's signature says it is there, type checkers see its type,
    and the event stays exactly what the ALB sent. Any other event is answered with the table's
    refusal, in the event's shape (``headers`` or ``multiValueHeaders``), without calling the
    handler. Exceptions raised by the handler are not caught.

    Args:
        settings: A ready :class:`Settings`; if omitted it is built from ``options`` and the
            ``COGNITO_AUTH_*`` environment variables.
        verifier: Share a :class:`Verifier` (and its key cache) between handlers.
        **options: Any settings keyword, as for the middlewares. ``exclude_paths`` match the
            event's ``path`` both as sent and percent-decoded. ``dev_mode`` never serves the
            mock user: an event has no client address that could be trusted.

    Raises:
        ConfigurationError: when the decorator is applied (at import, the cold start), if
            ``alb_arn`` is missing or a setting is invalid.

    Example:
        >>> @alb_handler(exclude_paths=["/health"])                  # doctest: +SKIP
        ... def handler(event, context, user):
        ...     return {"statusCode": 200, "body": user.email if user else "ok"}
    """
    # Refused here, at the cold start, rather than on the first event.
    shared = verifier_for(Verifier, settings, verifier, options)
    if shared.settings.dev_mode:
        logger.warning(
            "dev_mode has no effect on Lambda handlers: an ALB event carries no trustworthy "
            "client address, so events without ALB headers are refused"
        )

    def decorator(handler: Handler[R]) -> AlbHandler[R]:
        return AlbHandler(handler, shared)

    return decorator
