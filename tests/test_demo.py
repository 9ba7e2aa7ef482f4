"""The README's main command: the demo answers 200 with headers and 401 without."""

from __future__ import annotations

import subprocess
import sys


def test_demo_check_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cognito_auth_middleware.tools.demo", "--check", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "with headers:    200" in result.stdout
    assert '"email":"alice@example.com"' in result.stdout
    assert "without headers: 401" in result.stdout
