"""Who is admitted once authenticated, and who is the app's admin: :class:`Policy`.

Each row of the matrix is one user against one configuration, with the verdict the
documentation promises; the rules are those of the ``cognito-auth`` library this package
replaces (``require_all``: every configured rule must pass), plus ``required_groups``. A refusal
is ``AccessDeniedError`` (403), whose message says what was required. The document parser is
tested on that library's own example file and on hostile documents.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from cognito_auth_middleware import AccessDeniedError, ConfigurationError, Settings, User
from cognito_auth_middleware.core.policy import MAX_DOCUMENT_BYTES, Policy, group_check

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


def _policy(
    groups: str = "",
    users: str = "",
    require_all: bool = False,
    required: str = "",
    admin_groups: str = "",
    admin_users: str = "",
) -> Policy:
    """The inline policy of these settings, as the engine builds it."""
    settings = Settings.load(
        environ={},
        region="eu-west-2",
        allowed_groups=groups,
        allowed_users=users,
        require_all=require_all,
        required_groups=required,
        admin_groups=admin_groups,
        admin_users=admin_users,
    )
    return Policy.from_settings(settings)


def _verdict(user: User, policy: Policy) -> str:
    try:
        decided = policy.decide(user)
    except AccessDeniedError:
        return "refused"
    return "admin" if decided.is_admin else "admitted"


CASES = [
    # No rule: every signed-in user.
    pytest.param({}, {}, "admitted", id="no-rules-admit-everyone"),
    pytest.param({}, {"groups": ("x",)}, "admitted", id="no-rules-admit-any-groups"),
    # Groups only: any one of them.
    pytest.param({"groups": "admins"}, {"groups": ("admins",)}, "admitted", id="in-the-group"),
    pytest.param({"groups": "a,b"}, {"groups": ("b",)}, "admitted", id="in-one-of-two"),
    pytest.param({"groups": "admins"}, {"groups": ("staff",)}, "refused", id="in-another-group"),
    pytest.param({"groups": "admins"}, {}, "refused", id="in-no-group"),
    pytest.param({"groups": "admins"}, {"groups": ("Admins",)}, "refused", id="group-case"),
    # Users only.
    pytest.param({"users": SUB}, {}, "admitted", id="listed-by-sub"),
    pytest.param({"users": f"sub:{SUB}"}, {}, "admitted", id="listed-by-sub-prefix"),
    pytest.param({"users": OTHER_SUB}, {}, "refused", id="another-sub-listed"),
    pytest.param({"users": "ann"}, {}, "admitted", id="listed-by-username"),
    pytest.param({"users": "username:ann"}, {}, "admitted", id="listed-by-username-prefix"),
    pytest.param({"users": "bob"}, {}, "refused", id="another-username-listed"),
    pytest.param({"users": "ann"}, {"username": None}, "refused", id="no-username"),
    pytest.param({"users": "ann@example.com"}, {}, "admitted", id="email-any-case"),
    pytest.param({"users": "ANN@EXAMPLE.COM"}, {}, "admitted", id="email-upper-entry"),
    pytest.param({"users": "ann@example.com"}, {"verified": "true"}, "admitted", id="email-str"),
    pytest.param({"users": "ann@example.com"}, {"verified": "false"}, "refused", id="unverified"),
    pytest.param({"users": "ann@example.com"}, {"verified": None}, "refused", id="unverified-null"),
    pytest.param({"users": "ann@example.com"}, {"email": None}, "refused", id="no-email"),
    pytest.param({"users": "bob@example.com"}, {}, "refused", id="another-email-listed"),
    # An entry of one kind never matches an identifier of another kind.
    pytest.param({"users": "ann"}, {"sub": "ann", "username": "bob"}, "refused", id="name-not-sub"),
    pytest.param(
        {"users": "sub:ann"}, {"sub": "bob", "username": "ann"}, "refused", id="sub-not-name"
    ),
    pytest.param(
        {"users": "sub:ann"}, {"sub": "ann", "username": "bob"}, "admitted", id="sub-prefix"
    ),
    pytest.param(
        {"users": "username:Ann@Example.com"}, {"username": "x"}, "refused", id="username-not-email"
    ),
    # Groups and users: either suffices.
    pytest.param(
        {"groups": "a", "users": "bob"}, {"groups": ("a",)}, "admitted", id="any-group-passes"
    ),
    pytest.param({"groups": "a", "users": "ann"}, {}, "admitted", id="any-listed-passes"),
    pytest.param({"groups": "a", "users": "bob"}, {}, "refused", id="any-neither"),
    # require_all: every configured rule (cognito-auth's meaning), not every group.
    pytest.param(
        {"groups": "a,b", "require_all": True},
        {"groups": ("a",)},
        "admitted",
        id="all-groups-rule-is-any-group",
    ),
    pytest.param({"groups": "a,b", "require_all": True}, {}, "refused", id="all-no-group"),
    pytest.param({"users": "ann", "require_all": True}, {}, "admitted", id="all-users-listed"),
    pytest.param({"users": "bob", "require_all": True}, {}, "refused", id="all-users-unlisted"),
    pytest.param(
        {"groups": "a,b", "users": "ann", "require_all": True},
        {"groups": ("b",)},
        "admitted",
        id="all-group-and-listed",
    ),
    pytest.param(
        {"groups": "a", "users": "bob", "require_all": True},
        {"groups": ("a",)},
        "refused",
        id="all-group-but-unlisted",
    ),
    pytest.param(
        {"groups": "a", "users": "ann", "require_all": True},
        {},
        "refused",
        id="all-listed-no-group",
    ),
    pytest.param(
        {"groups": "a", "users": "ann@example.com", "require_all": True},
        {"groups": ("a",), "verified": False},
        "refused",
        id="all-group-and-unverified-email",
    ),
    # required_groups: every one of them, on top of the other rules.
    pytest.param({"required": "a,b"}, {"groups": ("a", "b", "c")}, "admitted", id="req-every"),
    pytest.param({"required": "a,b"}, {"groups": ("b",)}, "refused", id="req-missing-one"),
    pytest.param({"required": "a,b"}, {}, "refused", id="req-none"),
    pytest.param(
        {"groups": "x", "required": "a"}, {"groups": ("x",)}, "refused", id="req-and-any-group"
    ),
    pytest.param(
        {"groups": "x", "required": "a"}, {"groups": ("x", "a")}, "admitted", id="req-and-group"
    ),
    pytest.param(
        {"users": "ann", "groups": "x", "required": "a"},
        {"groups": ("a",)},
        "admitted",
        id="req-and-listed",
    ),
    pytest.param({"users": "ann", "required": "a"}, {}, "refused", id="req-listed-not-member"),
    # Admins pass whatever the rules say, and are marked.
    pytest.param(
        {"groups": "staff", "admin_groups": "ops"}, {"groups": ("ops",)}, "admin", id="admin-group"
    ),
    pytest.param(
        {"groups": "staff", "admin_groups": "ops"},
        {"groups": ("staff",)},
        "admitted",
        id="member-not-admin",
    ),
    pytest.param(
        {"groups": "staff", "admin_users": "ann@example.com"}, {}, "admin", id="admin-email"
    ),
    pytest.param(
        {"groups": "staff", "admin_users": "ann@example.com"},
        {"verified": False},
        "refused",
        id="admin-email-unverified",
    ),
    pytest.param({"groups": "staff", "admin_users": "ann"}, {}, "admin", id="admin-username"),
    pytest.param({"groups": "staff", "admin_users": SUB}, {}, "admin", id="admin-sub"),
    pytest.param(
        {"required": "a,b", "users": "bob", "require_all": True, "admin_groups": "ops"},
        {"groups": ("ops",)},
        "admin",
        id="admin-bypasses-every-rule",
    ),
    pytest.param({"admin_groups": "ops"}, {}, "admitted", id="admins-alone-restrict-nobody"),
    pytest.param({"admin_groups": "ops"}, {"groups": ("ops",)}, "admin", id="admins-alone-mark"),
    pytest.param(
        {"groups": "staff", "admin_groups": "ops"},
        {"groups": ("Ops",)},
        "refused",
        id="admin-group-case",
    ),
]


@pytest.mark.parametrize(("rules", "user", "verdict"), CASES)
def test_who_is_admitted(rules: dict[str, Any], user: dict[str, Any], verdict: str) -> None:
    assert _verdict(_user(**user), _policy(**rules)) == verdict


@pytest.mark.parametrize(("rules", "user", "verdict"), CASES)
def test_a_document_means_what_the_settings_mean(
    rules: dict[str, Any], user: dict[str, Any], verdict: str
) -> None:
    keys = {
        "groups": "allowed_groups",
        "users": "allowed_users",
        "required": "required_groups",
        "admin_groups": "admin_groups",
        "admin_users": "admin_users",
    }
    document: dict[str, Any] = {
        keys[name]: value.split(",") for name, value in rules.items() if name in keys
    }
    document["require_all"] = rules.get("require_all", False)
    text = json.dumps(document)
    if not any(document.get(key) for key in ("allowed_groups", "allowed_users", "required_groups")):
        # As in cognito-auth, a document must name a rule: no source means "everyone".
        with pytest.raises(ConfigurationError, match="it names no rule"):
            Policy.from_json(text, "test document")
        return
    policy = Policy.from_json(text, "test document")
    assert _verdict(_user(**user), policy) == verdict


def test_an_admin_is_a_copy_and_the_rest_is_the_same_user() -> None:
    user = _user(groups=("ops",))
    admin = _policy(groups="staff", admin_groups="ops").decide(user)
    assert admin.is_admin is True
    assert user.is_admin is False
    assert (admin.sub, admin.email, admin.groups, admin.exp) == (
        user.sub,
        user.email,
        user.groups,
        user.exp,
    )
    assert admin.oidc_claims == user.oidc_claims
    assert "is_admin=True" in repr(admin)
    assert "is_admin" not in repr(user)
    # An admitted non-admin is returned as it is.
    member = _user(groups=("staff",))
    assert _policy(groups="staff").decide(member) is member


def test_a_user_decided_before_is_decided_afresh_by_the_next_policy() -> None:
    """A Streamlit session keeps its user across reloads: the mark is the policy's of the day."""
    admin = _policy(groups="ops", admin_groups="ops").decide(_user(groups=("ops",)))
    assert _policy(groups="ops", admin_groups="ops").decide(admin) is admin
    demoted = _policy(groups="ops").decide(admin)
    assert demoted.is_admin is False
    assert (demoted.sub, demoted.groups) == (admin.sub, admin.groups)
    with pytest.raises(AccessDeniedError):
        _policy(groups="staff").decide(admin)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        pytest.param(
            {"groups": "a,b"},
            "user is not allowed: membership of one of the groups ['a', 'b'] is required",
            id="any-group",
        ),
        pytest.param(
            {"users": "bob"}, "user is not allowed: being a listed user is required", id="user"
        ),
        pytest.param(
            {"groups": "a", "users": "bob"},
            "user is not allowed: membership of one of the groups ['a'] or being a listed user"
            " is required",
            id="group-or-user",
        ),
        pytest.param(
            {"groups": "a", "users": "bob", "require_all": True},
            "user is not allowed: membership of one of the groups ['a'] and being a listed user"
            " is required",
            id="group-and-user",
        ),
        pytest.param(
            {"required": "a,b"},
            "user is not allowed: membership of all of the groups ['a', 'b'] is required",
            id="required",
        ),
        pytest.param(
            {"groups": "x", "required": "a,b"},
            "user is not allowed: membership of one of the groups ['x'] and membership of all of"
            " the groups ['a', 'b'] is required",
            id="group-and-required",
        ),
    ],
)
def test_a_refusal_says_what_was_required(rules: dict[str, Any], message: str) -> None:
    with pytest.raises(AccessDeniedError) as caught:
        _policy(**rules).decide(_user())
    assert caught.value.message == message


def test_require_all_with_groups_alone_warns_that_it_does_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="cognito_auth_middleware"):
        _policy(groups="a,b", require_all=True)
    assert caplog.messages == [
        "require_all has no effect with allowed_groups alone: it means every configured rule "
        "must pass (groups AND users), as in cognito-auth; to require membership of every group, "
        "set required_groups (COGNITO_AUTH_REQUIRED_GROUPS)"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cognito_auth_middleware"):
        _policy(groups="a,b", users="ann", require_all=True)
        _policy(groups="a,b")
    assert caplog.text == ""


@pytest.mark.parametrize("setting", ["allowed_users", "admin_users"])
def test_a_malformed_user_entry_is_refused_naming_its_setting(setting: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(environ={}, region="eu-west-2", **{setting: "ann@example"})  # type: ignore[arg-type]
    assert str(caught.value) == f"{setting} entry 'ann@example' is not an email address"


# The example file of the cognito-auth library (auth-config.example.json), as documented there.
LIBRARY_EXAMPLE = """{
  "_comment": "Authorisation configuration for cognito-auth",
  "_description": "This file defines who can access your application",
  "_usage": ["For local development: ...", "For production: ..."],
  "allowed_groups": ["developers", "admins", "users"],
  "allowed_users": ["special-user@example.com"],
  "require_all": false,
  "_field_descriptions": {"allowed_groups": "List of Cognito groups"}
}"""


def test_the_library_example_document_is_read_and_comments_are_ignored() -> None:
    policy = Policy.from_json(LIBRARY_EXAMPLE, "auth-config.example.json")
    assert policy.allowed_groups == ("developers", "admins", "users")
    assert policy.allowed_users == ("special-user@example.com",)
    assert policy.require_all is False
    assert policy.source == "auth-config.example.json"
    assert _verdict(_user(groups=("users",)), policy) == "admitted"
    assert _verdict(_user(email="Special-User@example.com"), policy) == "admitted"
    assert _verdict(_user(), policy) == "refused"


def test_a_document_with_every_key_and_bytes_input() -> None:
    document = {
        "allowed_groups": ["a"],
        "allowed_users": ["ann@example.com", " bob@example.com ", ""],
        "require_all": True,
        "required_groups": ["r"],
        "admin_groups": ["ops"],
        "admin_users": ["boss@example.com"],
        "_note": None,
    }
    policy = Policy.from_json(json.dumps(document).encode(), "doc")
    assert policy == Policy(
        allowed_groups=("a",),
        allowed_users=("ann@example.com", "bob@example.com"),
        require_all=True,
        required_groups=("r",),
        admin_groups=("ops",),
        admin_users=("boss@example.com",),
        source="doc",
    )


HOSTILE = [
    pytest.param("", "not JSON", id="empty"),
    pytest.param("{", "not JSON", id="truncated"),
    pytest.param(b"\xff\xfe{}", "not JSON", id="not-utf8"),
    pytest.param("[" * 150_000 + "]" * 150_000, "larger than", id="huge"),
    pytest.param("[" * 5000 + "]" * 5000, "not JSON", id="deep-nesting"),
    pytest.param("[]", "expected a JSON object, got list", id="array"),
    pytest.param("null", "expected a JSON object, got NoneType", id="null"),
    pytest.param('"allowed_groups"', "expected a JSON object, got str", id="string"),
    pytest.param("{}", "it names no rule", id="no-rule"),
    pytest.param('{"admin_groups": ["ops"]}', "it names no rule", id="admins-only"),
    pytest.param('{"allowed_groups": []}', "it names no rule", id="empty-list"),
    pytest.param('{"allowed_groups": null}', "it names no rule", id="null-list"),
    pytest.param('{"allowed_groups": ["", " "]}', "it names no rule", id="blank-entries"),
    pytest.param(
        '{"allowed_group": ["a"]}', "unknown key 'allowed_group'; did you mean", id="typo"
    ),
    pytest.param('{"allowed_groups": ["a"], "extra": 1}', "unknown key 'extra'", id="unknown"),
    pytest.param('{"allowed_groups": "a"}', "allowed_groups must be a list of strings", id="str"),
    pytest.param('{"allowed_groups": [1]}', "allowed_groups must be a list of strings", id="int"),
    pytest.param('{"allowed_groups": [null]}', "must be a list of strings", id="null-entry"),
    pytest.param('{"allowed_groups": [["a"]]}', "must be a list of strings", id="nested"),
    pytest.param('{"allowed_groups": {"a": 1}}', "must be a list of strings", id="object"),
    pytest.param(
        '{"allowed_groups": ["a"], "require_all": "true"}',
        "require_all must be true or false",
        id="require-all-string",
    ),
    pytest.param(
        '{"allowed_groups": ["a"], "require_all": 1}',
        "require_all must be true or false",
        id="require-all-int",
    ),
    pytest.param(
        '{"allowed_users": ["ann@example"]}',
        "allowed_users entry 'ann@example' is not an email address",
        id="bad-email",
    ),
    pytest.param(
        '{"allowed_groups": ["a"], "admin_users": ["boss@@x.com"]}',
        "admin_users entry 'boss@@x.com' is not an email address",
        id="bad-admin-email",
    ),
    pytest.param('{"allowed_users": ["sub:"]}', "names no sub", id="empty-prefix"),
]


@pytest.mark.parametrize(("text", "reason"), HOSTILE)
def test_a_bad_document_is_refused_with_its_source_and_reason(
    text: str | bytes, reason: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Policy.from_json(text, "file 'auth.json'")
    message = str(caught.value)
    assert message.startswith("the authorisation policy in file 'auth.json' is invalid: ")
    assert reason in message


def test_the_size_cap_is_on_the_document_not_its_content() -> None:
    document = '{"allowed_groups": ["a"]}'
    padded = document + " " * (MAX_DOCUMENT_BYTES - len(document))
    assert Policy.from_json(padded, "doc").allowed_groups == ("a",)  # exactly the cap
    with pytest.raises(ConfigurationError, match=f"larger than {MAX_DOCUMENT_BYTES} bytes"):
        Policy.from_json(padded + " ", "doc")


def test_a_null_value_reads_as_absent_and_the_keys_after_it_still_count() -> None:
    policy = Policy.from_json(
        '{"admin_groups": null, "_c": 1, "allowed_users": ["ann"], "allowed_groups": ["a"]}',
        "doc",
    )
    assert (policy.admin_groups, policy.allowed_users, policy.allowed_groups) == (
        (),
        ("ann",),
        ("a",),
    )


def test_the_messages_in_full() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Policy.from_json("{}", "doc")
    assert str(caught.value) == (
        "the authorisation policy in doc is invalid: it names no rule (allowed_groups, "
        "allowed_users or required_groups); to admit every signed-in user, configure no policy "
        "source"
    )
    with pytest.raises(ConfigurationError) as caught:
        Policy.from_json('{"allowed_groups": ["a"], "x": 1}', "doc")
    assert str(caught.value) == (
        "the authorisation policy in doc is invalid: unknown key 'x' (known: allowed_groups, "
        "allowed_users, require_all, required_groups, admin_groups, admin_users; keys starting "
        "with '_' are comments)"
    )
    with pytest.raises(ConfigurationError) as caught:
        Policy.from_json("{", "doc")
    assert str(caught.value) == (
        "the authorisation policy in doc is invalid: not JSON (JSONDecodeError: Expecting "
        "property name enclosed in double quotes: line 1 column 2 (char 1))"
    )


def test_the_json_error_is_cut_at_100_characters() -> None:
    # A 5000-digit number: Python refuses to convert it, in a message of some 140 characters.
    text = '{"allowed_groups": [' + "1" * 5000 + "]}"
    with pytest.raises(ValueError, match="Exceeds the limit") as python:
        json.loads(text)
    assert len(str(python.value)) > 100
    with pytest.raises(ConfigurationError) as caught:
        Policy.from_json(text, "doc")
    assert str(caught.value) == (
        "the authorisation policy in doc is invalid: not JSON (ValueError: "
        f"{str(python.value)[:100]})"
    )


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


def test_a_route_group_check_does_not_exempt_admins() -> None:
    admin = _policy(groups="staff", admin_groups="ops").decide(_user(groups=("ops",)))
    assert admin.is_admin
    with pytest.raises(AccessDeniedError):
        group_check(("finance",), False)(admin)


def test_a_route_group_check_must_name_a_group() -> None:
    with pytest.raises(ConfigurationError) as caught:
        group_check((), False)
    assert str(caught.value) == "name at least one group to require"
