"""Which request paths ``exclude_paths`` serves without authentication (``core/paths.py``).

An entry is an exact path unless it ends in ``*`` (a prefix). A path that could be read as
another one (``.`` or ``..`` segments, empty segments) is never excluded, whatever the entries.
"""

from __future__ import annotations

import pytest

from cognito_auth_middleware.core.paths import PathMatcher

ENTRIES = ["/health", "/static/*", "/api/v1/public*"]

CASES = [
    pytest.param("/health", True, id="exact"),
    pytest.param("/health/", False, id="exact-not-with-a-trailing-slash"),
    pytest.param("/health-admin", False, id="exact-not-as-a-prefix"),
    pytest.param("/Health", False, id="exact-case-sensitive"),
    pytest.param("/static/app.js", True, id="prefix"),
    pytest.param("/static/css/site.css", True, id="prefix-deeper"),
    pytest.param("/static/", True, id="prefix-itself"),
    pytest.param("/static", False, id="prefix-without-its-slash"),
    pytest.param("/api/v1/public-keys", True, id="prefix-without-a-slash"),
    pytest.param("/static/*", True, id="prefix-star-literally"),
    pytest.param("/static/../admin", False, id="dot-dot-segment"),
    pytest.param("/static/./app.js", False, id="dot-segment"),
    pytest.param("/static//app.js", False, id="empty-segment"),
    pytest.param("//static/app.js", False, id="leading-empty-segment"),
    pytest.param("/static/..", False, id="ends-in-dot-dot"),
    pytest.param("/static/.", False, id="ends-in-dot"),
    pytest.param("/static/..a", True, id="dots-inside-a-name"),
    pytest.param("/static/a.", True, id="name-ending-in-a-dot"),
    pytest.param("/static/a..", True, id="name-ending-in-two-dots"),
    pytest.param("/admin", False, id="not-listed"),
    pytest.param("", False, id="empty"),
]


@pytest.mark.parametrize(("path", "excluded"), CASES)
def test_which_paths_are_excluded(path: str, excluded: bool) -> None:
    assert PathMatcher(ENTRIES)(path) is excluded


def test_an_entry_without_a_star_is_exact_even_if_it_ends_in_a_slash() -> None:
    matcher = PathMatcher(["/docs/"])
    assert (matcher("/docs/"), matcher("/docs/page"), matcher("/docs")) == (True, False, False)


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        pytest.param("/anything/at/all", True, id="any-path"),
        pytest.param("/", True, id="root"),
        pytest.param("/a/../b", False, id="dot-dot-inside"),
        pytest.param("/../b", False, id="dot-dot-first"),
        pytest.param("/./b", False, id="dot-first"),
        pytest.param("//b", False, id="empty-first"),
    ],
)
def test_a_lone_star_excludes_every_well_formed_path(path: str, excluded: bool) -> None:
    assert PathMatcher(["/*"])(path) is excluded


@pytest.mark.parametrize(
    ("entries", "truth"),
    [
        pytest.param([], False, id="none"),
        pytest.param(["/health"], True, id="exact"),
        pytest.param(["/static/*"], True, id="prefix"),
    ],
)
def test_a_matcher_is_true_when_it_has_entries(entries: list[str], truth: bool) -> None:
    matcher = PathMatcher(entries)
    assert bool(matcher) is truth
    assert matcher("/health") is (entries == ["/health"])
