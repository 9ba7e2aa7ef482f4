"""How a diagnosis is written down: its checks, the values it quotes, and the printed report."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cognito_auth_middleware.core.claims import MAX_TIMESTAMP
from cognito_auth_middleware.core.tokens import fingerprint

__all__ = ["Check", "describe", "report", "short", "when"]


@dataclass(frozen=True, slots=True)
class Check:
    """One stage of the trust chain and its outcome."""

    name: str
    passed: bool
    detail: str = ""


def when(seconds: object) -> str:
    """A time claim with its date, or why it has none."""
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        if not 0 <= seconds <= MAX_TIMESTAMP:  # no date to show (and fromtimestamp would raise)
            return f"{short(seconds)} (not a valid time)"
        moment = datetime.datetime.fromtimestamp(float(seconds), tz=datetime.UTC)
        return f"{seconds} ({moment:%Y-%m-%d %H:%M:%S} UTC)"
    return short(seconds)


def short(value: object) -> str:
    """A claim's value, quoted readably whatever it holds."""
    # A 400-digit number or a long string stays readable (and int's repr has a digit limit).
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge integer"
    return text if len(text) <= 60 else text[:57] + "..."


def describe(label: str, text: str) -> str:
    """A token named by its length and fingerprint, never by its text."""
    return f"{label}: {len(text)} characters, fingerprint {fingerprint(text)}" + (
        ", padded (as the ALB sends it)" if "=" in text else ""
    )


def report(lines: Iterator[str | Check], write: Callable[[str], Any] = print) -> bool:
    """Print the diagnosis; return whether every check passed."""
    ok = True
    for line in lines:
        if isinstance(line, Check):
            ok = ok and line.passed
            mark = "PASS" if line.passed else "FAIL"
            write(f"{mark}  {line.name}" + (f": {line.detail}" if line.detail else ""))
        else:
            write(line)
    return ok
