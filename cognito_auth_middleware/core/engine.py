"""The verification engine: the whole trust chain, with no I/O and no clock of its own.

:meth:`Engine.authenticate` is a generator, in the manner of httpx's auth flows: when it needs a
key that is not cached it yields a :class:`~cognito_auth_middleware.core.keys.KeyFetch` and is sent
the driver's result; when it is done it returns the :class:`~cognito_auth_middleware.user.User`
(as ``StopIteration.value``) or raises an
:class:`~cognito_auth_middleware.exceptions.AuthenticationError`. The sync and async drivers
only perform the fetches. Time is passed in as ``now``, so tests need no sleeping.

Trust comes from the configuration, never from the token: the algorithm is pinned per token
kind, the ALB ``signer``, ``client`` and issuer are compared with configured values before any
key is fetched, the ALB key URL is built from configuration and a kid that must be a UUID, and
the JWKS URL is the configured one (or that of the issuer the configured ALB vouched for, or
the ``jwks_uri`` of the configured issuer's discovery document).

The access token is one of three kinds (``access_token_kind``): a Cognito access token (bound
to the ALB token by issuer, app client and ``sub``), another provider's JWT (by issuer and
``sub``), or an opaque string, which is neither verified nor bound: the ALB token alone then
says who the user is.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Literal

from cognito_auth_middleware.exceptions import (
    AuthenticationError,
    ExpiredTokenError,
    InvalidTokenError,
    MissingTokenError,
)
from cognito_auth_middleware.machine import MachineClient
from cognito_auth_middleware.settings import Settings, discovery_url_for
from cognito_auth_middleware.user import User

from .cache import BoundedCache
from .claims import (
    ACCESS,
    ALB,
    BEARER,
    VERIFIED_ACCESS,
    HeaderRules,
    VerifiedToken,
    access_record,
    alb_record,
    bearer_record,
    check_access_issuer,
    check_bearer_header,
    check_bearer_issuer,
    check_key_algorithm,
    check_signature,
    jwt_access_record,
    verified_access_record,
)
from .dev_mode import is_loopback
from .headers import CLAIMS_HEADERS
from .key_store import KeyStore
from .keys import JWT_ALGORITHMS, FetchResult, KeyFetch, SignatureKey
from .policy import Policy
from .tokens import ParsedToken, fingerprint, parse_token

__all__ = ["MAX_VERIFIED_TOKENS", "BearerFlow", "Engine", "Flow"]

logger = logging.getLogger("cognito_auth_middleware")

Flow = Generator[KeyFetch, FetchResult, User]
BearerFlow = Generator[KeyFetch, FetchResult, MachineClient]
# Tokens whose signatures were verified, by exact text, per kind, and the users built from
# verified pairs. A hit skips parsing and the signature; the validity window, the binding of
# the two tokens (issuer, client, sub) and the identity header are checked on every request.
MAX_VERIFIED_TOKENS = 2048


# The admitted pairs are found by the end of the ALB token's text, inside its signature (an
# ES256 signature is 86 base64url characters, padded to 88 by the ALB): hashing the whole
# 0.8-2 KiB of a pair's two new header strings was an eighth of the middleware's work on a
# repeated pair. The entry found is used only if both texts equal the request's, so a token
# that copies another's signature finds that entry and is verified as any new token is. The
# slice is written out where it is used (``oidc_data[_PAIR_KEY:]``): a helper would cost a call.
_PAIR_KEY = -40


@dataclass(slots=True, eq=False)  # not frozen: a frozen init costs more; nothing changes one
class _Admitted:
    """A verified pair's texts and user, the policy that admitted them and the two records.

    The binding of the two tokens (issuer, client, sub) was checked when the pair was
    admitted and cannot change; each later request checks the windows and identity header:
    at once against the pair's joint window and the ALB token's ``sub``, and through the
    per-token checks (for the error that names the token) when that fails.
    """

    oidc_data: str
    access_token: str
    policy: Policy
    user: User
    alb: VerifiedToken
    access: VerifiedToken
    not_before: float
    not_after: float


def _unverified(alb: VerifiedToken) -> VerifiedToken:
    """What stands in for an opaque access token: no claims, nothing to compare."""
    return VerifiedToken({}, alb.sub, alb.issuer, alb.client, -math.inf, math.inf)


def _fetched_jwks_key(
    keys: KeyStore, url: str, kid: str, now: float
) -> Generator[KeyFetch, FetchResult, SignatureKey]:
    """The key ``kid`` of the JWKS at ``url``, which is not cached: fetched, then looked up.

    A generator, made only on a miss: a cached key costs no generator round-trip.
    """
    return keys.accept_jwks(url, kid, (yield KeyFetch(url, "jwks")), now)


def _check_jws(token: ParsedToken, key: SignatureKey, label: str) -> None:
    """``token`` names its key's algorithm, and the key verifies its signature."""
    check_key_algorithm(token, key, label)
    check_signature(token, key, label)


def _tag(exc: AuthenticationError, oidc_data: str | None, access_token: str | None) -> None:
    token = oidc_data or access_token
    exc.fingerprint = fingerprint(token) if token else None


class Engine:
    """Verify ALB and Cognito header pairs against one :class:`Settings`.

    Holds the process-wide :class:`KeyStore` and the caches of verified tokens; every entry
    point (both middlewares, ``User(...)``) goes through one of these via a driver, which first
    tries :meth:`lookup` (both tokens already verified: no I/O, no generator) and otherwise runs
    the :meth:`authenticate` flow, as httpx runs an auth flow: ``next(flow)``, then
    ``flow.send(result)`` for each :class:`KeyFetch` it yields, until ``StopIteration.value``.

    Args:
        settings: The validated configuration. Without ``alb_arn`` the engine still verifies
            signatures, expiry, the issuer's form and the pairing, and logs once that any ALB of
            the region is trusted.

    Example:
        >>> engine = Engine(settings)                                    # doctest: +SKIP
        >>> flow = engine.authenticate(oidc_data, access_token, None, now=time.time())
    """

    def __init__(self, settings: Settings, *, mock_user: User | None = None) -> None:
        self.settings = settings
        self._kind = settings.access_token_kind
        cognito = self._kind == "cognito"
        self._verified_access = settings.provider == "verified-access"
        self.keys = KeyStore(
            fetch_timeout=settings.key_fetch_timeout,
            algorithms=("RS256",) if cognito else JWT_ALGORITHMS,
            cognito=cognito,
            verified_access=self._verified_access,
        )
        self._rules = HeaderRules(settings)
        #: Whether requests carry an access token to verify (not opaque, not Verified Access).
        self._verifies_access = self._kind != "opaque" and not self._verified_access
        self._claims_label = VERIFIED_ACCESS if self._verified_access else ALB
        self._claims_header = CLAIMS_HEADERS[settings.provider]
        #: Which token's claims hold the groups: the signed user claims' when there is no
        #: access token to verify (opaque, or Verified Access).
        self.groups_from: Literal["access_token", "oidc_data"] = (
            "access_token" if self._verifies_access else "oidc_data"
        )
        self._leeway = settings.leeway
        self._discovers = settings.discovery_url is not None
        self._alb_tokens: BoundedCache[str, VerifiedToken] = BoundedCache(MAX_VERIFIED_TOKENS)
        self._access_tokens: BoundedCache[str, VerifiedToken] = BoundedCache(MAX_VERIFIED_TOKENS)
        # Each user with the policy that admitted them: a decision is reused only while that
        # very policy is in force, so a reload that removes a user refuses their next request.
        self._users: BoundedCache[str, _Admitted] = BoundedCache(MAX_VERIFIED_TOKENS)
        #: Machine clients' keys (another issuer's JWKS) and verified bearer tokens.
        self.bearer_keys = KeyStore(
            fetch_timeout=settings.key_fetch_timeout,
            algorithms=JWT_ALGORITHMS,
            cognito=False,
            jwks_for=BEARER,
        )
        self._machines: BoundedCache[str, tuple[VerifiedToken, MachineClient]] = BoundedCache(
            MAX_VERIFIED_TOKENS
        )
        #: The authorisation policy in force; a reload replaces it whole (one assignment).
        self.policy = Policy.from_settings(settings)
        self._mock_user = mock_user if settings.dev_mode else None
        if not settings.alb_arn and not self._verified_access:
            logger.warning(
                "no alb_arn configured: the ALB token's signer is NOT checked, so a token signed "
                "by any load balancer in %s is accepted; set COGNITO_AUTH_ALB_ARN",
                settings.region,
            )

    @property
    def sizes(self) -> dict[str, int]:
        """Current entry counts of every cache of this engine (see :meth:`bounds`)."""
        return {
            **self.keys.sizes,
            "alb_tokens": len(self._alb_tokens),
            "access_tokens": len(self._access_tokens),
            "users": len(self._users),
            "machines": len(self._machines),
        }

    @staticmethod
    def bounds() -> dict[str, int]:
        """The size bound of every cache (documented in SECURITY.md)."""
        return {
            **KeyStore.bounds(),
            "alb_tokens": MAX_VERIFIED_TOKENS,
            "access_tokens": MAX_VERIFIED_TOKENS,
            "users": MAX_VERIFIED_TOKENS,
            "machines": MAX_VERIFIED_TOKENS,
        }

    def lookup(
        self, oidc_data: str | None, access_token: str | None, identity: str | None, now: float
    ) -> User | None:
        """The user, if both tokens were verified before; ``None`` if the flow must run.

        A pair admitted under the policy in force is one look-up, with both its records: only
        the windows and the identity header are checked again. Otherwise, with both tokens
        cached, the pair is checked and decided as new (no flow is needed).

        Raises:
            AuthenticationError: a known pair that no longer passes (expired, spliced, ...).
        """
        if not oidc_data or (not access_token and not self._verified_access):
            return None
        access_text = access_token or ""
        try:
            admitted = self._users.get(oidc_data[_PAIR_KEY:])
            if (
                admitted is not None
                and admitted.oidc_data == oidc_data
                and admitted.access_token == access_text
                and admitted.policy is self.policy
            ):
                if not (
                    admitted.not_before <= now <= admitted.not_after
                    and (identity is None or identity == admitted.alb.sub)
                ):
                    # Outside the pair's window, or another identity: the checks name which.
                    self._check_windows(admitted.alb, admitted.access, now)
                    self._check_identity(admitted.alb, identity)
                return admitted.user
            alb = self._alb_tokens.get(oidc_data)
            if alb is None:
                return None
            access = self._access_for(alb, access_text)
            if access is None:
                return None
            return self._conclude(oidc_data, alb, access_text, access, identity, now)
        except AuthenticationError as exc:
            _tag(exc, oidc_data, access_token)
            raise

    def authenticate(
        self,
        oidc_data: str | None,
        access_token: str | None,
        identity: str | None,
        now: float,
        client_host: str | None = None,
    ) -> Flow:
        """Verify one request's headers; a generator yielding the key fetches it needs.

        Args:
            oidc_data: ``x-amzn-oidc-data``.
            access_token: ``x-amzn-oidc-accesstoken``.
            identity: ``x-amzn-oidc-identity`` or ``None``; when given it must equal ``sub``.
            now: The current Unix time.
            client_host: The client's address; only dev mode looks at it.

        Raises:
            MissingTokenError, InvalidTokenError, ExpiredTokenError, AccessDeniedError,
            KeysUnavailableError: as documented in :mod:`cognito_auth_middleware.exceptions`;
            each carries the ``fingerprint`` of the token for log correlation.
        """
        try:
            if (
                self._mock_user is not None
                and not oidc_data
                and not access_token
                and is_loopback(client_host)
            ):
                # The mock user meets the policy too, so its groups try the rules out locally.
                return self.policy.decide(self._mock_user)
            if not oidc_data:
                raise MissingTokenError(f"the {self._claims_header} header is missing")
            access_text = access_token or ""
            if not access_text and not self._verified_access:  # the ALB always sends one
                raise MissingTokenError("the x-amzn-oidc-accesstoken header is missing")
            # Both tokens are parsed and their headers checked before anything is fetched. A
            # token not cached yet is held as its parsed form and the kid (and issuer) its
            # header names, in locals: no object is built for it before its record.
            alb = self._alb_tokens.get(oidc_data)
            if alb is None:
                alb_token = parse_token(oidc_data, self._claims_label)
                alb_kid, alb_issuer = self._rules.check_claims_token(alb_token.header)
            access = access_token_parsed = None
            if self._verifies_access:
                access = self._access_tokens.get(access_text)
                if access is None:
                    access_token_parsed = parse_token(access_text, ACCESS)
                    access_kid = self._rules.check_access(access_token_parsed.header)
            if alb is None:
                url = self.settings.alb_key_url_for(alb_kid)
                key = self.keys.alb_key(url, now)
                if key is None:
                    key = self.keys.accept_alb(url, (yield KeyFetch(url, "alb")), now)
                check_signature(alb_token, key, self._claims_label)
                if self._verified_access:
                    alb = verified_access_record(alb_token, alb_issuer, self._leeway)
                else:
                    alb = alb_record(alb_token, alb_issuer, self._leeway)
                self._alb_tokens.put(oidc_data, alb)
            if access_token_parsed is not None:
                # The ALB's signature vouches for the issuer; keys come only from its JWKS.
                issuer = check_access_issuer(access_token_parsed, alb)
                keys = self.keys
                url = self._jwks_url(issuer) or (yield from self._discovered(issuer, keys, now))
                key = keys.jwks_key(url, access_kid, now) or (
                    yield from _fetched_jwks_key(keys, url, access_kid, now)
                )
                _check_jws(access_token_parsed, key, ACCESS)
                if self._kind == "jwt":
                    access = jwt_access_record(
                        access_token_parsed,
                        issuer,
                        self.settings.audience,
                        self.settings.subject_claim,
                        self._leeway,
                    )
                else:
                    access = access_record(access_token_parsed, self._leeway)
                self._access_tokens.put(access_text, access)
            elif access is None:
                access = _unverified(alb)
            return self._conclude(oidc_data, alb, access_text, access, identity, now)
        except AuthenticationError as exc:
            _tag(exc, oidc_data, access_token)
            raise

    def authenticate_bearer(self, token: str, now: float) -> BearerFlow:
        """Verify a machine client's bearer token; a generator yielding the key fetches it needs.

        Only with the ``bearer`` setting: the token must name ``bearer_issuer`` (checked
        before any fetch) and be signed by a key of that issuer's JWKS (``bearer_jwks_url``, or
        discovered from the issuer); see
        :func:`~cognito_auth_middleware.core.claims.bearer_record` for its fields.

        Raises:
            InvalidTokenError, ExpiredTokenError, KeysUnavailableError: as for
            :meth:`authenticate`; ``InvalidTokenError`` also when ``bearer`` is off.
        """
        try:
            settings = self.settings
            if not settings.bearer or settings.bearer_issuer is None:
                raise InvalidTokenError(
                    "bearer tokens are not accepted (the bearer setting is off)"
                )
            cached = self._machines.get(token)
            if cached is None:
                parsed = parse_token(token, BEARER)
                kid = check_bearer_header(parsed.header)
                issuer = settings.bearer_issuer
                check_bearer_issuer(parsed, issuer)
                url = settings.bearer_jwks_url
                if url is None:
                    url = yield from self._discovered(issuer, self.bearer_keys, now)
                keys = self.bearer_keys
                key = keys.jwks_key(url, kid, now) or (
                    yield from _fetched_jwks_key(keys, url, kid, now)
                )
                _check_jws(parsed, key, BEARER)
                record, scopes = bearer_record(
                    parsed, issuer, settings.bearer_audience, settings.bearer_clients, self._leeway
                )
                exp = record.not_after - self._leeway
                machine = MachineClient(str(record.client), scopes, issuer, exp, record.claims)
                cached = (record, machine)
                self._machines.put(token, cached)
            record, machine = cached
            if now > record.not_after:
                raise ExpiredTokenError(f"{BEARER}: expired")
            if now < record.not_before:
                raise InvalidTokenError(f"{BEARER}: not valid yet (nbf or iat is in the future)")
            return machine
        except AuthenticationError as exc:
            exc.fingerprint = fingerprint(token)
            raise

    def resume(self, user: User, not_after: float, now: float) -> User:
        """A session's user, verified earlier, as the policy in force sees them now.

        For sessions that outlive the request that opened them (Streamlit's): the ALB token of
        that request expires within minutes, so the session lasts as long as its access token.

        Args:
            user: The user the engine returned for the session's headers.
            not_after: The last moment the session is valid (the access token's ``exp`` plus
                the leeway).
            now: The current Unix time.

        Raises:
            ExpiredTokenError: the session's access token has expired.
            AccessDeniedError: the policy in force does not admit the user (any more).
        """
        if now > not_after:
            raise ExpiredTokenError("the session's access token has expired")
        return self.policy.decide(user)

    def jwks_location(self, issuer: str, now: float) -> Generator[KeyFetch, FetchResult, str]:
        """The JWKS URL: configured, Cognito's for the issuer, or discovered from the issuer.

        A generator like :meth:`authenticate`: it yields the fetch of the discovery document
        when that is needed and not cached, and returns the URL.

        Args:
            issuer: The issuer the verified ALB token names.
            now: The current Unix time.

        Raises:
            KeysUnavailableError: the discovery document could not be fetched or read.
        """
        return self._jwks_url(issuer) or (yield from self._discovered(issuer, self.keys, now))

    def _jwks_url(self, issuer: str) -> str | None:
        """The JWKS URL when no discovery is needed (configured, or Cognito's for the issuer)."""
        return None if self._discovers else self.settings.jwks_url_for(issuer)

    @staticmethod
    def _discovered(
        issuer: str, keys: KeyStore, now: float
    ) -> Generator[KeyFetch, FetchResult, str]:
        """The ``jwks_uri`` of ``issuer``'s discovery document (fetched once, kept in ``keys``)."""
        discovery = discovery_url_for(issuer)
        found = keys.jwks_uri(discovery, now)
        if found is None:
            fetched = yield KeyFetch(discovery, "discovery")
            found = keys.accept_discovery(discovery, issuer, fetched, now)
        return found

    def _access_for(self, alb: VerifiedToken, access_token: str) -> VerifiedToken | None:
        """The verified access token, if cached; for an opaque one, what stands in for it."""
        if not self._verifies_access:
            return _unverified(alb)
        return self._access_tokens.get(access_token)

    def _conclude(
        self,
        oidc_data: str,
        alb: VerifiedToken,
        access_token: str,
        access: VerifiedToken,
        identity: str | None,
        now: float,
    ) -> User:
        """The checks of a pair not admitted yet (or under an earlier policy), then its user."""
        self._check_windows(alb, access, now)
        if access.issuer != alb.issuer:
            raise InvalidTokenError(f"{ACCESS}: issuer does not match the ALB token's issuer")
        if access.client is not None and access.client != alb.client:
            raise InvalidTokenError(f"{ACCESS}: client_id does not match the ALB token's client")
        if access.sub != alb.sub:
            raise InvalidTokenError("the access token belongs to another user than the ALB token")
        self._check_identity(alb, identity)
        policy = self.policy
        user = policy.decide(
            User.from_claims(
                alb.claims,
                access.claims,
                groups_claim=self.settings.groups_claim,
                groups_from=self.groups_from,
            )
        )
        admitted = _Admitted(
            oidc_data,
            access_token,
            policy,
            user,
            alb,
            access,
            # Conditional expressions: max() and min() parse their arguments at each call.
            alb.not_before if alb.not_before > access.not_before else access.not_before,
            alb.not_after if alb.not_after < access.not_after else access.not_after,
        )
        self._users.put(oidc_data[_PAIR_KEY:], admitted)
        return user

    def _check_windows(self, alb: VerifiedToken, access: VerifiedToken, now: float) -> None:
        """Both tokens are within their validity windows (leeway included)."""
        if now > alb.not_after:
            raise ExpiredTokenError(f"{self._claims_label}: expired")
        if now > access.not_after:
            raise ExpiredTokenError(f"{ACCESS}: expired")
        if now < alb.not_before:
            raise InvalidTokenError(
                f"{self._claims_label}: not valid yet (nbf or iat is in the future)"
            )
        if now < access.not_before:
            raise InvalidTokenError(f"{ACCESS}: not valid yet (nbf or iat is in the future)")

    @staticmethod
    def _check_identity(alb: VerifiedToken, identity: str | None) -> None:
        """The identity header, when sent, names the ALB token's user."""
        if identity is not None and identity != alb.sub:
            raise InvalidTokenError("the x-amzn-oidc-identity header does not match the token")
