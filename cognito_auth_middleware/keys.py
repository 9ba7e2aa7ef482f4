"""Signing keys: what to fetch, how to read what came back, and the per-process key cache.

No I/O happens here. The engine asks this store for a key; on a miss it hands the driver a
:class:`KeyFetch`, and the driver's :class:`KeyResponse` (or :class:`FetchFailure`) comes back to
:meth:`KeyStore.accept_alb` / :meth:`KeyStore.accept_jwks`, which parse it once into a
python-jose key object backed by ``cryptography`` and cache that object for the process.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Literal, Protocol

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jose.backends.cryptography_backend import CryptographyECKey, CryptographyRSAKey
from jose.exceptions import JOSEError

from .cache import BoundedCache
from .exceptions import InvalidTokenError, KeysUnavailableError

__all__ = [
    "MAX_KEY_RESPONSE_BYTES",
    "FetchFailure",
    "FetchResult",
    "KeyFetch",
    "KeyResponse",
    "KeyStore",
    "SignatureKey",
]

logger = logging.getLogger("cognito_auth_middleware")

# A PEM key is ~180 bytes and a Cognito JWKS ~1 KiB; anything near this is not a key.
MAX_KEY_RESPONSE_BYTES = 64 * 1024
# An ALB rotates keys rarely; a pool has two. These bound memory whatever the traffic.
MAX_ALB_KEYS = 64
MAX_JWKS_URLS = 16
MAX_KEYS_PER_JWKS = 32
MIN_RSA_BITS = 2048
# A JWKS is refetched for an unknown kid at most this often (aws-jwt-verify's penalty box).
JWKS_REFETCH_INTERVAL = 10.0


class SignatureKey(Protocol):
    """A public key ready to check one signature (python-jose's cryptography-backed keys)."""

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` is a valid signature of ``msg``."""
        ...


@dataclass(frozen=True, slots=True)
class KeyFetch:
    """An HTTP GET the engine needs a driver to perform."""

    url: str
    kind: Literal["alb", "jwks"]


@dataclass(frozen=True, slots=True)
class KeyResponse:
    """What a key endpoint answered (body already capped at ``MAX_KEY_RESPONSE_BYTES``)."""

    status_code: int
    content: bytes


@dataclass(frozen=True, slots=True)
class FetchFailure:
    """A fetch that produced no response: refused, timed out, too large, bad TLS..."""

    reason: str


FetchResult = KeyResponse | FetchFailure


@dataclass(slots=True)
class _Jwks:
    keys: dict[str, SignatureKey]
    fetched_at: float
    source: FetchResult | None = field(default=None)


def _unavailable(what: str, url: str, reason: str) -> KeysUnavailableError:
    logger.warning("cannot obtain %s from %s: %s", what, url, reason)
    return KeysUnavailableError(f"cannot obtain {what} from {url}: {reason}")


def _parse_alb_key(content: bytes) -> SignatureKey:
    try:
        public_key = load_pem_public_key(content)
    except (ValueError, TypeError):
        raise ValueError("the response is not a PEM public key") from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise ValueError("the key is not an EC key")
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise ValueError(f"the key is on curve {public_key.curve.name}, not P-256")
    return CryptographyECKey(public_key, "ES256")


def _parse_jwks(content: bytes) -> dict[str, SignatureKey]:
    try:
        document = json.loads(content)
    except (ValueError, RecursionError):
        raise ValueError("the response is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the response is not a JWKS (no 'keys' list)")
    keys: dict[str, SignatureKey] = {}
    for entry in entries[:MAX_KEYS_PER_JWKS]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or entry.get("alg", "RS256") != "RS256":
            continue
        if entry.get("use", "sig") != "sig" or "d" in entry:
            continue
        try:
            key = CryptographyRSAKey(entry, "RS256")
        except (JOSEError, ValueError, TypeError, KeyError):
            continue
        prepared = key.prepared_key
        if isinstance(prepared, rsa.RSAPublicKey) and prepared.key_size >= MIN_RSA_BITS:
            keys[kid] = key
    if not keys:
        raise ValueError("the JWKS holds no usable RS256 public key")
    return keys


class KeyStore:
    """The process-wide cache of parsed signing keys, bounded in size.

    ALB keys are cached by URL (one PEM per kid, immutable). A JWKS is cached by URL with the
    time it was fetched, so a token naming a kid the JWKS lacks triggers at most one refetch
    per :data:`JWKS_REFETCH_INTERVAL` seconds.
    """

    def __init__(self) -> None:
        self._alb: BoundedCache[str, tuple[SignatureKey, FetchResult]] = BoundedCache(MAX_ALB_KEYS)
        self._jwks: BoundedCache[str, _Jwks] = BoundedCache(MAX_JWKS_URLS)

    def alb_key(self, url: str) -> SignatureKey | None:
        """The cached ALB key at ``url``, or ``None`` if it must be fetched."""
        entry = self._alb.get(url)
        return None if entry is None else entry[0]

    def accept_alb(self, url: str, result: FetchResult) -> SignatureKey:
        """Turn a fetched ALB key into a key object and cache it.

        Raises:
            InvalidTokenError: the endpoint does not know the kid (404/403): a forged kid.
            KeysUnavailableError: the endpoint failed or answered something that is not a key.
        """
        entry = self._alb.get(url)
        if entry is not None and entry[1] is result:
            return entry[0]  # another request already parsed this very response
        if isinstance(result, FetchFailure):
            raise _unavailable("the ALB public key", url, result.reason)
        if result.status_code in (403, 404):
            # The AWS endpoint answers 403 (S3, GovCloud) or 404 for a kid it never issued.
            raise InvalidTokenError("ALB token: no ALB public key exists for its kid")
        if result.status_code != 200:
            raise _unavailable("the ALB public key", url, f"HTTP {result.status_code}")
        try:
            key = _parse_alb_key(result.content)
        except ValueError as exc:
            raise _unavailable("the ALB public key", url, str(exc)) from None
        self._alb.put(url, (key, result))
        return key

    def jwks_key(self, url: str, kid: str, now: float) -> SignatureKey | None:
        """The cached key ``kid`` of the JWKS at ``url``; ``None`` if a fetch is due.

        Raises:
            InvalidTokenError: the JWKS was fetched recently and does not hold ``kid``.
        """
        entry = self._jwks.get(url)
        if entry is None:
            return None
        key = entry.keys.get(kid)
        if key is not None:
            return key
        if now - entry.fetched_at < JWKS_REFETCH_INTERVAL:
            raise InvalidTokenError("access token: its kid is not in the user pool's JWKS")
        return None

    def accept_jwks(self, url: str, kid: str, result: FetchResult, now: float) -> SignatureKey:
        """Cache a fetched JWKS and return its key ``kid``.

        Raises:
            InvalidTokenError: the fresh JWKS does not hold ``kid``.
            KeysUnavailableError: the endpoint failed or did not answer with a JWKS. Keys
                cached from an earlier fetch stay in place.
        """
        entry = self._jwks.get(url)
        if entry is None or entry.source is not result:
            if isinstance(result, FetchFailure):
                raise _unavailable("the Cognito JWKS", url, result.reason)
            if result.status_code != 200:
                raise _unavailable("the Cognito JWKS", url, f"HTTP {result.status_code}")
            try:
                keys = _parse_jwks(result.content)
            except ValueError as exc:
                raise _unavailable("the Cognito JWKS", url, str(exc)) from None
            entry = _Jwks(keys, now, result)
            self._jwks.put(url, entry)
        key = entry.keys.get(kid)
        if key is None:
            raise InvalidTokenError("access token: its kid is not in the user pool's JWKS")
        return key

    @property
    def sizes(self) -> dict[str, int]:
        """Current entry counts, for tests and diagnostics."""
        return {"alb_keys": len(self._alb), "jwks": len(self._jwks)}
