"""Who is admitted once authenticated: ``allowed_groups``, ``allowed_users`` and ``require_all``.

Each row is one user against one configuration, with the verdict the documentation promises
(see :func:`cognito_auth_middleware.core.policy.authorize`). A refusal is ``AccessDeniedError``
(403), whose message says what was required.
"""

from __future__ import annotations

from typing import Any

import pytest

from cognito_auth_middleware import AccessDeniedError, ConfigurationError, Settings, User
from cognito_auth_middleware.core.policy import authorize, group_check

SUB = "11111111-2222-3333-4444-555555555555"
OTHER_SUB = "99999999-8888-7777-6666-555555555555"


def _user(
    *,
    sub: str = SUB,
    username: str | None = "ann",
    email: str | None = "Ann@Example.com",
    verified: object = True,
    groups: tuple[str, ...] = (),
) -> User:
    oidc: dict[str, Any] = {"sub": sub, "email_verified": verified}
    if email is not None:
        oidc["email"] = email
    access: dict[str, Any] = {"sub": sub, "cognito:groups": list(groups), "iss": "test"}
    if username is not None:
        access["username"] = username
    return User.from_claims(oidc, access)


def _settings(groups: str = "", users: str = "", require_all: bool = False) -> Settings:
    return Settings.load(
        environ={},
        region="eu-west-2",
        allowed_groups=groups,
        allowed_users=users,
        require_all=require_all,
    )


def _admitted(user: User, settings: Settings) -> bool:
    try:
        authorize(user, settings)
    except AccessDeniedError:
        return False
    return True


CASES = [
    # No rule: every signed-in user.
    pytest.param({}, {}, True, id="no-rules-admit-everyone"),
    pytest.param({}, {"groups": ("x",)}, True, id="no-rules-admit-any-groups"),
    # Groups only.
    pytest.param({"groups": "admins"}, {"groups": ("admins",)}, True, id="in-the-group"),
    pytest.param({"groups": "admins,staff"}, {"groups": ("staff",)}, True, id="in-one-of-two"),
    pytest.param({"groups": "admins"}, {"groups": ("staff",)}, False, id="in-another-group"),
    pytest.param({"groups": "admins"}, {}, False, id="in-no-group"),
    pytest.param({"groups": "admins"}, {"groups": ("Admins",)}, False, id="group-case-differs"),
    # Users only.
    pytest.param({"users": SUB}, {}, True, id="listed-by-sub"),
    pytest.param({"users": f"sub:{SUB}"}, {}, True, id="listed-by-sub-prefix"),
    pytest.param({"users": OTHER_SUB}, {}, False, id="another-sub-listed"),
    pytest.param({"users": "ann"}, {}, True, id="listed-by-username"),
    pytest.param({"users": "username:ann"}, {}, True, id="listed-by-username-prefix"),
    pytest.param({"users": "bob"}, {}, False, id="another-username-listed"),
    pytest.param({"users": "ann"}, {"username": None}, False, id="no-username-is-not-listed"),
    pytest.param({"users": "ann@example.com"}, {}, True, id="listed-by-email-any-case"),
    pytest.param({"users": "ANN@EXAMPLE.COM"}, {}, True, id="listed-by-email-upper-entry"),
    pytest.param({"users": "ann@example.com"}, {"verified": "false"}, False, id="unverified-email"),
    pytest.param({"users": "ann@example.com"}, {"email": None}, False, id="no-email"),
    pytest.param({"users": "bob@example.com"}, {}, False, id="another-email-listed"),
    # An entry of one kind never matches an identifier of another kind.
    pytest.param({"users": "ann"}, {"sub": "ann", "username": "bob"}, False, id="name-not-sub"),
    pytest.param({"users": "sub:ann"}, {"sub": "bob", "username": "ann"}, False, id="sub-not-name"),
    pytest.param({"users": "sub:ann"}, {"sub": "ann", "username": "bob"}, True, id="sub-prefix"),
    pytest.param(
        {"users": "username:Ann@Example.com"},
        {"username": "x"},
        False,
        id="username-entry-not-email",
    ),
    # Groups or users (either suffices).
    pytest.param(
        {"groups": "admins", "users": "bob"}, {"groups": ("admins",)}, True, id="or-group"
    ),
    pytest.param({"groups": "admins", "users": "ann"}, {}, True, id="or-listed"),
    pytest.param({"groups": "admins", "users": "bob"}, {}, False, id="or-neither"),
    # require_all: every group, and listed if users are listed.
    pytest.param(
        {"groups": "a,b", "require_all": True}, {"groups": ("a", "b")}, True, id="all-groups"
    ),
    pytest.param(
        {"groups": "a,b", "require_all": True}, {"groups": ("a",)}, False, id="all-but-one-group"
    ),
    pytest.param({"groups": "a,b", "require_all": True}, {}, False, id="all-in-no-group"),
    pytest.param({"users": "ann", "require_all": True}, {}, True, id="all-users-only-listed"),
    pytest.param({"users": "bob", "require_all": True}, {}, False, id="all-users-only-unlisted"),
    pytest.param(
        {"groups": "a", "users": "ann", "require_all": True},
        {"groups": ("a",)},
        True,
        id="all-group-and-listed",
    ),
    pytest.param(
        {"groups": "a", "users": "bob", "require_all": True},
        {"groups": ("a",)},
        False,
        id="all-group-but-unlisted",
    ),
    pytest.param(
        {"groups": "a", "users": "ann", "require_all": True}, {}, False, id="all-listed-no-group"
    ),
]


@pytest.mark.parametrize(("rules", "user", "admitted"), CASES)
def test_who_is_admitted(rules: dict[str, Any], user: dict[str, Any], admitted: bool) -> None:
    assert _admitted(_user(**user), _settings(**rules)) is admitted


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        pytest.param(
            {"groups": "a,b"},
            "user is not allowed: membership of one of the groups ['a', 'b'] is required",
            id="any-group",
        ),
        pytest.param(
            {"groups": "a,b", "require_all": True},
            "user is not allowed: membership of all of the groups ['a', 'b'] is required",
            id="all-groups",
        ),
        pytest.param(
            {"groups": "a", "users": "bob"},
            "user is not allowed: membership of one of the groups ['a'] or being a listed user"
            " is required",
            id="group-or-user",
        ),
        pytest.param(
            {"groups": "a", "users": "bob", "require_all": True},
            "user is not allowed: membership of all of the groups ['a'] and being a listed user"
            " is required",
            id="group-and-user",
        ),
    ],
)
def test_a_refusal_says_what_was_required(rules: dict[str, Any], message: str) -> None:
    with pytest.raises(AccessDeniedError) as caught:
        authorize(_user(), _settings(**rules))
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("groups", "require_all", "member_of", "admitted"),
    [
        pytest.param(("a", "b"), False, ("b",), True, id="any-one"),
        pytest.param(("a", "b"), False, ("c",), False, id="any-none"),
        pytest.param(("a", "b"), True, ("a", "b", "c"), True, id="all-every"),
        pytest.param(("a", "b"), True, ("b",), False, id="all-missing-one"),
        pytest.param(("a", "b"), True, (), False, id="all-none"),
    ],
)
def test_a_route_group_check_admits_members_only(
    groups: tuple[str, ...], require_all: bool, member_of: tuple[str, ...], admitted: bool
) -> None:
    check = group_check(groups, require_all)
    user = _user(groups=member_of)
    if admitted:
        check(user)
    else:
        with pytest.raises(AccessDeniedError) as caught:
            check(user)
        needed = "all" if require_all else "one"
        assert caught.value.message == (
            f"user is not allowed here: membership of {needed} of the groups "
            f"{list(groups)!r} is required"
        )


def test_a_route_group_check_must_name_a_group() -> None:
    with pytest.raises(ConfigurationError) as caught:
        group_check((), False)
    assert str(caught.value) == "name at least one group to require"
