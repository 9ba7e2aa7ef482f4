"""The synchronous driver: runs the engine's flow with ``httpx.Client`` (for WSGI and scripts).

It owns the HTTP client and the single-flight of cold fetches: when many threads need the same
missing key at once, one fetch runs and they all wait for its result, until its deadline.

``key_fetch_timeout`` bounds the whole fetch, not each read as httpx's timeouts do: a server
that sends a byte at a time, or a slow read after a connect that took most of the budget, would
otherwise hold requests for many times the timeout. So the fetch runs in a thread of its own and
the requests stop waiting at the deadline; the abandoned thread stops soon after by itself (it
checks the deadline between chunks, and each read is bounded by the timeout).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Generator
from typing import TypeVar, Unpack

import httpx

from cognito_auth_middleware.core.keys import FetchFailure, FetchResult, KeyFetch
from cognito_auth_middleware.machine import MachineClient
from cognito_auth_middleware.settings import Settings, SettingsOptions
from cognito_auth_middleware.user import User

from .base import BodyCollector, DriverBase, client_options, failure_from

T = TypeVar("T")

__all__ = ["Verifier", "shared_verifier"]


class _Call:
    """One fetch, running in its own thread; :meth:`wait` returns by its deadline."""

    __slots__ = ("_done", "_lock", "_result", "_timeout", "deadline")

    def __init__(self, get: Callable[[float], FetchResult], timeout: float) -> None:
        self._timeout = timeout
        self.deadline = time.monotonic() + timeout
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._result: FetchResult | None = None
        threading.Thread(
            target=lambda: self._settle(get(self.deadline)), name="key fetch", daemon=True
        ).start()

    def wait(self) -> FetchResult:
        """The fetch's result, or a timeout failure once the deadline has passed."""
        self._done.wait(max(0.0, self.deadline - time.monotonic()))
        return self._settle(FetchFailure(f"timed out after {self._timeout:g}s"))

    def _settle(self, result: FetchResult) -> FetchResult:
        # The first outcome wins: every waiter hands the key store the very same object, which
        # it counts once (a fetch that finishes after its deadline is dropped).
        with self._lock:
            if self._result is None:
                self._result = result
                self._done.set()
            return self._result


class Verifier(DriverBase):
    """Verify header pairs synchronously; one instance per app, shared by all threads.

    Args:
        settings: A :class:`Settings`; if omitted, built from ``options`` and the environment.
        clock: Returns the current Unix time (injected in tests).
        transport: The httpx transport for key fetches (tests pass ``httpx.MockTransport``);
            by default httpx's, over the network.
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
        transport: httpx.BaseTransport | None = None,
        **options: Unpack[SettingsOptions],
    ) -> None:
        super().__init__(settings, clock=clock, **options)
        self._client = httpx.Client(transport=transport, **client_options(self._timeout))
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
        now = self._reload_if_due()
        user = self.engine.lookup(oidc_data, access_token, identity, now)
        if user is not None:
            return user
        return self._run(
            self.engine.authenticate(oidc_data, access_token, identity, now, client_host)
        )

    def authenticate_bearer(self, token: str) -> MachineClient:
        """Verify a machine client's bearer token (the ``bearer`` setting) and return it.

        Raises:
            AuthenticationError: one of its subclasses, as documented in ``exceptions``.
        """
        return self._run(self.engine.authenticate_bearer(token, self._clock()))

    def _run(self, flow: Generator[KeyFetch, FetchResult, T]) -> T:
        """Run one of the engine's flows, as httpx runs an auth flow, fetching what it asks."""
        try:
            request = next(flow)
            while True:
                url = request.url
                call, leader = self._shared_fetch(url)
                try:
                    request = flow.send(call.wait())
                finally:
                    # The leader forgets the fetch only once the engine has cached its result,
                    # so a request arriving in between joins it instead of fetching again.
                    if leader:
                        with self._lock:
                            if self._inflight.get(url) is call:
                                del self._inflight[url]
        except StopIteration as done:
            verified: T = done.value
            return verified

    def resume(self, user: User, not_after: float) -> User:
        """A session's user, verified earlier by :meth:`authenticate`, under the policy in force.

        See :meth:`Engine.resume <cognito_auth_middleware.core.engine.Engine.resume>`.

        Raises:
            ExpiredTokenError: the session's access token has expired (``not_after`` passed).
            AccessDeniedError: the policy in force does not admit the user (any more).
        """
        return self.engine.resume(user, not_after, self._reload_if_due())

    def _reload_if_due(self) -> float:
        """The current time, having started a due policy re-read in the background."""
        now = self._clock()
        if now >= self.policies.due_at and self.policies.claim():
            # Re-read in the background: this request is decided by the policy in force.
            threading.Thread(target=self.policies.reload, name="policy reload", daemon=True).start()
        return now

    def _shared_fetch(self, url: str) -> tuple[_Call, bool]:
        """The fetch of ``url`` in flight, or a new one; and whether it is new (single-flight)."""
        with self._lock:
            call = self._inflight.get(url)
            if call is not None:
                return call, False
            call = self._inflight[url] = _Call(functools.partial(self._get, url), self._timeout)
            return call, True

    def fetch(self, url: str) -> FetchResult:
        """GET a key URL within ``key_fetch_timeout`` (all of it) and the size cap; never raises."""
        return _Call(functools.partial(self._get, url), self._timeout).wait()

    def _get(self, url: str, deadline: float) -> FetchResult:
        try:
            with self._client.stream("GET", url) as response:
                body = BodyCollector(response)
                for chunk in response.iter_bytes():
                    body.add(chunk)
                    if time.monotonic() > deadline:
                        raise TimeoutError  # nobody waits any more: stop a slow drip
                return body.result()
        except Exception as exc:  # noqa: BLE001 (the fetch boundary: see failure_from)
            return failure_from(exc, self._timeout)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


@functools.lru_cache(maxsize=8)
def _verifier_for(settings: Settings) -> Verifier:
    return Verifier(settings)


def shared_verifier(*, allow_any_alb: bool = False, **options: Unpack[SettingsOptions]) -> Verifier:
    """The process-wide verifier for these options (and the environment), created once.

    Used by the ``User(...)`` constructor so that repeated calls share one key cache.

    Args:
        allow_any_alb: Accept settings without ``alb_arn`` (the engine then logs a warning).
        **options: Settings keywords.

    Raises:
        ConfigurationError: no ``alb_arn`` and no opt-out, or invalid settings.
    """
    settings = Settings.load(**options)
    if not allow_any_alb:
        settings.require_signer(
            "User(..., allow_any_alb=True) accepts such tokens anyway (not recommended)."
        )
    return _verifier_for(settings)
