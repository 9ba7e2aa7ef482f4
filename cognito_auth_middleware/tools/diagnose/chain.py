"""The diagnosis of one request: the mode, the tokens, the ALB stages, binding, groups, verdict."""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterator, Mapping

from cognito_auth_middleware.core.claims import (
    ACCESS,
    ALB,
    HeaderRules,
    VerifiedToken,
    alb_record,
    check_signature,
)
from cognito_auth_middleware.core.engine import Engine
from cognito_auth_middleware.core.headers import ACCESS_TOKEN, IDENTITY, OIDC_DATA
from cognito_auth_middleware.core.tokens import ParsedToken, parse_token
from cognito_auth_middleware.drivers.sync import Verifier
from cognito_auth_middleware.exceptions import AuthenticationError
from cognito_auth_middleware.settings import Settings
from cognito_auth_middleware.user import User

from .access import access_stages
from .report import Check, describe, when

__all__ = ["diagnose", "read_saved_request"]


def read_saved_request(text: str) -> dict[str, str]:
    """The ALB headers found in a saved request (raw HTTP or ``Name: value`` lines)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() in (OIDC_DATA, ACCESS_TOKEN, IDENTITY):
            found[name.strip().lower()] = value.strip()
    return found


def diagnose(
    headers: Mapping[str, str], verifier: Verifier, *, now: float | None = None
) -> Iterator[str | Check]:
    """Yield lines of description and :class:`Check` results, in order.

    Args:
        headers: The ALB headers (lower-case names), as received.
        verifier: Verifies with the configuration under test; its key fetches are used.
        now: The time to check against (default: now).
    """
    moment = time.time() if now is None else now
    settings = verifier.settings
    opaque = settings.access_token_kind == "opaque"  # noqa: S105 (a kind, not a secret)
    oidc, access, identity = (headers.get(n) for n in (OIDC_DATA, ACCESS_TOKEN, IDENTITY))
    yield from _mode(settings, verifier.engine)
    parsed: dict[str, ParsedToken] = {}
    for label, text in ((ALB, oidc), (ACCESS, access)):
        token = yield from _decode(label, text, opaque=opaque and label == ACCESS)
        if token is not None:
            parsed[label] = token
    verified: dict[str, VerifiedToken] = {}
    if ALB in parsed:
        alb = yield from _alb_stages(parsed[ALB], verifier, moment)
        if alb is not None:
            verified[ALB] = alb
    if ACCESS in parsed:
        record = yield from access_stages(parsed[ACCESS], verified.get(ALB), verifier, moment)
        if record is not None:
            verified[ACCESS] = record
    yield from _time_and_binding_checks(verified, identity, settings, moment)
    yield _groups(parsed, verified, settings, verifier.engine)
    try:
        user = verifier.authenticate(oidc, access, identity)
    except AuthenticationError as exc:
        yield Check("verdict of the verifier", False, f"{exc.code}: {exc.message}")
    else:
        yield Check("verdict of the verifier", True, repr(user))


def _groups_source(engine: Engine) -> str:
    return ALB if engine.groups_from == "oidc_data" else ACCESS


def _mode(settings: Settings, engine: Engine) -> Iterator[str]:
    """What the configuration makes of the headers: the provider and the access-token mode."""
    kind = settings.access_token_kind
    issuer = settings.issuer or f"any Cognito user pool of {settings.region}"
    subject = f", subject_claim={settings.subject_claim!r}" if kind == "jwt" else ""
    yield (
        f"provider: issuer={issuer}, access_token_kind={kind!r}, "
        f"groups_claim={settings.groups_claim!r} (in the {_groups_source(engine)}){subject}"
    )
    algorithms = " or ".join(HeaderRules(settings).access_algorithms)
    if kind == "cognito":
        yield (
            f"  the access token is a Cognito access token ({algorithms}), verified with the "
            "pool's JWKS and bound to the ALB token by issuer, app client and sub"
        )
    elif kind == "jwt":
        keys = settings.jwks_url or f"the jwks_uri of {settings.discovery_url}"
        audience = list(settings.audience) or "any (no audience configured)"
        yield (
            f"  the access token is the provider's JWT ({algorithms}, its key's algorithm), "
            f"verified with the JWKS at {keys}, aud {audience}, and bound to the ALB token "
            f"by its {settings.subject_claim!r} == the ALB token's sub"
        )
    else:
        yield (
            "  the access token is opaque: it is NOT verified and NOT bound to the ALB token; "
            "the ALB token alone says who the user is, and holds the groups"
        )
    pool = f"user_pool_id={settings.user_pool_id}, " if kind == "cognito" else ""
    yield (
        f"configuration: alb_arn={list(settings.alb_arn) or 'NOT SET'}, {pool}"
        f"client_id={list(settings.client_id) or 'any'}, "
        f"region={settings.region}, leeway={settings.leeway:g}s"
    )


def _decode(
    label: str, text: str | None, *, opaque: bool
) -> Generator[str | Check, None, ParsedToken | None]:
    """Describe one header's token; return it decoded, unless it is missing, opaque or bad."""
    if not text:
        yield Check(f"{label} present", False, "header missing")
        return None
    yield describe(label, text)
    if opaque:
        yield "  opaque (access_token_kind='opaque'): not decoded, not verified, not bound"
        return None
    try:
        token = parse_token(text, label)
    except AuthenticationError as exc:
        yield Check(f"{label} is a JWS", False, exc.message)
        return None
    yield f"  header: {json.dumps(token.header, sort_keys=True)}"
    yield f"  claims: {json.dumps(token.claims, sort_keys=True)}"
    for name in ("exp", "nbf", "iat"):
        if name in token.claims:
            yield f"  {name}: {when(token.claims[name])}"
    return token


def _alb_stages(
    token: ParsedToken, verifier: Verifier, now: float
) -> Generator[Check, None, VerifiedToken | None]:
    settings, keys = verifier.settings, verifier.engine.keys
    # Each step names itself before it runs: a failure is reported against the step that raised.
    step = "ALB header: ES256, UUID kid, signer, client, issuer"
    try:
        kid, issuer = HeaderRules(settings).check_alb(token.header)
        yield Check(step, True, f"kid {kid}, issuer {issuer}, signer {token.header['signer']!r}")
        step = "ALB signature and fields"
        url = settings.alb_key_url_for(kid)
        key = keys.alb_key(url, now) or keys.accept_alb(url, verifier.fetch(url), now)
        check_signature(token, key, ALB)
        record = alb_record(token, issuer, settings.leeway)
    except AuthenticationError as exc:
        yield Check(step, False, exc.message)
        return None
    yield Check(step, True, f"key {url}")
    return record


def _time_and_binding_checks(
    verified: Mapping[str, VerifiedToken], identity: str | None, settings: Settings, now: float
) -> Iterator[Check]:
    for label, token in verified.items():
        left = token.not_after - now
        yield Check(
            f"{label} not expired (leeway included)",
            left >= 0,
            f"{abs(left):.0f}s {'left' if left >= 0 else 'ago'}",
        )
        yield Check(f"{label} already valid (nbf/iat)", now >= token.not_before)
    alb = verified.get(ALB)
    if alb is None:
        return
    access = verified.get(ACCESS)
    if access is not None:
        if access.client is not None:  # another provider's JWT names no app client
            yield Check("same client (client == client_id)", alb.client == access.client)
        claim = settings.subject_claim
        cognito = settings.access_token_kind == "cognito"  # noqa: S105 (a kind, not a secret)
        subject = "sub" if cognito else f"ALB token sub == access token {claim}"
        yield Check(f"same user ({subject})", alb.sub == access.sub)
    if identity is not None:
        yield Check("x-amzn-oidc-identity equals sub", identity == alb.sub)


def _groups(
    parsed: Mapping[str, ParsedToken],
    verified: Mapping[str, VerifiedToken],
    settings: Settings,
    engine: Engine,
) -> str:
    """The groups the decoded claims give, read as the engine reads them (``User.from_claims``)."""
    source = _groups_source(engine)
    where = f"groups (claim {settings.groups_claim!r} of the {source})"
    if ALB not in parsed or (source == ACCESS and ACCESS not in parsed):
        return f"{where}: not read (a token could not be decoded)"
    access = parsed[ACCESS].claims if ACCESS in parsed else {}
    try:
        user = User.from_claims(
            parsed[ALB].claims,
            access,
            groups_claim=settings.groups_claim,
            groups_from=engine.groups_from,
        )
    except AuthenticationError as exc:
        return f"{where}: not read ({exc.message})"
    trusted = ALB in verified and (source == ALB or ACCESS in verified)
    return f"{where}: {list(user.groups)!r}" + ("" if trusted else " (as decoded, not verified)")
