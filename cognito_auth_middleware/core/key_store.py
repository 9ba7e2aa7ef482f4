"""The per-process cache of parsed signing keys, and the rules for when a fetch may happen.

The engine asks :class:`KeyStore` for a key. A hit returns a ready key object. A miss returns
``None`` only when a fetch is admitted; otherwise it raises at once:

* an ALB kid the endpoint answered 404 for is remembered (bounded, for a minute): 401, no fetch;
* fetches of ALB keys never seen before draw from a token bucket (a burst of
  :data:`ALB_FETCH_BURST`, then one per :data:`ALB_FETCH_INTERVAL` seconds), so a flood of
  forged tokens naming distinct well-formed kids causes a bounded number of outbound requests
  whatever the request rate; beyond it: 503;
* a JWKS is refetched for an unknown kid at most once per :data:`JWKS_REFETCH_INTERVAL` seconds
  (aws-jwt-verify's penalty box);
* another OIDC provider's discovery document (for its ``jwks_uri``) is fetched once and kept;
* a URL that failed twice in a row is backed off exponentially (1 s, 2 s, ... 30 s): 503 with
  ``Retry-After``, no fetch. A single failure imposes no wait, and a failure is one failed
  fetch, however many requests waited on it.

What the driver brings back goes to :meth:`KeyStore.accept_alb` / :meth:`KeyStore.accept_jwks`.
Every structure here is size-bounded.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from cognito_auth_middleware.exceptions import InvalidTokenError, KeysUnavailableError

from .cache import BoundedCache
from .keys import (
    FetchFailure,
    FetchResult,
    SignatureKey,
    parse_discovery,
    parse_jwks,
    parse_signer_key,
)
from .throttle import FailureBackoff, TokenBucket

__all__ = [
    "ALB_FETCH_BURST",
    "ALB_FETCH_INTERVAL",
    "JWKS_REFETCH_INTERVAL",
    "MAX_ALB_KEYS",
    "MAX_JWKS_URLS",
    "MAX_UNKNOWN_KIDS",
    "KeyStore",
]

logger = logging.getLogger("cognito_auth_middleware")

# An ALB rotates keys rarely and a pool publishes two: these bound memory whatever the traffic.
MAX_ALB_KEYS = 64
MAX_JWKS_URLS = 16
MAX_UNKNOWN_KIDS = 1024
MAX_FAILING_URLS = 256
UNKNOWN_KID_TTL = 60.0
ALB_FETCH_BURST = 10
ALB_FETCH_INTERVAL = 6.0
JWKS_REFETCH_INTERVAL = 10.0


@dataclass(slots=True)
class _Jwks:
    keys: Mapping[str, SignatureKey]
    fetched_at: float
    source: FetchResult


class KeyStore:
    """Parsed keys by URL, plus the admission rules above. Pure: time is passed in.

    Args:
        fetch_timeout: The drivers' fetch timeout; concurrent requests for one new ALB key
            within this window share one draw from the bucket (they share one fetch).
        algorithms: The JWS algorithms whose JWKS keys are kept (Cognito's: RS256).
        cognito: Whether the JWKS is a Cognito user pool's (as messages say) or another
            OIDC provider's.
        verified_access: Whether the signer's keys are Verified Access's (ES384, P-384)
            rather than the ALB's (ES256, P-256), as parsed and as messages say.
        jwks_for: The token the JWKS verifies, in messages (``access token``, ``bearer token``).
    """

    def __init__(
        self,
        *,
        fetch_timeout: float,
        algorithms: Collection[str] = ("RS256",),
        cognito: bool = True,
        verified_access: bool = False,
        jwks_for: str = "access token",
    ) -> None:
        self._alb: BoundedCache[str, tuple[SignatureKey, FetchResult]] = BoundedCache(MAX_ALB_KEYS)
        self._jwks: BoundedCache[str, _Jwks] = BoundedCache(MAX_JWKS_URLS)
        self._discovered: BoundedCache[str, str] = BoundedCache(MAX_JWKS_URLS)
        self._algorithms = tuple(algorithms)
        self._signer_alg: Literal["ES256", "ES384"] = "ES384" if verified_access else "ES256"
        signer = "Verified Access" if verified_access else "ALB"
        self._signer_key = f"the {signer} public key"
        label = "Verified Access token" if verified_access else "ALB token"
        self._no_signer_key = f"{label}: no {signer} public key exists for its kid"
        self._jwks_name = "the Cognito JWKS" if cognito else "the provider's JWKS"
        owner = "user pool" if cognito else "provider"
        self._no_kid = f"{jwks_for}: its kid is not in the {owner}'s JWKS"
        self._unknown: BoundedCache[str, float] = BoundedCache(MAX_UNKNOWN_KIDS)
        self._attempts: BoundedCache[str, float] = BoundedCache(MAX_UNKNOWN_KIDS)
        self._bucket = TokenBucket(ALB_FETCH_BURST, 1 / ALB_FETCH_INTERVAL, now=0.0)
        self._backoff = FailureBackoff(maxsize=MAX_FAILING_URLS)
        self._attempt_window = fetch_timeout + 1
        self._throttle_logged_at = -math.inf

    def alb_key(self, url: str, now: float) -> SignatureKey | None:
        """The cached ALB key at ``url``; ``None`` if a fetch is admitted.

        Raises:
            InvalidTokenError: the endpoint recently answered that this kid does not exist.
            KeysUnavailableError: the URL is backing off, or new-key fetches are rate-limited.
        """
        entry = self._alb.get(url)
        if entry is not None:
            return entry[0]
        unknown_until = self._unknown.get(url)
        if unknown_until is not None and now < unknown_until:
            raise InvalidTokenError(self._no_signer_key)
        self._admit_backoff(url, now, self._signer_key)
        attempted = self._attempts.get(url)
        if attempted is not None and now - attempted < self._attempt_window:
            return None  # joins the fetch already under way for this kid
        wait = self._bucket.take(now)
        if wait:
            if now - self._throttle_logged_at > 60:
                self._throttle_logged_at = now
                logger.warning(
                    "ALB key fetches are rate-limited (%d at once, then one per %gs): many tokens "
                    "name unknown key ids; this often means forged tokens",
                    ALB_FETCH_BURST,
                    ALB_FETCH_INTERVAL,
                )
            raise KeysUnavailableError(
                "too many new ALB key ids recently; try again shortly",
                retry_after=max(1, math.ceil(wait)),
            )
        self._attempts.put(url, now)
        return None

    def accept_alb(self, url: str, result: FetchResult, now: float) -> SignatureKey:
        """Parse and cache a fetched ALB key.

        Raises:
            InvalidTokenError: the endpoint does not know the kid (404/403): a forged kid.
            KeysUnavailableError: the endpoint failed or answered something that is not a key.
        """
        entry = self._alb.get(url)
        if entry is not None and entry[1] is result:
            return entry[0]  # another request already parsed this very response
        what = self._signer_key
        if isinstance(result, FetchFailure):
            raise self._failed(url, now, what, result, result.reason)
        if result.status_code in (403, 404):
            # AWS answers 404 (403 from S3 in GovCloud) for a kid it never issued.
            self._backoff.succeeded(url)
            self._unknown.put(url, now + UNKNOWN_KID_TTL)
            raise InvalidTokenError(self._no_signer_key)
        if result.status_code != 200:
            raise self._failed(url, now, what, result, f"HTTP {result.status_code}")
        try:
            key = parse_signer_key(result.content, self._signer_alg)
        except ValueError as exc:
            raise self._failed(url, now, what, result, str(exc)) from None
        self._backoff.succeeded(url)
        self._alb.put(url, (key, result))
        return key

    def jwks_key(self, url: str, kid: str, now: float) -> SignatureKey | None:
        """The cached key ``kid`` of the JWKS at ``url``; ``None`` if a fetch is admitted.

        Raises:
            InvalidTokenError: the JWKS was fetched recently and does not hold ``kid``.
            KeysUnavailableError: the URL is backing off after repeated failures.
        """
        entry = self._jwks.get(url)
        if entry is not None:
            key = entry.keys.get(kid)
            if key is not None:
                return key
            if now - entry.fetched_at < JWKS_REFETCH_INTERVAL:
                raise InvalidTokenError(self._no_kid)
        self._admit_backoff(url, now, self._jwks_name)
        return None

    def accept_jwks(self, url: str, kid: str, result: FetchResult, now: float) -> SignatureKey:
        """Cache a fetched JWKS and return its key ``kid``.

        Raises:
            InvalidTokenError: the fresh JWKS does not hold ``kid``.
            KeysUnavailableError: the endpoint failed or did not answer with a JWKS. Keys
                cached from an earlier fetch stay in place and keep working.
        """
        entry = self._jwks.get(url)
        if entry is None or entry.source is not result:
            what = self._jwks_name
            if isinstance(result, FetchFailure):
                raise self._failed(url, now, what, result, result.reason)
            if result.status_code != 200:
                raise self._failed(url, now, what, result, f"HTTP {result.status_code}")
            try:
                keys = parse_jwks(result.content, self._algorithms)
            except ValueError as exc:
                raise self._failed(url, now, what, result, str(exc)) from None
            self._backoff.succeeded(url)
            entry = _Jwks(keys, now, result)
            self._jwks.put(url, entry)
        key = entry.keys.get(kid)
        if key is None:
            raise InvalidTokenError(self._no_kid)
        return key

    def jwks_uri(self, url: str, now: float) -> str | None:
        """The ``jwks_uri`` discovered at ``url``; ``None`` if a fetch is admitted.

        Raises:
            KeysUnavailableError: the URL is backing off after repeated failures.
        """
        found = self._discovered.get(url)
        if found is None:
            self._admit_backoff(url, now, "the provider's discovery document")
        return found

    def accept_discovery(self, url: str, issuer: str, result: FetchResult, now: float) -> str:
        """Read a fetched discovery document for ``issuer``; keep and return its ``jwks_uri``.

        Raises:
            KeysUnavailableError: the endpoint failed, or answered no document for ``issuer``.
        """
        found = self._discovered.get(url)
        if found is not None:
            return found  # another request already read a response
        what = "the provider's discovery document"
        if isinstance(result, FetchFailure):
            raise self._failed(url, now, what, result, result.reason)
        if result.status_code != 200:
            raise self._failed(url, now, what, result, f"HTTP {result.status_code}")
        try:
            jwks_uri = parse_discovery(result.content, issuer)
        except ValueError as exc:
            raise self._failed(url, now, what, result, str(exc)) from None
        self._backoff.succeeded(url)
        self._discovered.put(url, jwks_uri)
        return jwks_uri

    def _admit_backoff(self, url: str, now: float, what: str) -> None:
        wait = self._backoff.wait(url, now)
        if wait:
            # The message says what Retry-After says: rounding 0.4 s would print "0s".
            retry_after = max(1, math.ceil(wait))
            raise KeysUnavailableError(
                f"cannot obtain {what} from {url}: recent fetches failed; "
                f"retrying in {retry_after}s",
                retry_after=retry_after,
            )

    def _failed(
        self, url: str, now: float, what: str, result: FetchResult, reason: str
    ) -> KeysUnavailableError:
        # Every request that waited on this fetch brings the same result: one failure, one log.
        if self._backoff.failed(url, now, result):
            logger.warning("cannot obtain %s from %s: %s", what, url, reason)
        return KeysUnavailableError(
            f"cannot obtain {what} from {url}: {reason}",
            retry_after=self._backoff.retry_after(url, now),
        )

    @property
    def sizes(self) -> dict[str, int]:
        """Current entry counts of every cache, for tests and diagnostics."""
        return {
            "alb_keys": len(self._alb),
            "jwks": len(self._jwks),
            "discovered": len(self._discovered),
            "unknown_kids": len(self._unknown),
            "attempts": len(self._attempts),
            "backoff": len(self._backoff),
        }

    @staticmethod
    def bounds() -> dict[str, int]:
        """The size bound of every cache (see ``sizes``)."""
        return {
            "alb_keys": MAX_ALB_KEYS,
            "jwks": MAX_JWKS_URLS,
            "discovered": MAX_JWKS_URLS,
            "unknown_kids": MAX_UNKNOWN_KIDS,
            "attempts": MAX_UNKNOWN_KIDS,
            "backoff": MAX_FAILING_URLS,
        }
