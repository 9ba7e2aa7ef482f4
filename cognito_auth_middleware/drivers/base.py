"""What the sync and async drivers share: construction, start-up checks, fetch options.

Only the lines that perform I/O (and their locking) are written twice, in ``sync.py``
and ``aio.py``; everything the two have in common is here.
"""

from __future__ import annotations

import functools
import logging
import ssl
import time
from collections.abc import Callable
from typing import TypedDict, TypeVar, Unpack

import httpx

from cognito_auth_middleware.core.cache import BoundedCache
from cognito_auth_middleware.core.engine import Engine
from cognito_auth_middleware.core.headers import HeaderReader
from cognito_auth_middleware.core.keys import (
    MAX_KEY_RESPONSE_BYTES,
    FetchFailure,
    KeyResponse,
)
from cognito_auth_middleware.exceptions import ConfigurationError
from cognito_auth_middleware.settings import Settings, SettingsOptions

from .dev_user import load_mock_user
from .policy import PolicyReloader

__all__ = [
    "BodyCollector",
    "ClientOptions",
    "DriverBase",
    "client_options",
    "failure_from",
    "verifier_for",
]

logger = logging.getLogger("cognito_auth_middleware")


class DriverBase:
    """Builds the engine from settings; the drivers run its flow.

    Args:
        settings: A :class:`Settings`; if omitted, built from ``options`` and the environment.
        clock: Returns the current Unix time (injected in tests).
        **options: Settings keywords, when ``settings`` is not given.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        **options: Unpack[SettingsOptions],
    ) -> None:
        self.settings = Settings.resolve(settings, options)
        self.engine = Engine(self.settings, mock_user=load_mock_user(self.settings))
        #: Reads the identity headers of the configured provider (ALB or Verified Access).
        self.headers = HeaderReader(self.settings.provider)
        self._clock = clock
        self._timeout = self.settings.key_fetch_timeout
        #: Loads the policy from its source (now: a failure stops the app) and re-reads it.
        self.policies = PolicyReloader(self.settings, self.engine, clock)


D = TypeVar("D", bound=DriverBase)

_reported: BoundedCache[str, bool] = BoundedCache(64)


def _log_start_up_failure(exc: ConfigurationError) -> None:
    # Raised at construction, the error usually stops the app. But Starlette builds its
    # middleware stack on the first ASGI call, and under uvicorn's default lifespan "auto" a
    # failure there only makes uvicorn log (at INFO) that lifespan is unsupported and serve on,
    # answering 500 to every request. So the reason is also logged, once, at ERROR.
    message = str(exc)
    if _reported.get(message) is None:
        _reported.put(message, True)
        logger.error("cognito-auth-middleware cannot start: %s", message)


def verifier_for(
    kind: type[D], settings: Settings | None, verifier: D | None, options: SettingsOptions
) -> D:
    """The verifier of a middleware or framework helper: the shared one, or one built here.

    The settings (or the shared verifier's) are checked first, so a missing ``alb_arn`` stops
    the app at start-up; the reason is also logged once (see ``_log_start_up_failure``).

    Args:
        kind: ``Verifier`` or ``AsyncVerifier``.
        settings: Ready settings, if any.
        verifier: A verifier to share (its settings are checked instead).
        options: Settings keywords, when neither is given.

    Raises:
        ConfigurationError: both ``settings`` and ``verifier``, keywords next to either, or
            settings that cannot be honoured.
    """
    try:
        if verifier is not None and settings is not None:
            raise ConfigurationError("pass settings= or verifier=, not both")
        if verifier is not None:
            Settings.for_middleware(verifier.settings, given_as="verifier", **options)
            return verifier
        return kind(Settings.for_middleware(settings, **options))
    except ConfigurationError as exc:
        _log_start_up_failure(exc)
        raise


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes tens of milliseconds: do it once per process.
    return httpx.create_ssl_context()


class ClientOptions(TypedDict):
    """The keyword arguments both drivers give their httpx client."""

    timeout: httpx.Timeout
    follow_redirects: bool
    verify: ssl.SSLContext
    headers: dict[str, str]


def client_options(timeout: float) -> ClientOptions:
    """Keyword arguments for ``httpx.Client`` / ``httpx.AsyncClient`` used for key fetches.

    Redirects are not followed (a key endpoint has no reason to redirect, and following one
    would let it point the fetch elsewhere); the system's environment proxies are honoured.
    httpx applies ``timeout`` to each connect and each read; the drivers also bound the whole
    fetch by it, since a server sending a byte at a time never trips a per-read timeout.
    """
    return {
        "timeout": httpx.Timeout(timeout),
        "follow_redirects": False,
        "verify": _ssl_context(),
        "headers": {"accept": "application/json, application/x-pem-file, */*"},
    }


class BodyCollector:
    """Accumulates a response body and gives up past ``MAX_KEY_RESPONSE_BYTES``."""

    __slots__ = ("_chunks", "_size", "status_code")

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self._chunks: list[bytes] = []
        self._size = 0
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_KEY_RESPONSE_BYTES:
            raise _TooLarge

    def add(self, chunk: bytes) -> None:
        """Append ``chunk``; raises if the body grows past the cap."""
        self._size += len(chunk)
        if self._size > MAX_KEY_RESPONSE_BYTES:
            raise _TooLarge
        self._chunks.append(chunk)

    def result(self) -> KeyResponse:
        """The complete response."""
        return KeyResponse(self.status_code, b"".join(self._chunks))


class _TooLarge(Exception):
    pass


def failure_from(exc: Exception, timeout: float) -> FetchFailure:
    """Describe a failed fetch for the operator; any exception is a failure, none propagates.

    Not only httpx's errors: building the request can raise ``httpx.InvalidURL`` or
    ``UnicodeError`` (a host that IDNA refuses), sending it ``OSError`` or ``ssl.SSLError``.
    Each means "no key right now" (503); letting it escape would answer 500 instead. The
    drivers catch ``Exception`` only, so cancellation and ``KeyboardInterrupt`` still go through.
    """
    if isinstance(exc, _TooLarge):
        return FetchFailure(f"response larger than {MAX_KEY_RESPONSE_BYTES} bytes")
    if isinstance(exc, httpx.TimeoutException):
        return FetchFailure(f"timed out after {timeout:g}s ({type(exc).__name__})")
    if isinstance(exc, TimeoutError):  # the deadline of the whole fetch
        return FetchFailure(f"timed out after {timeout:g}s")
    return FetchFailure(f"{type(exc).__name__}: {exc}"[:200])
