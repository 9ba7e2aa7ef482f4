"""Authorisation: whether an authenticated user may use the app, and whether they administer it.

A :class:`Policy` holds the rules of the ``cognito-auth`` library this package replaces, with
the same meaning, and reads that library's JSON document (:meth:`Policy.from_json`):

- ``allowed_groups``: membership of any of these Cognito groups passes this rule;
- ``allowed_users``: being listed passes this rule (an email entry matches only a verified
  email, case-insensitively; see :func:`~cognito_auth_middleware.settings.user_entry`);
- ``require_all``: every rule that is configured must pass, instead of any one of them;
- ``required_groups`` (this package's own): membership of every one of these groups, required
  in addition to the rules above whatever ``require_all`` says;
- ``admin_groups`` / ``admin_users``: the app's admins, admitted whatever the rules say and
  marked ``user.is_admin``.

With no rule at all, every authenticated user is admitted. Loading a document from a file or
AWS, and reloading it, is the drivers' work (:mod:`cognito_auth_middleware.drivers.policy`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cognito_auth_middleware.exceptions import AccessDeniedError, ConfigurationError
from cognito_auth_middleware.settings import Settings, UserKind, closest, user_entry
from cognito_auth_middleware.user import User

__all__ = ["DOCUMENT_KEYS", "Policy", "group_check"]

logger = logging.getLogger("cognito_auth_middleware")

# The keys of a policy document: the cognito-auth library's five, and required_groups.
DOCUMENT_KEYS = (
    "allowed_groups",
    "allowed_users",
    "require_all",
    "required_groups",
    "admin_groups",
    "admin_users",
)
_USER_KEYS = ("allowed_users", "admin_users")
# A policy document is a short list of names; anything much larger is not one.
MAX_DOCUMENT_BYTES = 256 * 1024

Entries = Mapping[UserKind, frozenset[str]]


def _entries(setting: str, users: tuple[str, ...]) -> Entries:
    kinds: dict[UserKind, set[str]] = {"email": set(), "sub": set(), "username": set()}
    for entry in users:
        kind, value = user_entry(entry, setting)
        kinds[kind].add(value)
    return {kind: frozenset(values) for kind, values in kinds.items()}


def _listed(user: User, entries: Entries) -> bool:
    if user.sub in entries["sub"]:
        return True
    if user.username is not None and user.username in entries["username"]:
        return True
    # An unverified email proves nothing: anyone may type any address at sign-up.
    return bool(user.email and user.email_verified and user.email.lower() in entries["email"])


@dataclass(frozen=True, slots=True)
class Policy:
    """Who may use the app, and who administers it; immutable, so a reload swaps it whole.

    Args:
        allowed_groups: Any of these groups passes the group rule.
        allowed_users: Being listed passes the user rule (emails, ``sub:``/``username:``).
        require_all: Every configured rule must pass (group AND user), not any one.
        required_groups: Membership of every one of these groups, always required.
        admin_groups: Members are admitted whatever the rules say, as admins.
        admin_users: Listed users are admitted whatever the rules say, as admins.
        source: Where the policy came from, for messages (``"settings"``, a file, a secret).

    Raises:
        ConfigurationError: a user entry is malformed (an email entry that is no address).

    Example:
        >>> policy = Policy(allowed_groups=("staff",), admin_groups=("ops",))
        >>> policy.decide(User.create_mock(groups=["ops"])).is_admin
        True
    """

    allowed_groups: tuple[str, ...] = ()
    allowed_users: tuple[str, ...] = ()
    require_all: bool = False
    required_groups: tuple[str, ...] = ()
    admin_groups: tuple[str, ...] = ()
    admin_users: tuple[str, ...] = ()
    source: str = "settings"
    _allowed: Entries = field(init=False, repr=False, compare=False)
    _admins: Entries = field(init=False, repr=False, compare=False)
    _refusal: str = field(init=False, repr=False, compare=False)
    #: No rule and no admin: every user is admitted, none as an admin (decided without a look).
    _open: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allowed", _entries("allowed_users", self.allowed_users))
        object.__setattr__(self, "_admins", _entries("admin_users", self.admin_users))
        object.__setattr__(self, "_refusal", self._describe())
        open_to_all = not (self.has_rules or self.admin_groups or self.admin_users)
        object.__setattr__(self, "_open", open_to_all)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """The rules given inline, as keywords or ``COGNITO_AUTH_*`` variables."""
        if settings.require_all and settings.allowed_groups and not settings.allowed_users:
            logger.warning(
                "require_all has no effect with allowed_groups alone: it means every configured "
                "rule must pass (groups AND users), as in cognito-auth; to require membership "
                "of every group, set required_groups (COGNITO_AUTH_REQUIRED_GROUPS)"
            )
        return cls(
            allowed_groups=settings.allowed_groups,
            allowed_users=settings.allowed_users,
            require_all=settings.require_all,
            required_groups=settings.required_groups,
            admin_groups=settings.admin_groups,
            admin_users=settings.admin_users,
        )

    @classmethod
    def from_json(cls, text: str | bytes, source: str) -> Policy:
        """Parse and validate a policy document in the ``cognito-auth`` library's format.

        A JSON object with any of :data:`DOCUMENT_KEYS`: lists of strings, and ``require_all``
        ``true`` or ``false`` (``null`` reads as absent). Keys starting with ``_`` are comments
        and are ignored; any other key is an error, as is a document naming no rule (the
        library refused one too; to admit every user, configure no policy source).

        Args:
            text: The document.
            source: What it was read from, for the messages (``"file 'auth.json'"``).

        Raises:
            ConfigurationError: the document is not valid JSON or breaks a rule above; the
                message starts with ``source``.

        Example:
            >>> Policy.from_json('{"allowed_groups": ["staff"], "_comment": "hi"}', "doc")
            Policy(allowed_groups=('staff',), ..., source='doc')  # doctest: +SKIP
        """

        def invalid(reason: str) -> ConfigurationError:
            return ConfigurationError(f"the authorisation policy in {source} is invalid: {reason}")

        if len(text) > MAX_DOCUMENT_BYTES:
            raise invalid(f"larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise invalid(f"not JSON ({type(exc).__name__}: {str(exc)[:100]})") from None
        if not isinstance(document, dict):
            raise invalid(f"expected a JSON object, got {type(document).__name__}")
        values: dict[str, Any] = {}
        for key, value in document.items():
            if key.startswith("_"):
                continue  # a comment, as in the library's example files
            if key not in DOCUMENT_KEYS:
                raise invalid(
                    f"unknown key {key!r}{closest(key, DOCUMENT_KEYS)} "
                    f"(known: {', '.join(DOCUMENT_KEYS)}; keys starting with '_' are comments)"
                )
            if value is None:
                continue
            if key == "require_all":
                if not isinstance(value, bool):
                    raise invalid(f"require_all must be true or false, got {value!r}")
            elif not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
                raise invalid(f"{key} must be a list of strings")
            else:
                value = tuple(dict.fromkeys(item.strip() for item in value if item.strip()))
            values[key] = value
        if not any(
            values.get(key) for key in ("allowed_groups", "allowed_users", "required_groups")
        ):
            raise invalid(
                "it names no rule (allowed_groups, allowed_users or required_groups); to admit "
                "every signed-in user, configure no policy source"
            )
        try:
            return cls(**values, source=source)
        except ConfigurationError as exc:
            raise invalid(str(exc)) from None

    @property
    def has_rules(self) -> bool:
        """Whether any rule restricts who is admitted (admins alone restrict nobody)."""
        return bool(self.allowed_groups or self.allowed_users or self.required_groups)

    def is_admin(self, user: User) -> bool:
        """Whether ``user`` is in an admin group or listed as an admin user."""
        return any(map(user.is_in, self.admin_groups)) or _listed(user, self._admins)

    def decide(self, user: User) -> User:
        """``user`` if admitted (marked ``is_admin`` if an admin), else ``AccessDeniedError``.

        The mark is this policy's alone: a user decided under an earlier policy (a Streamlit
        session's) is decided afresh, and loses ``is_admin`` if this policy names them no admin.

        Raises:
            AccessDeniedError: the user is neither an admin nor admitted by the rules; the
                message says what was required.
        """
        if self._open:
            return user._with_admin(False)
        if self.is_admin(user):
            return user._with_admin(True)
        passed = []
        if self.allowed_groups:
            passed.append(any(map(user.is_in, self.allowed_groups)))
        if self.allowed_users:
            passed.append(_listed(user, self._allowed))
        rules = all(passed) if self.require_all else any(passed) or not passed
        if rules and all(map(user.is_in, self.required_groups)):
            return user._with_admin(False)
        raise AccessDeniedError(self._refusal)

    def _describe(self) -> str:
        alternatives = []
        if self.allowed_groups:
            alternatives.append(f"membership of one of the groups {list(self.allowed_groups)!r}")
        if self.allowed_users:
            alternatives.append("being a listed user")
        needed = (" and " if self.require_all else " or ").join(alternatives)
        if self.required_groups:
            every = f"membership of all of the groups {list(self.required_groups)!r}"
            needed = f"{needed} and {every}" if needed else every
        return f"user is not allowed: {needed} is required"


def group_check(groups: tuple[str, ...], require_all: bool) -> Callable[[User], None]:
    """A per-route check raising ``AccessDeniedError`` unless a user is in any (all) of ``groups``.

    Used by the framework integrations' "groups required" decorators and dependencies. It
    names groups for one route, so the app's admins are not exempt from it.

    Raises:
        ConfigurationError: no group was named (at decoration time).
    """
    if not groups:
        raise ConfigurationError("name at least one group to require")
    needed = "all" if require_all else "one"
    message = (
        f"user is not allowed here: membership of {needed} of the groups "
        f"{list(groups)!r} is required"
    )

    def check(user: User) -> None:
        member = map(user.is_in, groups)
        if not (all(member) if require_all else any(member)):
            raise AccessDeniedError(message)

    return check
