"""The package's layout is its design: imports point one way, and the documented names exist.

Layers, from the bottom: the shared vocabulary (``exceptions``, ``settings``, ``user``), the
pure ``core``, the ``drivers`` (the only key fetches), the shells (``asgi``, ``wsgi``,
``responses`` and the re-exporting ``__init__``), then ``integrations``, ``testing`` and
``tools``. A module may import only from its own layer and the layers below it, plus one
documented exception: ``User(...)``, the verifying constructor kept for the library this
package replaces, imports the sync driver lazily, inside the call.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cognito_auth_middleware"
NAME = "cognito_auth_middleware"

# What each layer may import from the package (its own layer included).
ALLOWED: dict[str, set[str]] = {
    "vocabulary": {"vocabulary"},
    "core": {"vocabulary", "core"},
    "drivers": {"vocabulary", "core", "drivers"},
    "shells": {"vocabulary", "core", "drivers", "shells"},
    "integrations": {"vocabulary", "core", "drivers", "shells", "integrations"},
    "testing": {"vocabulary", "core", "drivers", "shells", "testing"},
    "tools": {"vocabulary", "core", "drivers", "shells", "testing", "tools"},
}
# The one import against the direction, made inside a function (see the module docstring).
LAZY_EXCEPTIONS = {(f"{NAME}.user", f"{NAME}.drivers.sync")}
# Third-party and I/O modules the pure core must not import; the drivers, no framework.
FRAMEWORKS = {"starlette", "werkzeug", "asgiref", "fastapi", "flask", "dash", "gradio", "streamlit"}
FORBIDDEN = {
    "core": FRAMEWORKS | {"httpx", "uvicorn", "socket", "urllib", "asyncio", "os", "pathlib", "io"},
    "drivers": FRAMEWORKS | {"uvicorn"},
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()):
        return {"core": "core", "drivers": "drivers"}.get(parts[1], parts[1])
    if module == NAME or parts[1] in {"asgi", "wsgi", "responses", "audit"}:
        return "shells"
    return "vocabulary"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path) -> list[tuple[str, bool]]:
    """Every module ``module`` imports, absolute, with whether the import is inside a function."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nested.update(id(inner) for inner in ast.walk(node) if inner is not node)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in nested) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                # ``from . import x`` names a module when x is one; otherwise the import is of base.
                found.append((target if target in modules() else base, id(node) in nested))
    return found


def test_the_folders_are_the_design() -> None:
    top = sorted(
        p.name
        for p in PACKAGE.iterdir()
        if not p.name.startswith(("_", ".")) or p.name == "__init__.py"
    )
    assert top == [
        "__init__.py",
        "asgi.py",
        "audit.py",
        "core",
        "drivers",
        "exceptions.py",
        "integrations",
        "machine.py",
        "pages.py",
        "py.typed",
        "responses.py",
        "settings.py",
        "testing",
        "tools",
        "user.py",
        "wsgi.py",
    ]


def test_imports_point_one_way() -> None:
    wrong = []
    lazy_seen = set()
    for module, path in modules().items():
        layer = layer_of(module)
        for target, lazy in imports(module, path):
            if target == NAME or target.startswith(NAME + "."):
                if layer_of(target) in ALLOWED[layer]:
                    continue
                if lazy and (module, target) in LAZY_EXCEPTIONS:
                    lazy_seen.add((module, target))
                    continue
                wrong.append(f"{module} ({layer}) imports {target} ({layer_of(target)})")
            elif target.split(".")[0] in FORBIDDEN.get(layer, set()):
                wrong.append(f"{module} ({layer}) imports {target}")
    assert wrong == []
    assert lazy_seen == LAZY_EXCEPTIONS, "the documented exception is gone: remove it from the list"


def test_the_direction_check_catches_a_wrong_import(tmp_path: Path) -> None:
    # The rule is not vacuous: a core module importing a driver, or httpx, is reported.
    source = tmp_path / "engine.py"
    source.write_text("from cognito_auth_middleware.drivers import sync\nimport httpx\n")
    found = imports(f"{NAME}.core.engine", source)
    assert (f"{NAME}.drivers.sync", False) in found
    assert layer_of(f"{NAME}.drivers.sync") not in ALLOWED["core"]
    assert "httpx" in FORBIDDEN["core"]


def test_relative_imports_resolve_inside_the_package(tmp_path: Path) -> None:
    source = tmp_path / "engine.py"
    source.write_text("from .claims import x\nfrom . import tokens\n")
    found = imports(f"{NAME}.core.engine", source)
    assert found == [(f"{NAME}.core.claims", False), (f"{NAME}.core.tokens", False)]


DOCS = ("README.md", "SECURITY.md", "MIGRATING.md")


def documented_imports() -> list[tuple[str, str]]:
    """``(module, name)`` for every import from the package in the docs' code blocks."""
    text = "\n".join((ROOT / doc).read_text() for doc in DOCS)
    found = []
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(NAME):
                found += [(node.module or "", alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [(alias.name, "") for alias in node.names if alias.name.startswith(NAME)]
    return found


def documented_dotted_names() -> list[str]:
    """Every ``cognito_auth_middleware.x.y`` the docs name in backticks."""
    found: set[str] = set()
    for doc in DOCS:
        for name in re.findall(rf"`({NAME}(?:\.\w+)+)", (ROOT / doc).read_text()):
            found.add(name)
    return sorted(found)


def test_the_readme_shows_imports() -> None:
    assert len(documented_imports()) >= 10


@pytest.mark.parametrize(("module", "name"), documented_imports())
def test_every_name_the_readme_imports_exists(module: str, name: str) -> None:
    imported = importlib.import_module(module)
    if name:
        assert hasattr(imported, name) or importlib.import_module(f"{module}.{name}")


@pytest.mark.parametrize("dotted", documented_dotted_names())
def test_every_module_the_docs_name_exists(dotted: str) -> None:
    try:
        importlib.import_module(dotted)
    except ModuleNotFoundError:
        module, _, attribute = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), attribute), dotted
