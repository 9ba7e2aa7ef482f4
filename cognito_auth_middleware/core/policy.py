"""Authorisation: whether an authenticated user may use the app (allowed groups and users)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

from cognito_auth_middleware.exceptions import AccessDeniedError, ConfigurationError
from cognito_auth_middleware.settings import Settings, UserKind, user_entry
from cognito_auth_middleware.user import User

__all__ = ["authorize", "group_check"]


def authorize(user: User, settings: Settings) -> None:
    """Refuse ``user`` unless the configured groups / users admit them.

    With neither ``allowed_groups`` nor ``allowed_users`` set, every authenticated user is
    admitted. Otherwise a user is admitted if they are in any allowed group or are listed (an
    email entry matches only a verified email, case-insensitively; a sub or username entry
    only that identifier, see :func:`~cognito_auth_middleware.settings.user_entry`); with
    ``require_all`` they must be in every allowed group and, if users are listed, be one of them.

    Raises:
        AccessDeniedError: the user is not admitted.
    """
    groups, users = settings.allowed_groups, settings.allowed_users
    if not groups and not users:
        return
    listed = bool(users) and _listed(user, _entries(users))
    if settings.require_all:
        admitted = all(user.is_in(group) for group in groups) and (listed or not users)
    else:
        admitted = listed or any(user.is_in(group) for group in groups)
    if not admitted:
        needed = "all of" if settings.require_all else "one of"
        raise AccessDeniedError(
            f"user is not allowed: membership of {needed} the groups {list(groups)!r}"
            + (
                (" and " if settings.require_all else " or ") + "being a listed user"
                if users
                else ""
            )
            + " is required"
        )


@functools.lru_cache(maxsize=16)
def _entries(users: tuple[str, ...]) -> dict[UserKind, frozenset[str]]:
    kinds: dict[UserKind, set[str]] = {"email": set(), "sub": set(), "username": set()}
    for entry in users:
        kind, value = user_entry(entry)
        kinds[kind].add(value)
    return {kind: frozenset(values) for kind, values in kinds.items()}


def _listed(user: User, entries: Mapping[UserKind, frozenset[str]]) -> bool:
    if user.sub in entries["sub"]:
        return True
    if user.username is not None and user.username in entries["username"]:
        return True
    # An unverified email proves nothing: anyone may type any address at sign-up.
    return bool(user.email and user.email_verified and user.email.lower() in entries["email"])


def group_check(groups: tuple[str, ...], require_all: bool) -> Callable[[User], None]:
    """A per-route check raising ``AccessDeniedError`` unless a user is in any (all) of ``groups``.

    Used by the framework integrations' "groups required" decorators and dependencies.

    Raises:
        ConfigurationError: no group was named (at decoration time).
    """
    if not groups:
        raise ConfigurationError("name at least one group to require")
    needed = "all" if require_all else "one"

    def check(user: User) -> None:
        member = map(user.is_in, groups)
        if not (all(member) if require_all else any(member)):
            raise AccessDeniedError(
                f"user is not allowed here: membership of {needed} of the groups "
                f"{list(groups)!r} is required"
            )

    return check
