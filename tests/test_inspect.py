"""``cognito-auth-middleware inspect``: a stage-by-stage diagnosis that never prints a token."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from cognito_auth_middleware.tools.cli import main


def _flags(server: KeyServer) -> list[str]:
    settings = server.settings()
    return [
        "--alb-arn",
        settings["alb_arn"],
        "--user-pool-id",
        settings["user_pool_id"],
        "--client-id",
        settings["client_id"],
        "--alb-key-url",
        settings["alb_key_url"],
        "--jwks-url",
        settings["jwks_url"],
    ]


def _save(path: Path, headers: dict[str, str]) -> Path:
    lines = ["GET / HTTP/1.1", "host: app.example.com"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _assert_no_token(output: str, headers: dict[str, str]) -> None:
    for name in ("x-amzn-oidc-data", "x-amzn-oidc-accesstoken"):
        for part in headers.get(name, "").split("."):
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
        ["inspect", "--request", str(_save(tmp_path / "r.txt", headers)), *_flags(key_server)]
    )
    output = capsys.readouterr().out
    assert code == 0, output
    assert "FAIL" not in output
    assert "PASS  ALB signature and fields" in output
    assert "PASS  same user (sub)" in output
    assert "PASS  verdict of the verifier: User(sub='ann'" in output
    assert '"email": "ann@example.com"' in output  # the claims are shown
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
        ["inspect", "--request", str(_save(tmp_path / "r.txt", headers)), *_flags(key_server)]
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
        [str(command), "inspect", "--request", "-", *_flags(key_server)],
        input=saved,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  verdict of the verifier" in result.stdout
    _assert_no_token(result.stdout + result.stderr, headers)
