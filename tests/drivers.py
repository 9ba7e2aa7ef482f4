"""Drive the sync and the async verifier the same way, one request or many at once.

The fetch-path tests hold both drivers to the same rules; this runs a request through either,
and runs many concurrently (threads for the sync driver, tasks for the async one), timing each.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cognito_auth_middleware import AsyncVerifier, User, Verifier

Kind = Literal["sync", "async"]
KINDS: list[Kind] = ["sync", "async"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one request came to, and when it started and ended (``time.monotonic()``)."""

    result: User | Exception
    started: float
    ended: float


class Driver:
    """A :class:`Verifier` or an :class:`AsyncVerifier`, called synchronously."""

    def __init__(self, kind: Kind, **options: Any) -> None:
        self.kind = kind
        self.verifier = Verifier(**options) if kind == "sync" else AsyncVerifier(**options)

    def authenticate(self, headers: Mapping[str, str]) -> User:
        """One request's verdict (raises what the verifier raises)."""
        args = headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"]
        if isinstance(self.verifier, Verifier):
            return self.verifier.authenticate(*args)
        return asyncio.run(self.verifier.authenticate(*args))

    def authenticate_all(self, pairs: list[dict[str, str]]) -> list[Outcome]:
        """Run every request at once: one thread, or one task, each."""
        if isinstance(self.verifier, Verifier):
            return self._threads(self.verifier, pairs)
        return asyncio.run(self._tasks(self.verifier, pairs))

    @staticmethod
    def _threads(verifier: Verifier, pairs: list[dict[str, str]]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(pairs)
        barrier = threading.Barrier(len(pairs))

        def run(index: int) -> None:
            headers = pairs[index]
            barrier.wait()
            started = time.monotonic()
            result: User | Exception
            try:
                result = verifier.authenticate(
                    headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"]
                )
            except Exception as exc:  # noqa: BLE001 (the outcome under test)
                result = exc
            outcomes[index] = Outcome(result, started, time.monotonic())

        threads = [threading.Thread(target=run, args=(n,)) for n in range(len(pairs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        return [outcome for outcome in outcomes if outcome is not None]

    @staticmethod
    async def _tasks(verifier: AsyncVerifier, pairs: list[dict[str, str]]) -> list[Outcome]:
        async def run(headers: dict[str, str]) -> Outcome:
            started = time.monotonic()
            result: User | Exception
            try:
                result = await verifier.authenticate(
                    headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"]
                )
            except Exception as exc:  # noqa: BLE001 (the outcome under test)
                result = exc
            return Outcome(result, started, time.monotonic())

        return await asyncio.gather(*(run(headers) for headers in pairs))
