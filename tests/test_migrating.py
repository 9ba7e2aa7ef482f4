"""MIGRATING.md: every public name of ``cognito-auth`` is mapped, and every name it gives exists.

``COGNITO_AUTH_SURFACE`` is that library's public surface (its ``__init__``, modules, classes
and their public methods and properties, and the environment variables it reads), written out
here because the library is not a dependency. The imports and dotted names in MIGRATING.md's
code are checked by ``tests/test_layout.py`` with the README's.
"""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

import pytest

from cognito_auth_middleware import User
from cognito_auth_middleware.core.policy import Policy
from cognito_auth_middleware.integrations import compat
from cognito_auth_middleware.settings import ENV_PREFIX, Settings

DOC = (Path(__file__).resolve().parent.parent / "MIGRATING.md").read_text()

COGNITO_AUTH_SURFACE = {
    "names": [
        "User(",
        "User.sub",
        "username",
        "email",
        "name",
        "given_name",
        "family_name",
        "User.email_domain",
        "User.email_verified",
        "User.groups",
        "User.is_in",
        "User.is_authenticated",
        "User.is_app_admin",
        "User.is_admin",
        "User.is_gds_idea",
        "User.exp",
        "User.issuer",
        "User.oidc_claims",
        "User.access_claims",
        "str(user)",
        "User.create_mock",
        "Authoriser.from_lists",
        "Authoriser.from_config",
        "Authoriser.clear_config_cache",
        "Authoriser.is_authorised",
        "Authoriser(rules",
        "GroupRule",
        "EmailRule",
        "AuthorisationRule",
        "AuthConfig",
        "StreamlitAuth().get_auth_user",
        "DashAuth().protect_app",
        "DashAuth().get_auth_user",
        "DashAuth().require_auth",
        "FastAPIAuth().protect_app",
        "FastAPIAuth().get_auth_user",
        "GradioAuth().protect_app",
        "GradioAuth().get_auth_user",
        "BaseAuth(",
        "LambdaAuth().get_auth_user",
        "AuthorisedDataFrame",
        "PreparedDataFrame",
        "TokenVerifier(",
        "verify_alb_token",
        "verify_cognito_token",
        "clear_cache",
        "AuthenticationError",
        "MissingTokenError",
        "InvalidTokenError",
        "ExpiredTokenError",
        "PermissionError",
    ],
    "environment": [
        "COGNITO_AUTH_CONFIG_PATH",
        "COGNITO_AUTH_SECRET_NAME",
        "COGNITO_AUTH_DEV_MODE",
        "COGNITO_AUTH_DEV_CONFIG",
    ],
}


def table(heading: str) -> list[list[str]]:
    """The body rows of the first table under ``## heading``, as lists of cells."""
    section = DOC.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[2:]]


def code_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC, flags=re.S)


@pytest.mark.parametrize("name", COGNITO_AUTH_SURFACE["names"])
def test_every_public_name_of_cognito_auth_is_mapped(name: str) -> None:
    assert any(name in row[0] for row in table("Names")), name


@pytest.mark.parametrize("variable", COGNITO_AUTH_SURFACE["environment"])
def test_every_variable_of_cognito_auth_is_mapped_and_kept(variable: str) -> None:
    rows = {row[0].strip("`"): row[1] for row in table("Environment variables")}
    assert rows[variable].startswith(f"`{variable}`")


def test_every_variable_the_page_names_is_a_setting() -> None:
    known = {ENV_PREFIX + field.name.upper() for field in fields(Settings)}
    named = set(re.findall(rf"{ENV_PREFIX}[A-Z_]+", DOC))
    assert len(named) >= 10
    assert named <= known, named - known


def test_every_compat_entry_point_exists_and_each_is_tested() -> None:
    entries = {row[2].strip("`") for row in table("Names") if row[2].startswith("`")}
    assert len(entries) == 12
    tests = Path(__file__).parent
    used = (tests / "test_compat.py").read_text() + (
        tests / "test_integration_streamlit.py"
    ).read_text()
    for entry in entries:
        owner, attribute = entry.split(".")
        assert callable(getattr(getattr(compat, owner), attribute)), entry
        assert re.search(rf"\b{owner}\b", used), entry
        assert re.search(rf"\.{attribute}\b", used), entry
    assert {entry.split(".")[0] for entry in entries} == set(compat.__all__)


def test_every_user_attribute_the_page_gives_exists() -> None:
    here = " ".join(row[1] for row in table("Names"))
    attributes = set(re.findall(r"`User\.(\w+)", here)) | {"decide"}
    assert {"is_admin", "exp", "create_mock", "issuer"} <= attributes
    for attribute in attributes - {"decide"}:
        assert hasattr(User, attribute), attribute
    assert callable(Policy.decide)


@pytest.mark.parametrize("block", code_blocks())
def test_every_snippet_is_python(block: str) -> None:
    ast.parse(block)


def test_each_framework_has_a_before_and_after() -> None:
    before = [block for block in code_blocks() if "cognito_auth." in block]
    after = [block for block in code_blocks() if "cognito_auth_middleware" in block]
    assert len(before) == len(after) == 5
    assert all("cognito_auth_middleware" not in block for block in before)
