"""The asynchronous driver: runs the engine's flow with ``httpx.AsyncClient`` (for ASGI).

Key fetches never block the event loop, and concurrent requests needing the same missing key
share one fetch: the first starts it as a task and every request awaits that task, shielded so
that one cancelled request does not cancel the fetch for the others. ``key_fetch_timeout``
bounds the whole fetch (httpx's timeouts bound each read only), so the task, and every request
awaiting it, is done by the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from typing import TypeVar, Unpack

import httpx

from cognito_auth_middleware.core.keys import FetchResult, KeyFetch
from cognito_auth_middleware.machine import MachineClient
from cognito_auth_middleware.settings import Settings, SettingsOptions
from cognito_auth_middleware.user import User

from .base import BodyCollector, DriverBase, client_options, failure_from

T = TypeVar("T")

__all__ = ["AsyncVerifier"]


class AsyncVerifier(DriverBase):
    """Verify header pairs without blocking the event loop; one instance per app.

    Args:
        settings: A :class:`Settings`; if omitted, built from ``options`` and the environment.
        clock: Returns the current Unix time (injected in tests).
        transport: The httpx transport for key fetches (tests pass ``httpx.MockTransport``);
            by default httpx's, over the network.
        **options: Settings keywords, when ``settings`` is not given.

    Example:
        >>> verifier = AsyncVerifier(alb_arn=ARN, user_pool_id=POOL)  # doctest: +SKIP
        >>> user = await verifier.authenticate(oidc_data, access_token)
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Unpack[SettingsOptions],
    ) -> None:
        super().__init__(settings, clock=clock, **options)
        # Built once here, not per fetch: loading CA certificates would block the loop.
        self._client_options = client_options(self._timeout)
        self._transport = transport
        self._inflight: dict[str, asyncio.Task[FetchResult]] = {}
        self._reloads: set[asyncio.Task[bool]] = set()  # held, so that they are not collected

    async def authenticate(
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
        user = self.known(oidc_data, access_token, identity)
        if user is None:
            user = self.verify_now(oidc_data, access_token, identity, client_host=client_host)
        if user is not None:
            return user
        return await self.verify_new(oidc_data, access_token, identity, client_host=client_host)

    def known(
        self, oidc_data: str | None, access_token: str | None, identity: str | None = None
    ) -> User | None:
        """The user of a pair verified before, with no coroutine; ``None`` if it must be verified.

        What :meth:`authenticate` does first: a caller on the hit path (the ASGI middleware)
        saves a coroutine per request by calling this, then :meth:`verify_now` and, when that
        needs a key, :meth:`verify_new`.

        Raises:
            AuthenticationError: a known pair that no longer passes (expired, spliced, ...).
        """
        now = self._clock()
        if now >= self.policies.due_at and self.policies.claim():
            # Re-read in the background (a task running the blocking read in a thread): this
            # request is decided by the policy in force, and the event loop never waits.
            loop = asyncio.get_running_loop()
            reload = loop.create_task(asyncio.to_thread(self.policies.reload))
            self._reloads.add(reload)
            reload.add_done_callback(self._reloads.discard)
        return self.engine.lookup(oidc_data, access_token, identity, now)

    def verify_now(
        self,
        oidc_data: str | None,
        access_token: str | None,
        identity: str | None = None,
        *,
        client_host: str | None = None,
    ) -> User | None:
        """A pair :meth:`known` did not know, when no key must be fetched; else ``None``.

        With the keys cached (the usual case for a new token) the whole flow runs here, with no
        coroutine. A flow that asks for a key is dropped before anything is fetched (it has
        cached nothing unverified), and :meth:`verify_new` runs it again with the fetch, once
        the caller awaits.

        Raises:
            AuthenticationError: one of its subclasses, as documented in ``exceptions``.
        """
        flow = self.engine.authenticate(
            oidc_data, access_token, identity, self._clock(), client_host
        )
        try:
            next(flow)
        except StopIteration as done:
            verified: User = done.value
            return verified
        flow.close()
        return None

    async def verify_new(
        self,
        oidc_data: str | None,
        access_token: str | None,
        identity: str | None = None,
        *,
        client_host: str | None = None,
    ) -> User:
        """Run the whole flow for a pair :meth:`known` did not know, fetching keys as needed.

        Raises:
            AuthenticationError: one of its subclasses, as documented in ``exceptions``.
        """
        flow = self.engine.authenticate(
            oidc_data, access_token, identity, self._clock(), client_host
        )
        return await self._run(flow)

    async def authenticate_bearer(self, token: str) -> MachineClient:
        """Verify a machine client's bearer token (the ``bearer`` setting) and return it.

        Raises:
            AuthenticationError: one of its subclasses, as documented in ``exceptions``.
        """
        return await self._run(self.engine.authenticate_bearer(token, self._clock()))

    async def _run(self, flow: Generator[KeyFetch, FetchResult, T]) -> T:
        """Run one of the engine's flows, as httpx runs an auth flow, fetching what it asks."""
        try:
            request = next(flow)
            while True:
                url = request.url
                task, leader = self._shared_fetch(url)
                try:
                    request = flow.send(await asyncio.shield(task))
                finally:
                    # The leader forgets the fetch only once the engine has cached its result,
                    # so a request arriving in between joins the finished task instead of
                    # fetching again.
                    if leader and self._inflight.get(url) is task:
                        del self._inflight[url]
        except StopIteration as done:
            verified: T = done.value
            return verified

    def _shared_fetch(self, url: str) -> tuple[asyncio.Task[FetchResult], bool]:
        """The fetch of ``url`` in flight on this loop, or a new one; and whether it is new."""
        loop = asyncio.get_running_loop()
        task = self._inflight.get(url)
        if task is not None and task.get_loop() is loop:
            return task, False
        task = self._inflight[url] = loop.create_task(self._get(url))
        return task, True

    async def _get(self, url: str) -> FetchResult:
        # A client per fetch: fetches are rare (keys are cached), and a pooled client would
        # tie its connections to whichever event loop first used it.
        try:
            async with (
                asyncio.timeout(self._timeout),
                httpx.AsyncClient(transport=self._transport, **self._client_options) as client,
                client.stream("GET", url) as response,
            ):
                body = BodyCollector(response)
                async for chunk in response.aiter_bytes():
                    body.add(chunk)
                return body.result()
        except Exception as exc:  # noqa: BLE001 (the fetch boundary: see failure_from)
            return failure_from(exc, self._timeout)
