"""Reading what a key endpoint answered (``core/keys.py``): only the keys the tokens may use.

The ALB key must be an EC P-256 public key in PEM; a JWKS entry is kept only if it is an RSA
public signing key for RS256 of at least 2048 bits with a string kid. Real keys throughout.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from cognito_auth_middleware.core.keys import (
    Es256Key,
    Es384Key,
    Rs256Key,
    der_signature,
    parse_alb_key,
    parse_discovery,
    parse_jwks,
    parse_signer_key,
)
from cognito_auth_middleware.testing import FakeIdentityProvider, FakeVerifiedAccess


def _pem(key: Any) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _b64(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode()


def _jwk(key: rsa.RSAPrivateKey, kid: str = "k1", **fields: Any) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    entry = {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig"}
    entry |= {"n": _b64(numbers.n).rstrip("="), "e": _b64(numbers.e).rstrip("=")}
    return {name: value for name, value in (entry | fields).items() if value is not None}


def _jwks(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"keys": list(entries)}).encode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_the_alb_pem_key_verifies_the_albs_signatures(idp: FakeIdentityProvider) -> None:
    key = parse_alb_key(idp.alb_public_pem())
    signature = idp.sign_alb(b"signed")
    assert key.verify(b"signed", signature)
    assert not key.verify(b"other", signature)
    assert not key.verify(b"signed", signature[:-1])  # not 64 bytes
    assert not key.verify(b"signed", signature + b"\0")
    assert isinstance(key.public_key, ec.EllipticCurvePublicKey)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"junk", "the response is not a PEM public key", id="junk"),
        pytest.param(b"", "the response is not a PEM public key", id="empty"),
        pytest.param(
            _pem(ec.generate_private_key(ec.SECP384R1())),
            "the key is on curve secp384r1, not P-256",
            id="p-384",
        ),
        pytest.param(
            _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            "the key is not an EC key",
            id="rsa",
        ),
        pytest.param(
            _pem(ed25519.Ed25519PrivateKey.generate()), "the key is not an EC key", id="ed25519"
        ),
    ],
)
def test_an_alb_answer_that_is_not_a_p256_key_is_refused(content: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_alb_key(content)
    assert str(caught.value) == message


def test_a_jwks_key_verifies_the_pools_signatures(idp: FakeIdentityProvider) -> None:
    keys = parse_jwks(json.dumps(idp.jwks()).encode())
    assert list(keys) == [idp.rsa_kid]
    key = keys[idp.rsa_kid]
    signature = idp.sign_access(b"signed")
    assert key.verify(b"signed", signature)
    assert not key.verify(b"other", signature)
    assert isinstance(key, Rs256Key)
    assert isinstance(key.public_key, rsa.RSAPublicKey)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"kty": "EC"}, id="not-rsa"),
        pytest.param({"kty": None}, id="no-kty"),
        pytest.param({"kid": 5}, id="kid-not-a-string"),
        pytest.param({"kid": None}, id="no-kid"),
        pytest.param({"alg": "RS512"}, id="other-alg"),
        pytest.param({"use": "enc"}, id="encryption-key"),
        pytest.param({"d": "AQAB"}, id="private-key"),
        pytest.param({"n": "AQAB"}, id="tiny-modulus"),
        pytest.param({"n": None}, id="no-modulus"),
        pytest.param({"n": 5}, id="modulus-not-a-string"),
    ],
)
def test_a_jwks_entry_the_tokens_may_not_use_is_skipped(
    rsa_key: rsa.RSAPrivateKey, fields: dict[str, Any]
) -> None:
    bad = _jwk(rsa_key, kid="bad") | fields
    keys = parse_jwks(_jwks({k: v for k, v in bad.items() if v is not None}, _jwk(rsa_key, "good")))
    assert list(keys) == ["good"]


def test_an_entry_that_is_not_an_object_does_not_hide_the_keys_after_it(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    content = json.dumps({"keys": [1, "a", None, [], _jwk(rsa_key, "good")]}).encode()
    assert list(parse_jwks(content)) == ["good"]


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"alg": None}, id="no-alg-means-rs256"),
        pytest.param({"use": None}, id="no-use-means-sig"),
    ],
)
def test_a_jwks_entry_without_alg_or_use_is_kept(
    rsa_key: rsa.RSAPrivateKey, fields: dict[str, Any]
) -> None:
    assert list(parse_jwks(_jwks(_jwk(rsa_key, **fields)))) == ["k1"]


def test_an_rsa_key_under_2048_bits_is_skipped() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point)
    exact = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = parse_jwks(_jwks(_jwk(small, kid="small"), _jwk(exact, kid="exact")))
    assert list(keys) == ["exact"]


def test_only_the_first_32_entries_are_read(rsa_key: rsa.RSAPrivateKey) -> None:
    entries = [_jwk(rsa_key, kid=f"k{n}") for n in range(33)]
    keys = parse_jwks(_jwks(*entries))
    assert list(keys) == [f"k{n}" for n in range(32)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"not json", "the response is not JSON", id="not-json"),
        pytest.param(b"[" * 100_000, "the response is not JSON", id="deep-nesting"),
        pytest.param(b"[]", "the response is not a JWKS (no 'keys' list)", id="a-list"),
        pytest.param(b"{}", "the response is not a JWKS (no 'keys' list)", id="no-keys"),
        pytest.param(
            b'{"keys": {}}', "the response is not a JWKS (no 'keys' list)", id="keys-dict"
        ),
        pytest.param(b'{"keys": []}', "the JWKS holds no usable RS256 public key", id="empty"),
        pytest.param(
            b'{"keys": [1, "a"]}', "the JWKS holds no usable RS256 public key", id="not-objects"
        ),
    ],
)
def test_an_answer_that_is_not_a_usable_jwks_is_refused(content: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_jwks(content)
    assert str(caught.value) == message


def test_an_es256_key_wraps_the_cryptography_key(idp: FakeIdentityProvider) -> None:
    public = idp.alb_private_key.public_key()
    assert Es256Key(public).public_key is public


# --- another provider's JWKS: EC P-256 keys, and the algorithms allowed -------------------------


def _ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str = "e1", **fields: Any) -> dict[str, Any]:
    point = key.public_key().public_numbers()
    coordinate = {
        name: base64.urlsafe_b64encode(value.to_bytes(32, "big")).decode().rstrip("=")
        for name, value in (("x", point.x), ("y", point.y))
    }
    return {"kty": "EC", "crv": "P-256", **coordinate, "kid": kid, "alg": "ES256"} | fields


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_an_es256_jwk_verifies_only_where_es256_is_allowed(
    ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    content = _jwks(_ec_jwk(ec_key), _jwk(rsa_key, "r1"))
    both = parse_jwks(content, ("RS256", "ES256"))
    assert {kid: key.alg for kid, key in both.items()} == {"e1": "ES256", "r1": "RS256"}
    assert list(parse_jwks(content)) == ["r1"]  # Cognito's: RS256 only
    assert list(parse_jwks(content, ("ES256",))) == ["e1"]
    idp = FakeIdentityProvider()
    idp.alb_private_key = ec_key
    signing_input = b"header.payload"
    assert both["e1"].verify(signing_input, idp.sign_alb(signing_input))
    assert not both["e1"].verify(b"header.other", idp.sign_alb(signing_input))


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"crv": "P-384"}, id="other-curve"),
        pytest.param({"crv": None}, id="no-curve"),
        pytest.param({"x": "AAAA"}, id="short-x"),
        pytest.param({"y": 5}, id="y-not-a-string"),
        pytest.param({"x": "*" * 43}, id="x-not-base64url"),
        pytest.param({"x": "é" * 43}, id="x-not-ascii"),
        pytest.param({"y": "A" * 43}, id="off-the-curve"),
        pytest.param({"alg": "RS256"}, id="ec-key-named-rs256"),
        pytest.param({"alg": "ES384"}, id="es384"),
        pytest.param({"kty": "OKP"}, id="other-kty"),
        pytest.param({"kty": 5}, id="kty-not-a-string"),
        pytest.param({"d": "AQAB"}, id="private-key"),
        pytest.param({"use": "enc"}, id="encryption-key"),
    ],
)
def test_an_ec_jwks_entry_the_tokens_may_not_use_is_skipped(
    ec_key: ec.EllipticCurvePrivateKey, fields: dict[str, Any]
) -> None:
    bad = {k: v for k, v in (_ec_jwk(ec_key, "bad") | fields).items() if v is not None}
    keys = parse_jwks(_jwks(bad, _ec_jwk(ec_key, "good")), ("RS256", "ES256"))
    assert list(keys) == ["good"]


def _ec_key_with_a_leading_zero_x() -> ec.EllipticCurvePrivateKey:
    """The first private key 1, 2, 3... whose public x is under 2**248 (its first byte is 0)."""
    scalar = 1
    while True:
        key = ec.derive_private_key(scalar, ec.SECP256R1())
        if key.public_key().public_numbers().x < 2**248:
            return key
        scalar += 1


def test_an_ec_coordinate_must_be_43_characters_of_unpadded_base64url(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    good = _ec_jwk(ec_key, "good")
    padded = _ec_jwk(ec_key, "padded") | {"x": good["x"] + "="}
    keys = parse_jwks(_jwks(padded, good), ("ES256",))
    assert list(keys) == ["good"]


def test_an_ec_coordinate_must_be_the_full_32_bytes() -> None:
    # RFC 7518 (6.2.1.2): the full size of a coordinate, so a leading zero byte is kept. The
    # same x cut to 31 bytes (42 characters and one "=", still 43) names the same point.
    key = _ec_key_with_a_leading_zero_x()
    good = _ec_jwk(key, "good")
    x = key.public_key().public_numbers().x
    short = base64.urlsafe_b64encode(x.to_bytes(31, "big")).decode()[:-1]
    assert (len(short), short[-1], good["x"][0]) == (43, "=", "A")
    keys = parse_jwks(_jwks(_ec_jwk(key, "short") | {"x": short}, good), ("ES256",))
    assert list(keys) == ["good"]


def test_an_ec_jwk_without_alg_is_es256(ec_key: ec.EllipticCurvePrivateKey) -> None:
    entry = {k: v for k, v in _ec_jwk(ec_key).items() if k != "alg"}
    assert [key.alg for key in parse_jwks(_jwks(entry), ("ES256",)).values()] == ["ES256"]


def test_the_refusal_names_the_algorithms_looked_for() -> None:
    with pytest.raises(ValueError, match="no usable ES256 or RS256 public key"):
        parse_jwks(b'{"keys": []}', ("RS256", "ES256"))


ISSUER = "https://idp.example.com/oauth2/default"
SCHEME = "the discovery document's jwks_uri is not a URL of the issuer's scheme"
NO_USABLE = "the discovery document has no usable jwks_uri"
ANOTHER_ISSUER = "the discovery document names another issuer"
LONGEST = "https://a.example/" + "k" * (2048 - len("https://a.example/"))


@pytest.mark.parametrize(
    ("document", "issuer", "expected"),
    [
        pytest.param({"jwks_uri": "https://idp.example.com/keys"}, ISSUER, None, id="https"),
        pytest.param({"jwks_uri": "https://keys.example.net/v1?x=1"}, ISSUER, None, id="query"),
        pytest.param(
            {"jwks_uri": "http://127.0.0.1:8080/keys"}, "http://127.0.0.1:8080", None, id="http"
        ),
        pytest.param({"jwks_uri": LONGEST}, ISSUER, None, id="2048-characters"),
        pytest.param({"jwks_uri": "http://idp.example.com/keys"}, ISSUER, SCHEME, id="down"),
        pytest.param({"jwks_uri": "https://idp.example.com/k#f"}, ISSUER, SCHEME, id="fragment"),
        pytest.param({"jwks_uri": "https:///keys"}, ISSUER, SCHEME, id="no-host"),
        pytest.param({"jwks_uri": "https:///v1/keys"}, ISSUER, SCHEME, id="no-host-deep-path"),
        pytest.param({"jwks_uri": "https://?a?b/keys"}, ISSUER, SCHEME, id="no-host-query"),
        pytest.param({"jwks_uri": "https://:443/keys"}, ISSUER, SCHEME, id="port-only"),
        pytest.param({"jwks_uri": "keys"}, ISSUER, SCHEME, id="relative"),
        pytest.param({"jwks_uri": "k"}, ISSUER, SCHEME, id="one-character"),
        pytest.param({"jwks_uri": ""}, ISSUER, NO_USABLE, id="empty"),
        pytest.param({"jwks_uri": LONGEST + "k"}, ISSUER, NO_USABLE, id="2049-characters"),
        pytest.param({"jwks_uri": "https://a.example/ k"}, ISSUER, NO_USABLE, id="space"),
        pytest.param({"jwks_uri": "https://a.example/\x7f"}, ISSUER, NO_USABLE, id="del"),
        pytest.param({"jwks_uri": "https://ä.example/k"}, ISSUER, NO_USABLE, id="unicode"),
        pytest.param({"jwks_uri": ["https://a.example/k"]}, ISSUER, NO_USABLE, id="a-list"),
        pytest.param({"issuer": ISSUER + "/"}, ISSUER, ANOTHER_ISSUER, id="issuer-slash"),
        pytest.param({"issuer": None}, ISSUER, ANOTHER_ISSUER, id="issuer-null"),
    ],
)
def test_a_discovery_document_gives_the_jwks_uri_only_for_its_issuer(
    document: dict[str, Any], issuer: str, expected: str | None
) -> None:
    full = {"issuer": issuer, "jwks_uri": "https://idp.example.com/keys"} | document
    content = json.dumps(full).encode()
    if expected is None:
        assert parse_discovery(content, issuer) == full["jwks_uri"]
    else:
        with pytest.raises(ValueError, match=re.escape(expected)) as caught:
            parse_discovery(content, issuer)
        assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"nope", "the discovery document is not JSON", id="not-json"),
        pytest.param(b"[" * 100_000, "the discovery document is not JSON", id="deep-nesting"),
        pytest.param(b"[1]", "the discovery document is not a JSON object", id="a-list"),
        pytest.param(b'"text"', "the discovery document is not a JSON object", id="a-string"),
    ],
)
def test_a_discovery_answer_that_is_not_a_document_is_refused(content: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_discovery(content, ISSUER)
    assert str(caught.value) == message


# --- Verified Access: ES384 keys --------------------------------------------------------------


def test_a_verified_access_key_is_p384_and_verifies_es384() -> None:
    stand_in = FakeVerifiedAccess()
    key = parse_signer_key(stand_in.alb_public_pem(), "ES384")
    assert (type(key), key.alg) == (Es384Key, "ES384")
    signature = stand_in.sign_alb(b"header.payload")
    assert len(signature) == 96
    assert key.verify(b"header.payload", signature)
    assert not key.verify(b"header.other", signature)
    assert not key.verify(b"header.payload", signature[:64])  # an ES256-sized signature
    with pytest.raises(ValueError, match="not P-384"):
        parse_signer_key(FakeIdentityProvider().alb_public_pem(), "ES384")
    with pytest.raises(ValueError, match="not P-256"):
        parse_signer_key(stand_in.alb_public_pem(), "ES256")


# --- The DER form of a raw ECDSA signature ----------------------------------------------------


def _reference_der(sig: bytes, size: int) -> bytes:
    return encode_dss_signature(
        int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
    )


def _shaped(size: int) -> st.SearchStrategy[bytes]:
    """r || s of one size, often with a zero, a high-bit or a 0x01 first byte in either half."""
    first = st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]) | st.integers(0, 255)
    half = st.tuples(first, st.binary(min_size=size - 1, max_size=size - 1)).map(
        lambda part: bytes((part[0],)) + part[1]
    )
    return st.tuples(half, half).map(lambda halves: halves[0] + halves[1])


@given(st.sampled_from([32, 48]).flatmap(lambda size: st.tuples(st.just(size), _shaped(size))))
@settings(max_examples=500, deadline=None)
def test_der_signature_is_what_encode_dss_signature_makes(case: tuple[int, bytes]) -> None:
    size, sig = case
    assert der_signature(sig, size) == _reference_der(sig, size)


@pytest.mark.parametrize(
    ("curve", "hash_", "wrapper", "size"),
    [
        (ec.SECP256R1(), hashes.SHA256(), Es256Key, 32),
        (ec.SECP384R1(), hashes.SHA384(), Es384Key, 48),
    ],
    ids=["ES256", "ES384"],
)
def test_real_signatures_verify_whatever_the_first_bytes_of_r_and_s(
    curve: ec.EllipticCurve, hash_: hashes.HashAlgorithm, wrapper: type[Es256Key], size: int
) -> None:
    # Signed until r and s have each started with a zero byte, a byte with its top bit set
    # and another byte (about 1 in 256 starts with zero): each verifies, a changed message not.
    private = ec.generate_private_key(curve)
    key = wrapper(private.public_key())
    wanted = {(half, kind) for half in ("r", "s") for kind in ("zero", "high", "plain")}
    seen: set[tuple[str, str]] = set()
    for n in range(10_000):
        message = b"message %d" % n
        r, s = decode_dss_signature(private.sign(message, ec.ECDSA(hash_)))
        raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        shapes = {
            (half, "zero" if first == 0 else "high" if first & 0x80 else "plain")
            for half, first in (("r", raw[0]), ("s", raw[size]))
        }
        if shapes <= seen:
            continue
        seen |= shapes
        assert key.verify(message, raw)
        assert not key.verify(message + b"!", raw)
        if seen == wanted:
            break
    assert seen == wanted
