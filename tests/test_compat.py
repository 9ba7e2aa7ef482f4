"""``cognito_auth_middleware.integrations.compat``: the ``cognito-auth`` library's entry points.

Each is used as that library documents it (its README and docstrings), configured from the
environment as its users configure it, against the real framework with real signed tokens;
each must warn that it is deprecated and name the call to move to. The Streamlit shim runs in
Streamlit's own server, in ``tests/test_integration_streamlit.py`` (one ``st.App`` per process).
"""

# No ``from __future__ import annotations``: FastAPI resolves route annotations at run time.

import asyncio
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("flask")

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from flask import Flask

from cognito_auth_middleware import ConfigurationError, User
from cognito_auth_middleware.integrations.compat import (
    Authoriser,
    DashAuth,
    FastAPIAuth,
    GradioAuth,
)
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

ANN = "ann@example.com"


@pytest.fixture
def environment(key_server: KeyServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The COGNITO_AUTH_* variables of a deployment, pointing at the loopback key server."""
    for name, value in key_server.settings().items():
        monkeypatch.setenv(f"COGNITO_AUTH_{name.upper()}", str(value))


def _user(groups: tuple[str, ...] = (), email: str = ANN, verified: bool = True) -> User:
    claims = {"sub": "s", "email": email, "email_verified": verified}
    return User.from_claims(claims, {"sub": "s", "cognito:groups": list(groups), "iss": "t"})


def _quietly(call: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return call(*args, **kwargs)


# --- Authoriser -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "user", "authorised"),
    [
        pytest.param({"allowed_groups": ["a"]}, _user(("a",)), True, id="group"),
        pytest.param({"allowed_groups": ["a"]}, _user(("b",)), False, id="other-group"),
        pytest.param({"allowed_users": ["Ann@Example.com"]}, _user(), True, id="user-any-case"),
        pytest.param({"allowed_users": [ANN]}, _user(verified=False), False, id="unverified"),
        pytest.param(
            {"allowed_groups": ["a"], "allowed_users": ["bob@example.com"]},
            _user(("a",)),
            True,
            id="any-rule",
        ),
        pytest.param(
            {"allowed_groups": ["a"], "allowed_users": ["bob@example.com"], "require_all": True},
            _user(("a",)),
            False,
            id="require-all-every-rule",
        ),
        pytest.param(
            {"allowed_groups": ["a", "b"], "require_all": True},
            _user(("a",)),
            True,
            id="require-all-any-group",
        ),
        pytest.param(
            {"allowed_groups": ["a"], "admin_groups": ["ops"]}, _user(("ops",)), True, id="admin"
        ),
        pytest.param({}, _user(), True, id="no-rules"),
    ],
)
def test_authoriser_from_lists_has_the_library_meaning(
    rules: dict[str, Any], user: User, authorised: bool
) -> None:
    with pytest.warns(DeprecationWarning, match=r"Authoriser\.from_lists\(\) is deprecated"):
        authoriser = Authoriser.from_lists(**rules)
    with pytest.warns(DeprecationWarning, match=r"is_authorised\(user\) is deprecated"):
        assert authoriser.is_authorised(user) is authorised


@pytest.mark.usefixtures("only_live_policies")
def test_authoriser_from_config_reads_the_file_the_environment_names(
    environment: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "auth-config.json"
    path.write_text(json.dumps({"_comment": "x", "allowed_groups": ["a"], "admin_users": [ANN]}))
    monkeypatch.setenv("COGNITO_AUTH_CONFIG_PATH", str(path))
    with pytest.warns(DeprecationWarning, match="config_path/secret_name settings"):
        authoriser = Authoriser.from_config()
    assert _quietly(authoriser.is_authorised, _user(("a",)))
    assert not _quietly(authoriser.is_authorised, _user(("b",), email="bob@example.com"))
    assert authoriser.policy.is_admin(_user())
    with pytest.warns(DeprecationWarning, match=r"use cognito_auth_middleware\.reload_policy\(\)"):
        Authoriser.clear_config_cache()


def test_authoriser_from_config_without_a_source_is_refused(environment: None) -> None:
    with pytest.raises(ConfigurationError, match="needs COGNITO_AUTH_CONFIG_PATH"):
        _quietly(Authoriser.from_config)


# --- FastAPI ----------------------------------------------------------------------------------


def _fastapi_app(auth: FastAPIAuth, protect: bool) -> FastAPI:
    app = FastAPI()
    if protect:
        with pytest.warns(DeprecationWarning, match="use app.add_middleware"):
            auth.protect_app(app, bypass={"/health"})

    @app.get("/")
    def index(user: User = Depends(auth.get_auth_user)) -> dict[str, Any]:  # noqa: B008 (as documented)
        return {"email": user.email, "admin": user.is_admin}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.mark.parametrize("protect", [True, False], ids=["protect_app", "depends-only"])
def test_fastapi_auth_as_documented(
    environment: None, idp: FakeIdentityProvider, protect: bool
) -> None:
    auth = FastAPIAuth(authoriser=_quietly(Authoriser.from_lists, allowed_groups=["staff"]))
    with TestClient(_fastapi_app(auth, protect)) as client:
        with pytest.warns(DeprecationWarning, match=r"FastAPIAuth\(\)\.get_auth_user"):
            ok = client.get("/", headers=idp.headers(email=ANN, groups=["staff"]))
        assert ok.status_code == 200
        assert ok.json() == {"email": ANN, "admin": False}
        refused = _quietly(client.get, "/", headers=idp.headers(groups=["other"]))
        assert refused.status_code == 403
        assert _quietly(client.get, "/").status_code == 401
        if protect:  # bypass matches with or without the trailing slash, as in the library
            assert client.get("/health").json() == {"status": "ok"}
            assert client.get("/health/").status_code != 401


def test_authoriser_none_with_rules_in_the_environment_is_refused(
    environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGNITO_AUTH_ALLOWED_GROUPS", "staff")
    with pytest.raises(ConfigurationError, match="authoriser=None asks for no authorisation"):
        FastAPIAuth(authoriser=None)
    monkeypatch.delenv("COGNITO_AUTH_ALLOWED_GROUPS")
    FastAPIAuth(authoriser=None)  # nothing to contradict


def test_an_authoriser_next_to_a_policy_source_is_refused(
    environment: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COGNITO_AUTH_CONFIG_PATH", str(tmp_path / "auth.json"))
    authoriser = _quietly(Authoriser.from_lists, allowed_groups=["staff"])
    with pytest.raises(ConfigurationError, match="must come from one source"):
        DashAuth(authoriser=authoriser)


def test_without_an_alb_arn_the_shims_refuse_to_start(
    environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COGNITO_AUTH_ALB_ARN")
    for shim in (FastAPIAuth, DashAuth, GradioAuth):
        with pytest.raises(ConfigurationError, match="alb_arn is required"):
            shim()


# --- Dash / Flask -----------------------------------------------------------------------------


@pytest.fixture
def flask_app(environment: None) -> tuple[Flask, DashAuth]:
    app = Flask(__name__)
    auth = DashAuth()

    @app.route("/")
    def index() -> str:
        return f"Welcome {auth.get_auth_user().email}!"

    @app.route("/decorated")
    def decorated() -> str:
        return "decorated"

    return app, auth


def test_dash_auth_protect_app_on_flask(
    flask_app: tuple[Flask, DashAuth], idp: FakeIdentityProvider
) -> None:
    app, auth = flask_app
    with pytest.warns(DeprecationWarning, match="CognitoAuthWSGIMiddleware"):
        auth.protect_app(app)
    client = app.test_client()
    with pytest.warns(DeprecationWarning, match=r"integrations\.flask\.current_user\(\)"):
        ok = client.get("/", headers=idp.headers(email=ANN))
    assert ok.status_code == 200
    assert ok.text == f"Welcome {ANN}!"
    assert client.get("/").status_code == 401


def test_dash_auth_require_auth_without_protect_app(
    environment: None, idp: FakeIdentityProvider
) -> None:
    app = Flask(__name__)
    auth = DashAuth(authoriser=_quietly(Authoriser.from_lists, allowed_groups=["staff"]))
    with pytest.warns(DeprecationWarning, match="login_required"):

        @app.route("/protected")
        @auth.require_auth
        def protected() -> str:
            return f"Hello {_quietly(auth.get_auth_user).email}"

    client = app.test_client()
    assert client.get("/protected", headers=idp.headers(email=ANN, groups=["staff"])).text == (
        f"Hello {ANN}"
    )
    assert client.get("/protected", headers=idp.headers(groups=["other"])).status_code == 403
    assert client.get("/protected").status_code == 401


def test_dash_auth_protect_app_on_dash(environment: None, idp: FakeIdentityProvider) -> None:
    dash = pytest.importorskip("dash")
    app = dash.Dash(__name__)
    app.layout = dash.html.Div("hello")
    auth = DashAuth()
    _quietly(auth.protect_app, app)
    client = app.server.test_client()
    assert client.get("/", headers=idp.headers()).status_code == 200
    assert client.get("/").status_code == 401


# --- Gradio -----------------------------------------------------------------------------------


def test_gradio_auth_as_documented_with_fastapi(
    environment: None, idp: FakeIdentityProvider
) -> None:
    gradio = pytest.importorskip("gradio")
    from tests.test_integration_gradio import MOUNT, call_greet

    auth = GradioAuth(authoriser=_quietly(Authoriser.from_lists, allowed_groups=["staff"]))

    def greet(name: str, request: gradio.Request) -> str:  # type: ignore[name-defined]
        return f"Hello {name}! Logged in as {_quietly(auth.get_auth_user, request).email}"

    async def build() -> FastAPI:
        app = FastAPI()
        with pytest.warns(DeprecationWarning, match="exclude_paths"):
            auth.protect_app(app, bypass={"/health"})
        with gradio.Blocks() as demo:
            name, answer = gradio.Textbox(), gradio.Textbox()
            gradio.Button("greet").click(greet, name, answer, api_name="greet")
        mounted: FastAPI = gradio.mount_gradio_app(app, demo, path=MOUNT)
        return mounted

    with TestClient(asyncio.run(build())) as client:
        headers = idp.headers(email=ANN, groups=["staff"])
        assert call_greet(client, "Ann", headers) == [f"Hello Ann! Logged in as {ANN}"]
        refused = client.post(
            f"{MOUNT}/gradio_api/call/greet",
            json={"data": ["x"]},
            headers=idp.headers(groups=["other"]),
        )
        assert refused.status_code == 403
