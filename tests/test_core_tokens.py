"""Splitting and decoding a compact JWS (``core/tokens.py``): what reaches the checks at all.

The ALB pads its segments with ``=`` and signs the padded text; access tokens are unpadded.
Anything else that is not exactly one base64url JWS of two JSON objects is refused here,
before a key is looked at, with a message that never holds the token.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from cognito_auth_middleware import InvalidTokenError
from cognito_auth_middleware.core.engine import Engine
from cognito_auth_middleware.core.tokens import MAX_TOKEN_LENGTH, fingerprint, parse_token
from cognito_auth_middleware.settings import Settings
from cognito_auth_middleware.testing import FakeIdentityProvider

LABEL = "ALB token"
SUB = "11111111-2222-3333-4444-555555555555"
NOW = 1_700_000_000.0


def _b64(data: bytes, *, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(data).decode()
    return text if padded else text.rstrip("=")


def _jws(header: bytes, payload: bytes, signature: bytes = b"sig", *, padded: bool = False) -> str:
    return ".".join(_b64(part, padded=padded) for part in (header, payload, signature))


def _refusal(text: str) -> str:
    with pytest.raises(InvalidTokenError) as caught:
        parse_token(text, LABEL)
    return caught.value.message


@pytest.mark.parametrize("padded", [True, False])
def test_a_jws_is_split_once_and_keeps_its_exact_signing_input(padded: bool) -> None:
    text = _jws(b'{"alg":"ES256"}', b'{"sub":"a"}', b"\xff" * 64, padded=padded)
    token = parse_token(text, LABEL)
    assert token.header == {"alg": "ES256"}
    assert token.claims == {"sub": "a"}
    assert token.signature == b"\xff" * 64
    assert token.signing_input == text.rsplit(".", 1)[0].encode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a.b", "not a JWT (expected three dot-separated segments)", id="two"),
        pytest.param("a.b.c.d", "not a JWT (expected three dot-separated segments)", id="four"),
        pytest.param("a.b.c.d.e", "encrypted (JWE) tokens are not accepted", id="jwe"),
        pytest.param("a.b.c.d.e.f", "not a JWT (expected three", id="six"),
        pytest.param("é.b.c", "contains non-ASCII characters", id="non-ascii"),
        pytest.param("e30.e30.a+b", "not base64url", id="plus"),
        pytest.param("e30.e30.a/b", "not base64url", id="slash"),
        pytest.param("e30.e30.a b", "the signature is not base64url", id="space"),
        pytest.param("e30.e30.ab=", "the signature is not base64url", id="short-padding"),
        pytest.param("e30.e30.YQ====", "the signature is not base64url", id="extra-padding"),
        pytest.param("e30==.e30.YQ", "the header is not base64url", id="header-bad-padding"),
        pytest.param(_jws(b"[]", b"{}"), "the header is not a JSON object", id="header-array"),
        pytest.param(_jws(b"{}", b"1"), "the payload is not a JSON object", id="payload-number"),
        pytest.param(_jws(b"{", b"{}"), "the header is not JSON", id="header-truncated"),
        pytest.param(_jws(b"{}", b"{}{}"), "the payload is not JSON", id="two-objects"),
        pytest.param(_jws(b"{}", b"{} x"), "the payload is not JSON", id="trailing-junk"),
        pytest.param(_jws(b'{"a":NaN}', b"{}"), "the header is not JSON", id="nan"),
        pytest.param(_jws(b"{}", b'{"a":Infinity}'), "the payload is not JSON", id="infinity"),
        pytest.param(_jws(b"\xff{}", b"{}"), "the header is not JSON", id="not-utf8"),
        pytest.param(_jws(b"\xa0{}", b"{}"), "the header is not JSON", id="unicode-space"),
        pytest.param(_jws(b"[" * 13_000, b"{}"), "longer than", id="too-long"),
    ],
)
def test_what_is_not_one_base64url_jws_of_two_objects_is_refused(text: str, message: str) -> None:
    refusal = _refusal(text)
    assert refusal.startswith(f"{LABEL}: ")
    assert message in refusal


def test_json_whitespace_around_an_object_is_accepted() -> None:
    token = parse_token(_jws(b' \t\r\n{"a":1}\n', b"{}"), LABEL)
    assert token.header == {"a": 1}


@pytest.mark.parametrize(
    ("segment", "decoded"),
    [
        pytest.param("YQ", b"a", id="unpadded"),
        pytest.param("YQ==", b"a", id="padded"),
        pytest.param("YWI", b"ab", id="unpadded-2"),
        pytest.param("YWI=", b"ab", id="padded-2"),
        pytest.param("YWJj", b"abc", id="no-padding-needed"),
        pytest.param("-_8", b"\xfb\xff", id="url-alphabet"),
    ],
)
def test_padding_is_absent_or_exactly_what_the_length_needs(segment: str, decoded: bytes) -> None:
    assert parse_token(f"e30.e30.{segment}", LABEL).signature == decoded


def test_the_length_limit_is_inclusive() -> None:
    filler = "A" * (MAX_TOKEN_LENGTH - len("e30.e30."))
    assert parse_token(f"e30.e30.{filler}", LABEL).header == {}
    assert "longer than" in _refusal(f"e30.e30.{filler}A")


def test_the_message_never_holds_the_token() -> None:
    text = _jws(b"[]", b'{"secret":"hunter2"}')
    assert "hunter2" not in _refusal(text)
    assert "W10" not in _refusal(text)


def test_a_fingerprint_is_twelve_hex_digits_of_sha256() -> None:
    assert fingerprint("a.b.c") == hashlib.sha256(b"a.b.c").hexdigest()[:12]
    assert fingerprint("\udcff") == hashlib.sha256(b"?").hexdigest()[:12]


def test_a_signature_respelled_in_the_standard_alphabet_is_refused(
    idp: FakeIdentityProvider,
) -> None:
    # '+' and '/' decode to the same bytes as '-' and '_' once translated: accepted, they would
    # let one signed token be presented under many spellings (and be cached under each).
    access = idp.mint_access_token(sub=SUB, now=NOW)
    while True:
        alb = idp.mint_alb_token(sub=SUB, now=NOW)
        head, signature = alb.rsplit(".", 1)
        if "-" in signature or "_" in signature:
            break
    respelled = f"{head}.{signature.replace('-', '+').replace('_', '/')}"
    settings = Settings.load(
        environ={},
        alb_arn=idp.alb_arn,
        user_pool_id=idp.user_pool_id,
        alb_key_url="https://keys.example.test",
        jwks_url="https://keys.example.test/jwks",
    )
    engine = Engine(settings)
    with pytest.raises(InvalidTokenError, match="ALB token: the signature is not base64url"):
        next(engine.authenticate(respelled, access, SUB, NOW))
