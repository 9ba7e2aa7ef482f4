"""A machine client's stages of the diagnosis: ``Authorization: Bearer <JWT>``, with ``bearer``.

As :meth:`~cognito_auth_middleware.core.engine.Engine.authenticate_bearer` verifies the token,
each rule is a stage of its own: the header (RS256 or ES256, kid), the issuer
(``bearer_issuer``, before any fetch), the discovery of the JWKS URL (without
``bearer_jwks_url``), the key in that JWKS, its algorithm, the signature and the fields
(:func:`~cognito_auth_middleware.core.claims.bearer_record`). The keys go into the engine's
``bearer_keys``, as the verifier's own do; the caller checks the validity window, as for every
token.
"""

from __future__ import annotations

from collections.abc import Iterator

from cognito_auth_middleware.core.claims import (
    BEARER,
    bearer_record,
    check_bearer_header,
    check_bearer_issuer,
    check_key_algorithm,
    check_signature,
)
from cognito_auth_middleware.core.engine import Engine
from cognito_auth_middleware.core.keys import JWT_ALGORITHMS
from cognito_auth_middleware.core.tokens import ParsedToken
from cognito_auth_middleware.drivers.sync import Verifier
from cognito_auth_middleware.exceptions import AuthenticationError
from cognito_auth_middleware.settings import Settings

from .access import Stages, jwks_key, run_flow
from .report import Check, short

__all__ = ["bearer_mode", "bearer_stages"]


def bearer_mode(settings: Settings) -> Iterator[str]:
    """What the ``bearer`` settings make of a request carrying a bearer token and no identity."""
    discovery = settings.bearer_discovery_url
    keys = settings.bearer_jwks_url or f"the jwks_uri of {discovery}"
    admitted = ""
    if settings.bearer_audience:
        admitted += f", bearer_audience={list(settings.bearer_audience)}"
    if settings.bearer_clients:
        admitted += f", bearer_clients={list(settings.bearer_clients)}"
    yield (
        f"machine client (Authorization: Bearer, no identity headers): "
        f"bearer_issuer={settings.bearer_issuer}, JWKS at {keys}{admitted}"
    )
    yield (
        f"  the bearer token ({' or '.join(JWT_ALGORITHMS)}, its key's algorithm) must name "
        "bearer_issuer, is verified with that issuer's keys and becomes a MachineClient "
        "(client id and scopes): never a User, and its scopes are not groups"
    )
    yield f"configuration: leeway={settings.leeway:g}s"


def bearer_stages(token: ParsedToken, verifier: Verifier, now: float) -> Stages:
    """The checks of a decoded bearer token, up to its fields; the record, or ``None``.

    Args:
        token: The decoded bearer token.
        verifier: Its settings, its engine's ``bearer_keys`` and its fetches are used.
        now: The time to check against.
    """
    settings = verifier.settings
    issuer = str(settings.bearer_issuer)
    keys = verifier.engine.bearer_keys
    audience, clients = list(settings.bearer_audience), list(settings.bearer_clients)
    fields = ["exp", "iss", "token_use", *(["aud"] if audience else []), "client", "scopes"]
    # Each step names itself before it runs: a failure is reported against the step that raised.
    step = f"{BEARER} header: {' or '.join(JWT_ALGORITHMS)}, kid"
    try:
        kid = check_bearer_header(token.header)
        yield Check(step, True, f"alg {token.header['alg']}, kid {kid}")
        step = f"{BEARER} issuer is bearer_issuer"
        check_bearer_issuer(token, issuer)
        yield Check(step, True, issuer)
        url = settings.bearer_jwks_url
        if url is None:
            step = "discovery of the JWKS URL"
            # The engine's own discovery (Engine.authenticate_bearer), into its bearer keys.
            url = run_flow(Engine._discovered(issuer, keys, now), verifier.fetch)
            yield Check(step, True, f"{settings.bearer_discovery_url}: jwks_uri {url}")
        step = f"{BEARER} key in the issuer's JWKS"
        key = jwks_key(keys, verifier, url, kid, now)
        yield Check(step, True, f"kid {kid} at {url}, key algorithm {key.alg}")
        step = f"{BEARER} key algorithm is the token's"
        check_key_algorithm(token, key, BEARER)
        yield Check(step, True, key.alg)
        step = f"{BEARER} signature"
        check_signature(token, key, BEARER)
        yield Check(step, True)
        step = f"{BEARER} fields ({', '.join(fields)})"
        record, scopes = bearer_record(token, issuer, audience, clients, settings.leeway)
    except AuthenticationError as exc:
        yield Check(step, False, exc.message)
        return None
    found = [f"client {short(record.client)}" + (f" in {clients}" if clients else "")]
    if audience:
        found.append(f"aud {short(token.claims.get('aud'))} in {audience}")
    if "token_use" in token.claims:
        found.append(f"token_use {short(token.claims['token_use'])}")
    found.append(f"scopes {list(scopes)!r}")
    yield Check(step, True, ", ".join(found))
    return record
