"""``cognito_auth_middleware.integrations.streamlit``: a real Streamlit server session, real
headers.

``streamlit.testing.v1.AppTest`` cannot seed ``st.context.headers`` (Streamlit reads them from
the session's client connection, which AppTest does not have), so it is not used. Instead the
script runs in Streamlit's own server: ``st.App`` (Streamlit's ASGI app, the server behind
``streamlit run``) under Starlette's TestClient. A session is opened exactly as the browser
opens it: a WebSocket to ``/_stcore/stream`` whose handshake carries the ALB headers, then a
``rerun_script`` protobuf ``BackMsg``; the rendered elements come back as ``ForwardMsg`` deltas.
So ``get_user`` reads the real ``st.context.headers`` of that session.

Streamlit allows one ``st.App`` per process and the integration keeps one verifier per process
(configured from the environment on first use), so the app, the key server and the
``COGNITO_AUTH_*`` environment are set up once for this module.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")

import streamlit as st
from httpx2 import Headers
from starlette.testclient import TestClient
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from cognito_auth_middleware import reload_policy
from cognito_auth_middleware.integrations.streamlit import SESSION_EXPIRED
from cognito_auth_middleware.pages import DENIED, NOT_SIGNED_IN
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer

ALICE_SUB = "a1a1a1a1-0000-4000-8000-000000000001"
ALICE_EMAIL = "alice@example.com"

# The app under test. ``?mode=raw`` calls get_user() and shows the exception it raises;
# otherwise require_user() guards the page as the README recipe does.
SCRIPT = textwrap.dedent(
    """
    import streamlit as st
    from cognito_auth_middleware.exceptions import AuthenticationError
    from cognito_auth_middleware.integrations.streamlit import get_user, require_user

    if st.query_params.get("mode") == "compat":
        # The cognito-auth library's documented usage, through the compat module.
        import warnings
        from cognito_auth_middleware.integrations.compat import Authoriser, StreamlitAuth

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rules = Authoriser.from_lists(allowed_groups=["analysts"], admin_groups=["ops"])
            auth = StreamlitAuth(authoriser=rules)
            user = auth.get_auth_user()
            st.text(f"compat {user.email} admin={user.is_admin}")
        for warning in caught:
            st.text(f"{warning.category.__name__}: {warning.message}")
    elif st.query_params.get("mode") in ("session", "dev"):
        # A verifier of the app's own: no leeway, so that token lifetimes of seconds decide;
        # a policy file when the test names one; dev mode for ?mode=dev.
        from cognito_auth_middleware.drivers.sync import shared_verifier

        st.session_state["runs"] = st.session_state.get("runs", 0) + 1
        st.text(f"run {st.session_state.runs}")
        options = {"leeway": 0, "dev_mode": st.query_params.get("mode") == "dev"}
        if "policy" in st.query_params:
            options["config_path"] = st.query_params["policy"]
        if "contact" in st.query_params:
            options["support_contact"] = st.query_params["contact"]
        user = require_user(verifier=shared_verifier(**options))
        st.markdown(f"Hello {user.email} admin={user.is_admin}")
    elif st.query_params.get("mode") == "raw":
        try:
            user = get_user()
        except AuthenticationError as exc:
            st.text(f"raised {type(exc).__name__} {exc.code}")
        else:
            st.text(f"user {user.sub} {user.email} {','.join(user.groups)}")
    else:
        user = require_user()
        st.markdown(f"Hello {user.email}")
    """
)


@dataclass
class Rendered:
    """What one script run put on the page."""

    markdown: list[str]
    text: list[str]
    errors: list[str]


@pytest.fixture(scope="module")
def key_server_for_module(idp: FakeIdentityProvider) -> Iterator[KeyServer]:
    with KeyServer(idp) as server:
        yield server


@pytest.fixture(scope="module")
def client(
    key_server_for_module: KeyServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    script = tmp_path_factory.mktemp("streamlit_app") / "app.py"
    script.write_text(SCRIPT)
    with pytest.MonkeyPatch.context() as env:
        for name, value in key_server_for_module.settings().items():
            env.setenv(f"COGNITO_AUTH_{name.upper()}", value)
        # A browser on this machine (for dev mode): a loopback client address.
        with TestClient(st.App(str(script)), client=("127.0.0.1", 50000)) as test_client:
            yield test_client


class Session:
    """One Streamlit session (one WebSocket): each :meth:`rerun` is an interaction."""

    def __init__(self, websocket: Any) -> None:
        self._websocket = websocket
        #: Streamlit's id of the session, known after the first rerun.
        self.id = ""

    def rerun(self, query: str = "") -> Rendered:
        """Run the script once in this session, as a widget change does; collect the output."""
        rendered = Rendered([], [], [])
        rerun = BackMsg()
        rerun.rerun_script.query_string = query
        rerun.rerun_script.page_script_hash = ""
        self._websocket.send_bytes(rerun.SerializeToString())
        while True:
            message = ForwardMsg()
            message.ParseFromString(self._websocket.receive_bytes())
            kind = message.WhichOneof("type")
            if kind == "script_finished":
                return rendered
            if kind == "new_session":
                self.id = message.new_session.initialize.session_id
            if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                element = message.delta.new_element
                if element.WhichOneof("type") == "markdown":
                    rendered.markdown.append(element.markdown.body)
                elif element.WhichOneof("type") == "text":
                    rendered.text.append(element.text.body)
                elif element.WhichOneof("type") == "alert":
                    rendered.errors.append(element.alert.body)


@contextmanager
def session(client: TestClient, headers: Mapping[str, str], resume: str = "") -> Iterator[Session]:
    """A session opened with ``headers`` on the handshake, as the browser opens it.

    With ``resume`` (a session id), the browser's reconnection to that session: Streamlit
    keeps its state, and the new connection's headers are those of its handshake.
    """
    protocols = ["streamlit", "", resume] if resume else ["streamlit"]
    with client.websocket_connect(
        "/_stcore/stream", headers=headers, subprotocols=protocols
    ) as websocket:
        yield Session(websocket)


def run_script(client: TestClient, headers: Mapping[str, str], query: str = "") -> Rendered:
    """Open a session with ``headers`` on the handshake, run the script once, collect output."""
    with session(client, headers) as opened:
        return opened.rerun(query)


def test_require_user_greets_the_verified_user(
    client: TestClient, idp: FakeIdentityProvider
) -> None:
    rendered = run_script(client, idp.headers(sub=ALICE_SUB, email=ALICE_EMAIL))
    assert rendered == Rendered([f"Hello {ALICE_EMAIL}"], [], [])


def test_get_user_returns_the_user_with_groups(
    client: TestClient, idp: FakeIdentityProvider
) -> None:
    headers = idp.headers(sub=ALICE_SUB, email=ALICE_EMAIL, groups=["analysts", "admins"])
    rendered = run_script(client, headers, query="mode=raw")
    assert rendered.text == [f"user {ALICE_SUB} {ALICE_EMAIL} analysts,admins"]


@pytest.mark.parametrize(
    ("defect", "error", "code"),
    [
        pytest.param(None, "MissingTokenError", "missing_token", id="no-headers"),
        pytest.param("expired", "ExpiredTokenError", "expired_token", id="expired"),
        pytest.param("tampered", "InvalidTokenError", "invalid_token", id="tampered"),
        pytest.param("wrong_signer", "InvalidTokenError", "invalid_token", id="wrong-signer"),
        pytest.param("spliced", "InvalidTokenError", "invalid_token", id="spliced"),
    ],
)
def test_get_user_raises_the_package_exceptions(
    defect: str | None, error: str, code: str, client: TestClient, idp: FakeIdentityProvider
) -> None:
    headers = {} if defect is None else idp.broken_headers(defect, sub=ALICE_SUB)
    rendered = run_script(client, headers, query="mode=raw")
    assert rendered.text == [f"raised {error} {code}"]


def test_a_repeated_header_is_refused(client: TestClient, idp: FakeIdentityProvider) -> None:
    """As in the middleware: the ALB sends each header once, so two copies mean tampering."""
    headers = idp.headers(sub=ALICE_SUB)
    repeated = Headers([*headers.items(), ("x-amzn-oidc-data", headers["x-amzn-oidc-data"])])
    assert repeated.get_list("x-amzn-oidc-data") == [headers["x-amzn-oidc-data"]] * 2
    rendered = run_script(client, repeated, query="mode=raw")
    assert rendered.text == ["raised InvalidTokenError invalid_token"]


@pytest.mark.parametrize(
    ("defect", "message"),
    [
        pytest.param(None, NOT_SIGNED_IN.text(), id="no-headers"),
        pytest.param("expired", SESSION_EXPIRED, id="expired"),
        pytest.param("wrong_signer", NOT_SIGNED_IN.text(), id="forged"),
    ],
)
def test_require_user_shows_the_tables_message_and_stops(
    defect: str | None, message: str, client: TestClient, idp: FakeIdentityProvider
) -> None:
    headers: dict[str, Any] = {} if defect is None else idp.broken_headers(defect)
    rendered = run_script(client, headers)
    assert rendered.errors == [message]
    assert rendered.markdown == []  # st.stop(): nothing after require_user() ran


def test_the_compat_streamlit_auth_as_documented(
    client: TestClient, idp: FakeIdentityProvider
) -> None:
    headers = idp.headers(sub=ALICE_SUB, email=ALICE_EMAIL, groups=["analysts"])
    rendered = run_script(client, headers, query="mode=compat")
    assert rendered.text[0] == f"compat {ALICE_EMAIL} admin=False"
    assert "DeprecationWarning: StreamlitAuth().get_auth_user() is deprecated: use " in (
        "\n".join(rendered.text)
    )
    assert "integrations.streamlit.require_user()" in "\n".join(rendered.text)
    ops = run_script(client, idp.headers(groups=["ops"]), query="mode=compat")
    assert ops.text[0].endswith("admin=True")
    refused = run_script(client, idp.headers(groups=["other"]), query="mode=compat")
    assert refused.text == []  # the script stopped at get_auth_user()
    assert len(refused.errors) == 1


def test_import_without_streamlit_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "streamlit", None)  # makes `import streamlit` fail
    monkeypatch.delitem(
        sys.modules, "cognito_auth_middleware.integrations.streamlit", raising=False
    )
    with pytest.raises(ImportError, match="pip install streamlit"):
        importlib.import_module("cognito_auth_middleware.integrations.streamlit")


# --- Sessions: verified once, kept for the access token's lifetime ----------------------------


def short_lived(idp: FakeIdentityProvider, alb_ttl: float, access_ttl: float) -> dict[str, str]:
    """Alice's headers, their tokens expiring ``alb_ttl`` and ``access_ttl`` seconds from now."""
    now = time.time()
    return {
        "x-amzn-oidc-data": idp.mint_alb_token(sub=ALICE_SUB, email=ALICE_EMAIL, ttl=alb_ttl),
        "x-amzn-oidc-accesstoken": idp.mint_access_token(
            sub=ALICE_SUB, groups=["analysts"], ttl=access_ttl, now=now
        ),
        "x-amzn-oidc-identity": ALICE_SUB,
    }


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


HELLO = f"Hello {ALICE_EMAIL} admin=False"


def test_a_rerun_after_the_alb_tokens_expiry_still_works(
    client: TestClient, idp: FakeIdentityProvider
) -> None:
    start = time.time()
    with session(client, short_lived(idp, alb_ttl=1, access_ttl=60)) as opened:
        assert opened.rerun("mode=session").markdown == [HELLO]
        wait_until(start + 1.5)  # the ALB token in the session's headers has expired
        assert opened.rerun("mode=session").markdown == [HELLO]
    # A new session with the same, now stale, headers is verified afresh, and refused.
    stale = run_script(client, short_lived(idp, alb_ttl=-1, access_ttl=60), "mode=session")
    assert (stale.markdown, stale.errors) == ([], [SESSION_EXPIRED])


def test_a_rerun_after_the_access_tokens_expiry_shows_the_expiry_message(
    client: TestClient, idp: FakeIdentityProvider
) -> None:
    start = time.time()
    with session(client, short_lived(idp, alb_ttl=1, access_ttl=2)) as opened:
        assert opened.rerun("mode=session").markdown == [HELLO]
        wait_until(start + 2.5)
        for _ in range(2):
            expired = opened.rerun("mode=session")
            assert (expired.markdown, expired.errors) == ([], [SESSION_EXPIRED])


@pytest.mark.usefixtures("only_live_policies")
def test_a_policy_change_applies_at_the_next_rerun(
    client: TestClient, idp: FakeIdentityProvider, tmp_path: Path
) -> None:
    policy = tmp_path / "auth-config.json"
    policy.write_text(json.dumps({"allowed_groups": ["analysts"]}))
    query = f"mode=session&policy={policy}&contact=it_help@example.com"
    with session(client, short_lived(idp, alb_ttl=1, access_ttl=60)) as opened:
        assert opened.rerun(query).markdown == [HELLO]
        policy.write_text(
            json.dumps({"allowed_groups": ["analysts"], "admin_groups": ["analysts"]})
        )
        reload_policy()
        assert opened.rerun(query).markdown == [f"Hello {ALICE_EMAIL} admin=True"]
        time.sleep(1.5)  # past the ALB token's exp: the session, not the headers, decides now
        policy.write_text(json.dumps({"allowed_groups": ["ops"]}))
        reload_policy()
        refused = opened.rerun(query)
        assert refused.markdown == []
        # The support contact is named, escaped for st.error's Markdown ("_" is no emphasis).
        ask = r"Ask for access: it\_help\@example\.com"
        assert refused.errors == [f"{DENIED.title}. {DENIED.message} {ask}"]
        policy.write_text(json.dumps({"allowed_groups": ["analysts"]}))
        reload_policy()
        assert opened.rerun(query).markdown == [HELLO]  # admin no more


def test_a_resumed_session_with_other_headers_is_verified_afresh(
    client: TestClient, idp: FakeIdentityProvider
) -> None:
    """A reconnection keeps the session's state, but its user only for the same headers."""
    bob = idp.headers(sub="b0b0b0b0-0000-4000-8000-000000000002", email="bob@example.com")
    with session(client, short_lived(idp, alb_ttl=60, access_ttl=60)) as opened:
        assert opened.rerun("mode=session").markdown == [HELLO]
        session_id = opened.id
    with session(client, bob, resume=session_id) as resumed:
        as_bob = resumed.rerun("mode=session")
    assert as_bob.text == ["run 2"]  # the same session, state kept
    assert as_bob.markdown == ["Hello bob@example.com admin=False"]
    for headers in ({}, idp.broken_headers("tampered", sub=ALICE_SUB)):
        with session(client, headers, resume=session_id) as resumed:
            refused = resumed.rerun("mode=session")
        assert refused.markdown == []
        assert len(refused.errors) == 1


# --- Dev mode: the mock user for a loopback browser only --------------------------------------


LOCAL = {"host": "localhost:8501"}


def test_dev_mode_serves_the_mock_user_to_a_local_browser(client: TestClient) -> None:
    rendered = run_script(client, LOCAL, "mode=dev")
    assert rendered.markdown == ["Hello dev@example.com admin=False"]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"x-forwarded-for": "203.0.113.9"}, id="forwarded-for"),
        pytest.param({"forwarded": "for=203.0.113.9"}, id="forwarded"),
        pytest.param({"x-real-ip": "203.0.113.9"}, id="real-ip"),
        pytest.param({"host": "app.example.com"}, id="public-host"),
        pytest.param({"host": "127.0.0.1.nip.io"}, id="rebinding-host"),
    ],
)
def test_dev_mode_refuses_a_session_that_is_not_plainly_local(
    client: TestClient, headers: dict[str, str]
) -> None:
    rendered = run_script(client, LOCAL | headers, "mode=dev")
    assert rendered.markdown == []
    assert rendered.errors == [NOT_SIGNED_IN.text()]
