"""Split and decode a compact JWS once, with bounded work, before any key is looked at.

The ALB pads every base64url segment with ``=`` and signs the padded text, which strict JWT
parsers reject; this parser accepts padding (and its absence) and keeps the exact signing input.
Nothing here trusts a decoded value: the engine checks the header against the configuration and
the signature against a key chosen by that configuration.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cognito_auth_middleware.exceptions import InvalidTokenError

__all__ = ["MAX_TOKEN_LENGTH", "ParsedToken", "fingerprint", "parse_token"]

# Cognito access tokens grow with groups and scopes; ALB headers are capped well below this.
MAX_TOKEN_LENGTH = 16 * 1024
# base64url to standard base64, in one pass over the token. The standard alphabet's own "+"
# and "/" are not base64url: they become "!", which the strict decoder refuses, so no separate
# scan looks for them.
_FROM_URLSAFE = bytes.maketrans(b"-_+/", b"+/!!")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder, shared as json shares its default one. Its ``scan_once`` (json's C scanner, what
# ``raw_decode`` and ``json.loads`` call after several microseconds of wrapping, twice per
# token) returns where the value ends, so trailing text is refused below; it raises
# StopIteration where ``raw_decode`` would raise a JSONDecodeError, and clears its memo itself.
# ``NaN`` and ``Infinity`` are not JSON (RFC 8259, and JavaScript's JSON.parse refuses them).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
# RFC 8259's insignificant whitespace, allowed around the object (str.strip would also take
# other Unicode spaces, which JSON does not allow).
_JSON_WHITESPACE = " \t\n\r"


@dataclass(slots=True, eq=False)  # not frozen: a frozen init costs ~0.8 us more per new token
class ParsedToken:
    """A compact JWS split and decoded once; nothing in it is verified yet (nor changed)."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


# What a translated segment lacks to a whole number of base64 quads, by its length modulo 4
# (a remainder of 1 is never valid, and the decoder refuses it with or without padding).
_PADDING = (b"", b"===", b"==", b"=")


def _decode_segment(segment: bytes) -> bytes:
    """The bytes of one translated segment; ``binascii.Error`` if it is not base64url.

    The segment is already translated to the standard alphabet; strict_mode rejects any other
    character and misplaced padding, so one C call both validates and decodes. Padding is
    either absent or exactly what the length needs: "=" at the end of a segment whose length
    is no multiple of four is partial, and strict_mode would accept a whole extra "====" after
    complete data, which no encoder writes.
    """
    missing = _PADDING[len(segment) & 3]
    if segment.endswith(b"=" if missing else b"===="):
        raise binascii.Error
    return binascii.a2b_base64(segment + missing, strict_mode=True)


def _decode_object(segment: bytes, what: str, label: str) -> dict[str, Any]:
    try:
        text = _decode_segment(segment).decode("utf-8").strip(_JSON_WHITESPACE)
        value, end = _SCAN(text, 0)
    except binascii.Error:
        raise InvalidTokenError(f"{label}: the {what} is not base64url") from None
    except (ValueError, RecursionError, StopIteration):
        raise InvalidTokenError(f"{label}: the {what} is not JSON") from None
    if end != len(text):  # one JSON value and nothing after it
        raise InvalidTokenError(f"{label}: the {what} is not JSON")
    if type(value) is not dict:  # json makes plain dicts
        raise InvalidTokenError(f"{label}: the {what} is not a JSON object")
    return value


def fingerprint(text: str) -> str:
    """A 12-hex-digit SHA-256 prefix of a token: enough to correlate, useless to replay."""
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:12]


def parse_token(text: str, label: str) -> ParsedToken:
    """Split ``text`` into header, claims and signature, decoding each once.

    Args:
        text: The header value as received.
        label: Names the token in error messages (``"ALB token"``, ``"access token"``).

    Raises:
        InvalidTokenError: too long, not ASCII, not three segments, not base64url or not JSON
            objects. The message never includes the token.
    """
    if len(text) > MAX_TOKEN_LENGTH:
        raise InvalidTokenError(f"{label}: longer than {MAX_TOKEN_LENGTH} characters")
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidTokenError(f"{label}: contains non-ASCII characters") from None
    # Translated once as a whole: dots are untouched, each segment becomes standard base64.
    segments = raw.translate(_FROM_URLSAFE).split(b".")
    if len(segments) != 3:
        if len(segments) == 5:
            raise InvalidTokenError(f"{label}: encrypted (JWE) tokens are not accepted")
        raise InvalidTokenError(f"{label}: not a JWT (expected three dot-separated segments)")
    header_segment, claims_segment, signature_segment = segments
    header = _decode_object(header_segment, "header", label)
    claims = _decode_object(claims_segment, "payload", label)
    try:
        signature = _decode_segment(signature_segment)
    except binascii.Error:
        raise InvalidTokenError(f"{label}: the signature is not base64url") from None
    signing_input = raw[: len(header_segment) + 1 + len(claims_segment)]
    return ParsedToken(header, claims, signing_input, signature)
