"""The synchronous driver: runs the engine's flow with ``httpx.Client`` (for WSGI and scripts).

It owns the HTTP client and the single-flight of cold fetches: when many threads need the same
missing key at once, one fetches it and the others wait for that result.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from .driver import FETCH_ERRORS, BodyCollector, DriverBase, client_options, failure_from
from .engine import Flow, resume
from .keys import FetchFailure, FetchResult, KeyFetch
from .settings import Settings
from .user import User

__all__ = ["Verifier", "shared_verifier"]


class _Call:
    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: FetchResult = FetchFailure("the fetch did not complete")


class Verifier(DriverBase):
    """Verify header pairs synchronously; one instance per app, shared by all threads.

    Args:
        settings: A :class:`Settings`; if omitted, built from ``options`` and the environment.
        clock: Returns the current Unix time (injected in tests).
        **options: Settings keywords, when ``settings`` is not given.

    Example:
        >>> verifier = Verifier(alb_arn=ARN, user_pool_id=POOL, client_id=CLIENT)  # doctest: +SKIP
        >>> user = verifier.authenticate(oidc_data, access_token)
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        **options: Any,
    ) -> None:
        super().__init__(settings, clock=clock, **options)
        self._client = httpx.Client(**client_options(self._timeout))  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._inflight: dict[str, _Call] = {}

    def authenticate(
        self,
        oidc_data: str | None,
        access_token: str | None,
        identity: str | None = None,
        *,
        client_host: str | None = None,
    ) -> User:
        """Verify one request's headers and return the user.

        ``client_host`` (the client's address) matters only in dev mode.

        Raises:
            AuthenticationError: one of its subclasses, as documented in ``exceptions``.
        """
        begun = self._begin(oidc_data, access_token, identity, client_host)
        if isinstance(begun, User):
            return begun
        flow, step = begun
        while isinstance(step, KeyFetch):
            step = self._fetch_and_resume(flow, step)
        return step

    def _fetch_and_resume(self, flow: Flow, request: KeyFetch) -> KeyFetch | User:
        url = request.url
        with self._lock:
            call = self._inflight.get(url)
            leader = call is None
            if call is None:
                call = self._inflight[url] = _Call()
        if not leader:
            call.done.wait(self._timeout * 3)
            return resume(flow, call.result)
        try:
            call.result = self.fetch(url)
            call.done.set()
            return resume(flow, call.result)
        finally:
            # Leave the fetch joinable until the engine has cached its result, so a request
            # arriving in between joins it instead of fetching again.
            call.done.set()
            with self._lock:
                if self._inflight.get(url) is call:
                    del self._inflight[url]

    def fetch(self, url: str) -> FetchResult:
        """GET a key URL with the configured timeouts and size cap; never raises."""
        try:
            with self._client.stream("GET", url) as response:
                body = BodyCollector(response)
                for chunk in response.iter_bytes():
                    body.add(chunk)
                return body.result()
        except FETCH_ERRORS as exc:
            return failure_from(exc, self._timeout)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


@functools.lru_cache(maxsize=8)
def _verifier_for(settings: Settings) -> Verifier:
    return Verifier(settings)


def shared_verifier(**options: Any) -> Verifier:
    """The process-wide verifier for these options (and the environment), created once.

    Used by the ``User(...)`` constructor so that repeated calls share one key cache.
    """
    return _verifier_for(Settings.load(**options))
