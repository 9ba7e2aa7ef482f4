"""The verification engine: the whole trust chain, with no I/O and no clock of its own.

:meth:`Engine.authenticate` is a generator, in the manner of httpx's auth flows: when it needs a
key that is not cached it yields a :class:`~cognito_auth_middleware.keys.KeyFetch` and is sent
the driver's result; when it is done it returns the :class:`~cognito_auth_middleware.user.User`
(as ``StopIteration.value``) or raises an
:class:`~cognito_auth_middleware.exceptions.AuthenticationError`. The sync and async drivers
only perform the fetches. Time is passed in as ``now``, so tests need no sleeping.

Trust comes from the configuration, never from the token: the algorithm is pinned per token
kind, the ALB ``signer``, ``client`` and issuer are compared with configured values before any
key is fetched, the ALB key URL is built from configuration and a kid that must be a UUID, and
the JWKS URL is the configured one (or that of the issuer the configured ALB vouched for).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Generator, Mapping
from typing import Any

from .cache import BoundedCache
from .exceptions import (
    AuthenticationError,
    ExpiredTokenError,
    InvalidTokenError,
    MissingTokenError,
)
from .key_store import KeyStore
from .keys import FetchResult, KeyFetch
from .policy import authorize
from .settings import Settings
from .tokens import ParsedToken, fingerprint, parse_token
from .user import User

__all__ = ["ACCESS", "ALB", "Engine", "Flow", "resume", "start"]

logger = logging.getLogger("cognito_auth_middleware")

ALB = "ALB token"
ACCESS = "access token"

Flow = Generator[KeyFetch, FetchResult, User]

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_KID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")
# Values echoed in error messages (they reach logs and responses) must be short and inert.
_PRINTABLE_RE = re.compile(r"^[A-Za-z0-9:/._-]{1,256}$")
# Tokens whose signatures were verified, by exact text. Entries are re-checked on every hit
# (expiry, issuer, client, pairing), so the cache only skips parsing and the signature.
MAX_VERIFIED_TOKENS = 2048


def _require(claims: Mapping[str, Any], name: str, label: str) -> Any:
    value = claims.get(name)
    if value is None:
        raise InvalidTokenError(f"{label}: required field {name!r} is missing")
    return value


def _timestamp(claims: Mapping[str, Any], name: str, label: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidTokenError(f"{label}: {name!r} must be a number of seconds")
    return float(value)


def start(flow: Flow) -> KeyFetch | User:
    """Run a flow to its first key fetch, or to its ``User`` if no fetch is needed."""
    try:
        return next(flow)
    except StopIteration as done:
        user: User = done.value
        return user


def resume(flow: Flow, result: FetchResult) -> KeyFetch | User:
    """Hand a fetch result to a flow; run it to its next fetch or to its ``User``."""
    try:
        return flow.send(result)
    except StopIteration as done:
        user: User = done.value
        return user


class Engine:
    """Verify ALB and Cognito header pairs against one :class:`Settings`.

    Holds the process-wide :class:`KeyStore` and the cache of verified tokens; every entry point
    (both middlewares, ``User(...)``) goes through one of these via a driver.

    Args:
        settings: The validated configuration. Without ``alb_arn`` the engine still verifies
            signatures, expiry, the issuer's form and the pairing, and logs once that any ALB of
            the region is trusted.

    Example:
        >>> engine = Engine(settings)                                    # doctest: +SKIP
        >>> flow = engine.authenticate(oidc_data, access_token, None, now=time.time())
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = KeyStore(fetch_timeout=settings.key_fetch_timeout)
        self._signers = frozenset(settings.alb_arn)
        self._clients = frozenset(settings.client_id)
        self._issuer = settings.issuer
        self._issuer_pattern = settings.issuer_pattern
        self._leeway = settings.leeway
        self._alb_base = settings.alb_key_base_url
        self._verified: BoundedCache[str, ParsedToken] = BoundedCache(MAX_VERIFIED_TOKENS)
        if not self._signers:
            logger.warning(
                "no alb_arn configured: the ALB token's signer is NOT checked, so a token signed "
                "by any load balancer in %s is accepted; set COGNITO_AUTH_ALB_ARN",
                settings.region,
            )

    def authenticate(
        self,
        oidc_data: str | None,
        access_token: str | None,
        identity: str | None,
        now: float,
    ) -> Flow:
        """Verify one request's headers; a generator yielding the key fetches it needs.

        Args:
            oidc_data: ``x-amzn-oidc-data``.
            access_token: ``x-amzn-oidc-accesstoken``.
            identity: ``x-amzn-oidc-identity`` or ``None``; when given it must equal ``sub``.
            now: The current Unix time.

        Raises:
            MissingTokenError, InvalidTokenError, ExpiredTokenError, AccessDeniedError,
            KeysUnavailableError: as documented in :mod:`cognito_auth_middleware.exceptions`;
            each carries the ``fingerprint`` of the token for log correlation.
        """
        try:
            return (yield from self._verify(oidc_data, access_token, identity, now))
        except AuthenticationError as exc:
            token = oidc_data or access_token
            exc.fingerprint = fingerprint(token) if token else None
            raise

    def _verify(
        self, oidc_data: str | None, access_token: str | None, identity: str | None, now: float
    ) -> Flow:
        if not oidc_data:
            raise MissingTokenError("the x-amzn-oidc-data header is missing")
        if not access_token:
            raise MissingTokenError("the x-amzn-oidc-accesstoken header is missing")

        alb = self._verified.get(oidc_data)
        alb_cached = alb is not None
        if alb is None:
            alb = parse_token(oidc_data, ALB)
        issuer = self._check_alb_header(alb.header)
        access = self._verified.get(access_token)
        access_cached = access is not None
        if access is None:
            access = parse_token(access_token, ACCESS)
        access_kid = self._check_access_header(access.header)

        if not alb_cached:
            url = f"{self._alb_base}/{alb.header['kid']}"
            key = self.keys.alb_key(url, now)
            if key is None:
                key = self.keys.accept_alb(url, (yield KeyFetch(url, "alb")), now)
            if not key.verify(alb.signing_input, alb.signature):
                raise InvalidTokenError(f"{ALB}: signature verification failed")
            self._verified.put(oidc_data, alb)

        # The issuer is vouched for by the ALB's signature; the access token must share it.
        if access.claims.get("iss") != issuer:
            raise InvalidTokenError(f"{ACCESS}: issuer does not match the ALB token's issuer")
        if not access_cached:
            url = self.settings.jwks_url_for(issuer)
            rsa_key = self.keys.jwks_key(url, access_kid, now)
            if rsa_key is None:
                result = yield KeyFetch(url, "jwks")
                rsa_key = self.keys.accept_jwks(url, access_kid, result, now)
            if not rsa_key.verify(access.signing_input, access.signature):
                raise InvalidTokenError(f"{ACCESS}: signature verification failed")
            self._verified.put(access_token, access)

        self._check_alb_claims(alb, issuer, now)
        self._check_access_claims(access.claims, alb, now)
        sub = alb.claims.get("sub")
        if access.claims.get("sub") != sub:
            raise InvalidTokenError("the access token belongs to another user than the ALB token")
        if identity is not None and identity != sub:
            raise InvalidTokenError("the x-amzn-oidc-identity header does not match the token")
        user = User.from_claims(alb.claims, access.claims)
        authorize(user, self.settings)
        return user

    def _check_alb_header(self, header: Mapping[str, Any]) -> str:
        """Check everything the configuration decides before a key is fetched; return ``iss``."""
        if header.get("alg") != "ES256":
            raise InvalidTokenError(f"{ALB}: algorithm must be ES256")
        kid = _require(header, "kid", ALB)
        if not isinstance(kid, str) or not _UUID_RE.match(kid):
            raise InvalidTokenError(f"{ALB}: kid is not a UUID")
        signer = _require(header, "signer", ALB)
        if not isinstance(signer, str):
            raise InvalidTokenError(f"{ALB}: signer is not a string")
        if self._signers and signer not in self._signers:
            found = repr(signer) if _PRINTABLE_RE.match(signer) else "?"
            raise InvalidTokenError(
                f"{ALB}: signed by load balancer {found}, expected one of {sorted(self._signers)!r}"
            )
        client = _require(header, "client", ALB)
        if not isinstance(client, str) or (self._clients and client not in self._clients):
            raise InvalidTokenError(f"{ALB}: app client is not one of the configured client ids")
        issuer = header.get("iss")
        if not isinstance(issuer, str) or not self._issuer_allowed(issuer):
            expected = self._issuer or f"a Cognito user pool of {self.settings.region}"
            raise InvalidTokenError(f"{ALB}: issuer is not {expected}")
        return issuer

    def _issuer_allowed(self, issuer: str) -> bool:
        if self._issuer is not None:
            return issuer == self._issuer
        return self._issuer_pattern.match(issuer) is not None

    @staticmethod
    def _check_access_header(header: Mapping[str, Any]) -> str:
        if header.get("alg") != "RS256":
            raise InvalidTokenError(f"{ACCESS}: algorithm must be RS256")
        kid = _require(header, "kid", ACCESS)
        if not isinstance(kid, str) or not _KID_RE.match(kid):
            raise InvalidTokenError(f"{ACCESS}: kid is malformed")
        return kid

    def _check_times(self, claims: Mapping[str, Any], label: str, now: float) -> None:
        exp = _timestamp(claims, "exp", label)
        if exp is not None and now > exp + self._leeway:
            raise ExpiredTokenError(f"{label}: expired")
        nbf = _timestamp(claims, "nbf", label)
        if nbf is not None and now + self._leeway < nbf:
            raise InvalidTokenError(f"{label}: not valid yet (nbf is in the future)")
        iat = _timestamp(claims, "iat", label)
        if iat is not None and now + self._leeway < iat:
            raise InvalidTokenError(f"{label}: issued in the future (iat)")

    def _check_alb_claims(self, alb: ParsedToken, issuer: str, now: float) -> None:
        if alb.header.get("exp") is None and alb.claims.get("exp") is None:
            raise InvalidTokenError(f"{ALB}: required field 'exp' is missing")
        self._check_times(alb.header, ALB, now)
        self._check_times(alb.claims, ALB, now)
        if "iss" in alb.claims and alb.claims["iss"] != issuer:
            raise InvalidTokenError(f"{ALB}: payload issuer differs from header issuer")

    def _check_access_claims(self, claims: Mapping[str, Any], alb: ParsedToken, now: float) -> None:
        _require(claims, "exp", ACCESS)
        self._check_times(claims, ACCESS, now)
        if _require(claims, "token_use", ACCESS) != "access":
            raise InvalidTokenError(f"{ACCESS}: token_use must be 'access'")
        if _require(claims, "client_id", ACCESS) != alb.header["client"]:
            raise InvalidTokenError(f"{ACCESS}: client_id does not match the ALB token's client")
