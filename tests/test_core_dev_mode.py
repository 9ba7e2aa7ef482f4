"""When a request is plainly local (``core/dev_mode.py``): only then is a mock user served."""

from __future__ import annotations

from typing import Any

import pytest

from cognito_auth_middleware.core.dev_mode import (
    is_loopback,
    is_loopback_host,
    local_client,
    local_client_asgi,
    local_client_environ,
)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        pytest.param("127.0.0.1", True, id="ipv4"),
        pytest.param("127.8.9.10", True, id="ipv4-whole-block"),
        pytest.param("::1", True, id="ipv6"),
        pytest.param("[::1]", True, id="ipv6-bracketed"),
        pytest.param("10.0.0.1", False, id="private"),
        pytest.param("localhost", False, id="a-name-is-not-an-address"),
        pytest.param("", False, id="empty"),
        pytest.param(None, False, id="none"),
        pytest.param("127.0.0.1.nip.io", False, id="lookalike"),
        pytest.param("X127.0.0.1X", False, id="wrapped-in-letters"),
        pytest.param("[[::1]]", True, id="brackets-are-stripped-not-parsed"),
    ],
)
def test_a_client_address_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("host", "local"),
    [
        pytest.param("localhost", True, id="localhost"),
        pytest.param("LOCALHOST:8000", True, id="localhost-port-any-case"),
        pytest.param(" localhost ", True, id="surrounding-space"),
        pytest.param("127.0.0.1:8000", True, id="ipv4-port"),
        pytest.param("[::1]:8000", True, id="ipv6-port"),
        pytest.param("[::1]", True, id="ipv6"),
        pytest.param("[::1", False, id="ipv6-unclosed"),
        pytest.param("[::1]8000", False, id="ipv6-port-without-colon"),
        pytest.param("[::1]:80a", False, id="ipv6-port-not-digits"),
        pytest.param("[::1]:a0", False, id="ipv6-port-starting-with-a-letter"),
        pytest.param("[::1]]:80", False, id="ipv6-two-closing-brackets"),
        pytest.param("localhost:80a", False, id="port-not-digits"),
        pytest.param("localhost:\uff18\uff10", False, id="port-fullwidth-digits"),
        pytest.param("localhost:", True, id="empty-port"),
        pytest.param("localhost.example.com", False, id="lookalike-name"),
        pytest.param("127.0.0.1.nip.io", False, id="lookalike-address"),
        pytest.param("example.com", False, id="remote"),
        pytest.param("", False, id="empty"),
        pytest.param(None, False, id="none"),
    ],
)
def test_a_host_header_names_this_machine(host: str | None, local: bool) -> None:
    assert is_loopback_host(host) is local


def _scope(headers: list[tuple[bytes, bytes]], client: Any = ("127.0.0.1", 5000)) -> dict[str, Any]:
    return {"type": "http", "headers": headers, "client": client}


@pytest.mark.parametrize(
    ("scope", "client"),
    [
        pytest.param(_scope([(b"host", b"localhost:8000")]), "127.0.0.1", id="local"),
        pytest.param(_scope([(b"host", b"example.com")]), None, id="remote-host"),
        pytest.param(_scope([]), None, id="no-host"),
        pytest.param({"type": "http", "client": ("127.0.0.1", 5000)}, None, id="no-headers"),
        pytest.param(_scope([(b"host", b"localhost")], client=None), None, id="no-client"),
        pytest.param(
            _scope([(b"host", b"localhost"), (b"x-forwarded-for", b"1.2.3.4")]),
            None,
            id="x-forwarded-for",
        ),
        pytest.param(
            _scope([(b"forwarded", b"for=1.2.3.4"), (b"host", b"localhost")]), None, id="forwarded"
        ),
        pytest.param(
            _scope([(b"host", b"localhost"), (b"x-real-ip", b"1.2.3.4")]), None, id="x-real-ip"
        ),
        pytest.param(
            _scope([(b"host", b"localhost"), (b"x-forwarded-host", b"a.example")]),
            None,
            id="x-forwarded-host",
        ),
    ],
)
def test_an_asgi_request_is_local_only_without_forwarding_and_with_a_local_host(
    scope: dict[str, Any], client: str | None
) -> None:
    assert local_client_asgi(scope) == client


@pytest.mark.parametrize(
    ("environ", "client"),
    [
        pytest.param(
            {"REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost"}, "127.0.0.1", id="local"
        ),
        pytest.param(
            {"REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "example.com"}, None, id="remote-host"
        ),
        pytest.param({"REMOTE_ADDR": "127.0.0.1"}, None, id="no-host"),
        pytest.param({"HTTP_HOST": "localhost"}, None, id="no-address"),
        pytest.param({"REMOTE_ADDR": 5, "HTTP_HOST": "localhost"}, None, id="odd-address"),
        pytest.param(
            {"REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost", "HTTP_X_FORWARDED_FOR": "a"},
            None,
            id="x-forwarded-for",
        ),
        pytest.param(
            {"REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost", "HTTP_FORWARDED": "a"},
            None,
            id="forwarded",
        ),
        pytest.param(
            {"REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost", "HTTP_X_REAL_IP": "a"},
            None,
            id="x-real-ip",
        ),
        pytest.param(
            {"REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost", "HTTP_X_FORWARDED_HOST": "a"},
            None,
            id="x-forwarded-host",
        ),
    ],
)
def test_a_wsgi_request_is_local_only_without_forwarding_and_with_a_local_host(
    environ: dict[str, Any], client: str | None
) -> None:
    assert local_client_environ(environ) == client


@pytest.mark.parametrize(
    ("headers", "client", "expected"),
    [
        pytest.param({"host": "localhost:8501"}, "127.0.0.1", "127.0.0.1", id="local"),
        pytest.param({"host": "localhost"}, "10.0.0.5", "10.0.0.5", id="address-left-to-engine"),
        pytest.param({"host": "app.example.com"}, "127.0.0.1", None, id="public-host"),
        pytest.param({}, "127.0.0.1", None, id="no-host"),
        pytest.param(
            {"host": "localhost", "x-forwarded-for": "1.2.3.4"}, "127.0.0.1", None, id="xff"
        ),
        pytest.param({"host": "localhost", "forwarded": "for=x"}, "127.0.0.1", None, id="fwd"),
        pytest.param({"host": "localhost", "x-real-ip": "x"}, "127.0.0.1", None, id="real-ip"),
        pytest.param(
            {"host": "localhost", "x-forwarded-host": "a.example"}, "127.0.0.1", None, id="xfh"
        ),
        pytest.param({"host": "localhost", "x-forwarded-for": ""}, "::1", None, id="empty-xff"),
    ],
)
def test_a_request_by_its_headers_is_local_only_without_forwarding(
    headers: dict[str, str], client: str, expected: str | None
) -> None:
    assert local_client(headers, client) == expected
