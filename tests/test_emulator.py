"""The ALB emulator end to end: real servers, real sockets, real verification behind it.

Odd request targets and Host values go over raw sockets: httpx would normalise them away.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send
from websockets.sync.client import connect

from cognito_auth_middleware import CognitoAuthMiddleware
from cognito_auth_middleware.testing import FakeIdentityProvider, FakeVerifiedAccess
from cognito_auth_middleware.tools.cli import main
from cognito_auth_middleware.tools.emulator import (
    ALB_COOKIE,
    COOKIE,
    MAX_FORM_BYTES,
    SIGNED_OUT,
    EmulatedUser,
    Emulator,
)
from tests.emulated_stack import Stack, emulated_stack, identity_headers
from tests.servers import bind_loopback, serve

ALICE = EmulatedUser("alice@example.com", ("admins",), "Alice")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # One for the module: the emulator keeps no state per client (the user is in its cookie).
    with emulated_stack(ALICE) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=10, trust_env=False) as http:
        yield http


@pytest.fixture
def own(stack: Stack) -> dict[str, str]:
    """The headers a browser sends with a form posted from the emulator's own page."""
    return {"Origin": stack.url, "Sec-Fetch-Site": "same-origin"}


class Canary:
    """A server on another port that must never be reached through the emulator."""

    def __init__(self) -> None:
        self.hits: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            for reply in ("lifespan.startup.complete", "lifespan.shutdown.complete"):
                await receive()
                await send({"type": reply})
            return
        self.hits.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"canary"})


@pytest.fixture(scope="module")
def canary() -> Iterator[tuple[int, Canary]]:
    app = Canary()
    with serve(app) as address:
        yield int(address.rsplit(":", 1)[1]), app


def exchange(port: int, request: bytes) -> tuple[int, bytes, bytes]:
    """Send ``request`` byte for byte to 127.0.0.1:``port``; the status, head and body back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


def get(port: int, target: str, host: str | None = None, version: str = "1.1") -> bytes:
    """A GET request line and headers as given (``host=None``: no Host header at all)."""
    lines = [f"GET {target} HTTP/{version}", "Connection: close"]
    if host is not None:
        lines.append(f"Host: {host}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_requests_arrive_signed_for_the_current_user(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "Signed in as alice@example.com" in response.text
    assert client.get("/admin").status_code == 200


def test_client_supplied_alb_headers_are_replaced(client: httpx.Client) -> None:
    forged = {
        "x-amzn-oidc-data": "forged.header.value",
        "x-amzn-oidc-accesstoken": "forged",
        "x-amzn-oidc-identity": "mallory",
    }
    response = client.get("/", headers=forged)
    assert response.status_code == 200
    assert "alice@example.com" in response.text


def test_client_supplied_verified_access_context_is_stripped_too(client: httpx.Client) -> None:
    # An app configured for Verified Access behind this emulator must not see a forged one.
    forged = {"x-amzn-ava-user-context": "forged.header.value", "x-amzn-ava-other": "x"}
    response = client.get("/identity-headers", headers=forged)
    assert response.status_code == 200
    assert response.json()["headers"] == [
        "x-amzn-oidc-data",
        "x-amzn-oidc-accesstoken",
        "x-amzn-oidc-identity",
    ]


def test_sign_in_page_switches_user_and_groups(client: httpx.Client, own: dict[str, str]) -> None:
    page = client.get("/_emulator/sign-in")
    assert "alice@example.com" in page.text
    response = client.post(
        "/_emulator/sign-in",
        data={"email": "bob@example.com", "groups": "analysts, staff"},
        headers=own,
    )
    assert response.status_code == 303
    assert COOKIE in client.cookies
    assert "Signed in as bob@example.com" in client.get("/").text
    assert "analysts, staff" in client.get("/").text
    assert client.get("/admin").status_code == 403  # bob is not in admins
    refused = client.post("/_emulator/sign-in", data={"email": "nobody"}, headers=own)
    assert refused.status_code == 400


def test_sign_out_forwards_without_alb_headers(client: httpx.Client, own: dict[str, str]) -> None:
    assert "id=sign-out" in client.get("/_emulator/sign-in").text
    response = client.post("/_emulator/sign-out", headers=own)
    assert response.status_code == 303
    assert response.headers["location"] == "/_emulator/sign-in"
    assert "Signed out" in client.get("/_emulator/sign-in").text
    assert client.get("/").status_code == 401  # the app sees no ALB headers at all
    assert client.get("/", headers={"x-amzn-oidc-identity": "mallory"}).status_code == 401
    client.post("/_emulator/sign-in", data={"email": "bob@example.com"}, headers=own)
    assert "Signed in as bob@example.com" in client.get("/").text


def form_of_size(size: int) -> bytes:
    """A sign-in form for bob of exactly ``size`` bytes (padded with a field nobody reads)."""
    form = b"email=bob%40example.com&padding="
    return form + b"x" * (size - len(form))


def in_chunks(body: bytes) -> Iterator[bytes]:
    """``body`` as an iterator: httpx sends it chunked, without a Content-Length."""
    for start in range(0, len(body), 4096):
        yield body[start : start + 4096]


@pytest.mark.parametrize(
    ("size", "chunked", "status"),
    [
        pytest.param(MAX_FORM_BYTES, False, 303, id="at-the-cap"),
        pytest.param(MAX_FORM_BYTES, True, 303, id="at-the-cap-chunked"),
        pytest.param(MAX_FORM_BYTES + 1, False, 413, id="one-byte-over-by-content-length"),
        pytest.param(MAX_FORM_BYTES + 1, True, 413, id="one-byte-over-counted-while-read"),
    ],
)
def test_sign_in_form_over_the_cap_is_refused(
    client: httpx.Client, own: dict[str, str], size: int, chunked: bool, status: int
) -> None:
    body = form_of_size(size)
    headers = {**own, "Content-Type": "application/x-www-form-urlencoded"}
    response = client.post(
        "/_emulator/sign-in", content=in_chunks(body) if chunked else body, headers=headers
    )
    assert response.status_code == status
    if status == 413:  # refused whole, not cut at the cap and read as a shorter form
        assert "set-cookie" not in response.headers
        assert "Signed in as alice@example.com" in client.get("/").text
    else:
        assert "Signed in as bob@example.com" in client.get("/").text


def test_sign_in_form_declared_over_the_cap_is_refused_unread(stack: Stack) -> None:
    # Only the head and a few bytes are sent: were the body awaited, no answer would come.
    request = (
        f"POST /_emulator/sign-in HTTP/1.1\r\nHost: 127.0.0.1:{stack.port}\r\n"
        f"Origin: {stack.url}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {MAX_FORM_BYTES + 1}\r\nConnection: close\r\n\r\n"
        "email=bob%40example.com"
    )
    status, head, _ = exchange(stack.port, request.encode())
    assert status == 413
    assert b"set-cookie" not in head.lower()


def set_cookies(response: httpx.Response) -> dict[str, tuple[str, set[str]]]:
    """``{name: (value, attributes)}`` of the response's Set-Cookie headers."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        pair, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = pair.partition("=")
        found[name] = (value, {attribute.lower() for attribute in attributes})
    return found


@pytest.mark.parametrize("path", ["/_emulator/sign-in", "/_emulator/sign-out"])
def test_form_cookie_is_strict_and_http_only(
    client: httpx.Client, own: dict[str, str], path: str
) -> None:
    response = client.post(path, data={"email": "bob@example.com"}, headers=own)
    assert response.status_code == 303
    assert set_cookies(response)[COOKIE][1] == {"path=/", "httponly", "samesite=strict"}


def test_sign_in_starts_the_albs_session_in_two_shards(
    client: httpx.Client, own: dict[str, str]
) -> None:
    bob = EmulatedUser("bob@example.com", ("staff",))
    response = client.post(
        "/_emulator/sign-in", data={"email": bob.email, "groups": "staff"}, headers=own
    )
    cookies = set_cookies(response)
    shards = [cookies[f"{ALB_COOKIE}-{n}"] for n in (0, 1)]
    # The attributes the ALB gives its cookie (samesite=lax is Starlette's default).
    assert all(attributes >= {"path=/", "secure", "httponly"} for _, attributes in shards)
    assert all("domain" not in " ".join(attributes) for _, attributes in shards)
    assert EmulatedUser.from_cookie(shards[0][0] + shards[1][0]) == bob
    signed_out = set_cookies(client.post("/_emulator/sign-out", headers=own))
    assert {signed_out[f"{ALB_COOKIE}-{n}"][0] for n in (0, 1)} == {'""'}


def test_the_albs_session_decides_before_the_pools(stack: Stack) -> None:
    carol = EmulatedUser("carol@example.com").to_cookie()
    half = len(carol) // 2
    cookies = {f"{ALB_COOKIE}-0": carol[:half], f"{ALB_COOKIE}-1": carol[half:], COOKIE: SIGNED_OUT}
    with httpx.Client(base_url=stack.url, cookies=cookies, trust_env=False) as http:
        assert "Signed in as carol@example.com" in http.get("/").text
        http.cookies.delete(f"{ALB_COOKIE}-1")  # one shard alone is no session
        assert http.get("/").status_code == 401


def test_an_apps_sign_out_ends_both_sessions(stack: Stack, own: dict[str, str]) -> None:
    bob = EmulatedUser("bob@example.com").to_cookie()
    half = len(bob) // 2
    cookies = {f"{ALB_COOKIE}-0": bob[:half], f"{ALB_COOKIE}-1": bob[half:], COOKIE: bob}
    with httpx.Client(base_url=stack.url, cookies=cookies, trust_env=False) as http:
        assert "Signed in as bob@example.com" in http.get("/").text
        signing_out = http.get("/logout")  # the app's logout_path, through the emulator
        assert signing_out.status_code == 302
        expired = set_cookies(signing_out)
        assert {name for name in expired if name.startswith(ALB_COOKIE)} == {
            f"{ALB_COOKIE}-0",
            f"{ALB_COOKIE}-1",
        }
        logout = httpx.URL(signing_out.headers["location"])
        assert (str(logout.copy_with(query=None)), logout.params["client_id"]) == (
            f"{stack.url}/_emulator/logout",
            stack.emulator.idp.client_id,
        )
        for name in expired:
            http.cookies.delete(name)  # as the browser does with an expired cookie
        at_pool = http.get(logout)
        assert at_pool.status_code == 302
        assert at_pool.headers["location"] == f"{stack.url}/_emulator/sign-in"
        assert set_cookies(at_pool)[COOKIE][0] == SIGNED_OUT
        http.cookies.set(COOKIE, SIGNED_OUT)
        assert http.get("/").status_code == 401  # no longer signed in


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param(
            {"client_id": "other", "logout_uri": "{url}/"}, "invalid client_id", id="client"
        ),
        pytest.param({"logout_uri": "{url}/"}, "invalid client_id", id="no-client"),
        pytest.param(
            {"client_id": "{client}", "logout_uri": "https://evil.example/"},
            "this machine",
            id="open-redirect",
        ),
        pytest.param(
            {"client_id": "{client}", "logout_uri": "javascript:alert(1)"},
            "this machine",
            id="script",
        ),
        pytest.param({"client_id": "{client}"}, "this machine", id="no-uri"),
    ],
)
def test_the_stand_in_logout_endpoint_checks_what_cognito_checks(
    client: httpx.Client, stack: Stack, query: dict[str, str], message: str
) -> None:
    filled = {
        name: value.format(url=stack.url, client=stack.emulator.idp.client_id)
        for name, value in query.items()
    }
    response = client.get("/_emulator/logout", params=filled)
    assert response.status_code == 400
    assert message in response.text
    assert "set-cookie" not in response.headers


# Headers of a POST to the emulator's forms; {url} is the emulator's origin, {port} its port.
CROSS_SITE = [
    pytest.param({"Origin": "http://evil.example"}, id="foreign-origin"),
    pytest.param({"Origin": "null"}, id="null-origin"),
    pytest.param({"Origin": "http://localhost:{port}"}, id="other-loopback-name"),
    pytest.param({"Origin": "http://127.0.0.1:{other}"}, id="other-port"),
    pytest.param({"Origin": "https://127.0.0.1:{port}"}, id="other-scheme"),
    pytest.param({"Origin": "{url}.evil.example"}, id="origin-as-prefix"),
    pytest.param({"Referer": "http://evil.example/{url}"}, id="foreign-referer"),
    pytest.param({"Referer": "http://127.0.0.1:{port}@evil.example/"}, id="referer-userinfo"),
    pytest.param({"Origin": "http://evil.example", "Referer": "{url}/"}, id="origin-wins"),
    pytest.param({}, id="neither-origin-nor-referer"),
    pytest.param({"Origin": "{url}", "Sec-Fetch-Site": "cross-site"}, id="fetch-cross-site"),
    pytest.param({"Origin": "{url}", "Sec-Fetch-Site": "same-site"}, id="fetch-same-site"),
]
SAME_ORIGIN = [
    pytest.param({"Origin": "{url}"}, id="own-origin"),
    pytest.param({"Referer": "{url}/_emulator/sign-in"}, id="own-referer"),
    pytest.param({"Origin": "{url}", "Sec-Fetch-Site": "same-origin"}, id="fetch-same-origin"),
]


@pytest.mark.parametrize("path", ["/_emulator/sign-in", "/_emulator/sign-out"])
@pytest.mark.parametrize("headers", CROSS_SITE)
def test_forms_refuse_posts_from_other_origins(
    client: httpx.Client, stack: Stack, path: str, headers: dict[str, str]
) -> None:
    filled = {
        name: value.format(url=stack.url, port=stack.port, other=stack.port + 1)
        for name, value in headers.items()
    }
    response = client.post(path, data={"email": "mallory@example.com"}, headers=filled)
    assert response.status_code == 403
    assert "only posts from its own pages" in response.text
    assert "set-cookie" not in response.headers
    assert "Signed in as alice@example.com" in client.get("/").text


@pytest.mark.parametrize("path", ["/_emulator/sign-in", "/_emulator/sign-out"])
@pytest.mark.parametrize("headers", SAME_ORIGIN)
def test_forms_accept_posts_from_their_own_pages(
    client: httpx.Client, stack: Stack, path: str, headers: dict[str, str]
) -> None:
    filled = {name: value.format(url=stack.url) for name, value in headers.items()}
    response = client.post(path, data={"email": "bob@example.com"}, headers=filled)
    assert response.status_code == 303


def test_request_and_response_bodies_stream_intact(client: httpx.Client) -> None:
    body = bytes(range(256)) * 8192  # 2 MiB

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = client.post("/digest", content=chunks())
    assert response.json() == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    streamed = client.get("/stream")
    assert streamed.content == b"".join(f"{n:04d}".encode() * 256 for n in range(100))


def test_one_date_and_one_server_header(client: httpx.Client) -> None:
    # The app behind is a uvicorn server too: both would add Date and Server.
    response = client.get("/")
    assert response.status_code == 200
    assert len(response.headers.get_list("date")) == 1
    assert response.headers.get_list("server") == ["uvicorn"]


@pytest.mark.parametrize(
    "request_line",
    [
        pytest.param("GET @127.0.0.1:{canary}/x", id="userinfo-to-another-port"),
        pytest.param("GET http://127.0.0.1:{canary}/x", id="absolute-form"),
        pytest.param("GET http://127.0.0.1:{port}/x", id="absolute-form-own-address"),
        pytest.param("CONNECT 127.0.0.1:{canary}", id="authority-form"),
        pytest.param("OPTIONS *", id="asterisk"),
        pytest.param("GET x", id="no-leading-slash"),
        pytest.param("GET //127.0.0.1:{canary}/x", id="double-slash"),
        pytest.param("GET /\\127.0.0.1:{canary}/x", id="backslash"),
        pytest.param("GET /x?next=\\\\127.0.0.1:{canary}", id="backslash-in-query"),
        pytest.param("GET /x#@127.0.0.1:{canary}/", id="fragment"),
        pytest.param("GET /x%zz", id="broken-percent-escape"),
        pytest.param("GET /_emulator/jwks.json?%", id="broken-escape-on-own-page"),
    ],
)
def test_odd_request_targets_are_refused(
    stack: Stack, canary: tuple[int, Canary], request_line: str
) -> None:
    canary_port, app = canary
    line = request_line.format(canary=canary_port, port=stack.port)
    request = f"{line} HTTP/1.1\r\nHost: 127.0.0.1:{stack.port}\r\nConnection: close\r\n\r\n"
    status, _, body = exchange(stack.port, request.encode())
    assert (status, body) == (
        400,
        b"the emulator forwards only request targets of the form /path?query",
    )
    assert app.hits == []


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(b"/x\x00", id="nul"),
        pytest.param(b"/x y", id="space"),
        pytest.param(b"/x\r\nX-Injected: 1", id="crlf"),
        pytest.param(b"/x\t", id="tab"),
        pytest.param(b"/\xc3\xa9", id="non-ascii"),
        pytest.param(b"/x\x7f", id="del"),
    ],
)
def test_control_characters_in_targets_are_refused(
    idp: FakeIdentityProvider, target: bytes
) -> None:
    # uvicorn's h11 refuses these itself, so they are handed to the ASGI app directly, as a
    # laxer server could: the emulator must not rely on the server for its guarantee.
    emulator = Emulator("http://127.0.0.1:1", ALICE, idp=idp)
    raw_path, _, query = target.partition(b"?")
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": raw_path.decode("latin-1"),
        "raw_path": raw_path,
        "query_string": query,
        "headers": [(b"host", b"127.0.0.1:9000")],
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(emulator(scope, receive, send))
    assert sent[0]["status"] == 400


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/raw/a%20b", id="escaped-space"),
        pytest.param("/raw/%2F%2f/x?next=%2F%2Fevil", id="escaped-slashes"),
        pytest.param("/raw/a:b@c;d=e,f!$&'()*+~-._", id="sub-delims"),
        pytest.param("/raw/x?q=a/b?c&r=@:|^[]", id="query-characters"),
    ],
)
def test_plain_targets_arrive_unchanged(stack: Stack, target: str) -> None:
    status, _, body = exchange(stack.port, get(stack.port, target, f"127.0.0.1:{stack.port}"))
    assert status == 200
    assert json.loads(body) == {"target": target}


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("localhost", id="localhost"),
        pytest.param("LocalHost:{port}", id="localhost-any-case-with-port"),
        pytest.param("127.0.0.1", id="ipv4"),
        pytest.param("127.1.2.3:{port}", id="ipv4-loopback-range"),
        pytest.param("[::1]", id="ipv6"),
        pytest.param("[::1]:{port}", id="ipv6-with-port"),
    ],
)
def test_loopback_host_values_are_served(stack: Stack, host: str) -> None:
    request = get(stack.port, "/", host.format(port=stack.port))
    status, _, body = exchange(stack.port, request)
    assert status == 200
    assert b"Signed in as alice@example.com" in body


@pytest.mark.parametrize(
    ("host", "status"),
    [
        pytest.param("evil.example", 421, id="foreign-name"),
        pytest.param("evil.example:{port}", 421, id="foreign-name-with-port"),
        pytest.param("localhost.evil.example", 421, id="localhost-as-prefix"),
        pytest.param("127.0.0.1.nip.io", 421, id="address-as-prefix"),
        pytest.param("127.0.0.1@evil.example", 421, id="userinfo"),
        pytest.param("0.0.0.0", 421, id="any-address"),  # noqa: S104
        pytest.param("192.168.0.1", 421, id="private-address"),
        pytest.param("127.0.0.256", 421, id="not-an-address"),
        pytest.param("[::2]", 421, id="other-ipv6"),
        pytest.param("::1", 421, id="ipv6-without-brackets"),
        pytest.param("localhost:x", 421, id="port-not-a-number"),
        pytest.param("", 421, id="empty"),
        pytest.param(None, 400, id="missing"),
    ],
)
def test_other_host_values_are_refused(stack: Stack, host: str | None, status: int) -> None:
    # HTTP/1.0, where a missing Host is legal and reaches the emulator (h11 refuses it in 1.1).
    request = get(
        stack.port, "/", host.format(port=stack.port) if host is not None else None, "1.0"
    )
    answer, head, body = exchange(stack.port, request)
    assert answer == status
    assert b"text/plain" in head
    assert b"Host" in body
    assert b"alice" not in body


@pytest.mark.parametrize(
    ("host", "target"),
    [
        pytest.param("evil.example:{port}", "/ws", id="foreign-host"),
        pytest.param("127.0.0.1:{port}", "//127.0.0.1/ws", id="odd-target"),
    ],
)
def test_websocket_handshakes_are_refused_likewise(stack: Stack, host: str, target: str) -> None:
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host.format(port=stack.port)}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    status, _, _ = exchange(stack.port, request.encode())
    assert status == 403  # uvicorn's answer to a close before accept


def test_websocket_through_the_emulator(stack: Stack) -> None:
    url = stack.url.replace("http://", "ws://") + "/ws"
    with connect(url, open_timeout=10, proxy=None) as websocket:
        websocket.send("ping")
        assert websocket.recv(timeout=10) == "alice@example.com: ping"


def test_keys_are_served_for_the_app(client: httpx.Client, stack: Stack) -> None:
    idp = stack.emulator.idp
    assert client.get(f"/_emulator/alb-keys/{idp.alb_kid}").content == idp.alb_public_pem()
    assert client.get("/_emulator/alb-keys/00000000-0000-4000-8000-000000000000").status_code == 404
    assert client.get("/_emulator/jwks.json").json() == idp.jwks()


# Verified Access: the emulator signs x-amzn-ava-user-context instead, in either claim shape.


@pytest.fixture(scope="module", params=["oidc", "iam-identity-center"])
def va_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with emulated_stack(ALICE, FakeVerifiedAccess(request.param)) as running:
        yield running


@pytest.fixture
def va_client(va_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=va_stack.url, timeout=10, trust_env=False) as http:
        yield http


def va_idp(stack: Stack) -> FakeVerifiedAccess:
    idp = stack.emulator.idp
    assert isinstance(idp, FakeVerifiedAccess)
    return idp


def test_verified_access_settings_trust_the_emulator(va_stack: Stack) -> None:
    idp = va_idp(va_stack)
    assert va_stack.emulator.app_settings() == {
        "COGNITO_AUTH_PROVIDER": "verified-access",
        "COGNITO_AUTH_VERIFIED_ACCESS_INSTANCE_ARN": idp.instance_arn,
        "COGNITO_AUTH_VERIFIED_ACCESS_KEY_URL": f"{va_stack.url}/_emulator/verified-access-keys",
        "COGNITO_AUTH_ISSUER": idp.issuer,
    }


def test_verified_access_admits_the_signed_in_user_end_to_end(
    va_client: httpx.Client, va_stack: Stack
) -> None:
    response = va_client.get("/identity-headers")
    assert response.status_code == 200, response.text
    # One signed header, no ALB headers: the app's middleware verified it (ES384, P-384 key).
    assert response.json()["headers"] == ["x-amzn-ava-user-context"]
    assert response.json()["sub"] == ALICE.sub
    assert "Signed in as alice@example.com" in va_client.get("/").text
    own = {"Origin": va_stack.url, "Sec-Fetch-Site": "same-origin"}
    va_client.post("/_emulator/sign-in", data={"email": "bob@example.com"}, headers=own)
    assert "Signed in as bob@example.com" in va_client.get("/").text
    va_client.post("/_emulator/sign-out", headers=own)
    assert va_client.get("/").status_code == 401  # no header at all once signed out


def test_verified_access_websocket_is_signed_too(va_stack: Stack) -> None:
    url = va_stack.url.replace("http://", "ws://") + "/ws"
    with connect(url, open_timeout=10, proxy=None) as websocket:
        websocket.send("ping")
        assert websocket.recv(timeout=10) == "alice@example.com: ping"


def test_a_forged_verified_access_context_is_stripped(
    va_client: httpx.Client, va_stack: Stack
) -> None:
    # Validly signed with the emulator's own key, for another user: kept, it would be admitted.
    mallory = va_idp(va_stack).headers(sub="mallory", email="mallory@example.com")
    response = va_client.get("/identity-headers", headers=mallory)
    assert response.status_code == 200, response.text
    assert response.json()["sub"] == ALICE.sub
    assert response.json()["headers"] == ["x-amzn-ava-user-context"]
    va_client.cookies.set(COOKIE, SIGNED_OUT)
    assert va_client.get("/", headers=mallory).status_code == 401
    forged_alb = FakeIdentityProvider().headers(sub="mallory")
    assert va_client.get("/", headers=forged_alb).status_code == 401


def test_verified_access_groups_reach_the_app_in_the_oidc_shape(
    va_client: httpx.Client, va_stack: Stack
) -> None:
    oidc = va_idp(va_stack).shape == "oidc"
    # IAM Identity Center's user context has no groups: what was typed is not signed.
    assert va_client.get("/identity-headers").json()["groups"] == (["admins"] if oidc else [])
    assert va_client.get("/admin").status_code == (200 if oidc else 403)
    own = {"Origin": va_stack.url, "Sec-Fetch-Site": "same-origin"}
    va_client.post(
        "/_emulator/sign-in", data={"email": "bob@example.com", "groups": "analysts"}, headers=own
    )
    assert va_client.get("/identity-headers").json()["groups"] == (["analysts"] if oidc else [])
    assert va_client.get("/admin").status_code == 403


def test_verified_access_sign_in_page_names_the_trust_provider(va_client: httpx.Client) -> None:
    page = va_client.get("/_emulator/sign-in").text
    assert "a Verified Access user context" in page
    if "IAM Identity Center" in page:
        assert "IAM Identity Center sends no groups" in page
    else:
        assert "<h1>Verified Access (an OIDC trust provider) emulator</h1>" in page


def test_verified_access_key_is_served_and_nothing_of_the_pool(
    va_client: httpx.Client, va_stack: Stack
) -> None:
    idp = va_idp(va_stack)
    served = va_client.get(f"/_emulator/verified-access-keys/{idp.alb_kid}")
    assert served.content == idp.alb_public_pem()
    key = serialization.load_pem_public_key(served.content)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp384r1"
    other = "/_emulator/verified-access-keys/00000000-0000-4000-8000-000000000000"
    assert va_client.get(other).status_code == 404
    for path in (f"/_emulator/alb-keys/{idp.alb_kid}", "/_emulator/jwks.json", "/_emulator/logout"):
        assert va_client.get(path).status_code == 404, path


def test_cookie_round_trip_and_garbage() -> None:
    assert EmulatedUser.from_cookie(ALICE.to_cookie()) == ALICE
    assert EmulatedUser.from_cookie("not-base64!") is None
    assert ALICE.sub == EmulatedUser("ALICE@example.com").sub  # stable per address


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("0.0.0.0", id="any-address"),  # noqa: S104
        pytest.param("192.168.0.1", id="private-address"),
        pytest.param("localhost.example.com", id="localhost-as-prefix"),
    ],
)
def test_refuses_to_listen_beyond_loopback(host: str) -> None:
    with pytest.raises(SystemExit, match="loopback"):
        main(["emulate", "--upstream", "http://127.0.0.1:1", "--host", host])


@pytest.mark.parametrize(
    "upstream",
    [
        pytest.param("ftp://127.0.0.1:1", id="not-http"),
        pytest.param("127.0.0.1:1", id="no-scheme"),
        pytest.param("http://127.0.0.1:1/?x=1", id="query"),
    ],
)
def test_refuses_an_upstream_that_is_not_a_base_url(upstream: str) -> None:
    with pytest.raises(SystemExit, match="--upstream"):
        main(["emulate", "--upstream", upstream])


def read_lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def fetch_when_listening(url: str, errors: Path) -> httpx.Response:
    """GET ``url`` once the server is up (the settings are printed before it listens)."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return httpx.get(url, trust_env=False)
        except httpx.ConnectError:
            assert time.monotonic() < deadline, errors.read_text()
            time.sleep(0.05)


@contextlib.contextmanager
def emulate_command(tmp_path: Path, arguments: list[str], last: str) -> Iterator[dict[str, str]]:
    """Run ``cognito-auth-middleware emulate`` in a subprocess; yield the settings it printed.

    Yields once the setting ``last`` was read; the emulator is stopped on exit.
    """
    command = [sys.executable, "-m", "cognito_auth_middleware.tools.cli", "emulate", *arguments]
    # As from an ordinary shell: with PYTHONUNBUFFERED set, a missing flush would go unseen.
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    errors = tmp_path / "stderr.txt"
    lines: queue.Queue[str] = queue.Queue()
    with (
        errors.open("w") as stderr,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=environment
        ) as process,
    ):
        assert process.stdout is not None
        reader = threading.Thread(target=read_lines, args=(process.stdout, lines))
        reader.start()
        try:
            settings: dict[str, str] = {}
            while last not in settings:
                try:
                    line = lines.get(timeout=15)
                except queue.Empty:
                    pytest.fail(f"no settings printed yet; stderr: {errors.read_text()}")
                name, _, value = line.strip().removeprefix("export ").partition("=")
                settings[name] = value
            yield settings
        finally:
            process.terminate()
            process.wait(10)
            reader.join(10)


def test_command_on_localhost_prints_its_settings_at_once(tmp_path: Path) -> None:
    # The settings must reach a pipe while the emulator runs, not when it exits.
    with bind_loopback() as probe:
        port = probe.getsockname()[1]
    arguments = ["--upstream", "http://127.0.0.1:1", "--host", "localhost", "--port", str(port)]
    with emulate_command(tmp_path, arguments, "COGNITO_AUTH_JWKS_URL") as settings:
        jwks_url = settings["COGNITO_AUTH_JWKS_URL"]
        assert jwks_url == f"http://localhost:{port}/_emulator/jwks.json"
        keys = fetch_when_listening(jwks_url, tmp_path / "stderr.txt")
        assert keys.status_code == 200
        assert keys.json()["keys"]


def test_command_in_verified_access_mode_signs_for_an_app_it_configures(tmp_path: Path) -> None:
    # The app starts from the printed settings alone, as a developer's would.
    with bind_loopback() as probe:
        port = probe.getsockname()[1]
    app_socket = bind_loopback()
    arguments = ["--upstream", f"http://127.0.0.1:{app_socket.getsockname()[1]}"]
    arguments += ["--port", str(port), "--user", "dana@example.com", "--groups", "admins"]
    arguments += ["--provider", "verified-access", "--trust-provider", "iam-identity-center"]
    with emulate_command(tmp_path, arguments, "COGNITO_AUTH_ISSUER") as printed:
        assert printed["COGNITO_AUTH_PROVIDER"] == "verified-access"
        assert "IAM Identity Center sends no groups" in "".join(printed)
        settings: dict[str, Any] = {
            name.removeprefix("COGNITO_AUTH_").lower(): value
            for name, value in printed.items()
            if name.startswith("COGNITO_AUTH_")
        }
        app = Starlette(routes=[Route("/", identity_headers)])
        with serve(CognitoAuthMiddleware(app, **settings), app_socket):
            response = fetch_when_listening(f"http://127.0.0.1:{port}/", tmp_path / "stderr.txt")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "headers": ["x-amzn-ava-user-context"],
        "sub": EmulatedUser("dana@example.com").sub,
        "groups": [],
    }


def test_trust_provider_applies_to_verified_access_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["emulate", "--upstream", "http://127.0.0.1:1", "--trust-provider", "oidc"])
    assert "--trust-provider applies to --provider verified-access only" in capsys.readouterr().err
