"""What each token must say: the checks of the trust chain, with no I/O and no clock.

:class:`HeaderRules` checks what the configuration decides, before any key is fetched;
:func:`check_access_issuer` ties the access token to the issuer the ALB vouched for, before its
keys are fetched. :func:`check_key_algorithm` and :func:`check_signature` hold a token against
the key found for it. After that, :func:`alb_record` / :func:`access_record` /
:func:`jwt_access_record` check the remaining fields once and reduce the token to a
:class:`VerifiedToken`: what must still be compared on every request (the validity window and
the fields that bind the two tokens together).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cognito_auth_middleware.exceptions import InvalidTokenError
from cognito_auth_middleware.settings import Settings

from .keys import JWT_ALGORITHMS, SignatureKey
from .tokens import ParsedToken

__all__ = [
    "ACCESS",
    "ALB",
    "BEARER",
    "MAX_TIMESTAMP",
    "VERIFIED_ACCESS",
    "HeaderRules",
    "VerifiedToken",
    "access_record",
    "alb_record",
    "bearer_record",
    "check_access_issuer",
    "check_bearer_header",
    "check_bearer_issuer",
    "check_key_algorithm",
    "check_signature",
    "jwt_access_record",
    "verified_access_record",
]

ALB = "ALB token"
ACCESS = "access token"
VERIFIED_ACCESS = "Verified Access token"
BEARER = "bearer token"
# Where machine-client tokens name their client: Cognito, Okta, most providers, Entra ID v1.
_CLIENT_CLAIMS = ("client_id", "cid", "azp", "appid")

# Every validating pattern is applied with ``fullmatch``: ``match`` with ``$`` would accept a
# trailing newline, which then reaches a URL.
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_KID_RE = re.compile(r"[\x21-\x7e]{1,128}")
# Values echoed in error messages (they reach logs) must be short and inert.
_PRINTABLE_RE = re.compile(r"[A-Za-z0-9:/._-]{1,256}")
# Unix times a token may carry: up to the end of year 9999, so every later computation on
# them (adding the leeway, printing a date) stays finite and in range.
MAX_TIMESTAMP = 253_402_300_799
_NUMBER = (int, float)  # a tuple: isinstance with it is quicker than with int | float


# Not frozen: a frozen dataclass's __init__ costs ~0.8 us more, on every new token, and a named
# tuple's fields are slower to read on every cached request. Nothing changes a record once made.
@dataclass(slots=True, eq=False)
class VerifiedToken:
    """A token whose signature and fields checked out, kept for the checks of every request.

    ``not_before`` / ``not_after`` already include the leeway.
    """

    claims: dict[str, Any]
    sub: object
    issuer: object
    client: object
    not_before: float
    not_after: float


def _require(fields: Mapping[str, Any], name: str, label: str) -> Any:
    # The checks of every new token read a field with get() and call this only when the value
    # is wrong, so that a missing field is named as missing.
    value = fields.get(name)
    if value is None:
        raise InvalidTokenError(f"{label}: required field {name!r} is missing")
    return value


def _seconds(value: object, name: str, label: str) -> float:
    """A present time claim: it must be a sane number of seconds.

    JSON ``null`` is not absence (aws-jwt-verify refuses it too), and a huge integer must not
    reach ``float()``, which would raise ``OverflowError``.
    """
    if (
        type(value) is bool  # bool is an int; it cannot be subclassed
        or not isinstance(value, _NUMBER)
        or not 0 <= value <= MAX_TIMESTAMP  # also refuses nan; compares big ints exactly
    ):
        raise InvalidTokenError(f"{label}: {name!r} must be a number of seconds")
    return float(value)


def _window(sources: Iterable[Mapping[str, Any]], label: str, leeway: float) -> tuple[float, float]:
    """``(not_before, not_after)`` from every ``exp``, ``nbf`` and ``iat`` present."""
    not_before = -math.inf
    not_after = math.inf
    expires = False
    for fields in sources:
        if "exp" in fields:
            exp = _seconds(fields["exp"], "exp", label)
            if exp < not_after:
                not_after = exp
            expires = True
        if "nbf" in fields:
            nbf = _seconds(fields["nbf"], "nbf", label)
            if nbf > not_before:
                not_before = nbf
        if "iat" in fields:
            iat = _seconds(fields["iat"], "iat", label)
            if iat > not_before:
                not_before = iat
    if not expires:
        raise InvalidTokenError(f"{label}: required field 'exp' is missing")
    return not_before - leeway, not_after + leeway


def _jws_kid(header: Mapping[str, Any], algorithms: tuple[str, ...], label: str) -> str:
    """The ``kid`` of a JWKS-verified token's header, its ``alg`` one of ``algorithms``."""
    if header.get("alg") not in algorithms:
        raise InvalidTokenError(f"{label}: algorithm must be {' or '.join(algorithms)}")
    kid = header.get("kid")
    if type(kid) is not str or not _KID_RE.fullmatch(kid):
        _require(header, "kid", label)  # names a missing kid as such
        raise InvalidTokenError(f"{label}: kid is malformed")
    return kid


def _signed_by(header: Mapping[str, Any], alg: str, label: str) -> tuple[str, str]:
    """The ``kid`` (a UUID) and ``signer`` (a string) of an AWS-signed header using ``alg``."""
    if header.get("alg") != alg:
        raise InvalidTokenError(f"{label}: algorithm must be {alg}")
    kid = header.get("kid")
    if type(kid) is not str or not _UUID_RE.fullmatch(kid):
        _require(header, "kid", label)  # names a missing kid as such
        raise InvalidTokenError(f"{label}: kid is not a UUID")
    signer = header.get("signer")
    if type(signer) is not str:
        _require(header, "signer", label)
        raise InvalidTokenError(f"{label}: signer is not a string")
    return kid, signer


class HeaderRules:
    """The checks the configuration decides, made before any key is looked up or fetched."""

    __slots__ = (
        "_access_algorithms",
        "_clients",
        "_issuer",
        "_issuer_pattern",
        "_region",
        "_signers",
        "_verified_access",
    )

    def __init__(self, settings: Settings) -> None:
        self._verified_access = settings.provider == "verified-access"
        self._signers = frozenset(
            settings.verified_access_instance_arn if self._verified_access else settings.alb_arn
        )
        self._clients = frozenset(settings.client_id)
        self._issuer = settings.issuer
        self._issuer_pattern = settings.issuer_pattern
        self._region = settings.region
        jwt = settings.access_token_kind == "jwt"  # noqa: S105 (a kind, not a secret)
        self._access_algorithms: tuple[str, ...] = JWT_ALGORITHMS if jwt else ("RS256",)

    @property
    def access_algorithms(self) -> tuple[str, ...]:
        """The algorithms an access token may name: RS256 for Cognito, RS256 or ES256 else."""
        return self._access_algorithms

    def check_alb(self, header: Mapping[str, Any]) -> tuple[str, str]:
        """Check the ALB token's header; return its ``kid`` and ``iss``.

        Raises:
            InvalidTokenError: wrong algorithm, a kid that is not a UUID, or a signer, client
                or issuer the configuration does not name.
        """
        kid, signer = _signed_by(header, "ES256", ALB)
        if self._signers and signer not in self._signers:
            found = repr(signer) if _PRINTABLE_RE.fullmatch(signer) else "?"
            raise InvalidTokenError(
                f"{ALB}: signed by load balancer {found}, expected one of {sorted(self._signers)!r}"
            )
        client = header.get("client")
        if type(client) is not str or (self._clients and client not in self._clients):
            _require(header, "client", ALB)
            raise InvalidTokenError(f"{ALB}: app client is not one of the configured client ids")
        issuer = header.get("iss")
        if not isinstance(issuer, str) or not self._issuer_allowed(issuer):
            expected = self._issuer or f"a Cognito user pool of {self._region}"
            raise InvalidTokenError(f"{ALB}: issuer is not {expected}")
        return kid, issuer

    def check_claims_token(self, header: Mapping[str, Any]) -> tuple[str, str]:
        """Check the signed claims' header (the ALB's, or Verified Access's); kid and issuer."""
        if self._verified_access:
            return self.check_verified_access(header)
        return self.check_alb(header)

    def check_verified_access(self, header: Mapping[str, Any]) -> tuple[str, str]:
        """Check a Verified Access token's header; return its ``kid`` and ``iss``.

        Raises:
            InvalidTokenError: an algorithm other than ES384, a kid that is not a UUID, a
                signer other than the configured instances, or an issuer other than
                ``issuer`` (when configured).
        """
        label = VERIFIED_ACCESS
        kid, signer = _signed_by(header, "ES384", label)
        if signer not in self._signers:
            raise InvalidTokenError(
                f"{label}: not signed by a configured Verified Access instance "
                f"({sorted(self._signers)!r})"
            )
        issuer = header.get("iss")
        if not isinstance(issuer, str) or (self._issuer is not None and issuer != self._issuer):
            raise InvalidTokenError(f"{label}: issuer is not {self._issuer or 'a string'}")
        return kid, issuer

    def _issuer_allowed(self, issuer: str) -> bool:
        if self._issuer is not None:
            return issuer == self._issuer
        return self._issuer_pattern.fullmatch(issuer) is not None

    def check_access(self, header: Mapping[str, Any]) -> str:
        """Check the access token's header; return its ``kid``.

        Raises:
            InvalidTokenError: an algorithm not allowed (RS256 for Cognito; RS256 or ES256
                for another provider), or a missing or malformed kid.
        """
        return _jws_kid(header, self._access_algorithms, ACCESS)


def check_access_issuer(token: ParsedToken, alb: VerifiedToken) -> str:
    """The issuer whose keys may verify ``token``: the one the verified ALB token names.

    Raises:
        InvalidTokenError: the access token's ``iss`` is another.
    """
    if token.claims.get("iss") != alb.issuer:
        raise InvalidTokenError(f"{ACCESS}: issuer does not match the ALB token's issuer")
    return str(alb.issuer)


def check_key_algorithm(token: ParsedToken, key: SignatureKey, label: str) -> None:
    """Check that ``token`` names its key's algorithm (no ES256 token on an RSA key, say).

    Raises:
        InvalidTokenError: the header's ``alg`` is not ``key.alg``.
    """
    if key.alg != token.header.get("alg"):
        raise InvalidTokenError(f"{label}: its algorithm is not its key's")


def check_signature(token: ParsedToken, key: SignatureKey, label: str) -> None:
    """Check the signature of ``token`` with ``key``.

    Raises:
        InvalidTokenError: it does not verify.
    """
    if not key.verify(token.signing_input, token.signature):
        raise InvalidTokenError(f"{label}: signature verification failed")


def _registered_types(claims: Mapping[str, Any], label: str) -> None:
    # Not read here, but an app may read them (``access_claims["scope"].split()``): refused
    # when malformed, as aws-jwt-verify refuses them (JSON null included).
    for name in ("scope", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidTokenError(f"{label}: claim {name!r} must be a string")
    if "aud" in claims:
        aud = claims["aud"]
        if not (
            isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
        ):
            raise InvalidTokenError(f"{label}: claim 'aud' must be a string or a list of strings")


def alb_record(token: ParsedToken, issuer: str, leeway: float) -> VerifiedToken:
    """Check a signature-verified ALB token's fields once.

    Raises:
        InvalidTokenError: ``exp`` missing (in header and payload), a time of the wrong type, a
            payload ``iss`` missing or other than the header's, a ``sub`` that is not a string,
            or an ``aud``, ``scope`` or ``jti`` of the wrong type.
    """
    claims = token.claims
    not_before, not_after = _window((token.header, claims), ALB, leeway)
    if claims.get("iss") != issuer:  # a str: the header's, checked
        _require(claims, "iss", ALB)
        raise InvalidTokenError(f"{ALB}: payload issuer differs from header issuer")
    _registered_types(claims, ALB)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidTokenError(f"{ALB}: claim 'sub' must be a non-empty string")
    return VerifiedToken(claims, sub, issuer, token.header["client"], not_before, not_after)


def access_record(token: ParsedToken, leeway: float) -> VerifiedToken:
    """Check a signature-verified access token's fields once.

    Raises:
        InvalidTokenError: ``exp``, ``token_use`` or ``client_id`` missing, ``token_use`` not
            ``access``, or a time, ``aud``, ``scope`` or ``jti`` of the wrong type.
    """
    claims = token.claims
    not_before, not_after = _window((claims,), ACCESS, leeway)
    _registered_types(claims, ACCESS)
    if _require(claims, "token_use", ACCESS) != "access":
        raise InvalidTokenError(f"{ACCESS}: token_use must be 'access'")
    client = _require(claims, "client_id", ACCESS)
    return VerifiedToken(
        claims, claims.get("sub"), claims.get("iss"), client, not_before, not_after
    )


def _audience(claims: Mapping[str, Any], audience: Iterable[str], label: str) -> None:
    """Refuse a token whose ``aud`` holds none of ``audience`` (when any is configured)."""
    wanted = frozenset(audience)
    if wanted:
        aud = claims.get("aud")  # a string or a list of strings: _registered_types checked it
        found = {aud} if isinstance(aud, str) else set(aud or ())
        if not found & wanted:
            raise InvalidTokenError(f"{label}: audience is not one of {sorted(wanted)!r}")


def _issued_by(
    claims: Mapping[str, Any], issuer: str, audience: Iterable[str], label: str, leeway: float
) -> tuple[float, float]:
    """The validity window of a JWT another issuer signed, having checked its registered
    claims' types, its ``iss`` (``issuer``) and its ``aud`` (one of ``audience``, if any)."""
    window = _window((claims,), label, leeway)
    _registered_types(claims, label)
    if _require(claims, "iss", label) != issuer:
        raise InvalidTokenError(f"{label}: issuer is not {issuer}")
    _audience(claims, audience, label)
    return window


def jwt_access_record(
    token: ParsedToken, issuer: str, audience: Iterable[str], subject: str, leeway: float
) -> VerifiedToken:
    """Check a signature-verified access token of another OIDC provider once.

    Its ``iss`` must be the configured issuer, its ``aud`` hold one of ``audience`` (when
    configured) and its claim ``subject`` (``sub``, or Okta's ``uid``) be a non-empty string:
    the engine binds it to the ALB token's ``sub``. It names no app client the ALB token could
    be compared with (``client``: ``None``).

    Raises:
        InvalidTokenError: ``exp`` missing, ``iss`` other than the issuer, ``aud`` not one of
            the audiences, ``sub`` not a non-empty string, or a time, ``aud``, ``scope`` or
            ``jti`` of the wrong type.
    """
    claims = token.claims
    not_before, not_after = _issued_by(claims, issuer, audience, ACCESS, leeway)
    if not isinstance(claims.get("sub", ""), str):  # Okta's login, where subject is "uid"
        raise InvalidTokenError(f"{ACCESS}: claim 'sub' must be a string")
    sub = claims.get(subject)
    if not isinstance(sub, str) or not sub:
        raise InvalidTokenError(f"{ACCESS}: claim {subject!r} must be a non-empty string")
    return VerifiedToken(claims, sub, issuer, None, not_before, not_after)


def verified_access_record(token: ParsedToken, issuer: str, leeway: float) -> VerifiedToken:
    """Check a signature-verified Verified Access token's fields once.

    Two claim shapes carry the user: an OIDC trust provider's (``sub``, ``email``,
    ``email_verified``, ``groups``) and IAM Identity Center's (``user.user_id``,
    ``user.user_name``, ``user.email.address``, ``user.email.verified``). The second is
    mapped onto the first, its own claims kept, so both give the same ``User``; ``iss`` is
    the header's when the payload has none.

    Raises:
        InvalidTokenError: ``exp`` missing (in header and payload), a time of the wrong type,
            no ``sub`` (or ``user.user_id``) that is a non-empty string, or an ``aud``,
            ``scope`` or ``jti`` of the wrong type.
    """
    label = VERIFIED_ACCESS
    not_before, not_after = _window((token.header, token.claims), label, leeway)
    claims = token.claims
    _registered_types(claims, label)
    user = claims.get("user")
    if "sub" not in claims and isinstance(user, dict):
        email = user.get("email")
        email = email if isinstance(email, dict) else {}
        claims = {
            **claims,
            "sub": user.get("user_id"),
            "username": user.get("user_name"),
            "email": email.get("address"),
            "email_verified": email.get("verified"),
        }
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidTokenError(f"{label}: claim 'sub' (or 'user.user_id') must be a string")
    if "iss" not in claims:  # the signed header names it; the user's issuer is that one
        claims = {**claims, "iss": issuer}
    return VerifiedToken(claims, sub, issuer, None, not_before, not_after)


def check_bearer_header(header: Mapping[str, Any]) -> str:
    """Check a bearer token's header; return its ``kid``.

    Raises:
        InvalidTokenError: an algorithm other than RS256 or ES256, or a missing or malformed
            kid.
    """
    return _jws_kid(header, JWT_ALGORITHMS, BEARER)


def check_bearer_issuer(token: ParsedToken, issuer: str) -> None:
    """Refuse a bearer token of another issuer, before any key is looked for.

    Raises:
        InvalidTokenError: its ``iss`` is not ``issuer``.
    """
    if token.claims.get("iss") != issuer:
        raise InvalidTokenError(f"{BEARER}: issuer is not {issuer}")


def _scopes(claims: Mapping[str, Any]) -> tuple[str, ...]:
    # ``scope`` is a space-separated string (RFC 9068; Cognito); ``scp`` a list (Okta) or a
    # string (Entra ID). A malformed one is refused rather than read as no scope.
    if "scope" in claims:
        return tuple(claims["scope"].split())  # a string: _registered_types checked it
    scp = claims.get("scp")
    if scp is None:
        return ()
    if isinstance(scp, str):
        return tuple(scp.split())
    if isinstance(scp, list) and all(isinstance(item, str) for item in scp):
        return tuple(scp)
    raise InvalidTokenError(f"{BEARER}: claim 'scp' must be a string or a list of strings")


def bearer_record(
    token: ParsedToken,
    issuer: str,
    audience: Iterable[str],
    clients: Iterable[str],
    leeway: float,
) -> tuple[VerifiedToken, tuple[str, ...]]:
    """Check a signature-verified bearer token once; the record and its scopes.

    Its ``iss`` must be ``issuer``, ``exp`` present, ``aud`` one of ``audience`` and its client
    one of ``clients`` (each when configured); a ``token_use`` present must be ``access``
    (a Cognito ID token is no bearer token). The record's ``client`` is the client id.

    Raises:
        InvalidTokenError: any of the above, a client id missing or not a string, or a time,
            ``aud``, ``scope``, ``scp`` or ``jti`` of the wrong type.
    """
    claims = token.claims
    not_before, not_after = _issued_by(claims, issuer, audience, BEARER, leeway)
    if "token_use" in claims and claims["token_use"] != "access":  # noqa: S105 (a claim)
        raise InvalidTokenError(f"{BEARER}: token_use must be 'access'")
    client = next((claims[name] for name in _CLIENT_CLAIMS if name in claims), None)
    if not isinstance(client, str) or not client:
        raise InvalidTokenError(f"{BEARER}: no client id (client_id, cid, azp or appid)")
    allowed = frozenset(clients)
    if allowed and client not in allowed:
        raise InvalidTokenError(f"{BEARER}: client is not one of the configured bearer_clients")
    scopes = _scopes(claims)
    return VerifiedToken(claims, claims.get("sub"), issuer, client, not_before, not_after), scopes
