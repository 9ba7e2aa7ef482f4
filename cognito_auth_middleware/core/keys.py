"""Signing keys: what the engine asks a driver to fetch, and how to read what came back.

No I/O happens here. A :class:`KeyFetch` goes out to a driver, a :class:`KeyResponse` (or
:class:`FetchFailure`) comes back, and :func:`parse_alb_key` / :func:`parse_jwks` turn the bytes
into python-jose key objects backed by ``cryptography``, checked for type, curve and size.
:func:`parse_discovery` reads an OpenID provider's discovery document for its ``jwks_uri``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection
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
    "JWT_ALGORITHMS",
    "MAX_KEY_RESPONSE_BYTES",
    "Es256Key",
    "Es384Key",
    "FetchFailure",
    "FetchResult",
    "KeyFetch",
    "KeyResponse",
    "Rs256Key",
    "SignatureKey",
    "der_signature",
    "parse_alb_key",
    "parse_discovery",
    "parse_jwks",
    "parse_signer_key",
]

# A PEM key is ~180 bytes and a Cognito JWKS ~1 KiB; anything near this is not a key.
MAX_KEY_RESPONSE_BYTES = 64 * 1024
MAX_KEYS_PER_JWKS = 32
MIN_RSA_BITS = 2048
#: The signature algorithms an access token of another OIDC provider may use (its JWKS key
#: must be of the same algorithm). Cognito signs with RS256 only.
JWT_ALGORITHMS = ("RS256", "ES256")
_MAX_URL_LENGTH = 2048


class SignatureKey(Protocol):
    """A public key ready to check one signature of its one algorithm (``alg``)."""

    @property
    def alg(self) -> str:
        """The JWS algorithm this key verifies (``ES256``, ``RS256``)."""
        ...

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` is a valid signature of ``msg``."""
        ...


@dataclass(frozen=True, slots=True)
class KeyFetch:
    """An HTTP GET the engine needs a driver to perform."""

    url: str
    kind: Literal["alb", "jwks", "discovery"]


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


# DER's SEQUENCE header for each short length: an ECDSA-Sig-Value of P-256 or P-384 is at
# most 2 * (3 + 48) = 102 bytes long, so its length always fits one byte.
_SEQUENCE = tuple(bytes((0x30, length)) for length in range(128))
# An INTEGER's header for r or s of each curve's size: with a 0x00 first (the top bit of the
# first byte is set, and a DER INTEGER is signed) and without.
_INTEGER = {size: (bytes((2, size + 1, 0)), bytes((2, size))) for size in (32, 48)}


def der_signature(sig: bytes, size: int) -> bytes:
    """The DER ECDSA-Sig-Value ``cryptography`` verifies, from a JWS's raw ``r || s``.

    ``sig`` is ``2 * size`` bytes. When neither ``r`` nor ``s`` starts with a zero byte (all but
    about one signature in 128), each is an INTEGER of its bytes as they are, after a 0x00 when
    its top bit is set: a few concatenations, where ``encode_dss_signature`` goes through two
    Python ints (about 0.8 us more per token). Otherwise ``encode_dss_signature`` strips the
    leading zeros.
    """
    r, s = sig[:size], sig[size:]
    r0, s0 = r[0], s[0]
    if not r0 or not s0:
        return encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    long, short = _INTEGER[size]
    body = (long if r0 & 0x80 else short) + r + (long if s0 & 0x80 else short) + s
    return _SEQUENCE[len(body)] + body


class Es256Key:
    """An ALB public key (EC P-256), verifying JWS ES256 signatures (raw ``r || s``).

    The ``cryptography`` key object is called directly with a prebuilt algorithm object:
    python-jose's wrapper would rebuild both on every call, which is measurable per request.
    """

    __slots__ = ("_key",)
    _ALGORITHM = ec.ECDSA(hashes.SHA256())
    #: Bytes of each of ``r`` and ``s``.
    _SIZE = 32
    alg = "ES256"

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        self._key = key

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The underlying ``cryptography`` key."""
        return self._key

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` (``r || s``, 64 bytes for ES256, 96 for ES384) signs ``msg``."""
        size = self._SIZE
        if len(sig) != 2 * size:
            return False
        try:
            self._key.verify(der_signature(sig, size), msg, self._ALGORITHM)
        except InvalidSignature:
            return False
        return True


class Es384Key(Es256Key):
    """A Verified Access public key (EC P-384), verifying JWS ES384 signatures (``r || s``)."""

    __slots__ = ()
    _ALGORITHM = ec.ECDSA(hashes.SHA384())
    _SIZE = 48
    alg = "ES384"


class Rs256Key:
    """An RSA public key, verifying JWS RS256 signatures (PKCS#1 v1.5, SHA-256).

    Built by python-jose from the JWK; verified through ``cryptography`` directly.
    """

    __slots__ = ("_key",)
    alg = "RS256"
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


_SIGNER_CURVES: dict[str, tuple[type[ec.EllipticCurve], str, type[Es256Key]]] = {
    "ES256": (ec.SECP256R1, "P-256", Es256Key),
    "ES384": (ec.SECP384R1, "P-384", Es384Key),
}


def parse_signer_key(content: bytes, alg: Literal["ES256", "ES384"]) -> SignatureKey:
    """Read a signer's public key (PEM): an EC key on the curve of ``alg``.

    The ALB signs with ES256 (P-256), AWS Verified Access with ES384 (P-384).

    Raises:
        ValueError: the bytes are not such a key (the message says why).
    """
    curve, name, wrapper = _SIGNER_CURVES[alg]
    try:
        public_key = load_pem_public_key(content)
    except (ValueError, TypeError):
        raise ValueError("the response is not a PEM public key") from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise ValueError("the key is not an EC key")
    if not isinstance(public_key.curve, curve):
        raise ValueError(f"the key is on curve {public_key.curve.name}, not {name}")
    return wrapper(public_key)


def parse_alb_key(content: bytes) -> Es256Key:
    """Read an ALB public key (PEM); it must be an EC key on P-256.

    Raises:
        ValueError: the bytes are not such a key (the message says why).
    """
    key = parse_signer_key(content, "ES256")
    assert isinstance(key, Es256Key)
    return key


def _rsa_key(entry: dict[str, object]) -> Rs256Key | None:
    try:
        key = CryptographyRSAKey(entry, "RS256")
    except (JOSEError, ValueError, TypeError, KeyError):
        return None
    prepared = key.prepared_key
    if isinstance(prepared, rsa.RSAPublicKey) and prepared.key_size >= MIN_RSA_BITS:
        return Rs256Key(prepared)
    return None


def _coordinate(value: object) -> int | None:
    # A P-256 coordinate: exactly 32 bytes of unpadded base64url (RFC 7518, section 6.2.1.2).
    if not isinstance(value, str) or len(value) != 43 or not value.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=")
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big") if len(raw) == 32 else None


def _ec_key(entry: dict[str, object]) -> Es256Key | None:
    if entry.get("crv") != "P-256":
        return None
    x, y = _coordinate(entry.get("x")), _coordinate(entry.get("y"))
    if x is None or y is None:
        return None
    try:  # refuses a point that is not on the curve
        public_key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError:
        return None
    return Es256Key(public_key)


_JWK_READERS = {("RSA", "RS256"): _rsa_key, ("EC", "ES256"): _ec_key}
_DEFAULT_ALG = {"RSA": "RS256", "EC": "ES256"}


def parse_jwks(content: bytes, algorithms: Collection[str] = ("RS256",)) -> dict[str, SignatureKey]:
    """Read a JWKS, keeping its public signing keys of the allowed algorithms, by kid.

    RSA keys must have at least 2048 bits and EC keys be on P-256. A key without ``alg`` is
    read as RS256 (RSA) or ES256 (EC); a key whose ``alg`` is not allowed is skipped.

    Args:
        content: The response body.
        algorithms: The JWS algorithms to keep keys for (a subset of :data:`JWT_ALGORITHMS`).

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
    keys: dict[str, SignatureKey] = {}
    for entry in entries[:MAX_KEYS_PER_JWKS]:
        if not isinstance(entry, dict):
            continue
        kid, kty = entry.get("kid"), entry.get("kty")
        if not isinstance(kid, str) or not isinstance(kty, str):
            continue
        alg = entry.get("alg", _DEFAULT_ALG.get(kty))
        if not isinstance(alg, str) or alg not in algorithms:
            continue
        if entry.get("use", "sig") != "sig" or "d" in entry:
            continue
        reader = _JWK_READERS.get((kty, alg))
        key = reader(entry) if reader is not None else None
        if key is not None:
            keys[kid] = key
    if not keys:
        names = " or ".join(sorted(algorithms))
        raise ValueError(f"the JWKS holds no usable {names} public key")
    return keys


def parse_discovery(content: bytes, issuer: str) -> str:
    """The ``jwks_uri`` of an OpenID provider's discovery document for ``issuer``.

    The document must name the configured issuer exactly (OpenID Connect Discovery, section
    4.3), and its ``jwks_uri`` must be an absolute URL of the issuer's scheme: ``https``, or
    ``http`` only for an ``http`` issuer (a stand-in on loopback).

    Raises:
        ValueError: not such a document (the message says why).
    """
    try:
        document = json.loads(content)
    except (ValueError, RecursionError):
        raise ValueError("the discovery document is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError("the discovery document is not a JSON object")
    if document.get("issuer") != issuer:
        raise ValueError("the discovery document names another issuer")
    url = document.get("jwks_uri")
    if (
        not isinstance(url, str)
        or not 0 < len(url) <= _MAX_URL_LENGTH
        or not url.isascii()
        or any(char <= " " or char == "\x7f" for char in url)
    ):
        raise ValueError("the discovery document has no usable jwks_uri")
    scheme = "https://" if issuer.startswith("https://") else "http://"
    host = url[len(scheme) :].split("/", 1)[0].split("?", 1)[0]
    if not url.startswith(scheme) or not host or host.startswith(":") or "#" in url:
        raise ValueError("the discovery document's jwks_uri is not a URL of the issuer's scheme")
    return url
