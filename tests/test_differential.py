"""Differential test: this package's verdicts against aws-jwt-verify, AWS's own verifier.

What it proves. A few thousand header pairs, all signed for real by the test keys, are verified
at one fixed instant by this package (``Verifier`` with ``leeway=0``) and by aws-jwt-verify
(``AlbJwtVerifier`` and ``CognitoJwtVerifier``, ``graceSeconds: 0``, driven by
``tests/differential/verify.js`` in one Node.js process, with the same keys served on loopback).
The pairs are genuine ones and structure-aware mutations of every header and claim field of both
tokens (wrong JSON types, huge, non-finite and fractional numbers, numbers as strings, times
around now, whitespace, control characters, unicode, long strings, nesting, duplicate keys), of
their JSON text, UTF-8, base64url, padding, segments and signatures. Wherever the verdicts agree,
this package is exactly as strict as AWS's reference on that input. Every disagreement must be
documented: it is filed under the class of the mutation that produced it, and SECURITY.md must
list that class, with its direction and reason, in the table under
``## Differences from aws-jwt-verify``. ``stricter`` means this package refuses what AWS
accepts; ``lenient`` means it accepts what AWS refuses, which deserves the closest reading. AWS's
verdict for a pair is "both tokens accepted": aws-jwt-verify checks each token alone, while this
package also binds the two (same ``sub``, issuer and client, and the identity header), which
is the ``binding`` class. As pyca/cryptography holds its primitives against the Wycheproof
vectors, the reference decides and every deviation is a written decision.

Other OIDC providers. Two more corpora do the same for an ALB in front of a provider other
than Cognito (``FakeOidcProvider``): its ALB tokens carry the provider's issuer, JSON ``true``
for ``email_verified`` and ``preferred_username``, and are mutated as above, and
aws-jwt-verify's ``AlbJwtVerifier`` is configured with that issuer. Google's style has an opaque
access token, and this package ``access_token_kind="opaque"``, so that its verdict rests on the
ALB token alone; Okta's has a JWT access token, mutated too and held against aws-jwt-verify's
``JwtVerifier`` (issuer, audience, JWKS URL), this package with ``access_token_kind="jwt"``.
All corpora share SECURITY.md's table: a row is stale only when no corpus needs it. A
disagreement that is a bug here, reported and awaiting its fix, is listed in ``KNOWN_BUGS``.

Reading a failure. Each failing test names the class, the direction, the count and a few
examples: what was mutated (``alb-payload.exp = 1e+300``), this package's verdict (``accept`` or
the exception and its message) and aws-jwt-verify's for each token. A class missing from
SECURITY.md is either a bug here (fix the package) or a deliberate difference (add a row with
the reason). A documented class whose direction changed, or that no longer occurs, means the
table is stale. Anything other than ``AuthenticationError`` raised by the package is a bug in
its own right (``test_the_package_raises_only_authentication_errors``). Run with ``-s`` to see
the figures. The test skips only when ``node`` is not on PATH; ``./dev test`` installs the
pinned aws-jwt-verify (``npm ci --prefix tests/differential``).

The corpus is deterministic (fixed seed, fixed clock); only the key material and ECDSA's random
nonces differ between runs, and no verdict depends on them.
"""

from __future__ import annotations

import base64
import json
import random
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from cognito_auth_middleware import Settings, Verifier
from cognito_auth_middleware.core.tokens import MAX_TOKEN_LENGTH
from cognito_auth_middleware.exceptions import AuthenticationError
from cognito_auth_middleware.testing import (
    DEFAULT_USER_POOL_ID,
    FakeIdentityProvider,
    FakeOidcProvider,
    KeyServer,
)
from cognito_auth_middleware.testing.providers import SigningKey

ROOT = Path(__file__).resolve().parent.parent
SECURITY_MD = ROOT / "SECURITY.md"
SECTION = "## Differences from aws-jwt-verify"
NODE_DIR = ROOT / "tests" / "differential"
NODE_SCRIPT = NODE_DIR / "verify.js"
REFERENCE_PACKAGE = NODE_DIR / "node_modules" / "aws-jwt-verify" / "package.json"

NOW = 1_800_000_000  # 2027-01-15T08:00:00Z: both verifiers' clock
ISSUED = NOW - 60
ALB_EXP = NOW + 120
ACCESS_EXP = NOW + 3600
SEED = 20261126
SUB = "11111111-2222-3333-4444-555555555555"
OTHER_SUB = "99999999-8888-7777-6666-555555555555"
# Fixed kids (the kit draws random ones), so that every case, not only its verdict, is the same
# on every run; the kid of a Cognito key is base64, that of an ALB key a UUID.
ALB_KID = "5f3c8e2a-9b14-4d6f-a7e0-3c2b1d4e5f60"
RSA_KID = "o4Fd7hH2+Jk0qLs9/XyZ1aBcDeFgHiJkLmNoPqRsTuU="
PROVIDER_KID = "Jt1d0vCkx7XqF2uK9mQp4sLw8nZbR3yHa5eTg6oV0iE"  # an Okta-like kid
PROVIDER_JTI = "AT.3d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a"  # the kit draws a random one
OPAQUE_TOKEN = "ya29.a0AfB_byCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEfGhIjKlMnOp"  # Google's form
ACCEPT = "accept"
TIMES = frozenset({"exp", "nbf", "iat"})
# Claims that aws-jwt-verify's decoder checks alike in every JWT and that this package treats
# alike in both tokens: a mutation of either token's claim is filed under one class.
SHARED_CLAIMS = TIMES | {"sub", "aud", "scope", "jti"}
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
RANDOM_VALUES_PER_FIELD = 6
NODE_TIMEOUT = 50  # seconds; the whole run takes a fraction of that

T = TypeVar("T")
Text = TypeVar("Text", str, bytes)
Pairs = tuple[tuple[str, Any], ...]
Hook = Callable[[str, T], T]  # (part, value) -> value; part is header, payload or signature
Signer = Callable[[bytes], bytes]
ProviderStyle = Literal["okta", "google"]


# --- JSON text, with full control -------------------------------------------------------------


class Raw(str):
    """JSON text written as is: ``1e400``, ``NaN``, a literal the encoder would not produce."""


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()  # as a field value: the field is removed


@dataclass(frozen=True, slots=True)
class Twice:
    """A key written twice in one object, with these two values in this order."""

    first: Any
    last: Any


def dump(value: Any, *, ascii: bool) -> str:
    """JSON text of ``value``; ``Raw`` pieces verbatim, objects as ordered pairs."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return dump_object(tuple(value.items()), ascii=ascii)
    if isinstance(value, list):
        return "[" + ",".join(dump(item, ascii=ascii) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii, allow_nan=False)


def dump_object(pairs: Pairs, *, ascii: bool) -> str:
    members = []
    for name, value in pairs:
        for item in (value.first, value.last) if isinstance(value, Twice) else (value,):
            members.append(f"{json.dumps(name, ensure_ascii=ascii)}:{dump(item, ascii=ascii)}")
    return "{" + ",".join(members) + "}"


def with_field(pairs: Pairs, name: str, value: Any) -> Pairs:
    """``pairs`` with ``name`` replaced in place (appended if new, removed if ``ABSENT``)."""
    if value is ABSENT:
        return tuple(pair for pair in pairs if pair[0] != name)
    if any(key == name for key, _ in pairs):
        return tuple((key, value if key == name else old) for key, old in pairs)
    return (*pairs, (name, value))


# --- Tokens: a draft, rendered with real signatures -----------------------------------------


def _keep(part: str, value: T) -> T:
    return value


def _same(value: T) -> T:
    return value


def b64(data: bytes, *, padded: bool) -> str:
    text = base64.urlsafe_b64encode(data).decode("ascii")
    return text if padded else text.rstrip("=")


@dataclass(frozen=True, slots=True)
class Draft:
    """One token before signing, and the hooks that bend each stage of its encoding.

    The stages: JSON text (``text``), its UTF-8 bytes (``raw``), base64url segments
    (``segment``), then the signature is made over the final ``header.payload`` text and may be
    bent (``signature``) before the whole token is (``token``).
    """

    header: Pairs
    claims: Pairs
    padded: bool
    ascii: bool = False
    text: Hook[str] = _keep
    raw: Hook[bytes] = _keep
    segment: Hook[str] = _keep
    signature: Callable[[bytes], bytes] = _same
    token: Callable[[str], str] = _same

    def set(self, part: str, name: str, value: Any) -> Draft:
        if part == "header":
            return replace(self, header=with_field(self.header, name, value))
        return replace(self, claims=with_field(self.claims, name, value))


def _encode_part(draft: Draft, part: str, pairs: Pairs) -> str:
    text = draft.text(part, dump_object(pairs, ascii=draft.ascii))
    raw = draft.raw(part, text.encode("utf-8", "surrogatepass"))
    return draft.segment(part, b64(raw, padded=draft.padded))


def signing_input(draft: Draft) -> str:
    header = _encode_part(draft, "header", draft.header)
    return f"{header}.{_encode_part(draft, 'payload', draft.claims)}"


def render(draft: Draft, sign: Signer) -> str:
    """The token text, signed over exactly the ``header.payload`` text it carries."""
    text = signing_input(draft)
    signature = draft.signature(sign(text.encode("utf-8", "surrogatepass")))
    return draft.token(f"{text}.{draft.segment('signature', b64(signature, padded=draft.padded))}")


def on(part: str, edit: Callable[[T], T]) -> Hook[T]:
    """A hook applying ``edit`` to one part only."""

    def hook(where: str, value: T) -> T:
        return edit(value) if where == part else value

    return hook


# --- The corpus -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """One header pair; ``label`` is the class a disagreement on it is filed under."""

    label: str
    note: str
    alb: str
    access: str
    identity: str | None = None


@dataclass(frozen=True, slots=True)
class Field:
    """A field of one token, with the value a genuine token carries (or a plausible one)."""

    token: Literal["alb", "access"]
    part: Literal["header", "payload"]
    name: str
    valid: Any
    extra: tuple[Any, ...] = ()  # values worth trying on this field in particular

    @property
    def path(self) -> str:
        return f"{self.token}-{self.part}.{self.name}"

    @property
    def label(self) -> str:
        """The class of the field's disagreements: its path, or a class shared with its kin."""
        if self.part == "payload" and self.name in SHARED_CLAIMS:
            return f"payload.{self.name}"
        if self.part == "header" and self.name in TIMES:
            return f"{self.token}-header.time"
        return self.path


class Corpus:
    """Builds the cases from one identity provider and a seeded random generator."""

    genuine_pairs = 150  # drafted, besides the 20 the testing kit mints
    #: The access token's claim that must equal the ALB token's ``sub``.
    subject = "sub"
    #: The tokens whose fields and encodings are mutated.
    tokens: tuple[Literal["alb", "access"], ...] = ("alb", "access")

    def __init__(self, idp: FakeIdentityProvider, other: FakeIdentityProvider) -> None:
        self.idp = idp
        self.other = other  # a second set of keys: signatures that verify under no trusted key
        self.rng = random.Random(SEED)  # noqa: S311 - a reproducible corpus, not a secret
        self._valid_access = self.access(self.access_draft())
        self._valid_alb = self.alb(self.alb_draft())

    # The genuine tokens, as the ALB and Cognito mint them.

    def alb_draft(self, sub: str = SUB) -> Draft:
        idp = self.idp
        header = (
            ("typ", "JWT"),
            ("kid", idp.alb_kid),
            ("alg", "ES256"),
            ("iss", idp.issuer),
            ("client", idp.client_id),
            ("signer", idp.alb_arn),
            ("exp", ALB_EXP),
        )
        claims = (
            ("sub", sub),
            ("email_verified", "true"),
            ("email", "user@example.com"),
            ("username", sub),
            ("exp", ALB_EXP),
            ("iss", idp.issuer),
        )
        return Draft(header, claims, padded=True)

    def access_draft(self, sub: str = SUB) -> Draft:
        idp = self.idp
        claims = (
            ("sub", sub),
            ("cognito:groups", ["admins", "staff"]),
            ("iss", idp.issuer),
            ("version", 2),
            ("client_id", idp.client_id),
            ("origin_jti", "6b1c9c8e-5a0f-4d53-9a43-0d7f3c1e2b11"),
            ("token_use", "access"),
            ("scope", "openid email"),
            ("auth_time", ISSUED),
            ("exp", ACCESS_EXP),
            ("iat", ISSUED),
            ("jti", "0f5e2d7a-8c41-4b9e-a3f6-5d2c1b0a9e87"),
            ("username", sub),
        )
        return Draft((("kid", idp.rsa_kid), ("alg", "RS256")), claims, padded=False)

    def alb(self, draft: Draft) -> str:
        return render(draft, self.idp.sign_alb)

    def access(self, draft: Draft) -> str:
        return render(draft, self.idp.sign_access)

    def case(
        self,
        label: str,
        note: str,
        *,
        alb: Draft | None = None,
        access: Draft | None = None,
        identity: str | None = None,
    ) -> Case:
        """A pair of the given drafts, a genuine token standing in for the one not given."""
        return Case(
            label,
            note,
            self._valid_alb if alb is None else self.alb(alb),
            self._valid_access if access is None else self.access(access),
            identity,
        )

    def all(self) -> list[Case]:
        return [
            *self.genuine(),
            *self.binding(),
            *(case for field in self.fields() for case in self.field_cases(field)),
            self.alb_without_exp(),
            *(case for token in self.tokens for case in self.token_cases(token)),
        ]

    # Genuine pairs: both verifiers must accept every one.

    def genuine(self) -> Iterator[Case]:
        rng = self.rng
        for index in range(20):  # through the testing kit's own minting
            sub = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            headers = self.idp.headers(
                sub=sub, email=_random_email(rng), groups=_random_groups(rng), now=NOW
            )
            yield Case(
                "valid",
                f"FakeIdentityProvider.headers() #{index}",
                headers["x-amzn-oidc-data"],
                headers["x-amzn-oidc-accesstoken"],
                headers["x-amzn-oidc-identity"] if index % 2 else None,
            )
        for index in range(self.genuine_pairs):
            sub = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            alb = self.alb_draft(sub)
            access = self.access_draft(sub)
            alb_exp = NOW + rng.choice((0, 1, 60, 120, 3600))
            alb = alb.set("header", "exp", alb_exp).set("payload", "exp", alb_exp)
            alb = alb.set("payload", "email", _random_email(rng))
            alb = alb.set("payload", "name", rng.choice(_NAMES))
            alb = replace(alb, padded=rng.random() < 0.8, ascii=rng.random() < 0.5)
            access = access.set("payload", "exp", NOW + rng.choice((0, 1, 3600)))
            access = access.set("payload", "iat", NOW - rng.choice((0, 1, 300)))
            alb, access = self.with_groups(alb, access, _random_groups(rng))
            access = replace(access, ascii=rng.random() < 0.5)
            identity = sub if rng.random() < 0.5 else None
            yield self.case(
                "valid", f"genuine pair #{index}", alb=alb, access=access, identity=identity
            )

    def with_groups(self, alb: Draft, access: Draft, groups: list[str]) -> tuple[Draft, Draft]:
        """The pair with ``groups`` where the provider puts them (none: no such claim)."""
        return alb, access.set("payload", "cognito:groups", groups or ABSENT)

    # Pairs whose tokens are each valid but do not belong together.

    def binding(self) -> Iterator[Case]:
        yield from self.subject_binding()
        client = self.access_draft().set("payload", "client_id", "otherclient0123456789")
        yield self.case("binding", "access client_id of another client", access=client)
        yield from self.identity_binding()

    def subject_binding(self) -> Iterator[Case]:
        subject = self.subject
        for other in (OTHER_SUB, SUB + " ", ""):
            access = self.access_draft(other)
            yield self.case("binding", f"access {subject} {other!r}", access=access)
        yield self.case(
            "binding",
            f"ALB sub 'ann', access {subject} 'Ann'",
            alb=self.alb_draft("ann"),
            access=self.access_draft("Ann"),
        )

    def identity_binding(self) -> Iterator[Case]:
        alb = self.alb_draft()
        for identity in (OTHER_SUB, "", SUB + " ", SUB.upper(), SUB):
            yield self.case("binding", f"identity header {identity!r}", alb=alb, identity=identity)

    # Every field of both tokens, one mutation at a time.

    def issuer_variants(self) -> tuple[str, ...]:
        """Issuers close to the configured one, to try on every ``iss``."""
        issuer = self.idp.issuer
        global_issuer = issuer.replace("://cognito-idp.", "://issuer-cognito-idp.")
        return global_issuer, issuer + "/", issuer.replace("TestPool1", "Other")

    def fields(self) -> list[Field]:
        idp = self.idp
        issuers = self.issuer_variants()
        arn = idp.alb_arn
        return [
            Field("alb", "header", "alg", "ES256", ("RS256", "ES384", "none", "es256", "HS256")),
            Field("alb", "header", "kid", idp.alb_kid, _kid_variants(idp.alb_kid)),
            Field("alb", "header", "signer", arn, (arn.rsplit("/", 1)[0] + "/ffffffffffffffff",)),
            Field("alb", "header", "client", idp.client_id),
            Field("alb", "header", "iss", idp.issuer, issuers),
            Field("alb", "header", "exp", ALB_EXP),
            Field("alb", "header", "typ", "JWT"),
            Field("alb", "header", "nbf", ISSUED),
            Field("alb", "header", "iat", ISSUED),
            Field("alb", "header", "x", "extension"),
            Field("alb", "payload", "sub", SUB),
            Field("alb", "payload", "email_verified", "true", ("yes", "false", "TRUE", "1")),
            Field("alb", "payload", "email", "user@example.com"),
            Field("alb", "payload", "username", SUB),
            Field("alb", "payload", "name", "Ann Example"),
            Field("alb", "payload", "given_name", "Ann"),
            Field("alb", "payload", "family_name", "Example"),
            Field("alb", "payload", "exp", ALB_EXP),
            Field("alb", "payload", "iss", idp.issuer, issuers),
            Field("alb", "payload", "nbf", ISSUED),
            Field("alb", "payload", "iat", ISSUED),
            Field("alb", "payload", "aud", idp.client_id),
            Field("alb", "payload", "scope", "openid"),
            Field("alb", "payload", "jti", "2c4d6e8f-1a3b-4c5d-8e7f-9a0b1c2d3e4f"),
            Field("alb", "payload", "identities", '[{"providerName":"Google"}]'),
            Field("alb", "payload", "x", "extension"),
            Field("access", "header", "alg", "RS256", ("RS384", "RS512", "ES256", "none", "PS256")),
            Field("access", "header", "kid", idp.rsa_kid, (idp.rsa_kid + "\n", idp.alb_kid)),
            Field("access", "header", "typ", "JWT"),
            Field("access", "header", "x", "extension"),
            Field("access", "payload", "sub", SUB),
            Field("access", "payload", "iss", idp.issuer, issuers),
            Field("access", "payload", "client_id", idp.client_id),
            Field("access", "payload", "token_use", "access", ("id", "refresh", "Access")),
            Field("access", "payload", "exp", ACCESS_EXP),
            Field("access", "payload", "iat", ISSUED),
            Field("access", "payload", "nbf", ISSUED),
            Field("access", "payload", "auth_time", ISSUED),
            Field("access", "payload", "cognito:groups", ["admins", "staff"]),
            Field("access", "payload", "username", SUB),
            Field("access", "payload", "scope", "openid email"),
            Field("access", "payload", "jti", "0f5e2d7a-8c41-4b9e-a3f6-5d2c1b0a9e87"),
            Field("access", "payload", "origin_jti", "6b1c9c8e-5a0f-4d53-9a43-0d7f3c1e2b11"),
            Field("access", "payload", "aud", idp.client_id),
            Field("access", "payload", "version", 2),
            Field("access", "payload", "x", "extension"),
        ]

    def field_cases(self, field: Field) -> Iterator[Case]:
        values = [*hostile_values(field.valid), *field.extra]
        values += [random_json(self.rng) for _ in range(RANDOM_VALUES_PER_FIELD)]
        for value in _unique(values):
            yield self.field_case(field, value)

    def field_case(self, field: Field, value: Any) -> Case:
        note = f"{field.path} = {_show(value)}"
        base = self.alb_draft() if field.token == "alb" else self.access_draft()
        mutated = base.set(field.part, field.name, value)
        other: Draft | None = None
        binds = "sub" if field.token == "alb" else self.subject
        if field.name == binds and isinstance(sub := _effective(value), str):
            # Keep the pair bound, so that the case tests the value and not the binding.
            other = (self.access_draft if field.token == "alb" else self.alb_draft)(sub)
        if field.token == "alb":
            return self.case(field.label, note, alb=mutated, access=other)
        return self.case(field.label, note, alb=other, access=mutated)

    def alb_without_exp(self) -> Case:
        # The ALB carries exp in the header and the payload: a field mutation removes only one.
        draft = self.alb_draft().set("header", "exp", ABSENT).set("payload", "exp", ABSENT)
        return self.case("payload.exp", "alb-header.exp and alb-payload.exp = <absent>", alb=draft)

    # The encoding of each token: JSON text, UTF-8, base64url, padding, segments, signature.

    def token_cases(self, token: Literal["alb", "access"]) -> Iterator[Case]:
        base = self.alb_draft() if token == "alb" else self.access_draft()
        groups = {
            "json": json_text_mutations(base),
            "utf8": utf8_mutations(base),
            "base64": base64_mutations(base),
            "padding": padding_mutations(base),
            "padding-excess": excess_padding_mutations(base),
            "segments": segment_mutations(base),
            "signature": self.signature_mutations(token, base),
            "length": length_mutations(base),
            "nesting": nesting_mutations(base),
        }
        for group, mutations in groups.items():
            label = f"token.{group}"  # one class for both tokens: the reason is the same
            for note, draft in mutations:
                alb, access = (draft, None) if token == "alb" else (None, draft)
                yield self.case(label, f"{label}, {token} token: {note}", alb=alb, access=access)

    def signature_mutations(
        self, token: Literal["alb", "access"], base: Draft
    ) -> Iterator[tuple[str, Draft]]:
        other_sign = self.other.sign_alb if token == "alb" else self.other.sign_access
        edits: dict[str, Callable[[bytes], bytes]] = {
            "first bit flipped": lambda sig: bytes([sig[0] ^ 0x80]) + sig[1:],
            "last bit flipped": lambda sig: sig[:-1] + bytes([sig[-1] ^ 1]),
            "last byte dropped": lambda sig: sig[:-1],
            "zero byte appended": lambda sig: sig + b"\0",
            "zero byte prepended": lambda sig: b"\0" + sig,
            "empty": lambda sig: b"",
            "all zeros": lambda sig: bytes(len(sig)),
            "doubled": lambda sig: sig + sig,
            "made by another key": lambda sig: other_sign(b"any input"),
        }
        if token == "alb":
            edits.update(_ecdsa_edits())
        for note, edit in edits.items():
            yield note, replace(base, signature=edit)
        if token == "access":
            yield "leading zero byte stripped", self._rsa_signature_with_leading_zero(base)
        genuine = _signature_bytes(self.alb(base) if token == "alb" else self.access(base))
        changed = base.set("payload", "x", "changed after signing")
        yield "payload changed after signing", replace(changed, signature=lambda sig: genuine)

    def _rsa_signature_with_leading_zero(self, base: Draft) -> Draft:
        # An RSA signature is an integer of the modulus' size; one in 256 starts with a zero
        # byte, which a lenient decoder might let go missing. PKCS#1 v1.5 is deterministic, so
        # vary a claim until it happens, then drop that byte.
        for attempt in range(5000):
            draft = base.set("payload", "x", f"attempt {attempt}")
            if self.idp.sign_access(signing_input(draft).encode())[0] == 0:
                return replace(draft, signature=lambda sig: sig[1:])
        raise AssertionError("no RSA signature with a leading zero byte in 5000 attempts")


class ProviderCorpus(Corpus):
    """The cases for an ALB in front of another OIDC provider, minted as ``FakeOidcProvider`` does.

    The ALB token is shaped as the kit mints it (the provider's issuer, JSON ``true`` for
    ``email_verified``, ``preferred_username``) and mutated as Cognito's is. An opaque access
    token (Google's) is the same genuine string in every pair, so that this package's verdict
    rests on the ALB token alone; a JWT one (Okta's) is mutated too.
    """

    genuine_pairs = 50

    def __init__(self, idp: FakeOidcProvider, other: FakeOidcProvider) -> None:
        self.provider = idp
        self.subject = idp.settings().get("subject_claim", "sub")
        self.tokens = ("alb",) if idp.opaque else ("alb", "access")
        super().__init__(idp, other)

    def alb_draft(self, sub: str = SUB) -> Draft:
        header, claims = self.provider.alb_fields(sub=sub, ttl=ALB_EXP - NOW, now=NOW)
        claims |= {"email": "user@example.com", "preferred_username": "ann"}
        return Draft(tuple(header.items()), tuple(claims.items()), padded=True)

    def access_draft(self, sub: str = SUB) -> Draft:
        header, claims = self.provider.access_fields(sub=sub, ttl=ACCESS_EXP - ISSUED, now=ISSUED)
        claims["jti"] = PROVIDER_JTI
        return Draft(tuple(header.items()), tuple(claims.items()), padded=False)

    def access(self, draft: Draft) -> str:
        return OPAQUE_TOKEN if self.provider.opaque else super().access(draft)

    def with_groups(self, alb: Draft, access: Draft, groups: list[str]) -> tuple[Draft, Draft]:
        claim = self.provider.groups_claim
        if self.provider.opaque:  # the provider's userinfo carries them, so the ALB token does
            return alb.set("payload", claim, groups or ABSENT), access
        return alb, access.set("payload", claim, groups or ABSENT)

    def binding(self) -> Iterator[Case]:
        # Nothing binds an opaque access token; a JWT one names no app client.
        if not self.provider.opaque:
            yield from self.subject_binding()
        yield from self.identity_binding()

    def issuer_variants(self) -> tuple[str, ...]:
        issuer = self.provider.issuer
        scheme, rest = issuer.split("://", 1)
        host, _, path = rest.partition("/")
        cognito = f"https://cognito-idp.{self.idp.region}.amazonaws.com/{DEFAULT_USER_POOL_ID}"
        return (
            issuer + "/",
            rest,  # Google's ID tokens may name it without the scheme
            f"http://{rest}",
            f"{scheme}://{host.upper()}/{path}".rstrip("/"),
            issuer + "/v2.0",
            cognito,  # a Cognito pool's, to a verifier configured for another provider
        )

    def fields(self) -> list[Field]:
        provider = self.provider
        # The ALB token's fields as for Cognito, with the provider's userinfo claims.
        alb = [
            field
            for field in super().fields()
            if field.token == "alb" and field.name not in ("email_verified", "username")
        ]
        alb += [
            Field("alb", "payload", "email_verified", True, ("true", "false", "True", 1)),
            Field("alb", "payload", "preferred_username", "ann"),
        ]
        if provider.opaque:
            return [*alb, Field("alb", "payload", provider.groups_claim, ["admins", "staff"])]
        return [*alb, *self.jwt_access_fields()]

    def jwt_access_fields(self) -> list[Field]:
        """The fields of an Okta access token (a custom authorisation server's)."""
        provider = self.provider
        _, claims = provider.access_fields(sub=SUB, ttl=ACCESS_EXP - ISSUED, now=ISSUED)
        audience = provider.audience
        return [
            Field("access", "header", "alg", "RS256", ("RS384", "ES256", "none", "PS256", "HS256")),
            Field("access", "header", "kid", PROVIDER_KID, (PROVIDER_KID + "\n", ALB_KID)),
            Field("access", "header", "typ", "JWT", ("at+jwt", "application/at+jwt")),
            Field("access", "header", "x", "extension"),
            Field("access", "payload", "iss", provider.issuer, self.issuer_variants()),
            Field("access", "payload", "aud", audience, ([audience, "x"], ["x"], "api://other")),
            Field("access", "payload", "cid", provider.client_id),
            Field("access", "payload", "uid", SUB),
            Field("access", "payload", "sub", claims["sub"]),
            Field("access", "payload", "scp", claims["scp"]),
            Field("access", "payload", "exp", ACCESS_EXP),
            Field("access", "payload", "iat", ISSUED),
            Field("access", "payload", "nbf", ISSUED),
            Field("access", "payload", "jti", PROVIDER_JTI),
            Field("access", "payload", "ver", claims["ver"]),
            Field("access", "payload", provider.groups_claim, ["admins", "staff"]),
            Field("access", "payload", "x", "extension"),
        ]


def length_mutations(base: Draft) -> Iterator[tuple[str, Draft]]:
    """Tokens right at the package's length limit, one character over it, and twice as long."""
    size = 64 if base.padded else 256  # ES256 and RS256 signature sizes; rendered unsigned

    def length(filler: int) -> int:
        return len(render(base.set("payload", "x", "a" * filler), lambda _: bytes(size)))

    for limit in (MAX_TOKEN_LENGTH, 2 * MAX_TOKEN_LENGTH):
        filler = (limit - length(0)) * 3 // 4 - 8
        while length(filler + 1) <= limit:
            filler += 1
        for n in (filler, filler + 1):  # the longest token within the limit, the shortest over
            yield f"{length(n)} characters", base.set("payload", "x", "a" * n)


# --- Values for one field -------------------------------------------------------------------


def hostile_values(valid: Any) -> list[Any]:
    """Absence, null, every JSON type, and variants of the valid value's own type."""
    values: list[Any] = [ABSENT, None, True, False, [], [valid], {}, {"value": valid}]
    values.append(Raw("[" * 40 + json.dumps(valid) + "]" * 40))
    if isinstance(valid, str):
        values += _text_values(valid)
        values += [Twice(valid + "x", valid), Twice(valid, valid + "x")]
    elif isinstance(valid, int):
        values += _number_values(valid)
        values += [Twice(NOW - 3600, valid), Twice(valid, NOW - 3600)]
    else:
        values += _list_values(valid)
        values += [Twice("x", valid), Twice(valid, "x")]
    return values


def _text_values(valid: str) -> list[Any]:
    escaped = Raw('"' + "".join(f"\\u{ord(char):04x}" for char in valid) + '"')
    return [
        0,
        1,
        -1,
        1.5,
        10**400,
        Raw("1e400"),
        "",
        " ",
        valid + " ",
        " " + valid,
        valid + "\n",
        "\t" + valid,
        valid + "\x00",
        valid + "\u200b",
        "\u202e" + valid,
        valid.upper(),
        valid.lower(),
        valid[:-1],
        valid + "x",
        valid + valid,
        valid.replace("e", "\u0435"),  # a Cyrillic look-alike
        escaped,  # the same string, every character escaped: both parsers must read it so
        Raw('"\\ud800"'),
        "\x01\x1f\x7f",
        "\U0001f600" * 3,
        "x" * 5000,
        str(NOW),
    ]


def _number_values(valid: int) -> list[Any]:
    return [
        str(valid),
        Raw(f'"{valid}"'),
        "x",
        "",
        10**400,
        -(10**400),
        Raw("1e400"),
        Raw("-1e400"),
        Raw("1E400"),
        1e300,
        -1e300,
        2**53 + 1,
        2**63,
        2**64,
        253_402_300_799,
        253_402_300_800,
        -1,
        0,
        Raw("-0"),
        0.5,
        Raw(f"{valid}.0"),
        Raw(f"{valid}e0"),
        Raw(f"{valid / 1e9}e9"),
        valid + 0.25,
        NOW - 3600,
        NOW - 1,
        NOW - 0.5,
        NOW - 1e-6,
        NOW,
        NOW + 1e-6,
        NOW + 0.5,
        NOW + 1,
        NOW + 3600,
    ]


def _list_values(valid: list[str]) -> list[Any]:
    return [
        valid[0],
        "",
        1,
        [1],
        [None],
        [valid],
        [""],
        ["a" * 5000],
        valid + valid,
        [valid[0], 1],
        [{"group": valid[0]}],
        [" " + valid[0]],
        [valid[0].upper()],
        {"0": valid[0]},
    ]


def _kid_variants(kid: str) -> tuple[str, ...]:
    return (
        kid.upper(),
        kid + "\n",
        "\n" + kid,
        kid.replace("-", ""),
        "{" + kid + "}",
        f"urn:uuid:{kid}",
        "../" + kid,
        kid[:-1] + "%41",
        str(uuid.UUID(int=1)),
    )


_TEXT_ALPHABET = 'abcXYZ019 _-.:/@"\\\x00\x1f\x7f\u00e9\u2028\u4e2d\U0001f600'


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """An arbitrary JSON value (seeded): the property-test generator's kind of value."""
    kind = rng.choice(
        ("null", "bool", "int", "float", "str") + (("list", "dict") if depth < 2 else ())
    )
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice((rng.randint(-(2**70), 2**70), NOW + rng.randint(-100, 100), 10**400))
    if kind == "float":
        return rng.choice((rng.uniform(-1e10, 1e10), NOW + rng.random(), 1e-300))
    if kind == "str":
        return "".join(rng.choice(_TEXT_ALPHABET) for _ in range(rng.randint(0, 12)))
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}": random_json(rng, depth + 1) for i in range(rng.randint(0, 3))}


def _effective(value: Any) -> Any:
    """The value a parser keeps: the last of a duplicated key."""
    return value.last if isinstance(value, Twice) else value


def _unique(values: Sequence[Any]) -> list[Any]:
    seen: set[str] = set()
    kept = []
    for value in values:
        key = f"{type(value).__name__}:{_show(value, limit=None)}"
        if key not in seen:
            seen.add(key)
            kept.append(value)
    return kept


def _show(value: Any, limit: int | None = 60) -> str:
    if value is ABSENT:
        text = "<absent>"
    elif isinstance(value, Twice):
        text = f"{_show(value.first, limit)} then {_show(value.last, limit)} (duplicate key)"
    else:
        text = dump(value, ascii=True)
    return text if limit is None or len(text) <= limit else text[:limit] + f"...({len(text)})"


_NAMES = ("Ann Example", "Jörg Müller", "李小龍", "O'Brien", "", "A" * 300, "Zoë\u200d")


def _random_email(rng: random.Random) -> str:
    local = rng.choice(("ann", "jörg", "li.wei", "o'brien", "a+tag", "UPPER"))
    return f"{local}{rng.randint(0, 999)}@{rng.choice(('example.com', 'exämple.org'))}"


def _random_groups(rng: random.Random) -> list[str]:
    return rng.sample(("admins", "staff", "users", "ops", "délégués"), rng.randint(0, 3))


# --- Mutations of a token's encoding --------------------------------------------------------


_JSON_SPACE = (" ", "\t", "\n", "\r", " \t\r\n")
_NOT_JSON_SPACE = ("\f", "\v", "\x00", "\x1c", "\x85", "\xa0", "\u2028", "\u3000", "\ufeff")
_ODD_LITERALS = (
    "NaN",
    "Infinity",
    "-Infinity",
    "01",
    "+1",
    ".5",
    "1.",
    "0x10",
    "1e",
    "True",
    "undefined",
    "'x'",
    '"\\x41"',
    '"\\u12"',
    '"a\x01b"',
    '"a\tb"',
    '"\\udc00\\ud800"',
    "[1,]",
    '{"a":1,}',
    "1" + "0" * 5000,
)


def _prepend(prefix: Text) -> Callable[[Text], Text]:
    return lambda value: prefix + value


def _append(suffix: Text) -> Callable[[Text], Text]:
    return lambda value: value + suffix


def _member(literal: Text) -> Callable[[Text], Text]:
    """Add ``"x": literal`` (JSON text, or bytes) as the object's last member."""
    if isinstance(literal, bytes):
        return lambda raw: raw[:-1] + b',"x":' + literal + b"}"
    return lambda text: text[:-1] + ',"x":' + literal + "}"


def _constant(text: str) -> Callable[[str], str]:
    return lambda _: text


def _put(char: str) -> Callable[[str], str]:
    """Overwrite the fifth character."""
    return lambda segment: segment[:4] + char + segment[5:]


def _text_edits() -> Iterator[tuple[str, Callable[[str], str]]]:
    for space in _JSON_SPACE + _NOT_JSON_SPACE:
        yield f"{space!r} before", _prepend(space)
        yield f"{space!r} after", _append(space)
    yield "JSON whitespace around both", lambda text: " \n" + text + "\r\n\t"
    yield "whitespace between tokens", lambda text: text.replace(",", " ,\n ").replace(":", " : ")
    for tail in ("x", "{}", "]", ",", "null", "\\"):
        yield f"{tail!r} after the object", _append(tail)
    yield "object twice", lambda text: text + text
    yield "last brace missing", lambda text: text[:-1]
    for literal in _ODD_LITERALS:
        yield f"extra member x = {literal[:20]!r}", _member(literal)
    yield "trailing comma", lambda text: text[:-1] + ",}"
    yield "comment", lambda text: "/**/" + text
    yield "single-quoted key", lambda text: text[:-1] + ",'x':1}"
    yield "unquoted key", lambda text: text[:-1] + ",x:1}"
    yield "every key's first letter escaped", _escape_keys
    yield "__proto__ member", lambda text: text[:-1] + ',"__proto__":{"sub":"x","exp":1}}'
    yield "constructor member", lambda text: text[:-1] + ',"constructor":{"sub":"x"}}'
    for whole in ("{}", "[]", "null", '"x"', "1", "", "true"):
        yield f"replaced by {whole!r}", _constant(whole)
    yield "wrapped in an array", lambda text: "[" + text + "]"


def _escape_keys(text: str) -> str:
    return re.sub(r'"([a-z])([a-z_:]*)":', lambda m: f'"\\u{ord(m[1]):04x}{m[2]}":', text)


def json_text_mutations(base: Draft) -> Iterator[tuple[str, Draft]]:
    for part in ("header", "payload"):
        for note, edit in _text_edits():
            yield f"{part} {note}", replace(base, text=on(part, edit))
    yield (
        "every non-ASCII character escaped",
        replace(base.set("payload", "x", "\u00e9\u4e2d\U0001f600\u2028"), ascii=True),
    )


_BYTES = (
    b"\xff",
    b"\xfe",
    b"\x80",
    b"\xc0\xaf",  # overlong "/"
    b"\xe0\x80\xaf",  # overlong, three bytes
    b"\xed\xa0\x80",  # a UTF-16 surrogate, encoded
    b"\xe2\x82",  # truncated sequence
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\xf0\x9f\x98\x80",  # a valid emoji
    b"\xe2\x80\xa8",  # a valid U+2028
)


def utf8_mutations(base: Draft) -> Iterator[tuple[str, Draft]]:
    for part in ("header", "payload"):
        for data in _BYTES:
            edit = _member(b'"' + data + b'"')
            yield f"{part} string holding bytes {data!r}", replace(base, raw=on(part, edit))
        bom = replace(base, raw=on(part, _prepend(b"\xef\xbb\xbf")))
        yield f"{part} with a UTF-8 byte order mark", bom
        yield f"{part} followed by byte 0xff", replace(base, raw=on(part, _append(b"\xff")))


def _lengths(base: Draft) -> Iterator[tuple[str, Draft]]:
    """The draft with filler of three lengths, so each part's segment takes each length mod 4."""
    for size in range(3):
        yield f"filler {size}", base.set("header", "f", "f" * size).set("payload", "f", "f" * size)


def _last_char_bits(segment: str) -> str:
    # Set an unused low bit of the last character (a non-canonical encoding of the same bytes).
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    body = segment.rstrip("=")
    if len(body) % 4 in (2, 3):
        body = body[:-1] + alphabet[alphabet.index(body[-1]) | 1]
    return body + segment[len(segment.rstrip("=")) :]


def _dangling(segment: str) -> str:
    body = segment.rstrip("=")
    return body + "A" if len(body) % 4 == 0 else body


def base64_mutations(base: Draft) -> Iterator[tuple[str, Draft]]:
    edits: dict[str, Callable[[str], str]] = {
        "one dangling character": _dangling,
        "unused bits set in the last character": _last_char_bits,
        "newline inside": lambda s: s[:4] + "\n" + s[4:],
        "space inside": lambda s: s[:4] + " " + s[4:],
        "empty": lambda s: "",
    }
    for char in "+/!%~*\x00\u00e9":
        edits[f"character {char!r} inside"] = _put(char)
    for size, draft in _lengths(base):
        for part in ("header", "payload", "signature"):
            for note, edit in edits.items():
                yield f"{size}, {part}: {note}", replace(draft, segment=on(part, edit))


def _padding_edits() -> dict[str, Callable[[str], str]]:
    def canonical(segment: str) -> str:
        body = segment.rstrip("=")
        return body + "=" * (-len(body) % 4)

    return {
        "unpadded": lambda s: s.rstrip("="),
        "padded": canonical,
        "one '=' too many": lambda s: canonical(s) + "=",
        "two '=' too many": lambda s: canonical(s) + "==",
        "one '=' of two": lambda s: canonical(s)[:-1] if canonical(s).endswith("==") else s,
        "'=' inside": lambda s: s[:4] + "=" + s[4:],
        "'%3D' for '='": lambda s: canonical(s).replace("=", "%3D"),
    }


def padding_mutations(base: Draft) -> Iterator[tuple[str, Draft]]:
    for size, draft in _lengths(base):
        for part in ("header", "payload", "signature"):
            for note, edit in _padding_edits().items():
                yield f"{size}, {part}: {note}", replace(draft, segment=on(part, edit))
    yield "all unpadded", replace(base, padded=not base.padded)


def excess_padding_mutations(base: Draft) -> Iterator[tuple[str, Draft]]:
    """More '=' than base64 ever needs: three, or a whole quad of them."""
    for size, draft in _lengths(base):
        for part in ("header", "payload", "signature"):
            for count in (3, 4):
                edit = _padded_with("=" * count)
                yield f"{size}, {part}: {count} '='", replace(draft, segment=on(part, edit))


def _padded_with(padding: str) -> Callable[[str], str]:
    return lambda segment: segment.rstrip("=") + padding


def segment_mutations(base: Draft) -> Iterator[tuple[str, Draft]]:
    edits: dict[str, Callable[[str], str]] = {
        "trailing dot": lambda t: t + ".",
        "leading dot": lambda t: "." + t,
        "two segments": lambda t: t.rsplit(".", 1)[0],
        "four segments": lambda t: t + ".AAAA",
        "five segments (JWE shape)": lambda t: t + ".AAAA.AAAA",
        "empty segment inserted": lambda t: t.replace(".", "..", 1),
        "leading space": lambda t: " " + t,
        "trailing newline": lambda t: t + "\n",
        "Bearer prefix": lambda t: "Bearer " + t,
        "two tokens joined by a comma": lambda t: t + "," + t,
        "empty": lambda t: "",
    }
    for note, edit in edits.items():
        yield note, replace(base, token=edit)


def nesting_mutations(base: Draft) -> Iterator[tuple[str, Draft]]:
    for depth in (10, 100, 500, 2000, 5000):
        yield f"array nested {depth} deep", base.set("payload", "x", Raw("[" * depth + "]" * depth))
    for depth in (100, 1500):
        nested = Raw('{"a":' * depth + "1" + "}" * depth)
        yield f"object nested {depth} deep", base.set("payload", "x", nested)


def _ecdsa_edits() -> dict[str, Callable[[bytes], bytes]]:
    def split(sig: bytes) -> tuple[int, int]:
        return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")

    def high_s(sig: bytes) -> bytes:
        r, s = split(sig)
        return r.to_bytes(32, "big") + (P256_ORDER - s).to_bytes(32, "big")

    return {
        "DER-encoded": lambda sig: encode_dss_signature(*split(sig)),
        "high S (n - s): the other valid signature": high_s,
        "r and s swapped": lambda sig: sig[32:] + sig[:32],
        "s + n: out of range": lambda sig: (
            sig[:32] + (split(sig)[1] + P256_ORDER).to_bytes(33, "big")
        ),
    }


def _signature_bytes(token: str) -> bytes:
    segment = token.rsplit(".", 1)[1].rstrip("=")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# --- Both verdicts --------------------------------------------------------------------------

CRASH = "CRASH "


def package_verdict(verifier: Verifier, case: Case) -> str:
    """``accept``, the ``AuthenticationError`` raised, or ``CRASH`` and any other exception."""
    try:
        verifier.authenticate(case.alb, case.access, case.identity)
    except AuthenticationError as exc:
        return _printable(f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - a bug; reported with its case by its own test
        return _printable(f"{CRASH}{type(exc).__name__}: {exc}")
    return ACCEPT


def reference_config(idp: FakeIdentityProvider, key_server: KeyServer) -> dict[str, Any]:
    """verify.js's configuration: the same trust, the same instant, AWS's key URLs redirected.

    The AWS URLs are this package's own (its settings without URL overrides), so a mismatch
    with aws-jwt-verify's makes every key fetch fail loudly. The pool's JWKS is also served
    under the global issuer form (``issuer-cognito-idp``), which aws-jwt-verify accepts.
    """
    aws = Settings.load(
        environ={}, alb_arn=idp.alb_arn, user_pool_id=idp.user_pool_id, client_id=idp.client_id
    )
    jwks = aws.jwks_url_for(idp.issuer)
    return {
        "nowMillis": NOW * 1000,
        "albArn": idp.alb_arn,
        "issuer": idp.issuer,
        "clientId": idp.client_id,
        "access": {"kind": "cognito", "userPoolId": idp.user_pool_id},
        "redirects": {
            aws.alb_key_base_url + "/": key_server.alb_key_url + "/",
            jwks: key_server.jwks_url,
            jwks.replace("://cognito-idp.", "://issuer-cognito-idp."): key_server.jwks_url,
        },
    }


def provider_reference_config(idp: FakeOidcProvider, key_server: KeyServer) -> dict[str, Any]:
    """verify.js's configuration for another OIDC provider: ``AlbJwtVerifier`` with its issuer.

    An opaque access token has no verifier; a JWT one is ``JwtVerifier``'s, with the issuer, the
    audience and the JWKS URL (Okta's form, served from the key server's).
    """
    aws = Settings.load(environ={}, **idp.settings())
    redirects = {aws.alb_key_base_url + "/": key_server.alb_key_url + "/"}
    access: dict[str, Any] = {"kind": "opaque"}
    if not idp.opaque:
        jwks = f"{idp.issuer}/v1/keys"
        access = {"kind": "jwt", "issuer": idp.issuer, "audience": idp.audience, "jwksUri": jwks}
        redirects[jwks] = key_server.jwks_url
    return {
        "nowMillis": NOW * 1000,
        "albArn": idp.alb_arn,
        "issuer": idp.issuer,
        "clientId": idp.client_id,
        "access": access,
        "redirects": redirects,
    }


Verdicts = tuple[str, str | None]  # aws-jwt-verify's on the ALB token, and on the access token


def reference_verdicts(node: str, cases: Sequence[Case], config: dict[str, Any]) -> list[Verdicts]:
    """aws-jwt-verify's verdicts, from one run of verify.js (``None``: an opaque access token)."""
    lines = [json.dumps(config)]
    lines += [json.dumps({"id": i, "alb": c.alb, "access": c.access}) for i, c in enumerate(cases)]
    done = subprocess.run(
        [node, str(NODE_SCRIPT)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"{NODE_SCRIPT.name} exited with {done.returncode}:\n{done.stderr[-3000:]}")
    # split("\n"), not splitlines(): messages may hold U+2028, which JSON leaves unescaped.
    answers = [json.loads(line) for line in done.stdout.rstrip("\n").split("\n")]
    assert [answer["id"] for answer in answers] == list(range(len(cases)))
    return [(_printable(answer["alb"]), _optional(answer["access"])) for answer in answers]


def _printable(message: str) -> str:
    # Node's messages may quote token text: a lone surrogate must not break the report.
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


def _optional(message: str | None) -> str | None:
    return None if message is None else _printable(message)


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    ours: str
    aws_alb: str
    aws_access: str | None  # None: an opaque access token, which neither side verifies

    @property
    def crashed(self) -> bool:
        return self.ours.startswith(CRASH)

    @property
    def direction(self) -> str | None:
        """``None`` when the verdicts agree, else ``stricter`` or ``lenient`` (this package)."""
        ours = self.ours == ACCEPT
        if ours == (self.aws_alb == ACCEPT and self.aws_access in (ACCEPT, None)):
            return None
        return "lenient" if ours else "stricter"

    def describe(self) -> str:
        access = "opaque, not verified" if self.aws_access is None else self.aws_access
        return (
            f"{self.case.note}\n      this package:   {self.ours}\n"
            f"      aws-jwt-verify: ALB token {self.aws_alb}; access token {access}"
        )


# --- The documented differences, and the report ---------------------------------------------

_ROW = re.compile(
    r"\|\s*`(?P<label>[^`]+)`\s*\|\s*(?P<direction>stricter|lenient)\s*\|(?P<reason>.*)\|\s*"
)


def documented(markdown: str) -> dict[str, str]:
    """``{class: direction}`` from the rows (with a reason) of SECURITY.md's section."""
    lines = markdown.splitlines()
    if SECTION not in (line.strip() for line in lines):
        return {}
    start = [line.strip() for line in lines].index(SECTION) + 1
    rows: dict[str, str] = {}
    for line in lines[start:]:
        if line.startswith("#"):
            break
        row = _ROW.fullmatch(line.strip())
        if row is not None and row["reason"].strip():
            rows[row["label"]] = row["direction"]
    return rows


def disagreements(results: Sequence[Result]) -> dict[tuple[str, str], list[Result]]:
    """The disagreeing results by ``(class, direction)``; crashes are reported on their own."""
    found: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        if result.direction is not None and not result.crashed:
            found.setdefault((result.case.label, result.direction), []).append(result)
    return dict(sorted(found.items()))


def problems(found: dict[tuple[str, str], list[Result]], table: dict[str, str]) -> list[str]:
    """Undocumented classes, and documented ones of another direction."""
    listed = []
    for (label, direction), results in found.items():
        if table.get(label) != direction:
            why = "not in the table" if label not in table else f"documented as {table[label]}"
            examples = "\n    ".join(result.describe() for result in results[:3])
            listed.append(
                f"`{label}` ({direction}, {len(results)} pairs): {why}; e.g.\n    {examples}"
            )
    return listed


def stale(table: dict[str, str], corpora: Sequence[Sequence[Result]]) -> list[str]:
    """The documented classes no pair of any corpus needs any more."""
    occurring = {label for results in corpora for label, _ in disagreements(results)}
    return [
        f"`{label}` is documented but no pair of that class disagrees: remove its row"
        for label in sorted(set(table) - occurring)
    ]


def summary(
    corpus: str, results: Sequence[Result], found: dict[tuple[str, str], list[Result]]
) -> str:
    version = json.loads(REFERENCE_PACKAGE.read_text())["version"]
    agreeing = [result for result in results if result.direction is None]
    accepted = sum(result.ours == ACCEPT for result in agreeing)
    lines = [
        f"differential against aws-jwt-verify {version}, {CORPORA[corpus]}: "
        f"{len(results)} pairs at t={NOW}",
        f"  agree: {len(agreeing)} (both accept {accepted}, "
        f"both refuse {len(agreeing) - accepted})",
        f"  disagree: {sum(map(len, found.values()))} in {len(found)} classes",
    ]
    for (label, direction), grouped in found.items():
        lines.append(f"    {direction:9} {label:32} {len(grouped):5}  e.g. {grouped[0].case.note}")
    known = [
        f"{direction} {label}"
        for label, direction in found
        if (corpus, label, direction) in KNOWN_BUGS
    ]
    if known:
        lines.append(f"  of which known bugs (KNOWN_BUGS): {', '.join(known)}")
    lines.append(f"  crashes: {sum(result.crashed for result in results)}")
    return "\n".join(lines)


# --- The tests ------------------------------------------------------------------------------

#: The corpora: an ALB in front of a Cognito user pool, and in front of other OIDC providers.
CORPORA = {
    "cognito": "Cognito user pool (CognitoJwtVerifier for the access token)",
    "google": "Google-like provider (opaque access token: the ALB token alone decides)",
    "okta": "Okta-like provider (JwtVerifier for the JWT access token)",
}
#: Disagreements that are bugs of this package, reported and awaiting a fix, by ``(corpus, class,
#: direction)``. The documentation test lets them be; ``test_no_known_bug_remains`` fails while
#: any of them occurs (expected: xfail) and passes once all are fixed, which strict xfail turns
#: into a failure, so that the fix removes its entry here.
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}


def identity_provider() -> FakeIdentityProvider:
    idp = FakeIdentityProvider()
    idp.alb_kid, idp.rsa_kid = ALB_KID, RSA_KID
    return idp


def oidc_provider(style: ProviderStyle) -> FakeOidcProvider:
    idp = FakeOidcProvider(style)
    idp.alb_kid = ALB_KID
    idp.keys = [SigningKey(PROVIDER_KID, key.alg, key.private_key) for key in idp.keys]
    return idp


def compare(
    node: str, cases: Sequence[Case], options: dict[str, Any], config: dict[str, Any]
) -> list[Result]:
    """Both verdicts on every case: this package's with ``options``, verify.js's with ``config``."""
    # Settings from these keywords only: COGNITO_AUTH_* variables must not change verdicts.
    verifier = Verifier(Settings.load(environ={}, **options), clock=lambda: NOW)
    try:
        ours = [package_verdict(verifier, case) for case in cases]
    finally:
        verifier.close()
    theirs = reference_verdicts(node, cases, config)
    return [
        Result(case, verdict, alb, access)
        for case, verdict, (alb, access) in zip(cases, ours, theirs, strict=True)
    ]


def cognito_results(node: str) -> list[Result]:
    idp = identity_provider()
    cases = Corpus(idp, FakeIdentityProvider()).all()
    with KeyServer(idp) as key_server:
        config = reference_config(idp, key_server)
        return compare(node, cases, key_server.settings(leeway=0), config)


def provider_results(node: str, style: ProviderStyle) -> list[Result]:
    idp = oidc_provider(style)
    issuer = idp.issuer
    with KeyServer(idp) as key_server:
        # The key server moves the issuer onto itself for discovery; nothing is discovered here
        # (the JWKS URL is configured), so the provider keeps its own issuer, and the corpus is
        # the same on every run.
        idp.issuer = issuer
        cases = ProviderCorpus(idp, oidc_provider(style)).all()
        options = key_server.settings(leeway=0)
        if not idp.opaque:
            options["jwks_url"] = key_server.jwks_url
        return compare(node, cases, options, provider_reference_config(idp, key_server))


@pytest.fixture(scope="module")
def corpora() -> dict[str, list[Result]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the differential test runs aws-jwt-verify in Node.js")
    if not REFERENCE_PACKAGE.is_file():
        pytest.fail(
            "tests/differential/node_modules is missing: run ./dev test (which installs it) "
            "or npm ci --prefix tests/differential"
        )
    return {
        "cognito": cognito_results(node),
        "google": provider_results(node, "google"),
        "okta": provider_results(node, "okta"),
    }


@pytest.fixture(params=list(CORPORA))
def corpus(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def results(corpora: dict[str, list[Result]], corpus: str) -> list[Result]:
    return corpora[corpus]


def test_the_package_raises_only_authentication_errors(results: list[Result]) -> None:
    crashes = [result for result in results if result.crashed]
    assert not crashes, f"{len(crashes)} pairs crashed the package:\n  " + "\n  ".join(
        result.describe() for result in crashes[:20]
    )


def test_both_verifiers_accept_every_genuine_pair(results: list[Result]) -> None:
    genuine = [result for result in results if result.case.label == "valid"]
    refused = [
        result for result in genuine if result.direction is not None or result.ours != ACCEPT
    ]
    assert genuine
    assert not refused, "genuine pairs refused (by either side):\n  " + "\n  ".join(
        result.describe() for result in refused[:10]
    )


def test_every_disagreement_is_documented_in_security_md(
    corpus: str, results: list[Result]
) -> None:
    found = disagreements(results)
    report = summary(corpus, results, found)
    print(report)
    table = documented(SECURITY_MD.read_text(encoding="utf-8"))
    listed = problems({key: found[key] for key in found if (corpus, *key) not in KNOWN_BUGS}, table)
    where = f"the table under '{SECTION}' in SECURITY.md" + ("" if table else " (none found)")
    assert not listed, (
        f"{report}\n\nDisagreements with aws-jwt-verify that {where} does not document as "
        "they are:\n" + "\n".join(listed)
    )


def test_every_documented_difference_still_occurs(corpora: dict[str, list[Result]]) -> None:
    table = documented(SECURITY_MD.read_text(encoding="utf-8"))
    listed = stale(table, list(corpora.values()))
    assert not listed, f"Stale rows under '{SECTION}' in SECURITY.md:\n" + "\n".join(listed)


@pytest.mark.xfail(bool(KNOWN_BUGS), reason="KNOWN_BUGS awaiting a fix", strict=True)
def test_no_known_bug_remains(corpora: dict[str, list[Result]]) -> None:
    remaining = [
        f"{corpus}: {direction} `{label}`: {reason}"
        for (corpus, label, direction), reason in KNOWN_BUGS.items()
        if (label, direction) in disagreements(corpora[corpus])
    ]
    assert not remaining, "Known bugs of this package:\n" + "\n".join(remaining)
