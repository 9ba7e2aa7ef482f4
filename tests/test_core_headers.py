"""Reading the ALB's three identity headers from ASGI and WSGI (``core/headers.py``)."""

from __future__ import annotations

import pytest

from cognito_auth_middleware import InvalidTokenError
from cognito_auth_middleware.core.headers import from_asgi, from_environ


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
