"""What every benchmark shares: a request's header pair, forged variants, the machine and commit.

``Pair`` is the three headers the ALB forwards; :func:`tampered` and :func:`stripped` make the two
forgeries every verifying contender must refuse before it is timed; :func:`split_token` and
:func:`es256_der` prepare a signature for a bare ``cryptography`` verify (the floors);
:func:`ensure_tool` installs a Debian package a benchmark runs. :func:`machine_info` and
:func:`package_revision` describe where a figure was measured (CPU, Python, library versions,
the measured package's path, commit and whether it had uncommitted changes), :func:`describe`
says it in one line, and :func:`write_json` writes a results file atomically.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import cognito_auth_middleware

__all__ = [
    "VERSIONS_OF",
    "BenchmarkError",
    "Pair",
    "commit_text",
    "decode_segment",
    "describe",
    "machine_info",
    "package_revision",
    "stripped",
    "tampered",
    "write_json",
]

#: The distributions whose versions a figure depends on.
VERSIONS_OF = (
    "cognito-auth-middleware",
    "cryptography",
    "python-jose",
    "PyJWT",
    "starlette",
    "pyperf",
)


class BenchmarkError(RuntimeError):
    """A contender did not do what it is being timed for."""


@dataclass(frozen=True, slots=True)
class Pair:
    """The three headers of one request."""

    oidc: str
    access: str
    identity: str


def decode_segment(segment: str) -> bytes:
    """A base64url segment's bytes, with or without its ``=`` padding."""
    bare = segment.rstrip("=")
    return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))


def split_token(token: str) -> tuple[bytes, bytes]:
    """A JWS's signing input, as signed (the ALB's padding kept), and its raw signature."""
    signing_input, _, signature = token.rpartition(".")
    return signing_input.encode("ascii"), decode_segment(signature)


def es256_der(raw: bytes) -> bytes:
    """A JWS ES256 signature (``r || s``, 64 bytes) as the DER that ``cryptography`` verifies."""
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def tampered(token: str) -> str:
    """``token`` with one bit of its signature flipped, keeping the ALB's padded encoding."""
    signing_input, _, signature = token.rpartition(".")
    raw = bytearray(decode_segment(signature))
    raw[0] ^= 1
    return f"{signing_input}.{base64.urlsafe_b64encode(bytes(raw)).decode('ascii')}"


def stripped(token: str) -> str:
    """``token`` with the ``=`` padding removed from every segment.

    The ALB signs its padded text, so a verifier that accepts this token verified something
    other than what was signed.

    Raises:
        BenchmarkError: the token's signing input has no padding, so the check would prove nothing.
    """
    unpadded = ".".join(part.rstrip("=") for part in token.split("."))
    if unpadded.rpartition(".")[0] == token.rpartition(".")[0]:
        raise BenchmarkError("the ALB token's header and payload have no padding to strip")
    return unpadded


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _package_folder() -> Path:
    return Path(cognito_auth_middleware.__file__).resolve().parent


def _git(*args: str) -> str | None:
    """A git command's output, run in the measured package's folder (``None`` if no git)."""
    try:
        done = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
            ["git", *args],  # noqa: S607 (git from PATH)
            capture_output=True,
            text=True,
            check=True,
            cwd=_package_folder(),
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def package_revision() -> dict[str, Any]:
    """Where the measured package was imported from, its commit and uncommitted changes.

    ``uncommitted_changes`` is about the package's folder, ``tree_dirty`` about the whole
    checkout (the benchmarks included); both are ``None`` without git.
    """
    package = _git("status", "--porcelain", "--", ".")
    tree = _git("status", "--porcelain", "--", ":/")
    return {
        "path": str(_package_folder()),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": None if package is None else bool(package),
        "tree_dirty": None if tree is None else bool(tree),
    }


def machine_info() -> dict[str, Any]:
    """CPU, cores, Python and library versions, and the load when the run started."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "versions": {name: _version(name) for name in VERSIONS_OF},
        "package": package_revision(),
        "load_average_start": list(os.getloadavg()),
    }


def describe(machine: dict[str, Any]) -> str:
    """One paragraph on the machine, for the printed report and the README.

    ``machine`` is :func:`machine_info`'s, with ``load_average_end`` added at the end of the run.
    """
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    start, end = machine["load_average_start"], machine["load_average_end"]
    return (
        f"{machine['cpu_model']}, {machine['cores']} cores, {machine['python']}; {versions}; "
        f"package commit {commit_text(machine['package'])}; load average (1/5/15 min) at start "
        f"{'/'.join(f'{x:.2f}' for x in start)}, at end {'/'.join(f'{x:.2f}' for x in end)}"
    )


def commit_text(package: dict[str, Any]) -> str:
    """``package_revision()``'s commit, and whether the package had uncommitted changes."""
    commit = package["commit"] or "unknown"
    return commit + (" with uncommitted changes" if package["uncommitted_changes"] else "")


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` as indented JSON, replacing ``path`` only once complete."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.replace(path)


def ensure_tool(tool: str, package: str) -> None:
    """``tool`` on the PATH: Debian's ``package`` installed with apt-get when it is missing and
    this runs as root (``apt-get update`` first), else exit saying what is missing."""
    if shutil.which(tool) is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print(
            f"{tool} is missing: apt-get update && apt-get install -y {package} ...",
            file=sys.stderr,
        )
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
            subprocess.run(command, env=env, capture_output=True, check=False)  # noqa: S603
    if shutil.which(tool) is None:
        sys.exit(
            f"this benchmark needs {tool} (Debian, Ubuntu: apt-get install {package}); it is "
            "missing and could not be installed (that takes root and apt-get)"
        )
