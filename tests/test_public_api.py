"""The public surface: re-exports, the documented exception hierarchy, and User."""

from __future__ import annotations

import copy
import logging
import pickle
from collections.abc import Callable
from dataclasses import FrozenInstanceError, fields, replace
from types import MappingProxyType
from typing import Any

import pytest

import cognito_auth_middleware
from cognito_auth_middleware import User
from cognito_auth_middleware.exceptions import (
    AccessDeniedError,
    AuthenticationError,
    ConfigurationError,
    ExpiredTokenError,
    InvalidTokenError,
    KeysUnavailableError,
    MissingTokenError,
)
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer


def test_all_lists_the_public_api() -> None:
    assert sorted(cognito_auth_middleware.__all__) == [
        "AccessDeniedError",
        "AsyncVerifier",
        "AuthenticationError",
        "CognitoAuthMiddleware",
        "CognitoAuthWSGIMiddleware",
        "ConfigurationError",
        "ExpiredTokenError",
        "InvalidTokenError",
        "KeysUnavailableError",
        "MachineClient",
        "MissingTokenError",
        "Settings",
        "User",
        "Verifier",
        "get_machine",
        "get_user",
        "reload_policy",
    ]
    for name in cognito_auth_middleware.__all__:
        assert getattr(cognito_auth_middleware, name) is not None


@pytest.mark.parametrize(
    "error",
    [
        MissingTokenError,
        InvalidTokenError,
        ExpiredTokenError,
        AccessDeniedError,
        KeysUnavailableError,
    ],
)
def test_every_refusal_is_an_authentication_error(error: type[AuthenticationError]) -> None:
    # As documented by the library this package replaces: the three token errors derive
    # directly from the base, so `except AuthenticationError` catches everything.
    assert error.__bases__ == (AuthenticationError,)
    assert error("why").code != AuthenticationError.code
    assert not issubclass(ConfigurationError, AuthenticationError)


@pytest.fixture
def env_for_user(monkeypatch: pytest.MonkeyPatch, key_server: KeyServer) -> None:
    for name, value in key_server.settings().items():
        monkeypatch.setenv(f"COGNITO_AUTH_{name.upper()}", value)


@pytest.mark.usefixtures("env_for_user")
def test_documented_constructor_verifies(idp: FakeIdentityProvider) -> None:
    headers = idp.headers(sub="alice", email="alice@example.com", name="Alice A", groups=["x"])
    user = User(
        oidc_data_header=headers["x-amzn-oidc-data"],
        access_token_header=headers["x-amzn-oidc-accesstoken"],
        region="eu-west-2",
        verify_tokens=True,
    )
    assert (user.sub, user.email, user.name, user.groups) == (
        "alice",
        "alice@example.com",
        "Alice A",
        ("x",),
    )
    assert type(user) is User
    assert user.is_in("x")
    assert not user.is_in("X")
    assert user.display_name == "Alice A"
    assert user.identity == "alice"
    assert user.is_authenticated


@pytest.mark.usefixtures("env_for_user")
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"oidc_data_header": None}, MissingTokenError, id="missing"),
        pytest.param({"oidc_data_header": "invalid-token"}, InvalidTokenError, id="invalid"),
        pytest.param({"expired": True}, ExpiredTokenError, id="expired"),
    ],
)
def test_documented_constructor_raises_documented_errors(
    idp: FakeIdentityProvider, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    alb = idp.mint_alb_token(ttl=-3600 if kwargs.pop("expired", False) else 60)
    arguments: dict[str, Any] = {
        "oidc_data_header": alb,
        "access_token_header": idp.mint_access_token(),
        **kwargs,
    }
    with pytest.raises(error):
        User(**arguments, region="eu-west-2")
    with pytest.raises(AuthenticationError):
        User(**arguments, region="eu-west-2")


def test_constructor_without_alb_arn_is_refused(
    idp: FakeIdentityProvider, key_server: KeyServer
) -> None:
    # A pair from another AWS account's ALB and pool would pass every other check.
    impostor = FakeIdentityProvider(user_pool_id="eu-west-2_Impostor9")
    headers = impostor.headers(sub="bob")
    options = key_server.settings(alb_arn=None, user_pool_id=None, client_id=None)
    with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN") as refused:
        User(
            oidc_data_header=headers["x-amzn-oidc-data"],
            access_token_header=headers["x-amzn-oidc-accesstoken"],
            region="eu-west-2",  # the compatibility note's call, nothing else configured
            **options,
        )
    assert "allow_any_alb=True" in str(refused.value)
    assert key_server.requests == []


def test_constructor_opt_out_without_alb_arn_still_verifies_and_warns(
    idp: FakeIdentityProvider, key_server: KeyServer, caplog: pytest.LogCaptureFixture
) -> None:
    options = key_server.settings(
        alb_arn=None, user_pool_id=None, client_id=None, region="eu-west-2", allow_any_alb=True
    )
    headers = idp.headers(sub="bob")
    with caplog.at_level(logging.WARNING, logger="cognito_auth_middleware"):
        user = User(headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"], **options)
        User(headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"], **options)
    assert user.sub == "bob"
    warnings = [r for r in caplog.records if "NOT checked" in r.getMessage()]
    assert len(warnings) == 1  # once per configuration, not per call
    # Signatures are still checked...
    impostor = FakeIdentityProvider()
    impostor.alb_kid = idp.alb_kid
    with pytest.raises(InvalidTokenError, match="signature"):
        User(impostor.mint_alb_token(sub="bob"), headers["x-amzn-oidc-accesstoken"], **options)
    # ...and the issuer must still be a Cognito pool of the region.
    stranger = idp.mint_alb_token(sub="bob", header={"iss": "https://idp.example.com/pool"})
    with pytest.raises(InvalidTokenError, match="issuer"):
        User(stranger, headers["x-amzn-oidc-accesstoken"], **options)


def test_verify_tokens_false_is_refused() -> None:
    with pytest.raises(ValueError, match="verify_tokens=False"):
        User("a", "b", region="eu-west-2", verify_tokens=False)


def test_user_claims_are_copies_and_repr_is_readable(idp: FakeIdentityProvider) -> None:
    alb_claims = {"sub": "s1", "email": "a@Example.org", "email_verified": "true", "exp": 10}
    access_claims = {"sub": "s1", "username": "ann", "cognito:groups": ["g"], "iss": "i"}
    user = User.from_claims(alb_claims, access_claims)
    user.oidc_claims["email"] = "changed"
    user.access_claims["cognito:groups"].append("admins")
    assert user.oidc_claims["email"] == "a@Example.org"
    assert user.groups == ("g",)
    assert not user.is_in("admins")
    assert (user.username, user.email_verified, user.email_domain) == ("ann", True, "example.org")
    assert repr(user) == "User(sub='s1', username='ann', groups=['g'], issuer='i')"


@pytest.mark.parametrize(
    "sub", [pytest.param(5, id="int"), pytest.param("", id="empty"), pytest.param(None, id="null")]
)
def test_user_needs_a_string_sub(sub: object) -> None:
    with pytest.raises(InvalidTokenError, match="sub"):
        User.from_claims({"sub": sub}, {})


ODD_VALUES = [None, 5, 1.5, True, ["a"], {"a": 1}, "", "\n", 10**400]


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
@pytest.mark.parametrize("field", ["email", "username", "name", "given_name", "family_name"])
def test_display_claims_of_odd_types_read_as_absent(
    field: str, value: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="cognito_auth_middleware"):
        user = User.from_claims({"sub": "s", field: value}, {"username": value})
    expected = value if isinstance(value, str) else None
    assert getattr(user, field) == expected
    if not isinstance(value, str | None):
        assert any(field in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("value", "verified"),
    [
        pytest.param(True, True, id="true"),
        pytest.param("true", True, id="string-true"),
        pytest.param("TRUE", False, id="upper-case"),
        pytest.param("yes", False, id="yes"),
        pytest.param(1, False, id="one"),
        pytest.param(False, False, id="false"),
        pytest.param("false", False, id="string-false"),
        pytest.param(None, False, id="null"),
        pytest.param(["true"], False, id="list"),
    ],
)
def test_only_true_means_a_verified_email(value: object, verified: bool) -> None:
    user = User.from_claims({"sub": "s", "email": "a@example.com", "email_verified": value}, {})
    assert user.email_verified is verified


@pytest.mark.parametrize(
    "groups", [pytest.param("admins", id="string"), pytest.param(["admins", 5], id="mixed")]
)
def test_malformed_groups_read_as_none(groups: object) -> None:
    assert User.from_claims({"sub": "s"}, {"cognito:groups": groups}).groups == ()


def verified_user(idp: FakeIdentityProvider) -> User:
    headers = idp.headers(sub="alice", email="alice@example.com", groups=["x"])
    return User(headers["x-amzn-oidc-data"], headers["x-amzn-oidc-accesstoken"], region="eu-west-2")


def read_only_claims(idp: FakeIdentityProvider) -> User:
    oidc = MappingProxyType({"sub": "s1", "email": "a@example.org", "exp": 10})
    return User.from_claims(oidc, MappingProxyType({"sub": "s1", "cognito:groups": ["g"]}))


def mock_user(idp: FakeIdentityProvider) -> User:
    return User.create_mock(email="p@example.com", groups=["g"])


USERS = [
    pytest.param(verified_user, id="verified"),
    pytest.param(mock_user, id="mock"),
    pytest.param(read_only_claims, id="read-only-claims"),
]


def through_pickle(protocol: int) -> Callable[[User], User]:
    def duplicate(user: User) -> User:
        twin: User = pickle.loads(pickle.dumps(user, protocol))  # noqa: S301 (our own object)
        return twin

    return duplicate


@pytest.mark.usefixtures("env_for_user")
@pytest.mark.parametrize("make", USERS)
@pytest.mark.parametrize(
    "duplicate",
    [
        *(
            pytest.param(through_pickle(protocol), id=f"pickle-{protocol}")
            for protocol in range(pickle.HIGHEST_PROTOCOL + 1)
        ),
        pytest.param(copy.copy, id="copy"),
        pytest.param(copy.deepcopy, id="deepcopy"),
    ],
)
def test_user_survives_pickling_and_copying(
    idp: FakeIdentityProvider,
    make: Callable[[FakeIdentityProvider], User],
    duplicate: Callable[[User], User],
) -> None:
    # Gradio pickles users and copies session state; a copy is the same, still frozen, user.
    user = make(idp)
    twin = duplicate(user)
    assert type(twin) is User
    assert (twin, hash(twin), repr(twin)) == (user, hash(user), repr(user))
    assert [getattr(twin, f.name) for f in fields(User)] == [
        getattr(user, f.name) for f in fields(User)
    ]
    assert (twin.oidc_claims, twin.access_claims) == (user.oidc_claims, user.access_claims)
    with pytest.raises(FrozenInstanceError):
        twin.sub = "mallory"  # type: ignore[misc]


# Assigning a name that is no field reaches a CPython bug of frozen slotted dataclasses
# (gh-105936: TypeError instead of FrozenInstanceError, fixed in later releases); either way
# nothing is set.
NOT_A_FIELD = (FrozenInstanceError, TypeError)


@pytest.mark.usefixtures("env_for_user")
@pytest.mark.parametrize("make", USERS)
@pytest.mark.parametrize(
    ("change", "error"),
    [
        pytest.param(
            lambda user: setattr(user, "groups", ("admins",)), FrozenInstanceError, id="field"
        ),
        pytest.param(
            lambda user: setattr(user, "_access_claims", {}), FrozenInstanceError, id="claims"
        ),
        pytest.param(
            lambda user: setattr(user, "is_admin", True), FrozenInstanceError, id="admin-flag"
        ),
        pytest.param(lambda user: delattr(user, "sub"), FrozenInstanceError, id="delete-field"),
        pytest.param(lambda user: setattr(user, "is_superuser", True), NOT_A_FIELD, id="new-name"),
        pytest.param(lambda user: delattr(user, "email_domain"), NOT_A_FIELD, id="delete-property"),
    ],
)
def test_user_cannot_be_changed(
    idp: FakeIdentityProvider,
    make: Callable[[FakeIdentityProvider], User],
    change: Callable[[User], None],
    error: type[Exception] | tuple[type[Exception], ...],
) -> None:
    user = make(idp)
    before = [getattr(user, f.name) for f in fields(User)]
    with pytest.raises(error):
        change(user)
    assert [getattr(user, f.name) for f in fields(User)] == before
    assert not hasattr(user, "__dict__")
    assert not hasattr(user, "is_superuser")


def test_a_user_cannot_be_derived_with_replace() -> None:
    # dataclasses.replace calls User(...), the verifying constructor, which reads the fields as
    # settings and refuses them: a changed user can only come from verified claims.
    with pytest.raises(ConfigurationError, match="unknown setting"):
        replace(User.create_mock(), groups=("admins",))


def test_equality_and_hash_are_by_sub_and_issuer() -> None:
    alice = User.from_claims({"sub": "s1", "email": "a@example.org"}, {"iss": "i"})
    renamed = User.from_claims({"sub": "s1", "email": "b@example.org"}, {"iss": "i"})
    elsewhere = User.from_claims({"sub": "s1"}, {"iss": "other"})
    assert alice == renamed
    assert hash(alice) == hash(renamed)
    assert alice != elsewhere
    assert alice != "s1"
    assert len({alice, renamed, elsewhere}) == 2
