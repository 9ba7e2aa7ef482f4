"""``cognito-auth-middleware inspect``: a stage-by-stage diagnosis that never prints a token."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from cognito_auth_middleware.testing import (
    FakeIdentityProvider,
    FakeOidcProvider,
    FakeVerifiedAccess,
    KeyServer,
)
from cognito_auth_middleware.tools.cli import main


def _flags(settings: Mapping[str, Any]) -> list[str]:
    """The command-line flags of middleware keywords (each setting has one)."""
    return [f"--{name.replace('_', '-')}={value}" for name, value in sorted(settings.items())]


def _save(path: Path, headers: dict[str, str]) -> Path:
    lines = ["GET / HTTP/1.1", "host: app.example.com"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


_TOKEN_HEADERS = ("x-amzn-oidc-data", "x-amzn-oidc-accesstoken", "x-amzn-ava-user-context")


def _assert_no_token(output: str, headers: dict[str, str]) -> None:
    tokens = [headers.get(name, "") for name in _TOKEN_HEADERS]
    tokens.append(headers.get("authorization", "").partition(" ")[2])  # "Bearer <token>"
    for token in tokens:
        for part in token.split("."):
            if len(part) > 16:
                assert part.rstrip("=") not in output


def test_valid_request_passes_every_check(
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    headers = idp.headers(sub="ann", email="ann@example.com", groups=["admins"])
    code = main(
        [
            "inspect",
            "--request",
            str(_save(tmp_path / "r.txt", headers)),
            *_flags(key_server.settings()),
        ]
    )
    output = capsys.readouterr().out
    assert code == 0, output
    assert "FAIL" not in output
    assert "PASS  ALB signature and fields" in output
    assert "PASS  same user (sub)" in output
    assert "PASS  verdict of the verifier: User(sub='ann'" in output
    assert '"email": "ann@example.com"' in output  # the claims are shown
    assert output.startswith(
        f"provider: issuer={idp.issuer}, access_token_kind='cognito', "
        "groups_claim='cognito:groups' (in the access token)\n"
    )
    assert "PASS  access header: RS256, kid" in output
    assert "PASS  same client (client == client_id)" in output
    assert "groups (claim 'cognito:groups' of the access token): ['admins']" in output
    _assert_no_token(output, headers)


@pytest.mark.parametrize(
    ("defect", "failing"),
    [
        pytest.param("expired", "FAIL  ALB token not expired", id="expired"),
        pytest.param("wrong_signer", "FAIL  ALB header", id="wrong-signer"),
        pytest.param("tampered", "FAIL  ALB signature and fields", id="tampered"),
        pytest.param("spliced", "FAIL  same user (sub)", id="spliced"),
        pytest.param("missing_access", "FAIL  access token present", id="missing-access"),
        pytest.param("id_token", "FAIL  access signature and fields", id="id-token"),
    ],
)
def test_each_defect_is_pinpointed(
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    defect: str,
    failing: str,
) -> None:
    headers = idp.broken_headers(defect)
    code = main(
        [
            "inspect",
            "--request",
            str(_save(tmp_path / "r.txt", headers)),
            *_flags(key_server.settings()),
        ]
    )
    output = capsys.readouterr().out
    assert code == 1
    assert failing in output, output
    assert "FAIL  verdict of the verifier" in output
    _assert_no_token(output, headers)


def test_configuration_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--oidc-data", "x", "--alb-arn", "not-an-arn"]) == 2
    assert "configuration error" in capsys.readouterr().err


def test_installed_command_reads_stdin(idp: FakeIdentityProvider, key_server: KeyServer) -> None:
    headers = idp.headers()
    saved = "".join(f"{name}: {value}\n" for name, value in headers.items())
    command = Path(sys.executable).with_name("cognito-auth-middleware")
    result = subprocess.run(
        [str(command), "inspect", "--request", "-", *_flags(key_server.settings())],
        input=saved,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  verdict of the verifier" in result.stdout
    _assert_no_token(result.stdout + result.stderr, headers)


# Another OIDC provider behind the ALB: each access_token_kind explained by its own checks.


@pytest.fixture(scope="module")
def providers() -> dict[str, FakeOidcProvider]:
    """One stand-in per provider style for the module (RSA key generation is slow)."""
    return {style: FakeOidcProvider(style) for style in ("okta", "entra", "google", "keycloak")}


Inspect = Callable[[Mapping[str, Any], dict[str, str]], tuple[int, str]]


@pytest.fixture
def run_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Inspect:
    """Run ``inspect`` on headers with middleware keywords; the exit code and the output.

    Every run also asserts that no token text reached the output.
    """

    def run(settings: Mapping[str, Any], headers: dict[str, str]) -> tuple[int, str]:
        saved = _save(tmp_path / "r.txt", headers)
        code = main(["inspect", "--request", str(saved), *_flags(settings)])
        output = capsys.readouterr().out
        _assert_no_token(output, headers)
        return code, output

    return run


_JWT_STAGES = (
    "PASS  access header: RS256 or ES256, kid",
    "PASS  access issuer is the ALB token's",
    "PASS  discovery of the JWKS URL",
    "PASS  access key in the provider's JWKS",
    "PASS  access signature",
)


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        pytest.param(
            "okta",
            [
                "access_token_kind='jwt', groups_claim='groups' (in the access token), "
                "subject_claim='uid'",
                *_JWT_STAGES,
                "PASS  access key algorithm is the token's: RS256",
                "PASS  access fields (iss, exp, aud, uid): aud 'api://default' in "
                "['api://default'], uid 'ann'",
                "PASS  same user (ALB token sub == access token uid)",
                "groups (claim 'groups' of the access token): ['admins']",
            ],
            id="okta-jwt-uid",
        ),
        pytest.param(
            "entra",
            [
                "groups_claim='roles' (in the access token), subject_claim='sub'",
                *_JWT_STAGES,
                "PASS  access fields (iss, exp, aud, sub)",
                "PASS  same user (ALB token sub == access token sub)",
                "groups (claim 'roles' of the access token): ['admins']",
            ],
            id="entra-jwt",
        ),
        pytest.param(
            "keycloak",
            [
                "groups_claim='realm_access.roles' (in the access token)",
                *_JWT_STAGES,
                "PASS  access key algorithm is the token's: ES256",
                "groups (claim 'realm_access.roles' of the access token): ['admins']",
            ],
            id="keycloak-jwt-es256",
        ),
        pytest.param(
            "google",
            [
                "access_token_kind='opaque', groups_claim='groups' (in the ALB token)",
                "the access token is opaque: it is NOT verified and NOT bound to the ALB token",
                "  opaque (access_token_kind='opaque'): not decoded, not verified, not bound",
                "PASS  ALB signature and fields",
                "PASS  x-amzn-oidc-identity equals sub",
                "groups (claim 'groups' of the ALB token): ['admins']",
            ],
            id="google-opaque",
        ),
    ],
)
def test_each_provider_mode_is_explained_and_passes(
    providers: dict[str, FakeOidcProvider], run_inspect: Inspect, style: str, expected: list[str]
) -> None:
    idp = providers[style]
    with KeyServer(idp) as server:
        code, output = run_inspect(server.settings(), idp.headers(sub="ann", groups=["admins"]))
    assert code == 0, output
    assert "FAIL" not in output
    assert output.startswith(f"provider: issuer={idp.issuer}, ")
    for line in expected:
        assert line in output, line
    assert "same client" not in output  # another provider's access token names no app client
    assert "user_pool_id" not in output
    assert "PASS  verdict of the verifier: User(sub='ann'" in output


def test_opaque_mode_makes_no_access_token_check(
    providers: dict[str, FakeOidcProvider], run_inspect: Inspect
) -> None:
    idp = providers["google"]
    with KeyServer(idp) as server:
        code, output = run_inspect(server.settings(), idp.headers())
        assert server.count("jwks") == server.count("discovery") == 0
    assert code == 0, output
    assert "access header" not in output
    assert "access token not expired" not in output
    assert "same user" not in output


def test_a_configured_jwks_url_is_used_without_discovery(
    providers: dict[str, FakeOidcProvider], run_inspect: Inspect
) -> None:
    idp = providers["okta"]
    with KeyServer(idp) as server:
        code, output = run_inspect(server.settings(jwks_url=server.jwks_url), idp.headers())
        assert server.count("discovery") == 0
    assert code == 0, output
    assert "discovery" not in output
    assert f"verified with the JWKS at {server.jwks_url}," in output
    assert (
        f"PASS  access key in the provider's JWKS: kid {idp.keys[-1].kid} at {server.jwks_url},"
        in output
    )


@pytest.mark.parametrize(
    ("style", "header", "settings", "failing"),
    [
        pytest.param(
            "okta",
            {},
            {"audience": "api://other"},
            "FAIL  access fields (iss, exp, aud, uid): access token: audience is not one of "
            "['api://other']",
            id="wrong-audience",
        ),
        pytest.param(
            "okta",
            {"alg": "ES256"},
            {},
            "FAIL  access key algorithm is the token's: access token: its algorithm is not its "
            "key's",
            id="es256-token-on-an-rsa-key",
        ),
        pytest.param(
            "keycloak",
            {"alg": "RS256"},
            {},
            "FAIL  access key algorithm is the token's: access token: its algorithm is not its "
            "key's",
            id="rs256-token-on-an-ec-key",
        ),
        pytest.param(
            "entra",
            {"alg": "HS256"},
            {},
            "FAIL  access header: RS256 or ES256, kid: access token: algorithm must be RS256 or "
            "ES256",
            id="hs256-header",
        ),
        pytest.param(
            "okta",
            {"kid": "not-a-published-kid"},
            {},
            "FAIL  access key in the provider's JWKS: access token: its kid is not in the "
            "provider's JWKS",
            id="unknown-kid",
        ),
    ],
)
def test_each_jwt_defect_is_pinpointed(
    providers: dict[str, FakeOidcProvider],
    run_inspect: Inspect,
    style: str,
    header: dict[str, str],
    settings: dict[str, str],
    failing: str,
) -> None:
    idp = providers[style]
    with KeyServer(idp) as server:  # moves the issuer onto the server: mint after
        headers = idp.headers(sub="ann")
        headers["x-amzn-oidc-accesstoken"] = idp.mint_access_token(sub="ann", header=header)
        code, output = run_inspect(server.settings(**settings), headers)
    assert code == 1
    assert failing in output, output
    assert output.count("FAIL") == 2, output  # that stage, and the verifier's verdict
    assert "FAIL  verdict of the verifier: invalid_token" in output


def test_a_jwt_of_another_user_fails_the_subject_binding(
    providers: dict[str, FakeOidcProvider], run_inspect: Inspect
) -> None:
    idp = providers["okta"]
    with KeyServer(idp) as server:
        code, output = run_inspect(server.settings(), idp.broken_headers("spliced", sub="ann"))
    assert code == 1
    assert "PASS  access fields (iss, exp, aud, uid)" in output
    assert "FAIL  same user (ALB token sub == access token uid)" in output, output


def test_a_bad_discovery_document_is_pinpointed(
    providers: dict[str, FakeOidcProvider], run_inspect: Inspect
) -> None:
    idp = providers["keycloak"]
    with KeyServer(idp) as server:
        server.discovery_body = b'{"issuer": "https://elsewhere.example.com"}'
        code, output = run_inspect(server.settings(), idp.headers())
    assert code == 1
    assert (
        "FAIL  discovery of the JWKS URL: cannot obtain the provider's discovery document from "
        f"{idp.issuer}/.well-known/openid-configuration: the discovery document names another "
        "issuer"
    ) in output, output
    assert "access key in the provider's JWKS" not in output
    assert "FAIL  verdict of the verifier: keys_unavailable" in output


@pytest.mark.parametrize(
    ("defect", "failing"),
    [
        pytest.param("tampered", "FAIL  ALB signature and fields", id="tampered"),
        pytest.param("wrong_signer", "FAIL  ALB header", id="wrong-signer"),
        pytest.param("expired", "FAIL  ALB token not expired", id="expired"),
        pytest.param("missing_access", "FAIL  access token present", id="missing-access"),
    ],
)
def test_each_opaque_mode_defect_is_pinpointed(
    providers: dict[str, FakeOidcProvider], run_inspect: Inspect, defect: str, failing: str
) -> None:
    idp = providers["google"]
    with KeyServer(idp) as server:
        code, output = run_inspect(server.settings(), idp.broken_headers(defect, groups=["admins"]))
    assert code == 1
    assert failing in output, output
    assert "FAIL  verdict of the verifier" in output


def test_groups_are_read_where_groups_claim_says(
    providers: dict[str, FakeOidcProvider], run_inspect: Inspect
) -> None:
    # A wrong groups_claim is a common misconfiguration: the groups line shows it at once.
    idp = providers["okta"]
    with KeyServer(idp) as server:
        code, output = run_inspect(
            server.settings(groups_claim="roles"), idp.headers(groups=["admins"])
        )
    assert code == 0, output
    assert "groups (claim 'roles' of the access token): []" in output


def test_groups_of_a_token_that_did_not_verify_are_marked(
    providers: dict[str, FakeOidcProvider], run_inspect: Inspect
) -> None:
    idp = providers["google"]
    with KeyServer(idp) as server:
        headers = idp.broken_headers("tampered", groups=["admins"])
        code, output = run_inspect(server.settings(), headers)
    assert code == 1
    assert "groups (claim 'groups' of the ALB token): ['admins'] (as decoded, not verified)\n" in (
        output
    )


# Verified Access: one signed header, its own header rules, no access token.

OTHER_INSTANCE = "arn:aws:ec2:eu-west-2:123456789012:verified-access-instance/vai-ffffffffffffffff0"


@pytest.fixture(scope="module")
def instances() -> dict[str, FakeVerifiedAccess]:
    """One Verified Access stand-in per claim shape, for the module."""
    return {shape: FakeVerifiedAccess(shape) for shape in ("oidc", "iam-identity-center")}


def _tampered(token: str) -> str:
    """``token`` with its payload's ``sub`` changed after signing."""
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{head}.{forged}.{signature}"


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        pytest.param(
            "oidc",
            [
                "PASS  Verified Access signature and fields: key {keys}/{kid}; an OIDC trust "
                "provider's claims, sub 'ann'",
                "groups (claim 'groups' of the Verified Access token): ['admins']\n",
                "PASS  verdict of the verifier: User(sub='ann', username='ann', "
                "groups=['admins'], issuer='https://idp.example.com')",
            ],
            id="oidc-trust-provider",
        ),
        pytest.param(
            "iam-identity-center",
            [
                "PASS  Verified Access signature and fields: key {keys}/{kid}; IAM Identity "
                "Center's claims, sub 'ann'",
                "groups (claim 'groups' of the Verified Access token): []\n",
                "PASS  verdict of the verifier: User(sub='ann', username='ann', groups=[], "
                "issuer='arn:aws:ec2:",
            ],
            id="iam-identity-center",
        ),
    ],
)
def test_each_verified_access_shape_is_explained_and_passes(
    instances: dict[str, FakeVerifiedAccess],
    run_inspect: Inspect,
    shape: str,
    expected: list[str],
) -> None:
    ava = instances[shape]
    with KeyServer(ava) as server:
        headers = ava.headers(sub="ann", username="ann", groups=["admins"])
        code, output = run_inspect(server.settings(), headers)
    assert code == 0, output
    assert "FAIL" not in output
    assert output.startswith(
        f"provider: verified-access, instance=[{ava.instance_arn!r}], issuer={ava.issuer}, "
        "groups_claim='groups' (in the Verified Access token)\n"
        "  Verified Access signs the user's claims alone (x-amzn-ava-user-context, ES384): "
        "there is no access token to verify or bind"
    )
    assert f"configuration: keys at {server.alb_key_url}/<kid>, region=eu-west-2" in output
    assert "  exp (in the header): " in output  # Verified Access puts exp in the header only
    assert (
        "PASS  Verified Access header: ES384, UUID kid, signer, issuer: "
        f"kid {ava.alb_kid}, issuer {ava.issuer}, signer {ava.instance_arn!r}"
    ) in output
    assert "PASS  Verified Access token not expired (leeway included): " in output
    assert "PASS  Verified Access token already valid (nbf/iat)" in output
    for line in expected:
        assert line.format(keys=server.alb_key_url, kid=ava.alb_kid) in output, line
    assert _access_checks(output) == []


def _access_checks(output: str) -> list[str]:
    """The checks of an access token, its binding or the identity header in ``output``."""
    names = [
        line[6:].partition(":")[0] for line in output.splitlines() if line[:4] in ("PASS", "FAIL")
    ]
    words = ("access", "same user", "same client", "identity")
    return [name for name in names if any(word in name for word in words)]


@pytest.mark.parametrize(
    ("change", "settings", "failing"),
    [
        pytest.param(
            {"header": {"signer": OTHER_INSTANCE}},
            {},
            "FAIL  Verified Access header: ES384, UUID kid, signer, issuer: Verified Access "
            "token: not signed by a configured Verified Access instance",
            id="wrong-signer",
        ),
        pytest.param(
            {"header": {"iss": "https://elsewhere.example.com"}},
            {},
            "FAIL  Verified Access header: ES384, UUID kid, signer, issuer: Verified Access "
            "token: issuer is not ",
            id="wrong-issuer",
        ),
        pytest.param(
            {"header": {"alg": "ES256"}},
            {},
            "FAIL  Verified Access header: ES384, UUID kid, signer, issuer: Verified Access "
            "token: algorithm must be ES384",
            id="es256",
        ),
        pytest.param(
            {"header": {"kid": "../../keys"}},
            {},
            "FAIL  Verified Access header: ES384, UUID kid, signer, issuer: Verified Access "
            "token: kid is not a UUID",
            id="kid-not-a-uuid",
        ),
        pytest.param(
            {"tampered": True},
            {},
            "FAIL  Verified Access signature and fields: Verified Access token: signature "
            "verification failed",
            id="tampered",
        ),
        pytest.param(
            {"header": {"kid": "00000000-0000-4000-8000-000000000000"}},
            {},
            "FAIL  Verified Access signature and fields: Verified Access token: no Verified "
            "Access public key",
            id="unknown-kid",
        ),
        pytest.param(
            {"ttl": -3600},
            {},
            "FAIL  Verified Access token not expired (leeway included): ",
            id="expired",
        ),
        pytest.param(
            {},
            {"verified_access_instance_arn": OTHER_INSTANCE},
            "FAIL  Verified Access header: ES384, UUID kid, signer, issuer: Verified Access "
            f"token: not signed by a configured Verified Access instance (['{OTHER_INSTANCE}'])",
            id="configured-for-another-instance",
        ),
    ],
)
@pytest.mark.parametrize("shape", ["oidc", "iam-identity-center"])
def test_each_verified_access_defect_is_pinpointed(
    instances: dict[str, FakeVerifiedAccess],
    run_inspect: Inspect,
    shape: str,
    change: dict[str, Any],
    settings: dict[str, str],
    failing: str,
) -> None:
    ava = instances[shape]
    minting = {name: value for name, value in change.items() if name != "tampered"}
    token = ava.mint_alb_token(sub="ann", **minting)
    tampered = change.get("tampered", False)
    headers = {"x-amzn-ava-user-context": _tampered(token) if tampered else token}
    with KeyServer(ava) as server:
        code, output = run_inspect(server.settings(**settings), headers)
    assert code == 1
    assert failing in output, output
    assert output.count("FAIL") == 2, output  # that stage, and the verifier's verdict
    assert "FAIL  verdict of the verifier: " in output
    assert _access_checks(output) == []


def test_the_alb_headers_are_pointed_out_under_verified_access(
    instances: dict[str, FakeVerifiedAccess], idp: FakeIdentityProvider, run_inspect: Inspect
) -> None:
    # The commonest mistake: provider='verified-access' for an app behind an ALB, or back.
    ava = instances["oidc"]
    with KeyServer(ava) as server:
        code, output = run_inspect(server.settings(), idp.headers())
    assert code == 1
    assert "FAIL  Verified Access token present: header missing\n" in output
    assert (
        "  the request carries x-amzn-oidc-data, x-amzn-oidc-accesstoken, x-amzn-oidc-identity, "
        "which provider='verified-access' does not read: is the provider setting right?"
    ) in output
    assert "FAIL  verdict of the verifier: missing_token: the x-amzn-ava-user-context" in output


def test_a_user_context_is_pointed_out_behind_an_alb(
    instances: dict[str, FakeVerifiedAccess],
    key_server: KeyServer,
    run_inspect: Inspect,
) -> None:
    code, output = run_inspect(key_server.settings(), instances["oidc"].headers())
    assert code == 1
    assert "FAIL  ALB token present: header missing\n" in output
    assert (
        "  the request carries x-amzn-ava-user-context, which provider='alb' does not read"
    ) in output


def test_the_user_context_can_be_given_as_a_flag(
    instances: dict[str, FakeVerifiedAccess], capsys: pytest.CaptureFixture[str]
) -> None:
    ava = instances["iam-identity-center"]
    token = ava.mint_alb_token(sub="ann")
    with KeyServer(ava) as server:
        code = main(["inspect", "--user-context", token, *_flags(server.settings())])
    output = capsys.readouterr().out
    assert code == 0, output
    assert "PASS  verdict of the verifier: User(sub='ann'" in output
    _assert_no_token(output, {"x-amzn-ava-user-context": token})


# Machine clients: Authorization: Bearer and no identity headers, with the bearer setting.


def _machine(token: str) -> dict[str, str]:
    """A machine client's request: a bearer token and no identity headers."""
    return {"authorization": f"Bearer {token}"}


def _header(token: str) -> dict[str, Any]:
    """The decoded JOSE header of ``token``."""
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return header


_BEARER_STAGES = (
    "PASS  bearer token header: RS256 or ES256, kid: alg RS256, kid {kid}",
    "PASS  bearer token issuer is bearer_issuer: {issuer}",
    "PASS  bearer token key in the issuer's JWKS: kid {kid} at {jwks}, key algorithm RS256",
    "PASS  bearer token key algorithm is the token's: RS256",
    "PASS  bearer token signature\n",
    "PASS  bearer token not expired (leeway included): ",
    "PASS  bearer token already valid (nbf/iat)",
)


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        pytest.param(
            "cognito",
            [
                "JWKS at {jwks}\n",
                "PASS  bearer token fields (exp, iss, token_use, client, scopes): client "
                "'svc-reports', token_use 'access', scopes ['reports/read', 'reports/write']",
                "PASS  verdict of the verifier: MachineClient(client_id='svc-reports', "
                "scopes=('reports/read', 'reports/write'), issuer='{issuer}', exp=",
            ],
            id="cognito-client-credentials-jwks-url",
        ),
        pytest.param(
            "okta",
            [
                "JWKS at the jwks_uri of {issuer}/.well-known/openid-configuration, "
                "bearer_audience=['api://default']\n",
                "PASS  discovery of the JWKS URL: {issuer}/.well-known/openid-configuration: "
                "jwks_uri {jwks}",
                "PASS  bearer token fields (exp, iss, token_use, aud, client, scopes): client "
                "'svc-reports', aud 'api://default' in ['api://default'], scopes "
                "['reports/read', 'reports/write']",
                "PASS  verdict of the verifier: MachineClient(client_id='svc-reports', "
                "scopes=('reports/read', 'reports/write'), issuer='{issuer}', exp=",
            ],
            id="okta-discovery-audience",
        ),
    ],
)
def test_a_machine_client_is_explained_and_passes(
    idp: FakeIdentityProvider,
    providers: dict[str, FakeOidcProvider],
    run_inspect: Inspect,
    style: str,
    expected: list[str],
) -> None:
    issuer: FakeIdentityProvider | FakeOidcProvider = (
        idp if style == "cognito" else providers[style]
    )
    with KeyServer(issuer) as server:  # moves an OIDC provider's issuer onto it: mint after
        token = issuer.mint_machine_token("svc-reports", ["reports/read", "reports/write"])
        bearer: dict[str, Any] = {"bearer": True, "bearer_issuer": issuer.issuer}
        if style == "cognito":
            bearer["bearer_jwks_url"] = server.jwks_url
        else:
            bearer["bearer_audience"] = "api://default"
        code, output = run_inspect(server.settings(**bearer), _machine(token))
        assert server.count("discovery") == (0 if style == "cognito" else 1)
        jwks = server.jwks_url  # for an OIDC provider, the jwks_uri its discovery names
    assert code == 0, output
    assert "FAIL" not in output
    assert output.startswith(
        "machine client (Authorization: Bearer, no identity headers): "
        f"bearer_issuer={issuer.issuer}, JWKS at "
    )
    assert "becomes a MachineClient (client id and scopes): never a User" in output
    assert f"bearer token: {len(token)} characters, fingerprint " in output
    assert ("discovery" in output) == (style != "cognito")
    assert "groups (claim" not in output  # a machine client has scopes, never groups
    kid = _header(token)["kid"]
    for line in (*_BEARER_STAGES, *expected):
        assert line.format(kid=kid, issuer=issuer.issuer, jwks=jwks) in output, line


@pytest.mark.parametrize(
    ("mint", "settings", "failing", "verdict"),
    [
        pytest.param(
            {"claims": {"iss": "https://elsewhere.example.com"}},
            {},
            "FAIL  bearer token issuer is bearer_issuer: bearer token: issuer is not "
            "https://cognito-idp.",
            "invalid_token: bearer token: issuer is not ",
            id="wrong-issuer",
        ),
        pytest.param(
            {"ttl": -3600},
            {},
            "FAIL  bearer token not expired (leeway included): ",
            "expired_token: bearer token: expired",
            id="expired",
        ),
        pytest.param(
            {},
            {"bearer_clients": "svc-other"},
            "FAIL  bearer token fields (exp, iss, token_use, client, scopes): bearer token: "
            "client is not one of the configured bearer_clients",
            "invalid_token: bearer token: client is not one of the configured bearer_clients",
            id="client-not-admitted",
        ),
        pytest.param(
            {"header": {"alg": "ES256"}},
            {},
            "FAIL  bearer token key algorithm is the token's: bearer token: its algorithm is "
            "not its key's",
            "invalid_token: bearer token: its algorithm is not its key's",
            id="es256-token-naming-an-rsa-kid",
        ),
    ],
)
def test_each_bearer_defect_is_pinpointed(
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    run_inspect: Inspect,
    mint: dict[str, Any],
    settings: dict[str, str],
    failing: str,
    verdict: str,
) -> None:
    token = idp.mint_machine_token("svc-reports", **mint)
    bearer = {"bearer": True, "bearer_issuer": idp.issuer, "bearer_jwks_url": key_server.jwks_url}
    code, output = run_inspect(key_server.settings(**bearer, **settings), _machine(token))
    assert code == 1
    assert failing in output, output
    assert output.count("FAIL") == 2, output  # that stage, and the verifier's verdict
    assert f"FAIL  verdict of the verifier: {verdict}" in output
    if "issuer" in failing:
        assert key_server.count("jwks") == 0  # refused before any fetch, as the engine does


def test_a_bearer_token_with_bearer_off_is_refused_plainly(
    idp: FakeIdentityProvider, key_server: KeyServer, run_inspect: Inspect
) -> None:
    token = idp.mint_machine_token("svc-reports")
    code, output = run_inspect(key_server.settings(), _machine(token))
    assert code == 1
    assert output.startswith(f"provider: issuer={idp.issuer}, access_token_kind='cognito'")
    assert f"bearer token: {len(token)} characters" in output
    assert '"client_id": "svc-reports"' in output  # decoded: its iss shows what to configure
    assert (
        "FAIL  machine clients admitted (bearer): the bearer setting is off, so the middleware "
        "does not read the Authorization: Bearer token and, as the request carries no identity "
        "headers, refuses it 401; to admit machine clients, set bearer (--bearer, "
        "COGNITO_AUTH_BEARER) and bearer_issuer\n"
    ) in output
    assert "FAIL  verdict of the verifier: missing_token: the x-amzn-oidc-data header" in output
    assert "bearer token header" not in output  # no stages: the middleware runs none
    assert key_server.count("jwks") == 0


def test_a_bearer_token_next_to_identity_headers_is_not_read(
    idp: FakeIdentityProvider, key_server: KeyServer, run_inspect: Inspect
) -> None:
    headers = idp.headers(sub="ann") | _machine(idp.mint_machine_token())
    bearer = {"bearer": True, "bearer_issuer": idp.issuer, "bearer_jwks_url": key_server.jwks_url}
    code, output = run_inspect(key_server.settings(**bearer), headers)
    assert code == 0, output
    assert output.startswith("provider: ")  # a person's request
    assert "the request also carries Authorization: Bearer, which the middleware does not read" in (
        output
    )
    assert "bearer token" not in output
    assert "PASS  verdict of the verifier: User(sub='ann'" in output


def test_the_bearer_flags_as_documented(
    idp: FakeIdentityProvider,
    key_server: KeyServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    headers = _machine(idp.mint_machine_token("svc-b"))
    argv = ["inspect", "--request", str(_save(tmp_path / "r.txt", headers))]
    argv += [*_flags(key_server.settings()), "--bearer", "--bearer-issuer", idp.issuer]
    argv += ["--bearer-jwks-url", key_server.jwks_url]
    argv += ["--bearer-client", "svc-a", "--bearer-client", "svc-b", "--bearer-audience", "x"]
    code = main(argv)
    output = capsys.readouterr().out
    assert code == 1  # a Cognito client-credentials token has no aud
    assert "bearer_audience=['x'], bearer_clients=['svc-a', 'svc-b']\n" in output
    assert "bearer token: audience is not one of ['x']" in output
    _assert_no_token(output, headers)


def test_the_no_token_check_covers_the_bearer_token(idp: FakeIdentityProvider) -> None:
    token = idp.mint_machine_token()
    with pytest.raises(AssertionError):
        _assert_no_token(f"leaked: {token.split('.')[1]}", _machine(token))
