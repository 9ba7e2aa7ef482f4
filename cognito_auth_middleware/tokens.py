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
import re
from base64 import urlsafe_b64decode
from dataclasses import dataclass
from typing import Any

from .exceptions import InvalidTokenError

__all__ = ["MAX_TOKEN_LENGTH", "ParsedToken", "fingerprint", "parse_token"]

# Cognito access tokens grow with groups and scopes; ALB headers are capped well below this.
MAX_TOKEN_LENGTH = 16 * 1024
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """A compact JWS split and decoded once; nothing in it is verified yet."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _decode_segment(segment: str, what: str, label: str) -> bytes:
    if not _SEGMENT_RE.match(segment):
        raise InvalidTokenError(f"{label}: the {what} is not base64url")
    try:
        return urlsafe_b64decode(segment.rstrip("=") + "=" * (-len(segment.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise InvalidTokenError(f"{label}: the {what} is not base64url") from None


def _decode_object(segment: str, what: str, label: str) -> dict[str, Any]:
    raw = _decode_segment(segment, what, label)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidTokenError(f"{label}: the {what} is not JSON") from None
    if not isinstance(value, dict):
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
    if not text.isascii():
        raise InvalidTokenError(f"{label}: contains non-ASCII characters")
    parts = text.split(".")
    if len(parts) == 5:
        raise InvalidTokenError(f"{label}: encrypted (JWE) tokens are not accepted")
    if len(parts) != 3:
        raise InvalidTokenError(f"{label}: not a JWT (expected three dot-separated segments)")
    header_segment, claims_segment, signature_segment = parts
    header = _decode_object(header_segment, "header", label)
    claims = _decode_object(claims_segment, "payload", label)
    signature = _decode_segment(signature_segment, "signature", label)
    signing_input = f"{header_segment}.{claims_segment}".encode("ascii")
    return ParsedToken(header, claims, signing_input, signature)
