"""Limits on outbound key fetches: a token bucket and a per-URL failure back-off.

Both are pure: the caller passes ``now``. They bound what an attacker can make this process
send to AWS, and keep a failing endpoint from being hammered, whatever the request rate.
"""

from __future__ import annotations

import math
import threading

from .cache import BoundedCache

__all__ = ["FailureBackoff", "TokenBucket"]


class TokenBucket:
    """Allows ``capacity`` events at once, refilled at ``rate`` events per second.

    Example:
        >>> bucket = TokenBucket(capacity=2, rate=0.5, now=0.0)
        >>> bucket.take(0.0), bucket.take(0.0), bucket.take(0.0)
        (0.0, 0.0, 2.0)
    """

    __slots__ = ("_lock", "_stamp", "_tokens", "capacity", "rate")

    def __init__(self, capacity: int, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self._tokens = float(capacity)
        self._stamp = now
        self._lock = threading.Lock()

    def take(self, now: float) -> float:
        """Take a token: 0.0 if one was available, else the seconds until one will be."""
        with self._lock:
            elapsed = max(0.0, now - self._stamp)
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
            self._stamp = max(self._stamp, now)
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate


class FailureBackoff:
    """Remembers failing URLs: after ``n`` consecutive failures, wait ``base * 2**(n-2)`` s.

    The first failure imposes no wait (the next request tries again at once, so a passing
    blip heals immediately); repeated failures back off exponentially up to ``cap`` seconds.
    A failure is a failed *fetch*: the many requests that waited on one fetch all report its
    one result, which counts once.

    Example:
        >>> backoff, outage = FailureBackoff(), object()
        >>> backoff.failed("u", 0.0, outage), backoff.failed("u", 0.0, outage)
        (True, False)
        >>> backoff.wait("u", 0.0)
        0.0
    """

    __slots__ = ("_failures", "_lock", "base", "cap")

    def __init__(self, *, base: float = 1.0, cap: float = 30.0, maxsize: int = 256) -> None:
        self.base = base
        self.cap = cap
        self._failures: BoundedCache[str, tuple[int, float, object]] = BoundedCache(maxsize)
        self._lock = threading.Lock()

    def wait(self, url: str, now: float) -> float:
        """Seconds to wait before ``url`` may be fetched again (0.0: go ahead)."""
        entry = self._failures.get(url)
        return 0.0 if entry is None else max(0.0, entry[1] - now)

    def failed(self, url: str, now: float, outcome: object) -> bool:
        """Record that a fetch of ``url`` failed with ``outcome`` (the result it brought back).

        Returns ``False`` if that very ``outcome`` was already recorded: without this, thirty
        requests waiting on one failed fetch would back a healthy URL off for 30 s.
        """
        with self._lock:  # WSGI threads report at once: check and count as one step
            entry = self._failures.get(url)
            if entry is not None and entry[2] is outcome:
                return False
            count = 1 if entry is None else entry[0] + 1
            delay = 0.0 if count == 1 else min(self.cap, self.base * 2 ** (count - 2))
            self._failures.put(url, (count, now + delay, outcome))
            return True

    def retry_after(self, url: str, now: float) -> int:
        """The whole seconds a client should wait before retrying (for ``Retry-After``)."""
        return max(1, math.ceil(self.wait(url, now)))

    def succeeded(self, url: str) -> None:
        """Forget past failures of ``url``."""
        if self._failures.get(url) is not None:
            self._failures.discard(url)

    def __len__(self) -> int:
        return len(self._failures)
