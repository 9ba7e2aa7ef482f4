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
from collections.abc import Callable
from typing import Any

import httpx

from cognito_auth_middleware.core.engine import Flow, resume
from cognito_auth_middleware.core.keys import FetchResult, KeyFetch
from cognito_auth_middleware.settings import Settings
from cognito_auth_middleware.user import User

from .base import BodyCollector, DriverBase, client_options, failure_from

__all__ = ["AsyncVerifier"]


class AsyncVerifier(DriverBase):
    """Verify header pairs without blocking the event loop; one instance per app.

    Args:
        settings: A :class:`Settings`; if omitted, built from ``options`` and the environment.
        clock: Returns the current Unix time (injected in tests).
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
        **options: Any,
    ) -> None:
        super().__init__(settings, clock=clock, **options)
        # Built once here, not per fetch: loading CA certificates would block the loop.
        self._client_options = client_options(self._timeout)
        self._inflight: dict[str, asyncio.Task[FetchResult]] = {}

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
        begun = self._begin(oidc_data, access_token, identity, client_host)
        if isinstance(begun, User):
            return begun
        flow, step = begun
        while isinstance(step, KeyFetch):
            step = await self._fetch_and_resume(flow, step)
        return step

    async def _fetch_and_resume(self, flow: Flow, request: KeyFetch) -> KeyFetch | User:
        url = request.url
        loop = asyncio.get_running_loop()
        task = self._inflight.get(url)
        leader = task is None or task.get_loop() is not loop
        if task is None or leader:
            task = loop.create_task(self._get(url))
            self._inflight[url] = task
        try:
            return resume(flow, await asyncio.shield(task))
        finally:
            # The leader forgets the fetch only once the engine has cached its result, so a
            # request arriving in between joins the finished task instead of fetching again.
            if leader and self._inflight.get(url) is task:
                del self._inflight[url]

    async def _get(self, url: str) -> FetchResult:
        # A client per fetch: fetches are rare (keys are cached), and a pooled client would
        # tie its connections to whichever event loop first used it.
        try:
            async with (
                asyncio.timeout(self._timeout),
                httpx.AsyncClient(**self._client_options) as client,  # type: ignore[arg-type]
                client.stream("GET", url) as response,
            ):
                body = BodyCollector(response)
                async for chunk in response.aiter_bytes():
                    body.add(chunk)
                return body.result()
        except Exception as exc:  # noqa: BLE001 (the fetch boundary: see failure_from)
            return failure_from(exc, self._timeout)
