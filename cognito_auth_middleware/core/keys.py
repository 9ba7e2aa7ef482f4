"""Signing keys: what the engine asks a driver to fetch, and how to read what came back.

No I/O happens here. A :class:`KeyFetch` goes out to a driver, a :class:`KeyResponse` (or
:class:`FetchFailure`) comes back, and :func:`parse_alb_key` / :func:`parse_jwks` turn the bytes
into python-jose key objects backed by ``cryptography``, checked for type, curve and size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jose.backends.cryptography_backend import CryptographyRSAKey
from jose.exceptions import JOSEError

__all__ = [
    "MAX_KEY_RESPONSE_BYTES",
    "Es256Key",
    "FetchFailure",
    "FetchResult",
    "KeyFetch",
    "KeyResponse",
    "Rs256Key",
    "SignatureKey",
    "parse_alb_key",
    "parse_jwks",
]

# A PEM key is ~180 bytes and a Cognito JWKS ~1 KiB; anything near this is not a key.
MAX_KEY_RESPONSE_BYTES = 64 * 1024
MAX_KEYS_PER_JWKS = 32
MIN_RSA_BITS = 2048


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


class Es256Key:
    """An ALB public key (EC P-256), verifying JWS ES256 signatures (raw ``r || s``).

    The ``cryptography`` key object is called directly with a prebuilt algorithm object:
    python-jose's wrapper would rebuild both on every call, which is measurable per request.
    """

    __slots__ = ("_key",)
    _ALGORITHM = ec.ECDSA(hashes.SHA256())

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        self._key = key

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The underlying ``cryptography`` key."""
        return self._key

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` (64 bytes, ``r || s``) signs ``msg``."""
        if len(sig) != 64:
            return False
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        try:
            self._key.verify(encode_dss_signature(r, s), msg, self._ALGORITHM)
        except InvalidSignature:
            return False
        return True


class Rs256Key:
    """A Cognito public key (RSA), verifying JWS RS256 signatures (PKCS#1 v1.5, SHA-256).

    Built by python-jose from the JWK; verified through ``cryptography`` directly.
    """

    __slots__ = ("_key",)
    _PADDING = padding.PKCS1v15()
    _HASH = hashes.SHA256()

    def __init__(self, key: rsa.RSAPublicKey) -> None:
        self._key = key

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """The underlying ``cryptography`` key."""
        return self._key

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` signs ``msg``."""
        try:
            self._key.verify(sig, msg, self._PADDING, self._HASH)
        except InvalidSignature:
            return False
        return True


def parse_alb_key(content: bytes) -> Es256Key:
    """Read an ALB public key (PEM); it must be an EC key on P-256.

    Raises:
        ValueError: the bytes are not such a key (the message says why).
    """
    try:
        public_key = load_pem_public_key(content)
    except (ValueError, TypeError):
        raise ValueError("the response is not a PEM public key") from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise ValueError("the key is not an EC key")
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise ValueError(f"the key is on curve {public_key.curve.name}, not P-256")
    return Es256Key(public_key)


def parse_jwks(content: bytes) -> dict[str, Rs256Key]:
    """Read a JWKS, keeping its RS256 public signing keys of at least 2048 bits, by kid.

    Raises:
        ValueError: not a JWKS, or no usable key in it.
    """
    try:
        document = json.loads(content)
    except (ValueError, RecursionError):
        raise ValueError("the response is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the response is not a JWKS (no 'keys' list)")
    keys: dict[str, Rs256Key] = {}
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
            keys[kid] = Rs256Key(prepared)
    if not keys:
        raise ValueError("the JWKS holds no usable RS256 public key")
    return keys
