"""Hostile values in signed tokens: each rule here was once broken, each case fails without it.

The tokens are signed with the real keys over exactly the JSON text under test, so every value
reaches the checks that come after the signature. Whatever the value, the answer is a User or a
documented refusal, from the engine, both middlewares and ``User(...)``: never another
exception, never a 500.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from werkzeug.test import Client
from werkzeug.wrappers import Response

from cognito_auth_middleware import (
    CognitoAuthMiddleware,
    CognitoAuthWSGIMiddleware,
    InvalidTokenError,
    Settings,
    User,
    Verifier,
)
from cognito_auth_middleware.exceptions import AuthenticationError
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from cognito_auth_middleware.tools.cli import main
from tests.conftest import Clock

SUB = "11111111-2222-3333-4444-555555555555"
HUGE = 10**400  # json.dumps writes all 401 digits; float() of it overflows


def _alb(idp: FakeIdentityProvider, header: dict[str, Any], payload: dict[str, Any]) -> str:
    base_header, base_payload = idp.alb_fields(sub=SUB)
    return idp.sign_raw_alb(
        json.dumps({**base_header, **header}).encode(),
        json.dumps({**base_payload, **payload}).encode(),
    )


def _access(idp: FakeIdentityProvider, payload: dict[str, Any]) -> str:
    header, base = idp.access_fields(sub=SUB)
    return idp.sign_raw_access(
        json.dumps(header).encode(), json.dumps({**base, **payload}).encode()
    )


@pytest.fixture
def verifier(options: dict[str, Any], clock: Clock) -> Verifier:
    return Verifier(clock=clock, **options)


KID_SUFFIXES = ["\n", "\r\n", " ", "\t", "%0a", "/../x", "?x=1", "#x", "\x00"]


@pytest.mark.parametrize("suffix", KID_SUFFIXES, ids=repr)
def test_a_kid_must_be_exactly_a_uuid(
    verifier: Verifier, idp: FakeIdentityProvider, key_server: KeyServer, suffix: str
) -> None:
    alb = _alb(idp, {"kid": idp.alb_kid + suffix}, {})
    with pytest.raises(InvalidTokenError, match="kid is not a UUID"):
        verifier.authenticate(alb, _access(idp, {}))
    assert key_server.requests == []  # refused before any URL is built


def test_the_kid_is_quoted_in_the_key_url() -> None:
    settings = Settings.load(environ={}, region="eu-west-2")
    assert settings.alb_key_url_for("a/b?c#d\n").endswith("/a%2Fb%3Fc%23d%0A")


TIME_VALUES = [
    pytest.param(None, id="null"),
    pytest.param(HUGE, id="400-digits"),
    pytest.param(1e300, id="1e300"),
    pytest.param(-1, id="negative"),
    pytest.param("4102444800", id="string"),
    pytest.param(True, id="bool"),
    pytest.param([1], id="list"),
    pytest.param({"n": 1}, id="object"),
]
TIME_PLACES = [
    pytest.param("alb-header", id="alb-header"),
    pytest.param("alb-payload", id="alb-payload"),
    pytest.param("access", id="access"),
]


def _with_time(idp: FakeIdentityProvider, place: str, name: str, value: object) -> dict[str, str]:
    change = {name: value}
    return {
        "x-amzn-oidc-data": _alb(
            idp,
            change if place == "alb-header" else {},
            change if place == "alb-payload" else {},
        ),
        "x-amzn-oidc-accesstoken": _access(idp, change if place == "access" else {}),
    }


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("place", TIME_PLACES)
@pytest.mark.parametrize("value", TIME_VALUES)
def test_a_present_time_claim_must_be_a_sane_number(
    verifier: Verifier, idp: FakeIdentityProvider, place: str, name: str, value: object
) -> None:
    headers = _with_time(idp, place, name, value)
    with pytest.raises(InvalidTokenError, match=f"'{name}' must be a number of seconds"):
        verifier.authenticate(headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"])


def test_infinity_from_an_overflowing_literal_is_refused(
    verifier: Verifier, idp: FakeIdentityProvider
) -> None:
    header, payload = idp.alb_fields(sub=SUB)
    text = json.dumps(payload)[:-1] + ', "nbf": 1e400}'  # json reads this as inf
    alb = idp.sign_raw_alb(json.dumps(header).encode(), text.encode())
    with pytest.raises(InvalidTokenError, match="'nbf' must be a number"):
        verifier.authenticate(alb, _access(idp, {}))


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def _wsgi_hello(environ: Any, start_response: Any) -> Any:
    return Response("hello")(environ, start_response)


HOSTILE_HEADERS = [
    pytest.param({"place": "alb-payload", "name": "exp", "value": HUGE}, id="exp-huge"),
    pytest.param({"place": "access", "name": "iat", "value": HUGE}, id="iat-huge"),
    pytest.param({"place": "alb-header", "name": "nbf", "value": None}, id="nbf-null"),
]


@pytest.mark.parametrize("case", HOSTILE_HEADERS)
def test_hostile_time_claims_are_401_in_every_shell(
    options: dict[str, Any], idp: FakeIdentityProvider, case: dict[str, Any]
) -> None:
    headers = _with_time(idp, case["place"], case["name"], case["value"])
    asgi = CognitoAuthMiddleware(Starlette(routes=[Route("/", _hello)]), **options)
    with TestClient(asgi, raise_server_exceptions=False) as client:
        assert client.get("/", headers=headers).status_code == 401
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect("/", headers=headers),
        ):
            pass
        assert closed.value.code == 1008
    wsgi = Client(CognitoAuthWSGIMiddleware(_wsgi_hello, **options))
    assert wsgi.get("/", headers=headers).status_code == 401
    with pytest.raises(InvalidTokenError):
        User(headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"], **options)


def test_a_newline_after_the_kid_is_401_in_every_shell(
    options: dict[str, Any], idp: FakeIdentityProvider
) -> None:
    headers = {
        "x-amzn-oidc-data": _alb(idp, {"kid": idp.alb_kid + "\n"}, {}),
        "x-amzn-oidc-accesstoken": _access(idp, {}),
    }
    asgi = CognitoAuthMiddleware(Starlette(routes=[Route("/", _hello)]), **options)
    with TestClient(asgi, raise_server_exceptions=False) as client:
        assert client.get("/", headers=headers).status_code == 401
    wsgi = Client(CognitoAuthWSGIMiddleware(_wsgi_hello, **options))
    assert wsgi.get("/", headers=headers).status_code == 401
    with pytest.raises(InvalidTokenError):
        User(headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"], **options)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(" ", " ", id="spaces"),
        pytest.param("\n", "\r\n", id="newlines"),
        pytest.param("\t ", "\t", id="tabs"),
    ],
)
def test_json_whitespace_around_the_object_is_accepted(
    verifier: Verifier, idp: FakeIdentityProvider, before: str, after: str
) -> None:
    header, payload = idp.alb_fields(sub=SUB)
    access_header, access_payload = idp.access_fields(sub=SUB)

    def spaced(value: dict[str, Any]) -> bytes:
        return f"{before}{json.dumps(value, indent=1)}{after}".encode()

    alb = idp.sign_raw_alb(spaced(header), spaced(payload))
    access = idp.sign_raw_access(spaced(access_header), spaced(access_payload))
    assert verifier.authenticate(alb, access).sub == SUB


ODD_DISPLAY = [
    pytest.param({"email_verified": "yes"}, id="email-verified-yes"),
    pytest.param({"email_verified": 1}, id="email-verified-int"),
    pytest.param({"email_verified": None}, id="email-verified-null"),
    pytest.param({"username": 42}, id="username-int"),
    pytest.param({"username": ["a"]}, id="username-list"),
    pytest.param({"email": {"a": 1}}, id="email-object"),
    pytest.param({"name": HUGE}, id="name-huge"),
    pytest.param({"given_name": False, "family_name": 1.5}, id="names"),
]


@pytest.mark.parametrize("claims", ODD_DISPLAY)
def test_odd_display_claims_never_lock_a_user_out(
    verifier: Verifier,
    idp: FakeIdentityProvider,
    claims: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="cognito_auth_middleware"):
        user = verifier.authenticate(_alb(idp, {}, claims), _access(idp, {"username": SUB}))
    assert user.sub == SUB
    assert user.email_verified is ("email_verified" not in claims)  # the base says "true"
    for field in claims:
        value = getattr(user, field)
        assert value is None or isinstance(value, str | bool)


def test_email_verified_is_true_only_for_true(
    verifier: Verifier, idp: FakeIdentityProvider
) -> None:
    for value, verified in ((True, True), ("true", True), ("yes", False), (1, False)):
        alb = _alb(idp, {}, {"email": "a@example.com", "email_verified": value})
        assert verifier.authenticate(alb, _access(idp, {})).email_verified is verified


@pytest.mark.parametrize(
    "value", [pytest.param(1e20, id="1e20"), pytest.param(HUGE, id="400-digits")]
)
def test_inspect_reports_hostile_times_without_crashing(
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    value: object,
) -> None:
    headers = _with_time(idp, "alb-payload", "exp", value)
    saved = tmp_path / "request.txt"
    saved.write_text("".join(f"{name}: {text}\n" for name, text in headers.items()))
    settings = key_server.settings()
    flags = [f"--{name.replace('_', '-')}={settings[name]}" for name in sorted(settings)]
    code = main(["inspect", "--request", str(saved), *flags])
    output = capsys.readouterr().out
    assert code == 1
    assert "not a valid time" in output
    assert "FAIL  ALB signature and fields: ALB token: 'exp' must be a number" in output


def test_verifier_errors_are_authentication_errors(
    verifier: Verifier, idp: FakeIdentityProvider
) -> None:
    # The base class is what apps catch: the hostile cases above all derive from it.
    with pytest.raises(AuthenticationError):
        verifier.authenticate(_alb(idp, {"exp": HUGE}, {}), _access(idp, {}))


@pytest.mark.parametrize(
    ("alb", "access"),
    [
        pytest.param({"iss": None}, {}, id="alb-payload-iss-null"),
        pytest.param({"scope": 1}, {}, id="alb-scope-int"),
        pytest.param({}, {"scope": None}, id="access-scope-null"),
        pytest.param({}, {"jti": []}, id="access-jti-list"),
        pytest.param({}, {"aud": 5}, id="access-aud-int"),
        pytest.param({"aud": ["a", 1]}, {}, id="alb-aud-mixed-list"),
    ],
)
def test_registered_claims_of_the_wrong_type_are_refused(
    verifier: Verifier, idp: FakeIdentityProvider, alb: dict[str, Any], access: dict[str, Any]
) -> None:
    # Found by the differential: aws-jwt-verify refuses these, and an app may read them.
    with pytest.raises(InvalidTokenError):
        verifier.authenticate(_alb(idp, {}, alb), _access(idp, access))


def test_an_alb_payload_must_name_its_issuer(verifier: Verifier, idp: FakeIdentityProvider) -> None:
    header, payload = idp.alb_fields(sub=SUB)
    del payload["iss"]
    alb = idp.sign_raw_alb(json.dumps(header).encode(), json.dumps(payload).encode())
    with pytest.raises(InvalidTokenError, match="'iss' is missing"):
        verifier.authenticate(alb, _access(idp, {}))
    assert verifier.authenticate(_alb(idp, {}, {"aud": ["x"]}), _access(idp, {"aud": "x"}))


@pytest.mark.parametrize("extra", ["===", "====", "="])
def test_padding_is_only_what_the_length_needs(
    verifier: Verifier, idp: FakeIdentityProvider, extra: str
) -> None:
    header, payload = (segment.rstrip("=") for segment in _alb(idp, {}, {}).split(".")[:2])
    while len(header) % 4:  # a header whose base64 needs no padding at all
        header_fields, _ = idp.alb_fields(sub=SUB)
        header_fields["x"] = "y" * (len(header) % 4 + 1)
        header = base64.urlsafe_b64encode(json.dumps(header_fields).encode()).decode()
        header = header.rstrip("=")
    signing_input = f"{header}{extra}.{payload}".encode()
    signature = base64.urlsafe_b64encode(idp.sign_alb(signing_input)).decode()
    with pytest.raises(InvalidTokenError, match="not base64url"):
        verifier.authenticate(f"{signing_input.decode()}.{signature}", _access(idp, {}))
