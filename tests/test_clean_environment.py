"""The suite's own ``COGNITO_AUTH_*`` variables never reach a test (``tests/conftest.py``).

Checking ``os.environ`` from inside this suite proves nothing when the developer's shell sets
no such variable, which is the usual case. So the suite's real conftest is run in a separate
pytest whose environment sets them, and the tests there must not see any.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# One of each kind seen to break tests when set in a developer's shell, and a misspelt one
# (which every Settings.load refuses).
OUTER_ENVIRONMENT = {
    "COGNITO_AUTH_ALLOWED_GROUPS": "admins",
    "COGNITO_AUTH_ALLOWED_USERS": "a@b.co",
    "COGNITO_AUTH_DEV_MODE": "true",
    "COGNITO_AUTH_ALB_ARN": (
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/other/0123456789abcdef"
    ),
    "COGNITO_AUTH_EXCLUDE_PATHS": "/x",
    "COGNITO_AUTH_REGON": "x",
}

TESTS = """
import os

import pytest

from cognito_auth_middleware import Settings
from cognito_auth_middleware.testing import DEFAULT_ALB_ARN, DEFAULT_CLIENT_ID, DEFAULT_USER_POOL_ID

KEYWORDS = {
    "alb_arn": DEFAULT_ALB_ARN,
    "user_pool_id": DEFAULT_USER_POOL_ID,
    "client_id": DEFAULT_CLIENT_ID,
}


def visible():
    return sorted(name for name in os.environ if name.startswith("COGNITO_AUTH_"))


@pytest.fixture(scope="module")
def seen_by_a_module_fixture():
    return visible(), Settings.load(**KEYWORDS)


def test_a_module_fixture_sees_a_clean_environment(seen_by_a_module_fixture):
    names, settings = seen_by_a_module_fixture
    assert names == []
    assert settings == Settings.load(environ={}, **KEYWORDS)


def test_a_test_sees_a_clean_environment():
    assert visible() == []
    assert Settings.load(**KEYWORDS) == Settings.load(environ={}, **KEYWORDS)


def test_a_test_may_still_set_a_variable(monkeypatch):
    monkeypatch.setenv("COGNITO_AUTH_ALLOWED_GROUPS", "staff")
    assert Settings.load(**KEYWORDS).allowed_groups == ("staff",)


def test_which_does_not_reach_the_next_test():
    assert visible() == []
"""


def test_outer_cognito_auth_variables_never_reach_a_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in OUTER_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)  # inherited by the pytest run below
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makepyfile(test_environment=textwrap.dedent(TESTS))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
