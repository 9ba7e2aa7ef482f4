"""``cognito-auth-middleware inspect``: explain, check by check, why headers pass or fail.

For debugging a real deployment: it decodes the tokens (printing their header and claims, never
a token in full) and runs each stage of the trust chain with the engine's own checks, reporting
pass or fail with the reason, then the verdict of the real verifier.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cognito_auth_middleware.core.claims import (
    ACCESS,
    ALB,
    MAX_TIMESTAMP,
    HeaderRules,
    VerifiedToken,
    access_record,
    alb_record,
)
from cognito_auth_middleware.core.headers import ACCESS_TOKEN, IDENTITY, OIDC_DATA
from cognito_auth_middleware.core.tokens import ParsedToken, fingerprint, parse_token
from cognito_auth_middleware.drivers.sync import Verifier
from cognito_auth_middleware.exceptions import AuthenticationError

__all__ = ["Check", "diagnose", "read_saved_request", "report"]


@dataclass(frozen=True, slots=True)
class Check:
    """One stage of the trust chain and its outcome."""

    name: str
    passed: bool
    detail: str = ""


def read_saved_request(text: str) -> dict[str, str]:
    """The ALB headers found in a saved request (raw HTTP or ``Name: value`` lines)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() in (OIDC_DATA, ACCESS_TOKEN, IDENTITY):
            found[name.strip().lower()] = value.strip()
    return found


def _when(seconds: object) -> str:
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        if not 0 <= seconds <= MAX_TIMESTAMP:  # no date to show (and fromtimestamp would raise)
            return f"{_short(seconds)} (not a valid time)"
        moment = datetime.datetime.fromtimestamp(float(seconds), tz=datetime.UTC)
        return f"{seconds} ({moment:%Y-%m-%d %H:%M:%S} UTC)"
    return _short(seconds)


def _short(value: object) -> str:
    # A 400-digit number or a long string stays readable (and int's repr has a digit limit).
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge integer"
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(label: str, text: str) -> str:
    return f"{label}: {len(text)} characters, fingerprint {fingerprint(text)}" + (
        ", padded (as the ALB sends it)" if "=" in text else ""
    )


def _stage(name: str, run: Callable[[], str]) -> Check:
    try:
        return Check(name, True, run())
    except AuthenticationError as exc:
        return Check(name, False, exc.message)


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
    rules = HeaderRules(settings)
    keys = verifier.engine.keys
    oidc, access, identity = (headers.get(n) for n in (OIDC_DATA, ACCESS_TOKEN, IDENTITY))
    yield (
        f"configuration: alb_arn={list(settings.alb_arn) or 'NOT SET'}, "
        f"user_pool_id={settings.user_pool_id}, client_id={list(settings.client_id) or 'any'}, "
        f"region={settings.region}, leeway={settings.leeway:g}s"
    )
    parsed: dict[str, ParsedToken] = {}
    verified: dict[str, VerifiedToken] = {}
    for label, text in ((ALB, oidc), (ACCESS, access)):
        if not text:
            yield Check(f"{label} present", False, "header missing")
            continue
        yield _describe(label, text)
        try:
            parsed[label] = parse_token(text, label)
        except AuthenticationError as exc:
            yield Check(f"{label} is a JWS", False, exc.message)
            continue
        yield f"  header: {json.dumps(parsed[label].header, sort_keys=True)}"
        yield f"  claims: {json.dumps(parsed[label].claims, sort_keys=True)}"
        for name in ("exp", "nbf", "iat"):
            if name in parsed[label].claims:
                yield f"  {name}: {_when(parsed[label].claims[name])}"
    if ALB in parsed:
        token = parsed[ALB]

        def alb_header() -> str:
            kid, issuer = rules.check_alb(token.header)
            return f"kid {kid}, issuer {issuer}, signer {token.header['signer']!r}"

        header_check = _stage("ALB header: ES256, UUID kid, signer, client, issuer", alb_header)
        yield header_check
        if header_check.passed:
            kid, issuer = rules.check_alb(token.header)
            url = settings.alb_key_url_for(kid)

            def alb_signature() -> str:
                key = keys.alb_key(url, moment) or keys.accept_alb(url, verifier.fetch(url), moment)
                if not key.verify(token.signing_input, token.signature):
                    raise AuthenticationError("signature does not verify with the ALB key")
                verified[ALB] = alb_record(token, issuer, settings.leeway)
                return f"key {url}"

            yield _stage("ALB signature and fields", alb_signature)
    if ACCESS in parsed:
        token_a = parsed[ACCESS]
        yield _stage(
            "access header: RS256, kid", lambda: "kid " + rules.check_access(token_a.header)
        )
        if ALB in verified:

            def access_signature() -> str:
                issuer = str(verified[ALB].issuer)
                if token_a.claims.get("iss") != issuer:
                    raise AuthenticationError("access token issuer differs from the ALB token's")
                url = settings.jwks_url_for(issuer)
                kid = rules.check_access(token_a.header)
                key = keys.jwks_key(url, kid, moment) or keys.accept_jwks(
                    url, kid, verifier.fetch(url), moment
                )
                if not key.verify(token_a.signing_input, token_a.signature):
                    raise AuthenticationError("signature does not verify with the pool key")
                verified[ACCESS] = access_record(token_a, settings.leeway)
                return f"JWKS {url}"

            yield _stage(
                "access signature and fields (token_use, client_id, exp)", access_signature
            )
    yield from _time_and_binding_checks(verified, identity, moment)
    try:
        user = verifier.authenticate(oidc, access, identity)
    except AuthenticationError as exc:
        yield Check("verdict of the verifier", False, f"{exc.code}: {exc.message}")
    else:
        yield Check("verdict of the verifier", True, repr(user))


def _time_and_binding_checks(
    verified: Mapping[str, VerifiedToken], identity: str | None, now: float
) -> Iterator[Check]:
    for label, token in verified.items():
        left = token.not_after - now
        yield Check(
            f"{label} not expired (leeway included)",
            left >= 0,
            f"{abs(left):.0f}s {'left' if left >= 0 else 'ago'}",
        )
        yield Check(f"{label} already valid (nbf/iat)", now >= token.not_before)
    if len(verified) == 2:
        alb, access = verified[ALB], verified[ACCESS]
        yield Check("same client (client == client_id)", alb.client == access.client)
        yield Check("same user (sub)", alb.sub == access.sub)
        if identity is not None:
            yield Check("x-amzn-oidc-identity equals sub", identity == alb.sub)


def report(lines: Iterator[str | Check], write: Callable[[str], Any] = print) -> bool:
    """Print the diagnosis; return whether every check passed."""
    ok = True
    for line in lines:
        if isinstance(line, Check):
            ok = ok and line.passed
            mark = "PASS" if line.passed else "FAIL"
            write(f"{mark}  {line.name}" + (f": {line.detail}" if line.detail else ""))
        else:
            write(line)
    return ok
