"""Reading the identity headers and the bearer token from ASGI and WSGI (``core/headers.py``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cognito_auth_middleware import InvalidTokenError
from cognito_auth_middleware.core.headers import (
    bearer_from_asgi,
    bearer_from_environ,
    from_asgi,
    from_environ,
)


def test_asgi_headers_are_read_by_exact_lower_case_name() -> None:
    raw = [
        (b"x-amzn-oidc-data", b"alb"),
        (b"x-amzn-oidc-accesstoken", b"access"),
        (b"x-amzn-oidc-identity", b"sub"),
        (b"accept", b"text/html"),
        (b"x-amzn-oidc-data-extra", b"ignored"),
    ]
    assert from_asgi(raw) == (("alb", "access", "sub"), "text/html")


def test_absent_asgi_headers_are_none_and_accept_is_empty() -> None:
    assert from_asgi([(b"host", b"example.com")]) == ((None, None, None), "")


def test_asgi_header_values_are_latin_1() -> None:
    assert from_asgi([(b"x-amzn-oidc-identity", b"caf\xe9")])[0][2] == "café"


@pytest.mark.parametrize(
    "name", [b"x-amzn-oidc-data", b"x-amzn-oidc-accesstoken", b"x-amzn-oidc-identity"]
)
def test_a_repeated_identity_header_is_refused(name: bytes) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        from_asgi([(name, b"one"), (b"accept", b"*/*"), (name, b"two")])
    assert caught.value.message == f"the {name.decode()} header appears more than once"


def test_a_repeated_empty_header_is_refused_too() -> None:
    with pytest.raises(InvalidTokenError):
        from_asgi([(b"x-amzn-oidc-data", b""), (b"x-amzn-oidc-data", b"forged")])


def test_wsgi_headers_are_read_from_the_environ() -> None:
    environ = {
        "HTTP_X_AMZN_OIDC_DATA": "alb",
        "HTTP_X_AMZN_OIDC_ACCESSTOKEN": "access",
        "HTTP_X_AMZN_OIDC_IDENTITY": "sub",
        "HTTP_ACCEPT": "application/json",
    }
    assert from_environ(environ) == (("alb", "access", "sub"), "application/json")
    assert from_environ({}) == ((None, None, None), "")


# --- Authorization: Bearer --------------------------------------------------------------------

NO_TOKEN = "the Authorization header names no bearer token"


def _from_asgi(value: str) -> str | None:
    return bearer_from_asgi([(b"host", b"api.example.com"), (b"authorization", value.encode())])


def _from_environ(value: str) -> str | None:
    return bearer_from_environ({"HTTP_HOST": "api.example.com", "HTTP_AUTHORIZATION": value})


BEARER_READERS = [
    pytest.param(_from_asgi, id="asgi"),
    pytest.param(_from_environ, id="wsgi"),
]


@pytest.mark.parametrize("read", BEARER_READERS)
@pytest.mark.parametrize(
    ("value", "token"),
    [
        pytest.param("Bearer abc.def.ghi", "abc.def.ghi", id="bearer"),
        pytest.param("bearer abc", "abc", id="lower-case"),
        pytest.param("BeArEr abc", "abc", id="mixed-case"),
        pytest.param("  Bearer   abc  ", "abc", id="spaces-around-and-between"),
        pytest.param("Bearer XabcX", "XabcX", id="token-starting-and-ending-in-x"),
        # Only spaces separate and surround (RFC 7235: 1*SP); token parsing refuses the rest.
        pytest.param("Bearer abc\t", "abc\t", id="a-tab-stays-in-the-token"),
        pytest.param("Bearer a b", "a b", id="the-rest-is-the-token"),
        pytest.param("Basic dXNlcjpwYXNz", None, id="basic"),
        pytest.param("Bearerabc", None, id="no-space"),
        pytest.param("Bearer\tabc", None, id="a-tab-is-no-separator"),
        pytest.param("", None, id="empty"),
    ],
)
def test_the_bearer_token_is_read_from_the_authorization_header(
    read: Callable[[str], str | None], value: str, token: str | None
) -> None:
    assert read(value) == token


@pytest.mark.parametrize("read", BEARER_READERS)
@pytest.mark.parametrize("value", ["Bearer", "bearer ", "  Bearer     "])
def test_a_bearer_scheme_without_a_token_is_refused(
    read: Callable[[str], str | None], value: str
) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        read(value)
    assert caught.value.message == NO_TOKEN


def test_no_authorization_header_is_no_bearer_token() -> None:
    assert bearer_from_asgi([(b"host", b"api.example.com")]) is None
    assert bearer_from_environ({"HTTP_HOST": "api.example.com"}) is None


def test_a_repeated_asgi_authorization_header_is_refused() -> None:
    for second in (b"Bearer other", b"Basic dXNlcjpwYXNz"):
        with pytest.raises(InvalidTokenError) as caught:
            bearer_from_asgi([(b"authorization", b"Bearer abc"), (b"authorization", second)])
        assert caught.value.message == "the authorization header appears more than once"
