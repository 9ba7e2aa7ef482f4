"""The ALB emulator end to end: real servers, real sockets, real verification behind it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from cognito_auth_middleware.cli import main
from cognito_auth_middleware.emulator import COOKIE, EmulatedUser
from tests.emulated_stack import Stack, emulated_stack

ALICE = EmulatedUser("alice@example.com", ("admins",), "Alice")


@pytest.fixture
def stack() -> Iterator[Stack]:
    with emulated_stack(ALICE) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=10, trust_env=False) as http:
        yield http


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


def test_sign_in_page_switches_user_and_groups(client: httpx.Client) -> None:
    page = client.get("/_emulator/sign-in")
    assert "alice@example.com" in page.text
    response = client.post(
        "/_emulator/sign-in", data={"email": "bob@example.com", "groups": "analysts, staff"}
    )
    assert response.status_code == 303
    assert COOKIE in client.cookies
    assert "Signed in as bob@example.com" in client.get("/").text
    assert "analysts, staff" in client.get("/").text
    assert client.get("/admin").status_code == 403  # bob is not in admins
    assert client.post("/_emulator/sign-in", data={"email": "nobody"}).status_code == 400


def test_request_and_response_bodies_stream_intact(client: httpx.Client) -> None:
    body = bytes(range(256)) * 8192  # 2 MiB

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = client.post("/digest", content=chunks())
    assert response.json() == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    streamed = client.get("/stream")
    assert streamed.content == b"".join(f"{n:04d}".encode() * 256 for n in range(100))


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


def test_cookie_round_trip_and_garbage() -> None:
    assert EmulatedUser.from_cookie(ALICE.to_cookie()) == ALICE
    assert EmulatedUser.from_cookie("not-base64!") is None
    assert ALICE.sub == EmulatedUser("ALICE@example.com").sub  # stable per address


def test_refuses_to_listen_beyond_loopback() -> None:
    with pytest.raises(SystemExit, match="loopback"):
        main(["emulate", "--upstream", "http://127.0.0.1:1", "--host", "0.0.0.0"])  # noqa: S104
