"""The diagnosis of one request: the mode, the tokens, the signer's stages, groups, verdict.

The signer is the ALB (``x-amzn-oidc-data``, with an access token and the identity header) or,
with ``provider="verified-access"``, a Verified Access instance (``x-amzn-ava-user-context``
alone: no access token, so no access-token stages and no binding). A request carrying
``Authorization: Bearer <JWT>`` and none of the provider's identity headers is a machine
client's: with the ``bearer`` setting it gets the bearer token's stages instead, and without
it a plain statement that the middleware refuses it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterator, Mapping

from cognito_auth_middleware.core.claims import (
    ACCESS,
    ALB,
    BEARER,
    VERIFIED_ACCESS,
    HeaderRules,
    VerifiedToken,
    alb_record,
    check_signature,
    verified_access_record,
)
from cognito_auth_middleware.core.engine import Engine
from cognito_auth_middleware.core.headers import (
    ACCESS_TOKEN,
    IDENTITY,
    OIDC_DATA,
    VERIFIED_ACCESS_CONTEXT,
    bearer_from_environ,
)
from cognito_auth_middleware.core.tokens import ParsedToken, parse_token
from cognito_auth_middleware.drivers.sync import Verifier
from cognito_auth_middleware.exceptions import AuthenticationError
from cognito_auth_middleware.settings import Settings
from cognito_auth_middleware.user import User

from .access import access_stages
from .bearer import bearer_mode, bearer_stages
from .report import Check, describe, short, when

__all__ = ["diagnose", "read_saved_request"]

#: Every identity header a saved request may carry, of either provider.
_IDENTITY_HEADERS = (OIDC_DATA, ACCESS_TOKEN, IDENTITY, VERIFIED_ACCESS_CONTEXT)
#: A machine client's token (``Authorization: Bearer <JWT>``), read with the ``bearer`` setting.
AUTHORIZATION = "authorization"


def read_saved_request(text: str) -> dict[str, str]:
    """The headers inspect reads in a saved request (raw HTTP or ``Name: value`` lines).

    The ALB's ``x-amzn-oidc-*`` headers, Verified Access's ``x-amzn-ava-user-context`` and
    ``Authorization`` (a machine client's bearer token), by lower-case name.
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() in (*_IDENTITY_HEADERS, AUTHORIZATION):
            found[name.strip().lower()] = value.strip()
    return found


def _claims_label(settings: Settings) -> str:
    """The name of the token holding the user's signed claims (as the engine names it)."""
    return VERIFIED_ACCESS if settings.provider == "verified-access" else ALB


def diagnose(
    headers: Mapping[str, str], verifier: Verifier, *, now: float | None = None
) -> Iterator[str | Check]:
    """Yield lines of description and :class:`Check` results, in order.

    Args:
        headers: The identity headers (lower-case names), as received; those of the
            other provider are not read, only pointed out when the expected one is missing.
        verifier: Verifies with the configuration under test; its key fetches are used.
        now: The time to check against (default: now).
    """
    moment = time.time() if now is None else now
    settings = verifier.settings
    opaque = settings.access_token_kind == "opaque"  # noqa: S105 (a kind, not a secret)
    label = _claims_label(settings)
    read = verifier.headers.names  # what the verifier reads: the signed claims first
    claims, access, identity = ([headers.get(name) for name in read] + [None, None])[:3]
    authorization = headers.get(AUTHORIZATION)
    if authorization and _is_bearer(authorization) and not (claims or access or identity):
        yield from _machine_client(authorization, verifier, moment)
        return
    yield from _mode(settings, verifier.engine)
    if authorization:
        yield _authorization_ignored(authorization)
    parsed: dict[str, ParsedToken] = {}
    tokens = ((label, claims), (ACCESS, access)) if label == ALB else ((label, claims),)
    for name, text in tokens:
        token = yield from _decode(name, text, opaque=opaque and name == ACCESS)
        if token is not None:
            parsed[name] = token
        elif not text and name == label:
            yield from _other_provider(headers, read, settings)
    verified: dict[str, VerifiedToken] = {}
    if label in parsed:
        record = yield from _claims_stages(parsed[label], verifier, moment)
        if record is not None:
            verified[label] = record
    if ACCESS in parsed:
        record = yield from access_stages(parsed[ACCESS], verified.get(ALB), verifier, moment)
        if record is not None:
            verified[ACCESS] = record
    yield from _time_and_binding_checks(verified, identity, settings, moment)
    yield _groups(parsed, verified, settings, verifier.engine)
    try:
        user = verifier.authenticate(claims, access, identity)
    except AuthenticationError as exc:
        yield Check("verdict of the verifier", False, f"{exc.code}: {exc.message}")
    else:
        yield Check("verdict of the verifier", True, repr(user))


def _is_bearer(authorization: str) -> bool:
    """Whether ``Authorization`` names the Bearer scheme (a token or, refused, none)."""
    try:
        return bearer_from_environ({"HTTP_AUTHORIZATION": authorization}) is not None
    except AuthenticationError:  # "Bearer" naming no token: the middleware refuses it
        return True


def _authorization_ignored(authorization: str) -> str:
    """Why a person's request's ``Authorization`` header plays no part (never its value)."""
    if _is_bearer(authorization):  # then identity headers came with it
        return (
            "  the request also carries Authorization: Bearer, which the middleware does not "
            "read next to identity headers: this is a person's request"
        )
    return "  the request's Authorization header names another scheme than Bearer: not read"


def _machine_client(authorization: str, verifier: Verifier, now: float) -> Iterator[str | Check]:
    """A request with a bearer token and no identity headers: a machine client's."""
    settings = verifier.settings
    engine = verifier.engine
    yield from (bearer_mode(settings) if settings.bearer else _mode(settings, engine))
    try:
        text = bearer_from_environ({"HTTP_AUTHORIZATION": authorization}) or ""
    except AuthenticationError as exc:  # "Bearer" naming no token
        if settings.bearer:
            yield Check(f"{BEARER} present", False, exc.message)
            return
        text = ""
    token = (yield from _decode(BEARER, text, opaque=False)) if text else None
    if not settings.bearer:
        yield Check(
            "machine clients admitted (bearer)",
            False,
            "the bearer setting is off, so the middleware does not read the Authorization: "
            "Bearer token and, as the request carries no identity headers, refuses it 401; to "
            "admit machine clients, set bearer (--bearer, COGNITO_AUTH_BEARER) and bearer_issuer",
        )
        try:  # what the middleware does with it: the identity headers' verdict
            verifier.authenticate(None, None, None)
        except AuthenticationError as exc:
            yield Check("verdict of the verifier", False, f"{exc.code}: {exc.message}")
        return
    if token is not None:
        record = yield from bearer_stages(token, verifier, now)
        if record is not None:
            yield from _time_and_binding_checks({BEARER: record}, None, settings, now)
    try:
        machine = verifier.authenticate_bearer(text)
    except AuthenticationError as exc:
        yield Check("verdict of the verifier", False, f"{exc.code}: {exc.message}")
    else:
        yield Check("verdict of the verifier", True, repr(machine))


def _other_provider(
    headers: Mapping[str, str], read: tuple[str, ...], settings: Settings
) -> Iterator[str]:
    """A hint when the request carries the other provider's headers: a wrong ``provider``?"""
    others = [name for name in _IDENTITY_HEADERS if name in headers and name not in read]
    if others:
        yield (
            f"  the request carries {', '.join(others)}, which provider={settings.provider!r} "
            f"does not read: is the provider setting right?"
        )


def _groups_source(settings: Settings, engine: Engine) -> str:
    return _claims_label(settings) if engine.groups_from == "oidc_data" else ACCESS


def _mode(settings: Settings, engine: Engine) -> Iterator[str]:
    """What the configuration makes of the headers: the provider and the access-token mode."""
    if settings.provider == "verified-access":
        yield from _verified_access_mode(settings)
        return
    kind = settings.access_token_kind
    issuer = settings.issuer or f"any Cognito user pool of {settings.region}"
    subject = f", subject_claim={settings.subject_claim!r}" if kind == "jwt" else ""
    yield (
        f"provider: issuer={issuer}, access_token_kind={kind!r}, "
        f"groups_claim={settings.groups_claim!r} (in the {_groups_source(settings, engine)})"
        f"{subject}"
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


def _verified_access_mode(settings: Settings) -> Iterator[str]:
    """What ``provider="verified-access"`` makes of the request: one signed header, no more."""
    instances = list(settings.verified_access_instance_arn) or "NOT SET"
    issuer = settings.issuer or "any (not pinned)"
    yield (
        f"provider: verified-access, instance={instances}, issuer={issuer}, "
        f"groups_claim={settings.groups_claim!r} (in the {VERIFIED_ACCESS})"
    )
    yield (
        f"  Verified Access signs the user's claims alone ({VERIFIED_ACCESS_CONTEXT}, ES384): "
        "there is no access token to verify or bind; the token says who the user is and holds "
        "the groups (an OIDC trust provider's; IAM Identity Center sends none)"
    )
    yield (
        f"configuration: keys at {settings.signer_key_base_url}/<kid>, "
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
        elif name in token.header:  # Verified Access puts exp in the header only
            yield f"  {name} (in the header): {when(token.header[name])}"
    return token


def _claims_stages(
    token: ParsedToken, verifier: Verifier, now: float
) -> Generator[Check, None, VerifiedToken | None]:
    """The signed claims' stages: the header's rules, then key, signature and fields."""
    settings, keys = verifier.settings, verifier.engine.keys
    label = _claims_label(settings)
    va = label == VERIFIED_ACCESS
    signer = label.removesuffix(" token")
    # Each step names itself before it runs: a failure is reported against the step that raised.
    step = (
        f"{signer} header: ES384, UUID kid, signer, issuer"
        if va
        else f"{signer} header: ES256, UUID kid, signer, client, issuer"
    )
    try:
        kid, issuer = HeaderRules(settings).check_claims_token(token.header)
        yield Check(step, True, f"kid {kid}, issuer {issuer}, signer {token.header['signer']!r}")
        step = f"{signer} signature and fields"
        url = settings.alb_key_url_for(kid)
        key = keys.alb_key(url, now) or keys.accept_alb(url, verifier.fetch(url), now)
        check_signature(token, key, label)
        if va:
            record = verified_access_record(token, issuer, settings.leeway)
        else:
            record = alb_record(token, issuer, settings.leeway)
    except AuthenticationError as exc:
        yield Check(step, False, exc.message)
        return None
    if not va:
        yield Check(step, True, f"key {url}")
        return record
    # The record's sub came from user.user_id when the payload named none (verified_access_record).
    shape = "an OIDC trust provider's" if "sub" in token.claims else "IAM Identity Center's"
    yield Check(step, True, f"key {url}; {shape} claims, sub {short(record.sub)}")
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
    label = _claims_label(settings)
    source = _groups_source(settings, engine)
    where = f"groups (claim {settings.groups_claim!r} of the {source})"
    if label not in parsed or (source == ACCESS and ACCESS not in parsed):
        return f"{where}: not read (a token could not be decoded)"
    access = parsed[ACCESS].claims if ACCESS in parsed else {}
    # Verified: the claims the engine reads (IAM Identity Center's mapped onto sub, email, ...).
    claims = verified[label].claims if label in verified else parsed[label].claims
    try:
        user = User.from_claims(
            claims,
            access,
            groups_claim=settings.groups_claim,
            groups_from=engine.groups_from,
        )
    except AuthenticationError as exc:
        return f"{where}: not read ({exc.message})"
    trusted = label in verified and (source == label or ACCESS in verified)
    return f"{where}: {list(user.groups)!r}" + ("" if trusted else " (as decoded, not verified)")
