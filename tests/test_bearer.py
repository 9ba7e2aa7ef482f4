"""Machine clients: ``Authorization: Bearer <JWT>``, verified into a ``MachineClient``.

What an ALB's JWT verification action forwards, verified again here (defence in depth):
tokens of a Cognito pool's client-credentials grant and of an Okta-like provider, with real
keys served over loopback HTTP, through the engine, both middlewares and the framework helpers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from cognito_auth_middleware import (
    CognitoAuthMiddleware,
    CognitoAuthWSGIMiddleware,
    ConfigurationError,
    ExpiredTokenError,
    InvalidTokenError,
    MachineClient,
    Settings,
    User,
    Verifier,
)
from cognito_auth_middleware.integrations.fastapi import (
    current_machine,
    current_user,
    require_scopes,
)
from cognito_auth_middleware.integrations.flask import current_machine as flask_machine
from cognito_auth_middleware.integrations.flask import scopes_required
from cognito_auth_middleware.testing import FakeIdentityProvider, FakeOidcProvider, KeyServer
from tests.conftest import Clock
from tests.servers import serve, serve_wsgi


@pytest.fixture(scope="module")
def cognito() -> Iterator[tuple[FakeIdentityProvider, KeyServer]]:
    idp = FakeIdentityProvider()
    with KeyServer(idp) as server:
        yield idp, server


def _bearer(idp: FakeIdentityProvider, server: KeyServer, **overrides: Any) -> dict[str, Any]:
    """Middleware settings for people from ``idp`` and machine clients of its pool."""
    return server.settings(
        bearer=True, bearer_issuer=idp.issuer, bearer_jwks_url=server.jwks_url, **overrides
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# --- the engine's rules -------------------------------------------------------------------------


def test_a_client_credentials_token_gives_a_machine_client(
    cognito: tuple[FakeIdentityProvider, KeyServer],
) -> None:
    idp, server = cognito
    verifier = Verifier(**_bearer(idp, server))
    token = idp.mint_machine_token("svc-reports", ["reports/read", "reports/write"])
    machine = verifier.authenticate_bearer(token)
    assert machine == MachineClient(
        "svc-reports", ("reports/read", "reports/write"), idp.issuer, machine.exp, {}
    )
    assert machine.claims["token_use"] == "access"
    assert machine.has_scopes("reports/read")
    assert not machine.has_scopes("reports/read", "admin")
    assert (machine.is_authenticated, machine.display_name) == (True, "svc-reports")
    assert verifier.authenticate_bearer(token) is machine  # verified once, kept
    assert not isinstance(machine, User)


def test_an_okta_machine_token_is_verified_through_discovery() -> None:
    okta = FakeOidcProvider("okta")
    with KeyServer(okta) as server:
        verifier = Verifier(
            **server.settings(
                bearer=True, bearer_issuer=okta.issuer, bearer_audience="api://default"
            )
        )
        machine = verifier.authenticate_bearer(okta.mint_machine_token("0oa-svc", ["orders"]))
        assert (machine.client_id, machine.scopes) == ("0oa-svc", ("orders",))
        assert server.count("discovery") == 1


def test_bearer_tokens_are_refused_when_the_setting_is_off(
    cognito: tuple[FakeIdentityProvider, KeyServer],
) -> None:
    idp, server = cognito
    with pytest.raises(InvalidTokenError, match="bearer setting is off"):
        Verifier(**server.settings()).authenticate_bearer(idp.mint_machine_token())


@pytest.mark.parametrize(
    ("header", "claims", "overrides", "message"),
    [
        pytest.param({}, {"iss": "https://evil.example"}, {}, "issuer is not", id="issuer"),
        pytest.param({"alg": "RS384"}, {}, {}, "RS256 or ES256", id="alg"),
        pytest.param({"kid": None}, {}, {}, "'kid'", id="no-kid"),
        pytest.param({}, {"token_use": "id"}, {}, "token_use", id="id-token"),
        pytest.param({}, {"client_id": None}, {}, "no client id", id="no-client"),
        pytest.param({}, {"client_id": 5}, {}, "no client id", id="client-type"),
        pytest.param({}, {"scope": ["a"]}, {}, "'scope'", id="scope-type"),
        pytest.param({}, {"scope": None, "scp": {"a": 1}}, {}, "'scp'", id="scp-type"),
        pytest.param({}, {"exp": None}, {}, "'exp'", id="no-exp"),
        pytest.param({}, {"nbf": 4_000_000_000}, {}, "not valid yet", id="nbf"),
        pytest.param({}, {}, {"bearer_audience": "api://x"}, "audience", id="audience"),
        pytest.param({}, {}, {"bearer_clients": "svc-other"}, "bearer_clients", id="client"),
    ],
)
def test_bearer_token_rules(
    cognito: tuple[FakeIdentityProvider, KeyServer],
    header: dict[str, Any],
    claims: dict[str, Any],
    overrides: dict[str, Any],
    message: str,
) -> None:
    idp, server = cognito
    verifier = Verifier(**_bearer(idp, server, **overrides))
    token = idp.mint_machine_token("svc-1", header=header, claims=claims)
    with pytest.raises(InvalidTokenError, match=message):
        verifier.authenticate_bearer(token)


def test_an_expired_token_is_refused_also_once_cached(
    cognito: tuple[FakeIdentityProvider, KeyServer], clock: Clock
) -> None:
    idp, server = cognito
    verifier = Verifier(clock=clock, **_bearer(idp, server, leeway=0))
    with pytest.raises(ExpiredTokenError):
        verifier.authenticate_bearer(idp.mint_machine_token(ttl=-1, now=clock.now))
    token = idp.mint_machine_token(ttl=60, now=clock.now)
    assert verifier.authenticate_bearer(token)
    clock.now += 61
    with pytest.raises(ExpiredTokenError, match="bearer token: expired"):
        verifier.authenticate_bearer(token)


def test_forged_and_confused_bearer_tokens_are_refused(
    cognito: tuple[FakeIdentityProvider, KeyServer],
) -> None:
    idp, server = cognito
    verifier = Verifier(**_bearer(idp, server))
    impostor = FakeIdentityProvider()
    impostor.rsa_kid = idp.rsa_kid
    with pytest.raises(InvalidTokenError, match="signature"):
        verifier.authenticate_bearer(impostor.mint_machine_token(claims={"iss": idp.issuer}))
    # HS256 keyed with the public JWKS, and "none".
    header, payload, _ = idp.mint_machine_token().split(".")
    for alg in ("HS256", "none"):
        head = _b64(json.dumps({"alg": alg, "kid": idp.rsa_kid}).encode())
        secret = json.dumps(idp.jwks()).encode()
        signature = hmac.new(secret, f"{head}.{payload}".encode(), hashlib.sha256).digest()
        with pytest.raises(InvalidTokenError, match="RS256 or ES256"):
            verifier.authenticate_bearer(f"{head}.{payload}.{_b64(signature)}")
    # ES256 naming the pool's RSA key.
    es_head = _b64(json.dumps({"alg": "ES256", "kid": idp.rsa_kid}).encode())
    with pytest.raises(InvalidTokenError, match="its algorithm is not its key's"):
        verifier.authenticate_bearer(f"{es_head}.{payload}.{_b64(b'x' * 64)}")
    assert header  # the genuine header was RS256


def test_a_person_s_access_token_is_not_a_machine_unless_its_client_is_allowed(
    cognito: tuple[FakeIdentityProvider, KeyServer],
) -> None:
    # A Cognito access token of a person is a client's access token too: bearer_clients is
    # how an app admits only its machine clients.
    idp, server = cognito
    person = idp.mint_access_token(sub="ann")
    assert Verifier(**_bearer(idp, server)).authenticate_bearer(person).client_id == idp.client_id
    only_machines = Verifier(**_bearer(idp, server, bearer_clients="svc-1"))
    with pytest.raises(InvalidTokenError, match="bearer_clients"):
        only_machines.authenticate_bearer(person)
    assert only_machines.authenticate_bearer(idp.mint_machine_token("svc-1")).client_id == "svc-1"


# --- settings -----------------------------------------------------------------------------------

ARN = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/a/0123456789abcdef"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param({"BEARER": "true"}, "needs bearer_issuer", id="no-issuer"),
        pytest.param({"BEARER_ISSUER": "https://i.example"}, "apply only with bearer", id="off"),
        pytest.param({"BEARER_CLIENTS": "svc"}, "apply only with bearer", id="clients-off"),
        pytest.param({"BEARER": "yes", "BEARER_ISSUER": "i.example"}, "http", id="not-a-url"),
        pytest.param({"BEARER": "maybe"}, "bearer", id="not-a-boolean"),
        pytest.param({"BAERER": "true"}, "did you mean COGNITO_AUTH_BEARER", id="typo"),
    ],
)
def test_bearer_settings_that_cannot_be_honoured_stop_start_up(
    environ: dict[str, str], message: str
) -> None:
    env = {"COGNITO_AUTH_ALB_ARN": ARN} | {f"COGNITO_AUTH_{k}": v for k, v in environ.items()}
    with pytest.raises(ConfigurationError, match=message):
        Settings.load(environ=env)


# --- the middlewares and the framework helpers ------------------------------------------------


async def who(request: Request) -> JSONResponse:
    machine = getattr(request.state, "machine", None)
    user = request.state.user
    return JSONResponse(
        {
            "machine": machine.client_id if machine else None,
            "user": user.sub if user else None,
            "auth": sorted(request.auth.scopes),
        }
    )


@requires("scope:reports/read")
async def reports(request: Request) -> PlainTextResponse:
    return PlainTextResponse("reports")


@requires("admins")
async def admins(request: Request) -> PlainTextResponse:
    return PlainTextResponse("admins")


def test_the_asgi_middleware_admits_machines_with_their_scopes_and_never_as_users(
    cognito: tuple[FakeIdentityProvider, KeyServer],
) -> None:
    idp, server = cognito
    app = Starlette(routes=[Route("/", who), Route("/reports", reports), Route("/admins", admins)])
    app.add_middleware(CognitoAuthMiddleware, **_bearer(idp, server))
    with serve(app) as address, httpx.Client(base_url=f"http://{address}") as client:
        machine = {"authorization": f"Bearer {idp.mint_machine_token('svc-1', ['admins'])}"}
        assert client.get("/", headers=machine).json() == {
            "machine": "svc-1",
            "user": None,
            "auth": ["scope:admins"],
        }
        # A scope is not a group: "admins" the scope does not pass @requires("admins").
        assert client.get("/admins", headers=machine).status_code == 403
        readers = {"authorization": f"bearer {idp.mint_machine_token('svc-2')}"}
        assert client.get("/reports", headers=readers).text == "reports"
        person = idp.headers(sub="ann", groups=["admins"])
        assert client.get("/", headers=person).json()["user"] == "ann"
        assert client.get("/admins", headers=person).text == "admins"
        # Identity headers win: a bearer token next to them is not looked at.
        both = person | {"authorization": "Bearer not-even-a-jwt"}
        assert client.get("/", headers=both).json()["user"] == "ann"
        refused = {
            "no header": {},
            "basic": {"authorization": "Basic YWxpY2U6cGFzcw=="},
            "empty": {"authorization": "Bearer"},
            "garbage": {"authorization": "Bearer abc.def.ghi"},
            "expired": {"authorization": f"Bearer {idp.mint_machine_token(ttl=-60)}"},
        }
        for name, headers in refused.items():
            assert client.get("/", headers=headers).status_code == 401, name
        twice = [("authorization", machine["authorization"])] * 2
        assert client.get("/", headers=twice).status_code == 401


def test_without_the_setting_a_bearer_token_is_no_sign_in(
    cognito: tuple[FakeIdentityProvider, KeyServer],
) -> None:
    idp, server = cognito
    app = Starlette(routes=[Route("/", who)])
    app.add_middleware(CognitoAuthMiddleware, **server.settings())
    with serve(app) as address, httpx.Client(base_url=f"http://{address}") as client:
        machine = {"authorization": f"Bearer {idp.mint_machine_token()}"}
        response = client.get("/", headers=machine)
        assert (response.status_code, response.json()["error"]) == (401, "missing_token")


def test_fastapi_routes_for_machines_and_for_people(
    cognito: tuple[FakeIdentityProvider, KeyServer],
) -> None:
    idp, server = cognito
    app = FastAPI()
    app.add_middleware(CognitoAuthMiddleware, **_bearer(idp, server))

    @app.get("/api/reports", dependencies=[Depends(require_scopes("reports/read"))])
    def api_reports() -> str:
        return "reports"

    @app.get("/api/whoami")
    def api_whoami(machine: Annotated[MachineClient, Depends(current_machine)]) -> str:
        return machine.client_id

    @app.get("/me")
    def me(user: Annotated[User, Depends(current_user)]) -> str:
        return user.sub

    with serve(app) as address, httpx.Client(base_url=f"http://{address}") as client:
        reader = {"authorization": f"Bearer {idp.mint_machine_token('svc-1')}"}
        writer = {"authorization": f"Bearer {idp.mint_machine_token('svc-2', ['w'])}"}
        person = idp.headers(sub="ann")
        assert client.get("/api/reports", headers=reader).json() == "reports"
        assert client.get("/api/whoami", headers=reader).json() == "svc-1"
        assert client.get("/api/reports", headers=writer).status_code == 403
        assert client.get("/api/reports", headers=person).status_code == 401
        assert client.get("/me", headers=reader).status_code == 401  # a machine is no user
        assert client.get("/me", headers=person).json() == "ann"
    with pytest.raises(ConfigurationError, match="at least one scope"):
        require_scopes()


def test_flask_views_for_machines_under_a_real_wsgi_server(
    cognito: tuple[FakeIdentityProvider, KeyServer],
) -> None:
    idp, server = cognito
    flask_app = Flask(__name__)

    @flask_app.get("/api/reports")
    @scopes_required("reports/read")
    def flask_reports() -> str:
        machine = flask_machine()
        return machine.client_id if machine else "-"

    app = CognitoAuthWSGIMiddleware(flask_app.wsgi_app, **_bearer(idp, server))
    with serve_wsgi(app) as base, httpx.Client(base_url=base) as client:
        reader = {"authorization": f"Bearer {idp.mint_machine_token('svc-1')}"}
        writer = {"authorization": f"Bearer {idp.mint_machine_token('svc-2', ['w'])}"}
        assert client.get("/api/reports", headers=reader).text == "svc-1"
        assert client.get("/api/reports", headers=writer).status_code == 403
        assert client.get("/api/reports", headers=idp.headers()).status_code == 401
        assert client.get("/api/reports").status_code == 401
        bad = {"authorization": "Bearer x.y.z"}
        assert client.get("/api/reports", headers=bad).status_code == 401
    with pytest.raises(ConfigurationError, match="at least one scope"):
        scopes_required()
