"""Hostile generators for the property tests: JSON values, JSON text, and signed token pairs.

A token is described by a :class:`TokenSpec`: for each of its two JSON segments, the fields that
differ from a genuine token (:data:`MISSING` removes one; ``None`` is JSON ``null``) and the
:class:`Layout` of the text (separators, escaping, whitespace around the object, duplicate
keys). :func:`mint_pair` writes that text and signs it with the provider's real keys, so every
variant gets past the signature to the checks made after it. Values that depend on the provider
(its key ids) are :class:`Around` placeholders; literals no Python value serialises to (``1e400``,
``-0``, a raw newline inside a string) are :class:`Raw`.

Every time is relative to :data:`NOW`, the clock of the verifiers under test.
"""

from __future__ import annotations

import base64
import json
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from hypothesis import strategies as st

from cognito_auth_middleware.testing import (
    DEFAULT_ALB_ARN,
    DEFAULT_CLIENT_ID,
    DEFAULT_SUB,
    DEFAULT_USER_POOL_ID,
    FakeIdentityProvider,
)

__all__ = [
    "ARN",
    "CLIENT",
    "ISSUER",
    "MISSING",
    "NOW",
    "SUB",
    "Around",
    "Layout",
    "Minted",
    "Pair",
    "Part",
    "Raw",
    "TokenSpec",
    "hostile_values",
    "json_text",
    "mint_pair",
    "pairs",
]

NOW = 1_750_000_000
ARN = DEFAULT_ALB_ARN
CLIENT = DEFAULT_CLIENT_ID
SUB = DEFAULT_SUB
ISSUER = f"https://cognito-idp.eu-west-2.amazonaws.com/{DEFAULT_USER_POOL_ID}"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: As a field's value in :attr:`Part.changes`: the field is removed (``None`` writes ``null``).
MISSING: Any = _Missing()


def _short_repr(self: Any) -> str:
    # Failing examples stay readable: only the fields that differ from their defaults.
    shown = [
        f"{f.name}={getattr(self, f.name)!r}"
        for f in fields(self)
        if getattr(self, f.name)
        != (f.default_factory() if callable(f.default_factory) else f.default)
    ]
    return f"{type(self).__name__}({', '.join(shown)})"


def _repr_pretty(self: Any, printer: Any, cycle: bool) -> None:
    # Hypothesis prints dataclasses field by field unless told otherwise.
    printer.text(repr(self))


@dataclass(frozen=True, repr=False)
class Raw:
    """A JSON literal written into the token as is: ``1e400``, ``-0``, ``NaN``, ``"a<LF>b"``."""

    text: str

    __repr__ = _short_repr
    _repr_pretty_ = _repr_pretty


@dataclass(frozen=True, repr=False)
class Around:
    """A provider's key id (``alb_kid`` or ``rsa_kid``), transformed, then prefixed and suffixed."""

    key: Literal["alb_kid", "rsa_kid"]
    prefix: str = ""
    suffix: str = ""
    form: Literal["as is", "upper", "braces", "urn", "no dashes"] = "as is"

    __repr__ = _short_repr
    _repr_pretty_ = _repr_pretty

    def resolve(self, idp: FakeIdentityProvider) -> str:
        kid: str = getattr(idp, self.key)
        kid = {
            "as is": kid,
            "upper": kid.upper(),
            "braces": "{" + kid + "}",
            "urn": "urn:uuid:" + kid,
            "no dashes": kid.replace("-", ""),
        }[self.form]
        return self.prefix + kid + self.suffix


@dataclass(frozen=True, repr=False)
class Layout:
    """How a segment's JSON object is written.

    ``decoys`` are extra ``(key, value, last)`` members: written before the genuine members
    (``last`` false: a last-wins parser reads the genuine value) or after them.
    """

    item_sep: str = ","
    key_sep: str = ":"
    ensure_ascii: bool = True
    before: str = ""
    after: str = ""
    decoys: tuple[tuple[str, Any, bool], ...] = ()

    __repr__ = _short_repr
    _repr_pretty_ = _repr_pretty


@dataclass(frozen=True, repr=False)
class Part:
    """One JSON segment: the fields that differ from the genuine token's, and the layout."""

    changes: dict[str, Any] = field(default_factory=dict)
    layout: Layout = field(default_factory=Layout)

    __repr__ = _short_repr
    _repr_pretty_ = _repr_pretty


@dataclass(frozen=True, repr=False)
class TokenSpec:
    """A token as header and payload :class:`Part`\\ s."""

    header: Part = field(default_factory=Part)
    payload: Part = field(default_factory=Part)

    __repr__ = _short_repr
    _repr_pretty_ = _repr_pretty


@dataclass(frozen=True, repr=False)
class Pair:
    """An ALB token, an access token and the ``x-amzn-oidc-identity`` value (``None``: absent)."""

    alb: TokenSpec = field(default_factory=TokenSpec)
    access: TokenSpec = field(default_factory=TokenSpec)
    identity: str | None = None

    __repr__ = _short_repr
    _repr_pretty_ = _repr_pretty


@dataclass(frozen=True)
class Minted:
    """A signed token: the header value, and the exact JSON bytes of its two segments."""

    text: str
    header: bytes
    payload: bytes


# The genuine tokens, as the ALB and Cognito issue them for SUB at NOW.
GENUINE_ALB_HEADER: dict[str, Any] = {
    "typ": "JWT",
    "kid": Around("alb_kid"),
    "alg": "ES256",
    "iss": ISSUER,
    "client": CLIENT,
    "signer": ARN,
    "exp": NOW + 120,
}
GENUINE_ALB_PAYLOAD: dict[str, Any] = {
    "sub": SUB,
    "email_verified": "true",
    "email": "user@example.com",
    "username": SUB,
    "exp": NOW + 120,
    "iss": ISSUER,
}
GENUINE_ACCESS_HEADER: dict[str, Any] = {"kid": Around("rsa_kid"), "alg": "RS256"}
GENUINE_ACCESS_PAYLOAD: dict[str, Any] = {
    "sub": SUB,
    "iss": ISSUER,
    "client_id": CLIENT,
    "origin_jti": "0b4e4c5a-6f57-4a2b-9d0a-3c8e0f6e7a11",
    "token_use": "access",
    "scope": "openid email",
    "auth_time": NOW - 60,
    "exp": NOW + 3600,
    "iat": NOW - 60,
    "jti": "6a1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
    "username": SUB,
}


def _dump(value: Any, layout: Layout, idp: FakeIdentityProvider | None) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Around):
        if idp is None:
            raise TypeError("an Around value needs the identity provider")
        value = value.resolve(idp)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=layout.ensure_ascii)
    if isinstance(value, list | tuple):
        return "[" + layout.item_sep.join(_dump(item, layout, idp) for item in value) + "]"
    if isinstance(value, dict):
        return _dump_members(value.items(), layout, idp)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _dump_members(members: Any, layout: Layout, idp: FakeIdentityProvider | None) -> str:
    written = (
        _dump(str(key), layout, idp) + layout.key_sep + _dump(value, layout, idp)
        for key, value in members
    )
    return "{" + layout.item_sep.join(written) + "}"


def json_text(value: Any, layout: Layout, idp: FakeIdentityProvider | None = None) -> bytes:
    """``value`` as JSON text in ``layout``, UTF-8 (a lone surrogate stays invalid UTF-8)."""
    if isinstance(value, dict):
        first = [(key, decoy) for key, decoy, last in layout.decoys if not last]
        then = [(key, decoy) for key, decoy, last in layout.decoys if last]
        text = _dump_members([*first, *value.items(), *then], layout, idp)
    else:
        text = _dump(value, layout, idp)
    return (layout.before + text + layout.after).encode("utf-8", "surrogatepass")


def _apply(genuine: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    members = dict(genuine)
    for name, value in changes.items():
        if value is MISSING:
            members.pop(name, None)
        else:
            members[name] = value
    return members


def _b64(data: bytes, *, padded: bool) -> str:
    text = base64.urlsafe_b64encode(data).decode("ascii")
    return text if padded else text.rstrip("=")


def _mint(
    idp: FakeIdentityProvider,
    spec: TokenSpec,
    genuine: tuple[Mapping[str, Any], Mapping[str, Any]],
    *,
    alb: bool,
) -> Minted:
    header = json_text(_apply(genuine[0], spec.header.changes), spec.header.layout, idp)
    payload = json_text(_apply(genuine[1], spec.payload.changes), spec.payload.layout, idp)
    # The ALB pads its segments and signs the padded text; Cognito does not pad.
    signing_input = f"{_b64(header, padded=alb)}.{_b64(payload, padded=alb)}"
    sign = idp.sign_alb if alb else idp.sign_access
    signature = sign(signing_input.encode("ascii"))
    return Minted(f"{signing_input}.{_b64(signature, padded=alb)}", header, payload)


def mint_pair(idp: FakeIdentityProvider, pair: Pair) -> tuple[Minted, Minted]:
    """The ALB token and the access token of ``pair``, signed with ``idp``'s real keys."""
    return (
        _mint(idp, pair.alb, (GENUINE_ALB_HEADER, GENUINE_ALB_PAYLOAD), alb=True),
        _mint(idp, pair.access, (GENUINE_ACCESS_HEADER, GENUINE_ACCESS_PAYLOAD), alb=False),
    )


# --- Hostile JSON values -------------------------------------------------------------------------

# Characters that slip past a careless check (a regex `$` accepts a trailing "\n") or change a
# URL's meaning once the value is put in one.
AFFIXES = (
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "\x00",
    "\x0b",
    "\u2028",
    "\u00a0",
    "\ufeff",
    "%0a",
    "%0A",
    "%00",
    "/../",
    "../",
    "/",
    "?",
    "#",
    ".",
    "x",
    "0",
    "-",
)
SPECIAL_STRINGS = (
    "",
    " ",
    "\n",
    "\t",
    "\r\n",
    "\x00",
    "\x1f",
    "\x7f",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ud800",
    "\udfff",
    "é",
    "日本語",
    "😀",
    "\u202e",
    "null",
    "true",
    "false",
    "True",
    "yes",
    "123",
    " 1 ",
    "1e400",
    "NaN",
    "-0",
    "0x10",
    "١٢٣",
    "a\nb",
    "%0a",
    "../",
    "<script>",
)
# Numbers a JSON parser turns into huge ints, infinities, negative zero or subnormals.
EXTREME_NUMBERS: tuple[Any, ...] = (
    10**400,
    -(10**400),
    10**309,
    -(10**309),
    2**1024,
    2**64,
    2**63,
    -(2**63) - 1,
    2**53 + 1,
    -1,
    0,
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    1e308,
    -1e308,
    5e-324,
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1E+400"),
    Raw("1e-400"),
    Raw("1.7976931348623159e308"),
    Raw("-0"),
    Raw("0e0"),
    Raw("1.0"),
    Raw("-Infinity"),
)
# Literals, some valid JSON and some not (leading zeros, a raw newline in a string, a bare dot).
RAW_LITERALS = (
    "1e400",
    "-1e400",
    "1" + "0" * 400,
    "-1" + "0" * 400,
    "1e-400",
    "-0",
    "-0.0",
    "NaN",
    "Infinity",
    "-Infinity",
    "01",
    "+1",
    ".5",
    "1.",
    "0x10",
    '"a\nb"',
    '"\t"',
    '"\\ud800"',
    '"\\u0000"',
    '{"a":1,"a":2}',
    "[[[[[[[[[[]]]]]]]]]]",
)
EMPTY: tuple[Any, ...] = ([], {}, "", [[]], {"": None}, [None])

long_strings = st.builds(
    operator.mul, st.sampled_from(("a", "é", "\n", "\x00", "😀", "\\")), st.integers(1_000, 5_000)
)
scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(10**400), 10**400),
    st.sampled_from(EXTREME_NUMBERS),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(SPECIAL_STRINGS),
    st.integers().map(str),
    st.floats().map(str),
    long_strings,
    st.sampled_from(RAW_LITERALS).map(Raw),
    st.sampled_from(EMPTY),
)
#: Any JSON value a token could carry, and some that are not JSON at all (see RAW_LITERALS).
hostile_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=5,
)


def variants(correct: str) -> st.SearchStrategy[Any]:
    """``correct`` (often), affixed, re-cased, truncated, doubled, wrapped or emptied."""
    affixes = st.sampled_from(AFFIXES)
    return st.one_of(
        affixes.map(lambda suffix: correct + suffix),
        affixes.map(lambda prefix: prefix + correct),
        st.builds(lambda prefix, suffix: prefix + correct + suffix, affixes, affixes),
        st.sampled_from(
            (correct.upper(), correct.lower(), correct[:-1], correct * 2, [correct], "")
        ),
    )


def trusted(correct: str) -> st.SearchStrategy[Any]:
    """A field the configuration decides: the right value, near misses, or anything."""
    return st.one_of(st.just(correct), variants(correct), hostile_values)


def _at(offset: float, form: str) -> Any:
    value = NOW + offset
    if form == "int":
        return int(value)
    if form == "float":
        return float(value)
    if form == "exponent":
        return Raw(f"{float(value) / 1e9!r}e9")
    return str(value) if form == "string" else f" {value} "


OFFSETS = (-(10**9), -86_400, -3_600, -11, -10, -9, -1, 0, 1, 9, 10, 11, 3_600, 86_400, 10**9)
near_now = st.builds(
    _at,
    st.one_of(st.sampled_from(OFFSETS), st.integers(-(10**7), 10**7), st.floats(-1e7, 1e7)),
    st.sampled_from(("int", "float", "exponent", "string", " string ")),
)
#: ``exp`` / ``nbf`` / ``iat``: times around NOW in several forms, extreme numbers, or anything.
timestamps: st.SearchStrategy[Any] = st.one_of(
    near_now,
    near_now,
    st.sampled_from((None, True, False, "", [], {})),
    st.sampled_from(EXTREME_NUMBERS),
    hostile_values,
)
kid_forms = st.sampled_from(("as is", "upper", "braces", "urn", "no dashes"))


def kids(key: Literal["alb_kid", "rsa_kid"]) -> st.SearchStrategy[Any]:
    """The provider's real kid, variants built around it, other UUIDs, or anything."""
    affixes = st.sampled_from(AFFIXES)
    return st.one_of(
        st.just(Around(key)),
        # What changes a URL once the kid is put in one, after a kid that passes a UUID check.
        st.builds(Around, st.just(key), suffix=st.sampled_from(("\n", " ", "%0a", "/../", "?"))),
        st.builds(Around, st.just(key), suffix=affixes),
        st.builds(Around, st.just(key), prefix=affixes),
        st.builds(Around, st.just(key), form=kid_forms),
        st.builds(Around, st.just(key), affixes, affixes, kid_forms),
        st.uuids().map(str),
        st.uuids().map(lambda value: f"{value}\n"),
        hostile_values,
    )


display = st.one_of(
    st.sampled_from(("alice@example.com", "Alice@Example.COM", "Alice", "alice")),
    st.text(max_size=30),
    hostile_values,
)
email_verified = st.one_of(
    st.sampled_from(
        (True, False, "true", "false", "TRUE", "True", "tRuE", "FALSE", "yes", "no", "1", "0")
    ),
    st.sampled_from((1, 0, " true", "true ", "true\n", "", None, ["true"])),
    hostile_values,
)
groups = st.one_of(
    st.lists(st.text(max_size=10), max_size=3),
    st.lists(scalars, max_size=3),
    hostile_values,
)
subs = st.one_of(st.just(SUB), variants(SUB), st.text(min_size=1, max_size=20), hostile_values)


def _removable(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(values, values, values, st.just(MISSING))


ALB_HEADER_FIELDS = {
    "alg": trusted("ES256"),
    "kid": kids("alb_kid"),
    "signer": trusted(ARN),
    "iss": trusted(ISSUER),
    "client": trusted(CLIENT),
    "exp": timestamps,
    "typ": trusted("JWT"),
}
ALB_PAYLOAD_FIELDS = {
    "sub": subs,
    "exp": timestamps,
    "iss": trusted(ISSUER),
    "nbf": timestamps,
    "iat": timestamps,
    "email": display,
    "email_verified": email_verified,
    "username": display,
    "name": display,
    "given_name": display,
    "family_name": display,
}
ACCESS_HEADER_FIELDS = {"alg": trusted("RS256"), "kid": kids("rsa_kid"), "typ": trusted("JWT")}
ACCESS_PAYLOAD_FIELDS = {
    "sub": subs,
    "iss": trusted(ISSUER),
    "client_id": trusted(CLIENT),
    "token_use": st.one_of(trusted("access"), st.just("id")),
    "exp": timestamps,
    "nbf": timestamps,
    "iat": timestamps,
    "auth_time": timestamps,
    "cognito:groups": groups,
    "username": display,
    "scope": display,
    "jti": display,
    "origin_jti": display,
}
KNOWN_NAMES = frozenset().union(
    ALB_HEADER_FIELDS, ALB_PAYLOAD_FIELDS, ACCESS_HEADER_FIELDS, ACCESS_PAYLOAD_FIELDS
)
# Unknown members, which every verifier must ignore.
extra_names = st.text(max_size=6).filter(lambda name: name not in KNOWN_NAMES)

json_whitespace = st.text(alphabet=" \t\n\r", min_size=1, max_size=3)
# Not JSON whitespace: a parser that strips these accepts text that is not JSON.
other_whitespace = st.sampled_from(("\x0c", "\x0b", "\xa0", "\u2028"))
surroundings = st.one_of(st.just(""), json_whitespace, json_whitespace, other_whitespace)


def layouts(members: Mapping[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Layout]:
    """The compact layout half the time; otherwise spacing, escaping, whitespace and decoys."""
    decoy = st.sampled_from(tuple(members)).flatmap(
        lambda name: st.tuples(st.just(name), members[name], st.booleans())
    )
    return st.one_of(
        st.just(Layout()),
        st.builds(
            Layout,
            item_sep=st.sampled_from((",", ", ", "\n,\t", " ,\r\n")),
            key_sep=st.sampled_from((":", ": ", " :\t", "\n:\n")),
            ensure_ascii=st.booleans(),
            before=surroundings,
            after=surroundings,
            decoys=st.lists(decoy, max_size=2).map(tuple),
        ),
    )


def parts(members: Mapping[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Part]:
    """Genuine, or up to three members changed (or removed, or unknown ones added) and laid out."""
    values = {name: _removable(strategy) for name, strategy in members.items()}
    names = st.one_of(st.sampled_from(tuple(members)), extra_names)
    changes = st.lists(names, unique=True, max_size=3).flatmap(
        lambda chosen: st.fixed_dictionaries(
            {name: values.get(name, hostile_values) for name in chosen}
        )
    )
    # Half the segments are genuine, so that most tokens get far into the checks.
    return st.one_of(st.just(Part()), st.builds(Part, changes, layouts(members)))


def _pair(
    alb: TokenSpec, access: TokenSpec, identity: str | None, sub: Any, identity_is_sub: bool
) -> Pair:
    if sub is not MISSING:  # one unusual sub in both tokens, where neither changes it
        alb = _with_member(alb, "sub", sub)
        access = _with_member(access, "sub", sub)
        if identity_is_sub and isinstance(sub, str):
            identity = sub
    return Pair(alb, access, identity)


def _with_member(spec: TokenSpec, name: str, value: Any) -> TokenSpec:
    if name in spec.payload.changes:
        return spec
    payload = replace(spec.payload, changes={**spec.payload.changes, name: value})
    return replace(spec, payload=payload)


identities = st.one_of(st.none(), st.just(SUB), variants(SUB), st.text(max_size=20))
#: Identity values a WSGI or ASGI client can send as a header (printable ASCII).
header_identities = st.one_of(
    st.none(),
    st.just(SUB),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)


def pairs(identity: st.SearchStrategy[str | None] = identities) -> st.SearchStrategy[Pair]:
    """Signed-token pairs with hostile values in every field of both tokens."""
    return st.builds(
        _pair,
        st.builds(TokenSpec, parts(ALB_HEADER_FIELDS), parts(ALB_PAYLOAD_FIELDS)),
        st.builds(TokenSpec, parts(ACCESS_HEADER_FIELDS), parts(ACCESS_PAYLOAD_FIELDS)),
        identity,
        st.one_of(st.just(MISSING), st.text(min_size=1, max_size=20), subs),
        st.booleans(),
    )
