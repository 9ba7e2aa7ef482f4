"""The optional extras of pyproject.toml: one per framework, each with what its code imports.

A FastAPI team installs ``cognito-auth-middleware[fastapi]`` and gets FastAPI, not Gradio and
Streamlit. So each framework extra must cover every third-party import of its integration module
and README recipe (else the recipe fails with an ``ImportError``) and hold nothing they do not
import (else the team installs a framework it does not use). ``integrations`` names the five
framework extras by self-reference, so it cannot drift from them. Imports are read with ``ast``
and requirements with a small parser, so nothing here needs the frameworks installed.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "cognito_auth_middleware"
PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

FRAMEWORKS = ("fastapi", "flask", "dash", "gradio", "streamlit")
USER_FACING = (*FRAMEWORKS, "aws", "emulator", "lambda")
# Import names that differ from the name of the distribution that provides them.
# botocore is boto3's own core, always installed with it (its Config is boto3's documented way
# to set timeouts), so boto3 stands for it.
DISTRIBUTION_OF = {"jose": "python-jose", "botocore": "boto3"}

# The code each extra is for: package modules (by path) and README recipes (by heading prefix).
SOURCES: dict[str, list[str]] = {
    "fastapi": ["integrations/fastapi.py", "### FastAPI"],
    "flask": ["integrations/flask.py", "### Flask"],
    "dash": ["### Dash"],
    "gradio": ["integrations/gradio.py", "### Gradio"],
    "streamlit": ["integrations/streamlit.py", "### Streamlit"],
    # The Secrets Manager and SSM policy sources (botocore comes with boto3).
    "aws": ["drivers/policy.py"],
    # `cognito-auth-middleware emulate`, and `./dev demo`, which installs this extra.
    "emulator": ["tools/emulator.py", "tools/demo.py"],
    # The Mangum recipe (its app is Starlette, a dependency of the package itself).
    "lambda": ["### AWS Lambda"],
}


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(requirement: str) -> tuple[str, set[str]]:
    """``(name, extras)`` of a PEP 508 requirement; the version and markers do not matter here."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", requirement)
    assert match, f"not a requirement: {requirement!r}"
    extras = {normalize(e) for e in (match[2] or "").split(",") if e.strip()}
    return normalize(match[1]), extras


def installs(extra: str) -> set[str]:
    """The distributions ``pip install "cognito-auth-middleware[extra]"`` adds to the base."""
    found: set[str] = set()
    for requirement in EXTRAS[extra]:
        name, extras = parse(requirement)
        if name == normalize(PROJECT["name"]):
            for inner in extras:
                found |= installs(inner)
        else:
            found.add(name)
    return found


BASE = {parse(requirement)[0] for requirement in PROJECT["dependencies"]}


def recipe(heading: str) -> str:
    """The Python code blocks of every README section whose heading starts with ``heading``."""
    text = (ROOT / "README.md").read_text()
    sections = re.findall(
        rf"^{re.escape(heading)}\b.*?(?=^##)", text, flags=re.MULTILINE | re.DOTALL
    )
    assert sections, f"README.md has no section {heading!r}"
    return "\n".join(
        block for section in sections for block in re.findall(r"```python\n(.*?)```", section, re.S)
    )


def third_party_imports(source: str) -> set[str]:
    """The distributions ``source`` imports, through the package's own modules it imports."""
    code = recipe(source) if source.startswith("#") else (ROOT / PACKAGE / source).read_text()
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if name.startswith(f"{PACKAGE}.integrations."):
                # The Dash recipe reads the user with integrations.flask, which imports Flask.
                found |= third_party_imports(f"integrations/{name.split('.')[2]}.py")
            elif top not in sys.stdlib_module_names and top not in {PACKAGE, "__future__"}:
                found.add(normalize(DISTRIBUTION_OF.get(top, top)))
    return found


@pytest.mark.parametrize("extra", [pytest.param(extra, id=extra) for extra in USER_FACING])
def test_each_user_facing_extra_exists(extra: str) -> None:
    assert EXTRAS.get(extra), f"pyproject.toml has no (or an empty) {extra!r} extra"


def test_integrations_is_the_self_referencing_union_of_the_framework_extras() -> None:
    # One self-reference and nothing else: a framework listed here by hand could drift from its
    # own extra, and aws (boto3) is not a framework.
    assert len(EXTRAS["integrations"]) == 1, EXTRAS["integrations"]
    name, extras = parse(EXTRAS["integrations"][0])
    assert name == normalize(PROJECT["name"])
    assert extras == set(FRAMEWORKS)
    assert installs("integrations") == set().union(*(installs(f) for f in FRAMEWORKS))


SOURCE_CASES = [
    pytest.param(extra, source, id=f"{extra}:{source.replace('### ', 'README ')}")
    for extra, sources in SOURCES.items()
    for source in sources
]


@pytest.mark.parametrize(("extra", "source"), SOURCE_CASES)
def test_an_extra_covers_every_third_party_import_of_its_code(extra: str, source: str) -> None:
    missing = third_party_imports(source) - installs(extra) - BASE
    assert missing == set(), f"{source} imports {sorted(missing)}, missing from the {extra!r} extra"


@pytest.mark.parametrize("extra", [pytest.param(extra, id=extra) for extra in SOURCES])
def test_an_extra_holds_only_what_its_code_imports(extra: str) -> None:
    # No framework rides along with another (the fastapi extra has no Gradio or Streamlit).
    needed = set().union(*(third_party_imports(source) for source in SOURCES[extra]))
    assert needed, f"no third-party import found in {SOURCES[extra]}: the check would be vacuous"
    unneeded = installs(extra) - needed
    assert unneeded == set(), (
        f"the {extra!r} extra installs {sorted(unneeded)}, which it never imports"
    )


def readme_install_extras() -> list[str]:
    text = (ROOT / "README.md").read_text()
    pattern = rf"pip install\s+[\"']?{re.escape(PROJECT['name'])}\[([^\]]*)\]"
    return [extra.strip() for found in re.findall(pattern, text) for extra in found.split(",")]


def dev_script_extras() -> list[str]:
    text = (ROOT / "dev").read_text()
    found = re.findall(r"^ALL=(\S+)$", text, flags=re.MULTILINE)
    found += re.findall(r"ensure_venv (?!\"\$ALL\")(\S+)$", text, flags=re.MULTILINE)
    return [extra for line in found for extra in line.split(",")]


@pytest.mark.parametrize(
    "named",
    [
        pytest.param(readme_install_extras, id="README.md pip install lines"),
        pytest.param(dev_script_extras, id="./dev ensure_venv"),
    ],
)
def test_the_docs_and_scripts_name_only_extras_that_exist(named: Callable[[], list[str]]) -> None:
    extras = named()
    assert extras, "no extra found: the pattern no longer matches"
    unknown = sorted(set(extras) - set(EXTRAS))
    assert unknown == [], f"named but not in pyproject.toml: {unknown}"
