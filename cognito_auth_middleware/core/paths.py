"""``exclude_paths``: which request paths are served without authentication."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PathMatcher"]


class PathMatcher:
    """Match request paths against ``exclude_paths`` entries.

    An entry is an exact path: ``/health`` matches ``/health`` only, not ``/health/`` (which an
    app may serve as another page) nor ``/health-admin``. An entry ending in ``*`` is a prefix
    (``/static/*``). A path with ``.`` or ``..`` segments or an empty segment never matches, so
    ``/static/../admin`` cannot slip past as an excluded path.

    Example:
        >>> excluded = PathMatcher(["/health", "/static/*"])
        >>> excluded("/health"), excluded("/health/"), excluded("/static/app.js")
        (True, False, True)
    """

    __slots__ = ("_exact", "_prefixes")

    def __init__(self, entries: Iterable[str]) -> None:
        exact: set[str] = set()
        prefixes: list[str] = []
        for entry in entries:
            if entry.endswith("*"):
                prefixes.append(entry[:-1])
            else:
                exact.add(entry)
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)

    def __bool__(self) -> bool:
        return bool(self._exact or self._prefixes)

    def __call__(self, path: str) -> bool:
        """Whether ``path`` is excluded from authentication."""
        if not (self._exact or self._prefixes):
            return False
        segments = path.split("/")[1:-1]  # the last segment may be empty (trailing slash)
        if any(segment in ("", ".", "..") for segment in segments) or path.endswith(("/.", "/..")):
            return False
        if path in self._exact:
            return True
        return any(path.startswith(prefix) for prefix in self._prefixes)
