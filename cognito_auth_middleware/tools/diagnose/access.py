"""The access token's stages of the diagnosis, as ``access_token_kind`` makes them.

* ``cognito``: the header (RS256, kid), then one stage for the key, the signature and the
  fields (token_use, client_id, exp);
* ``jwt``: the header (RS256 or ES256, kid), then each a stage of its own: the issuer, the
  discovery of the JWKS URL (without ``jwks_url``), the key, its algorithm, the signature and
  the fields (iss, exp, aud when configured, the subject claim);
* ``opaque``: none, as the verifier makes none: the access token is not verified.

Every stage runs the engine's own rule (:mod:`~cognito_auth_middleware.core.claims`, the
:class:`~cognito_auth_middleware.core.key_store.KeyStore`,
:meth:`~cognito_auth_middleware.core.engine.Engine.jwks_location`); only the split into stages
is made here, so the diagnosis cannot drift from what the verifier does.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from cognito_auth_middleware.core.claims import (
    ACCESS,
    HeaderRules,
    VerifiedToken,
    access_record,
    check_access_issuer,
    check_key_algorithm,
    check_signature,
    jwt_access_record,
)
from cognito_auth_middleware.core.key_store import KeyStore
from cognito_auth_middleware.core.keys import FetchResult, KeyFetch, SignatureKey
from cognito_auth_middleware.core.tokens import ParsedToken
from cognito_auth_middleware.drivers.sync import Verifier
from cognito_auth_middleware.exceptions import AuthenticationError

from .report import Check, short

__all__ = ["Stages", "access_stages", "jwks_key", "run_flow"]

#: Yields the checks; returns the verified token, or ``None`` once a check failed.
Stages = Generator[Check, None, VerifiedToken | None]


def access_stages(
    token: ParsedToken, alb: VerifiedToken | None, verifier: Verifier, now: float
) -> Stages:
    """The checks of a decoded access token (``cognito`` or ``jwt``).

    Args:
        token: The decoded access token.
        alb: The verified ALB token, whose issuer names the keys; without it only the
            header is checked.
        verifier: Its settings, key store and fetches are used.
        now: The time to check against.
    """
    rules = HeaderRules(verifier.settings)
    name = f"access header: {' or '.join(rules.access_algorithms)}, kid"
    try:
        kid = rules.check_access(token.header)
    except AuthenticationError as exc:
        yield Check(name, False, exc.message)
        return None
    yield Check(name, True, f"kid {kid}")
    if alb is None:
        return None
    if verifier.settings.access_token_kind == "jwt":  # noqa: S105 (a kind, not a secret)
        return (yield from _jwt_stages(token, kid, alb, verifier, now))
    return (yield from _cognito_stages(token, kid, alb, verifier, now))


def run_flow(
    flow: Generator[KeyFetch, FetchResult, str], fetch: Callable[[str], FetchResult]
) -> str:
    """Run one of the engine's flows to its end, performing each fetch it asks for."""
    try:
        request = next(flow)
        while True:
            request = flow.send(fetch(request.url))
    except StopIteration as done:
        found: str = done.value
        return found


def jwks_key(keys: KeyStore, verifier: Verifier, url: str, kid: str, now: float) -> SignatureKey:
    """The key ``kid`` of the JWKS at ``url``, from ``keys`` or fetched into it as the engine does.

    Raises:
        InvalidTokenError, KeysUnavailableError: as :meth:`KeyStore.accept_jwks` raises them.
    """
    return keys.jwks_key(url, kid, now) or keys.accept_jwks(url, kid, verifier.fetch(url), now)


def _cognito_stages(
    token: ParsedToken, kid: str, alb: VerifiedToken, verifier: Verifier, now: float
) -> Stages:
    name = "access signature and fields (token_use, client_id, exp)"
    try:
        issuer = check_access_issuer(token, alb)
        url = run_flow(verifier.engine.jwks_location(issuer, now), verifier.fetch)
        key = jwks_key(verifier.engine.keys, verifier, url, kid, now)
        check_key_algorithm(token, key, ACCESS)
        check_signature(token, key, ACCESS)
        record = access_record(token, verifier.settings.leeway)
    except AuthenticationError as exc:
        yield Check(name, False, exc.message)
        return None
    yield Check(name, True, f"JWKS {url}")
    return record


def _jwt_stages(
    token: ParsedToken, kid: str, alb: VerifiedToken, verifier: Verifier, now: float
) -> Stages:
    settings = verifier.settings
    discovery = settings.discovery_url
    audience = list(settings.audience)
    fields = ", ".join(["iss", "exp", *(["aud"] if audience else []), settings.subject_claim])
    # Each step names itself before it runs: a failure is reported against the step that raised.
    step = "access issuer is the ALB token's"
    try:
        issuer = check_access_issuer(token, alb)
        yield Check(step, True, issuer)
        step = "discovery of the JWKS URL"
        url = run_flow(verifier.engine.jwks_location(issuer, now), verifier.fetch)
        if discovery is not None:
            yield Check(step, True, f"{discovery}: jwks_uri {url}")
        step = "access key in the provider's JWKS"
        key = jwks_key(verifier.engine.keys, verifier, url, kid, now)
        yield Check(step, True, f"kid {kid} at {url}, key algorithm {key.alg}")
        step = "access key algorithm is the token's"
        check_key_algorithm(token, key, ACCESS)
        yield Check(step, True, key.alg)
        step = "access signature"
        check_signature(token, key, ACCESS)
        yield Check(step, True)
        step = f"access fields ({fields})"
        record = jwt_access_record(
            token, issuer, settings.audience, settings.subject_claim, settings.leeway
        )
    except AuthenticationError as exc:
        yield Check(step, False, exc.message)
        return None
    found = f"aud {short(token.claims.get('aud'))} in {audience}, " if audience else ""
    yield Check(step, True, f"{found}{settings.subject_claim} {short(record.sub)}")
    return record
