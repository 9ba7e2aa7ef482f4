"""Property-based tests: whatever arrives in the headers, the outcome is a documented one.

Three kinds of input: raw junk (text, base64-shaped segments, unsigned JSON); tokens *signed by
the real keys* whose every field may hold a hostile JSON value (``null``, 400-digit integers,
``NaN``, numbers as strings, control characters, nesting...) and whose JSON text may be laid out
in any valid way (whitespace around the object, duplicate keys, ``1e400``, raw UTF-8) or in an
invalid one; and arbitrary header lists. The properties:

* :class:`Verifier` and :class:`AsyncVerifier` return a ``User`` or raise an
  ``AuthenticationError``, nothing else, and agree with :func:`judge`, a plain restatement of
  the acceptance rules: a pair is accepted only if every rule holds, and is accepted if, in
  addition, it runs into none of the limits listed at :class:`Judgement`;
* a ``User`` carries display fields of the right type or ``None``, whatever the claims held;
* both middlewares answer 200 only for a pair :func:`judge` accepts, and otherwise 401, 403 or
  503: never a 500 (an exception escaping the middleware), never a hang.

``./dev fuzz`` runs these with the long ``fuzz`` profile (see SECURITY.md for its figures). The
``@example``\\ s pin inputs that once got through: a kid of a UUID and a newline (an HTTP client
error, then a 500), times of 10**400 (OverflowError, then a 500), ``nbf``/``iat`` of ``null`` read
as absent, and valid tokens refused for JSON whitespace or an odd display claim.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from cognito_auth_middleware import (
    AsyncVerifier,
    CognitoAuthMiddleware,
    CognitoAuthWSGIMiddleware,
    User,
    Verifier,
)
from cognito_auth_middleware.core.tokens import MAX_TOKEN_LENGTH
from cognito_auth_middleware.exceptions import AuthenticationError
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from tests.strategies import (
    ARN,
    CLIENT,
    ISSUER,
    MISSING,
    NOW,
    SUB,
    Around,
    Layout,
    Minted,
    Pair,
    Part,
    TokenSpec,
    header_identities,
    hostile_values,
    json_text,
    mint_pair,
    pairs,
)

ALLOWED_STATUSES = {200, 401, 403, 503}
END_OF_9999 = 253_402_300_799  # 9999-12-31T23:59:59Z; no genuine token names a later time
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


# --- The oracle ----------------------------------------------------------------------------------


@dataclass
class Judgement:
    """What :func:`judge` found: the rules a pair breaks, and the limits it runs into.

    A pair that breaks no rule must be accepted, unless it runs into a limit: JSON that only
    Python's parser reads (``NaN``), duplicate keys, a time before 1970 or after 9999 (``1e308``,
    ``10**400``, ``1e400``: finite numbers, but no genuine token's), a time within a millisecond
    of a boundary, malformed ``cognito:groups``. Then refusing it is fine too, but accepting it
    is still judged by the rules (``exp`` of ``10**400`` is in the future, ``nbf`` is not).
    """

    broken: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)
    alb_header: dict[str, Any] = field(default_factory=dict)
    alb_claims: dict[str, Any] = field(default_factory=dict)
    access_header: dict[str, Any] = field(default_factory=dict)
    access_claims: dict[str, Any] = field(default_factory=dict)

    def require(self, holds: bool, rule: str) -> None:
        if not holds:
            self.broken.append(rule)

    @property
    def must_accept(self) -> bool:
        return not self.broken and not self.limits


def _read_object(raw: bytes, what: str, judgement: Judgement) -> dict[str, Any]:
    """A segment as RFC 8259 reads it (UTF-8, JSON whitespace allowed), numbers kept exact."""

    def members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in pairs}) < len(pairs):
            judgement.limits.append(f"{what}: duplicate keys (the last one is read)")
        return dict(pairs)

    def constant(name: str) -> float:
        judgement.limits.append(f"{what}: {name} is not JSON")
        return float(name)

    try:
        value = json.loads(
            raw.decode("utf-8"),
            parse_int=int,
            parse_float=Decimal,
            parse_constant=constant,
            object_pairs_hook=members,
        )
    except ValueError:  # UnicodeDecodeError included
        judgement.broken.append(f"{what} is JSON text in UTF-8")
        return {}
    judgement.require(isinstance(value, dict), f"{what} is a JSON object")
    return value if isinstance(value, dict) else {}


def _seconds(value: Any) -> float | None:
    """A JSON number as a double (as JWT libraries read it), ±inf beyond its range; else None."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None  # null, strings, lists... and the floats of NaN / Infinity
    try:
        return float(value)
    except OverflowError:  # an int of 309 digits or more
        return math.inf if value > 0 else -math.inf


def _window(
    judgement: Judgement, label: str, sources: Iterable[dict[str, Any]], leeway: float
) -> None:
    expiries: list[float] = []
    starts: list[float] = []
    for fields in sources:
        for name in ("exp", "nbf", "iat"):
            if name not in fields:
                continue  # absent; JSON null is present, and not a number
            seconds = _seconds(fields[name])
            if seconds is None:
                judgement.broken.append(f"{label}: {name} is a JSON number")
                continue
            if not 0 <= seconds <= END_OF_9999:
                judgement.limits.append(f"{label}: {name} is before 1970 or after 9999")
            (expiries if name == "exp" else starts).append(seconds)
    if not expiries:
        judgement.broken.append(f"{label}: exp is present")
        return
    edges = [min(expiries) + leeway]
    judgement.require(edges[0] >= NOW, f"{label}: exp (+ leeway) is not in the past")
    if starts:
        edges.append(max(starts) - leeway)
        judgement.require(edges[1] <= NOW, f"{label}: nbf and iat (- leeway) are not in the future")
    if any(abs(edge - NOW) < 1e-3 for edge in edges):
        judgement.limits.append(f"{label}: a time within a millisecond of a boundary")


def _registered(j: Judgement, label: str, claims: dict[str, Any]) -> None:
    # As aws-jwt-verify: present scope and jti are strings, aud a string or list of strings.
    for name in ("scope", "jti"):
        j.require(name not in claims or isinstance(claims[name], str), f"{label}: {name} is text")
    aud = claims.get("aud", "")
    good_aud = isinstance(aud, str) or (
        isinstance(aud, list) and all(isinstance(a, str) for a in aud)
    )
    j.require(good_aud, f"{label}: aud is a string or a list of strings")


def judge(
    alb: Minted, access: Minted, identity: str | None, idp: FakeIdentityProvider, leeway: float
) -> Judgement:
    """The acceptance rules of the README, restated as plainly as possible.

    Both tokens are signed by the right keys (the strategies see to that); only their text is
    judged here. Display claims (email, email_verified, username, name, given_name,
    family_name) and unknown members have no rule: no value of theirs may cause a refusal;
    scope, jti and aud, when present, must have their registered types.
    """
    j = Judgement()
    for label, token in (("ALB token", alb), ("access token", access)):
        j.require(len(token.text) <= MAX_TOKEN_LENGTH, f"{label}: within the length cap")
    j.alb_header = ah = _read_object(alb.header, "ALB header", j)
    j.alb_claims = ap = _read_object(alb.payload, "ALB payload", j)
    j.access_header = ch = _read_object(access.header, "access header", j)
    j.access_claims = cp = _read_object(access.payload, "access payload", j)

    j.require(ah.get("alg") == "ES256", "ALB token: alg is ES256")
    j.require(ah.get("kid") == idp.alb_kid, "ALB token: kid is the UUID the key endpoint serves")
    j.require(ah.get("signer") == ARN, "ALB token: signer is the configured ALB")
    j.require(ah.get("client") == CLIENT, "ALB token: client is the configured client")
    j.require(ah.get("iss") == ISSUER, "ALB token: iss is the configured pool")
    j.require(ap.get("iss") == ISSUER, "ALB token: the payload's iss is the same pool")
    sub = ap.get("sub")
    j.require(isinstance(sub, str) and sub != "", "ALB token: sub is a non-empty string")
    _window(j, "ALB token", (ah, ap), leeway)

    j.require(ch.get("alg") == "RS256", "access token: alg is RS256")
    j.require(ch.get("kid") == idp.rsa_kid, "access token: kid is in the pool's JWKS")
    j.require(cp.get("iss") == ISSUER, "access token: iss is the configured pool")
    j.require(cp.get("token_use") == "access", "access token: token_use is access")
    j.require(cp.get("client_id") == CLIENT, "access token: client_id is the ALB token's client")
    j.require("sub" in cp and cp["sub"] == sub, "access token: sub is the ALB token's sub")
    _window(j, "access token", (cp,), leeway)

    for label, claims in (("ALB token", ap), ("access token", cp)):
        _registered(j, label, claims)
    j.require(identity is None or identity == sub, "x-amzn-oidc-identity is the sub")
    groups = cp.get("cognito:groups", [])
    if not (isinstance(groups, list) and all(isinstance(group, str) for group in groups)):
        j.limits.append("access token: cognito:groups is not a list of strings")
    return j


def _plain(value: Any) -> bool:
    return isinstance(value, str) and value != "" and value.isprintable() and value == value.strip()


def check_user(user: User, j: Judgement) -> None:
    """A ``User``'s fields: right type or ``None``, never made up, plain strings kept as sent.

    ``email_verified`` is ``True`` for JSON ``true`` and the string ``"true"``; another casing of
    ``"true"`` may read either way; anything else reads as unverified (``False`` or ``None``).
    """
    claims, access = j.alb_claims, j.access_claims
    assert user.sub == claims["sub"]
    assert user.issuer == ISSUER
    for name in ("email", "name", "given_name", "family_name"):
        got, sent = getattr(user, name), claims.get(name)
        assert got is None or (isinstance(got, str) and got == sent), (name, got, sent)
        if _plain(sent):
            assert got == sent, (name, got, sent)
    alb_name, access_name = claims.get("username"), access.get("username")
    assert user.username is None or user.username in (alb_name, access_name), user.username
    assert user.username is None or isinstance(user.username, str)
    if _plain(alb_name):
        assert user.username == alb_name
    elif not isinstance(alb_name, str) and _plain(access_name):
        assert user.username == access_name  # an unusable ALB username reads as absent

    verified = claims.get("email_verified")
    if verified is True or verified == "true":
        assert user.email_verified is True, verified
    elif not (isinstance(verified, str) and verified.lower() == "true"):
        assert user.email_verified is False or user.email_verified is None, verified

    sent_groups = access.get("cognito:groups", [])
    assert isinstance(user.groups, tuple)
    assert all(isinstance(group, str) for group in user.groups)
    if isinstance(sent_groups, list) and all(isinstance(g, str) for g in sent_groups):
        assert user.groups == tuple(sent_groups)
    else:  # a malformed claim grants nothing it does not name
        assert all(
            group == sent_groups or (isinstance(sent_groups, list) and group in sent_groups)
            for group in user.groups
        )
    assert isinstance(user.exp, int | float)
    assert isinstance(user.display_name, str)
    assert user.email_domain is None or isinstance(user.email_domain, str)
    assert repr(user)


# --- Verifiers under test ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_idp() -> FakeIdentityProvider:
    idp = FakeIdentityProvider()
    assert idp.issuer == ISSUER
    return idp


@pytest.fixture(scope="module")
def module_server(module_idp: FakeIdentityProvider) -> Iterable[KeyServer]:
    with KeyServer(module_idp) as server:
        yield server


@pytest.fixture(scope="module")
def verifier(module_server: KeyServer) -> Verifier:
    return Verifier(**module_server.settings())


def _clock() -> float:
    return NOW


class Verifiers:
    """Verifiers on a clock stopped at ``NOW``, with both keys already cached.

    One pair of them serves every example whose kids are the real ones, so its caches persist
    as in a real process and no fetch happens. An example naming another kid gets fresh
    verifiers: on a stopped clock the shared ones' rate limit on unknown kids would never
    refill, and a kid would then be refused before reaching the fetch (where a kid of a UUID
    and a newline used to raise from the HTTP client).
    """

    def __init__(self, server: KeyServer) -> None:
        self.server = server
        self.idp = server.idp
        self.sync = Verifier(clock=_clock, **server.settings())
        self.async_ = AsyncVerifier(clock=_clock, **server.settings())
        self.leeway = self.sync.settings.leeway
        genuine = mint_pair(self.idp, Pair())
        assert self.sync.authenticate(genuine[0].text, genuine[1].text).sub == SUB
        assert asyncio.run(self.async_.authenticate(genuine[0].text, genuine[1].text)).sub == SUB

    def judge(self, pair: Pair) -> tuple[Minted, Minted, Judgement]:
        alb, access = mint_pair(self.idp, pair)
        return alb, access, judge(alb, access, pair.identity, self.idp, self.leeway)

    @contextlib.contextmanager
    def for_(self, j: Judgement) -> Iterator[tuple[Verifier, AsyncVerifier]]:
        """The shared verifiers if ``j``'s kids are the real ones, else fresh ones."""
        if j.alb_header.get("kid") == self.idp.alb_kid and (
            j.access_header.get("kid") == self.idp.rsa_kid
        ):
            yield self.sync, self.async_
            return
        fresh = Verifier(clock=_clock, **self.server.settings())
        try:
            yield fresh, AsyncVerifier(clock=_clock, **self.server.settings())
        finally:
            fresh.close()


@pytest.fixture(scope="module")
def verifiers(module_server: KeyServer) -> Verifiers:
    return Verifiers(module_server)


def _outcome(authenticate: Callable[[], User]) -> User | AuthenticationError:
    # Anything but a User or an AuthenticationError propagates and fails the test.
    try:
        return authenticate()
    except AuthenticationError as exc:
        return exc


def _compare(outcome: User | AuthenticationError, j: Judgement, who: str) -> None:
    if isinstance(outcome, User):
        assert not j.broken, f"{who} accepted a pair that breaks: {j.broken}"
        check_user(outcome, j)
    else:
        assert not j.must_accept, f"{who} refused a valid pair: {outcome!r}"


# --- Raw junk ------------------------------------------------------------------------------------

b64ish = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=60
)


def _unsigned(header: Any, payload: Any, layout: Layout, signature: str, padded: bool) -> str:
    segments = (
        base64.urlsafe_b64encode(json_text(part, layout)).decode() for part in (header, payload)
    )
    text = ".".join(segments) + "." + signature
    return text if padded else text.replace("=", "")


junk_tokens = st.one_of(
    st.text(max_size=200),
    st.lists(b64ish, min_size=1, max_size=6).map(".".join),
    st.builds(
        _unsigned,
        hostile_values,
        hostile_values,
        st.builds(Layout, before=st.sampled_from(("", " ", "\n")), ensure_ascii=st.booleans()),
        b64ish,
        st.booleans(),
    ),
)


@settings(suppress_health_check=HEALTH)
@given(alb=junk_tokens, access=junk_tokens, identity=st.none() | st.text(max_size=40))
def test_engine_refuses_junk_with_documented_errors(
    verifier: Verifier, alb: str, access: str, identity: str | None
) -> None:
    with pytest.raises(AuthenticationError):
        verifier.authenticate(alb, access, identity)


# --- Validly signed tokens with hostile fields ---------------------------------------------------


def _alb(header: dict[str, Any] | None = None, claims: dict[str, Any] | None = None) -> TokenSpec:
    return TokenSpec(Part(header or {}), Part(claims or {}))


def _access(claims: dict[str, Any]) -> TokenSpec:
    return TokenSpec(payload=Part(claims))


# Inputs that once got through, and their neighbours.
KID_WITH_NEWLINE = Pair(alb=_alb({"kid": Around("alb_kid", suffix="\n")}))
HUGE_EXP = Pair(alb=_alb(claims={"exp": 10**400}))
HUGE_HEADER_EXP = Pair(alb=_alb({"exp": 10**400}))
HUGE_NBF = Pair(access=_access({"nbf": 10**400}))
HUGE_PAST_IAT = Pair(alb=_alb(claims={"iat": -(10**400)}))
NULL_NBF = Pair(alb=_alb(claims={"nbf": None}))
NULL_IAT = Pair(access=_access({"iat": None}))
WHITESPACE = Pair(
    alb=TokenSpec(payload=Part(layout=Layout(before=" ", after="\n"))),
    access=TokenSpec(header=Part(layout=Layout(before="\t", after="\r\n"))),
)
ODD_DISPLAY_CLAIMS = Pair(
    alb=_alb(claims={"email_verified": "yes", "username": 5, "email": ["a"], "name": None}),
    access=_access({"username": {"a": 1}}),
)
# Each with what the oracle must make of it: (breaks a rule, must be accepted).
BUG_EXAMPLES = (
    pytest.param(KID_WITH_NEWLINE, True, False, id="kid-uuid-newline"),
    pytest.param(HUGE_EXP, False, False, id="exp-10**400"),
    pytest.param(HUGE_NBF, True, False, id="nbf-10**400"),
    pytest.param(HUGE_PAST_IAT, False, False, id="iat-minus-10**400"),
    pytest.param(NULL_NBF, True, False, id="nbf-null"),
    pytest.param(NULL_IAT, True, False, id="iat-null"),
    pytest.param(WHITESPACE, False, True, id="json-whitespace"),
    pytest.param(ODD_DISPLAY_CLAIMS, False, True, id="odd-display-claims"),
)


@settings(suppress_health_check=HEALTH)
@given(pair=pairs())
@example(pair=KID_WITH_NEWLINE)
@example(pair=Pair(alb=_alb({"kid": Around("alb_kid", suffix="%0a")})))
@example(pair=Pair(alb=_alb({"kid": Around("alb_kid", form="upper")})))
@example(pair=HUGE_EXP)
@example(pair=HUGE_HEADER_EXP)
@example(pair=HUGE_NBF)
@example(pair=HUGE_PAST_IAT)
@example(pair=NULL_NBF)
@example(pair=NULL_IAT)
@example(pair=WHITESPACE)
@example(pair=ODD_DISPLAY_CLAIMS)
@example(pair=Pair(alb=_alb(claims={"email_verified": "TRUE", "given_name": 1e308})))
@example(pair=Pair(access=_access({"exp": MISSING})))
def test_verifiers_agree_with_the_oracle(verifiers: Verifiers, pair: Pair) -> None:
    alb, access, j = verifiers.judge(pair)
    with verifiers.for_(j) as (sync, async_):
        outcomes = {
            "Verifier": _outcome(lambda: sync.authenticate(alb.text, access.text, pair.identity)),
            "AsyncVerifier": _outcome(
                lambda: asyncio.run(async_.authenticate(alb.text, access.text, pair.identity))
            ),
        }
    for who, outcome in outcomes.items():
        _compare(outcome, j, who)
    accepted = {who: isinstance(outcome, User) for who, outcome in outcomes.items()}
    assert len(set(accepted.values())) == 1, f"the verifiers disagree: {accepted}"


def test_the_genuine_pair_is_accepted(verifiers: Verifiers) -> None:
    # The counterpart of the properties above: with no field changed, the pair is accepted.
    alb, access, j = verifiers.judge(Pair(identity=SUB))
    assert j.must_accept, j
    assert verifiers.sync.authenticate(alb.text, access.text, SUB).sub == SUB


@pytest.mark.parametrize(("pair", "breaks", "must_accept"), BUG_EXAMPLES)
def test_the_oracle_on_the_inputs_that_got_through(
    verifiers: Verifiers, pair: Pair, breaks: bool, must_accept: bool
) -> None:
    # The oracle itself, on the inputs the verifiers once got wrong.
    *_, j = verifiers.judge(pair)
    assert (bool(j.broken), j.must_accept) == (breaks, must_accept), j


# --- The middlewares -----------------------------------------------------------------------------


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def _asgi_status(app: CognitoAuthMiddleware, headers: list[tuple[bytes, bytes]]) -> int:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(dict(message))

    scope = {"type": "http", "path": "/", "root_path": "", "headers": headers, "method": "GET"}
    # An exception escaping the middleware is what a server answers with a 500.
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=10))
    status: int = messages[0]["status"]
    return status


def _wsgi_hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("content-type", "text/plain")])
    return [b"hello"]


def _sendable(pair: Pair) -> Pair:
    """``pair``, its identity dropped unless a client can send it as is (printable ASCII)."""
    identity = pair.identity
    if identity is None or (
        identity.isascii() and identity.isprintable() and identity.strip() == identity
    ):
        return pair
    return replace(pair, identity=None)


def _signed_headers(alb: Minted, access: Minted, identity: str | None) -> dict[str, str]:
    headers = {"x-amzn-oidc-data": alb.text, "x-amzn-oidc-accesstoken": access.text}
    if identity is not None:
        headers["x-amzn-oidc-identity"] = identity
    return headers


def _compare_status(status: int, j: Judgement) -> None:
    assert status in ALLOWED_STATUSES
    if status == 200:
        assert not j.broken, f"200 for a pair that breaks: {j.broken}"
    else:
        assert not j.must_accept, f"{status} for a valid pair"


@settings(suppress_health_check=HEALTH)
@given(pair=pairs(identity=header_identities))
@example(pair=KID_WITH_NEWLINE)
@example(pair=HUGE_EXP)
@example(pair=NULL_NBF)
@example(pair=WHITESPACE)
def test_asgi_middleware_answers_signed_pairs_from_the_table(
    verifiers: Verifiers, pair: Pair
) -> None:
    pair = _sendable(pair)
    alb, access, j = verifiers.judge(pair)
    headers = _signed_headers(alb, access, pair.identity)
    with verifiers.for_(j) as (_, async_):
        app = CognitoAuthMiddleware(_hello, verifier=async_)  # type: ignore[arg-type]
        status = _asgi_status(app, [(k.encode(), v.encode()) for k, v in headers.items()])
    _compare_status(status, j)


@settings(suppress_health_check=HEALTH)
@given(pair=pairs(identity=header_identities))
@example(pair=KID_WITH_NEWLINE)
@example(pair=HUGE_EXP)
@example(pair=NULL_NBF)
@example(pair=WHITESPACE)
def test_wsgi_middleware_answers_signed_pairs_from_the_table(
    verifiers: Verifiers, pair: Pair
) -> None:
    pair = _sendable(pair)
    alb, access, j = verifiers.judge(pair)
    with verifiers.for_(j) as (sync, _):
        app = CognitoAuthWSGIMiddleware(_wsgi_hello, verifier=sync)
        response = Client(app).get("/", headers=_signed_headers(alb, access, pair.identity))
    _compare_status(response.status_code, j)


header_names = st.sampled_from(
    [b"x-amzn-oidc-data", b"x-amzn-oidc-accesstoken", b"x-amzn-oidc-identity", b"accept"]
)
header_lists = st.lists(
    st.tuples(header_names, st.binary(max_size=120) | junk_tokens.map(str.encode)), max_size=5
)


@settings(suppress_health_check=HEALTH)
@given(headers=header_lists)
def test_asgi_middleware_never_answers_outside_the_table(
    module_server: KeyServer, headers: list[tuple[bytes, bytes]]
) -> None:
    app = CognitoAuthMiddleware(_hello, verifier=_async_verifier(module_server))  # type: ignore[arg-type]
    assert _asgi_status(app, headers) in ALLOWED_STATUSES - {200}


_ASYNC_VERIFIERS: dict[str, AsyncVerifier] = {}


def _async_verifier(server: KeyServer) -> AsyncVerifier:
    # One per key server, so its caches persist across examples as in a real process.
    if server.base_url not in _ASYNC_VERIFIERS:
        _ASYNC_VERIFIERS[server.base_url] = AsyncVerifier(**server.settings())
    return _ASYNC_VERIFIERS[server.base_url]


@settings(suppress_health_check=HEALTH)
@given(
    values=st.dictionaries(
        st.sampled_from(["x-amzn-oidc-data", "x-amzn-oidc-accesstoken", "x-amzn-oidc-identity"]),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=120)
        | junk_tokens.filter(lambda t: all(32 <= ord(c) <= 255 for c in t)),
        max_size=3,
    )
)
def test_wsgi_middleware_never_answers_outside_the_table(
    verifier: Verifier, values: dict[str, str]
) -> None:
    app = CognitoAuthWSGIMiddleware(_wsgi_hello, verifier=verifier)
    response = Client(app).get("/", headers=values)
    assert response.status_code in ALLOWED_STATUSES - {200}


# --- the other modes: another provider's JWT, Verified Access, bearer tokens ----------------------

#: JSON values of every type, hostile ones included: null, huge and negative integers, floats
#: (NaN and infinities are written as JSON cannot carry them, and must be refused), strings with
#: whitespace, control and other Unicode characters, nesting.
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**30), 2**63, -1, 0])
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", " ", "\n", "\x00", "\u2028", "true", "1e400", "𝕒𝕕𝕞𝕚𝕟"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=5,
)
REMOVE = object()


@dataclass
class ModeCase:
    """One mode's stand-in, its verifier, and a way to mint its token(s) with one change."""

    verify: Callable[[dict[str, Any]], object]
    names: tuple[str, ...]


@pytest.fixture(scope="module")
def mode_cases() -> Iterator[dict[str, ModeCase]]:
    from cognito_auth_middleware.testing import FakeOidcProvider, FakeVerifiedAccess

    okta, keycloak = FakeOidcProvider("okta"), FakeOidcProvider("keycloak")
    oidc_va, idc_va = FakeVerifiedAccess("oidc"), FakeVerifiedAccess("iam-identity-center")
    pool = FakeIdentityProvider()
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(KeyServer(idp))
            for name, idp in (
                ("okta", okta),
                ("keycloak", keycloak),
                ("oidc_va", oidc_va),
                ("idc_va", idc_va),
                ("pool", pool),
            )
        }
        cases: dict[str, ModeCase] = {}
        for name, provider in (("okta", okta), ("keycloak", keycloak)):
            jwt_verifier = Verifier(**servers[name].settings())
            _, genuine = provider.access_fields(sub=SUB)

            def jwt(
                claims: dict[str, Any], p: Any = provider, v: Verifier = jwt_verifier
            ) -> object:
                alb = p.mint_alb_token(sub=SUB)
                return v.authenticate(alb, p.mint_access_token(sub=SUB, claims=claims))

            cases[name] = ModeCase(jwt, (*genuine, "groups", "realm_access", "extra"))
        for name, stand_in in (("oidc_va", oidc_va), ("idc_va", idc_va)):
            va_verifier = Verifier(**servers[name].settings())

            def va(claims: dict[str, Any], s: Any = stand_in, v: Verifier = va_verifier) -> object:
                return v.authenticate(s.mint_alb_token(sub=SUB, claims=claims), None)

            payload = jwt_payload(stand_in.mint_alb_token(sub=SUB, groups=["g"]))
            cases[name] = ModeCase(va, (*payload, "sub", "user", "iss", "exp", "nbf", "iat"))
        server = servers["pool"]
        bearer_verifier = Verifier(
            **server.settings(
                bearer=True, bearer_issuer=pool.issuer, bearer_jwks_url=server.jwks_url
            )
        )

        def bearer(claims: dict[str, Any]) -> object:
            return bearer_verifier.authenticate_bearer(pool.mint_machine_token(claims=claims))

        _, machine = pool.access_fields()
        cases["bearer"] = ModeCase(bearer, (*machine, "scp", "cid", "azp", "appid", "aud"))
        yield cases


def jwt_payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


@settings(suppress_health_check=HEALTH)
@given(
    mode=st.sampled_from(("okta", "keycloak", "oidc_va", "idc_va", "bearer")),
    changes=st.lists(st.tuples(st.integers(0, 40), json_values | st.just(REMOVE)), max_size=3),
)
def test_every_mode_admits_well_typed_principals_or_refuses_cleanly(
    mode_cases: dict[str, ModeCase], mode: str, changes: list[tuple[int, Any]]
) -> None:
    """Hostile values of every type in any claim of another provider's JWT access token, a
    Verified Access token (both shapes) or a bearer token: the answer is a well-typed user or
    machine client, or an ``AuthenticationError``; never another exception."""
    from cognito_auth_middleware import MachineClient

    case = mode_cases[mode]
    claims = {
        case.names[index % len(case.names)]: (None if value is REMOVE else value)
        for index, value in changes
    }
    try:
        outcome = case.verify(claims)
    except AuthenticationError:
        return
    if isinstance(outcome, MachineClient):
        assert isinstance(outcome.client_id, str)
        assert outcome.client_id
        assert all(isinstance(scope, str) for scope in outcome.scopes)
        assert math.isfinite(outcome.exp)
        return
    assert isinstance(outcome, User)
    assert isinstance(outcome.sub, str)
    assert outcome.sub
    if mode in ("okta", "keycloak"):  # bound to the ALB token's user
        assert outcome.sub == SUB
    assert all(isinstance(group, str) for group in outcome.groups)
    assert outcome.email is None or isinstance(outcome.email, str)
    assert outcome.username is None or isinstance(outcome.username, str)
    assert isinstance(outcome.email_verified, bool)
    assert repr(outcome)
