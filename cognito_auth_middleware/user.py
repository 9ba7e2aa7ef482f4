"""The authenticated user, built only from claims whose signatures have been verified."""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from .exceptions import InvalidTokenError

__all__ = ["User"]

logger = logging.getLogger("cognito_auth_middleware")


def _ignored(label: str, name: str, value: object) -> None:
    # A display claim of an odd type is the provider's quirk, not an attack on the trust
    # chain (whose fields are checked strictly elsewhere): it must not lock the user out.
    logger.debug("%s: claim %r of type %s ignored", label, name, type(value).__name__)


def _display_str(claims: Mapping[str, Any], name: str, label: str) -> str | None:
    value = claims.get(name)
    if value is None or isinstance(value, str):
        return value
    _ignored(label, name, value)
    return None


def _email_verified(value: object) -> bool:
    # Cognito's userinfo endpoint (which the ALB relays) sends the string "true"; anything
    # but JSON true or "true" means unverified.
    return value is True or value == "true"


def _fill(user: User, values: Iterable[object]) -> None:
    # A frozen dataclass refuses plain assignment; its slots' own descriptors (_SETTERS, below
    # the class, in field order) set each field, as object.__setattr__ would after looking
    # the descriptor up by name. fields() costs a microsecond per call: it is read once.
    for setter, value in zip(_SETTERS, values, strict=True):
        setter(user, value)


def _expiry(claims: Mapping[str, Any]) -> float:
    """The claim set's ``exp`` as a float, or infinity when it has no usable one.

    The engine admits only sane times (core.claims); claims given directly may hold anything.
    Below 1e308 (an exact comparison, for big integers too) float() cannot overflow; nan and
    infinity fail the comparison.
    """
    exp = claims.get("exp")
    # A tuple, not ``int | float``: isinstance with a union type is several times slower.
    if isinstance(exp, (int, float)) and type(exp) is not bool and 0 <= exp < 1e308:
        return float(exp)
    return math.inf


def _as_dict(claims: Mapping[str, Any]) -> dict[str, Any]:
    return claims if type(claims) is dict else dict(claims)


def _claim_at(claims: Mapping[str, Any], path: str) -> object:
    """The claim named ``path``; failing that, a dotted path into nested objects."""
    if path in claims or "." not in path:
        return claims.get(path)
    value: object = claims
    for name in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


_ALB = "ALB token"
_ACCESS = "access token"
_is_str = str.__instancecheck__


def _groups(value: object, label: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(map(_is_str, value)):
        return tuple(value)
    # Read as no groups: a rule naming groups then refuses (fail closed), but a malformed
    # claim alone does not lock out an app that has no group rules.
    _ignored(label, name, value)
    return ()


@dataclass(frozen=True, slots=True, init=False, eq=False, repr=False, match_args=False)
class User:
    """A user whose ALB and Cognito tokens have been verified.

    The middlewares put one at ``request.state.user`` (ASGI) and
    ``environ["cognito_auth.user"]`` (WSGI). It also satisfies Starlette's user protocol
    (``is_authenticated``, ``display_name``, ``identity``), so ``request.user`` works.

    The documented constructor of the ``cognito-auth`` library verifies headers directly::

        user = User(oidc_data_header=oidc, access_token_header=access, region="eu-west-2")

    It reads the rest of the configuration from keywords or ``COGNITO_AUTH_*`` variables and
    shares one verifier (and its key cache) per configuration across calls.

    Args:
        oidc_data_header: The ``x-amzn-oidc-data`` header value.
        access_token_header: The ``x-amzn-oidc-accesstoken`` header value.
        region: AWS region of the ALB and user pool (or set ``alb_arn`` / ``user_pool_id``).
        verify_tokens: Must stay ``True``; ``False`` is refused (use ``User.create_mock``-style
            fixtures from :mod:`cognito_auth_middleware.testing` in tests instead).
        identity_header: The ``x-amzn-oidc-identity`` value; if given it must equal ``sub``.
        allow_any_alb: Verify without ``alb_arn`` (``COGNITO_AUTH_ALB_ARN``), accepting tokens
            of any load balancer and user pool of the region; logged as a warning. Without
            this opt-out a missing ``alb_arn`` raises ``ConfigurationError``.
        **settings: Any other :class:`~cognito_auth_middleware.settings.Settings` field.

    Raises:
        MissingTokenError: a header is missing or empty.
        ExpiredTokenError: a token has expired.
        InvalidTokenError: a token is malformed, forged, or from another ALB or pool.
        KeysUnavailableError: the signing keys could not be fetched.
        ConfigurationError: the configuration is incomplete or inconsistent.
    """

    # ``User(...)`` is the verifying constructor of the ``cognito-auth`` library, so the
    # dataclass's field-by-field ``__init__`` is not generated (``init=False``): ``from_claims``
    # fills a bare instance, and ``__init__`` copies the verified user the engine built. A
    # ``__new__`` returning that user would save the copy, but pickle and ``copy`` make a bare
    # instance with ``cls.__new__(cls)``, which would then try to verify. Frozen, the dataclass
    # refuses to assign or delete a field (``FrozenInstanceError``, an ``AttributeError``), as
    # one user may serve many requests of a session; a name that is no field is refused too,
    # with a TypeError where CPython's gh-105936 is unfixed. Frozen and slotted, it pickles.
    # No ``__match_args__``: positional patterns would reach the private claims.

    sub: str
    username: str | None
    email: str | None
    email_verified: bool
    name: str | None
    given_name: str | None
    family_name: str | None
    groups: tuple[str, ...]
    exp: float
    issuer: str
    #: Whether the authorisation policy names this user as an admin of the app
    #: (``admin_groups`` / ``admin_users``): set by the policy, never by a claim.
    is_admin: bool
    _oidc_claims: Mapping[str, Any]
    _access_claims: Mapping[str, Any]

    def __init__(
        self,
        oidc_data_header: str | None = None,
        access_token_header: str | None = None,
        region: str | None = None,
        verify_tokens: bool = True,
        *,
        identity_header: str | None = None,
        allow_any_alb: bool = False,
        **settings: Any,
    ) -> None:
        if not verify_tokens:
            raise ValueError(
                "verify_tokens=False is not supported: unverified headers can be forged by "
                "anyone. In tests, mint real headers with cognito_auth_middleware.testing."
            )
        from .drivers.sync import shared_verifier  # the verifier module imports this one

        verifier = shared_verifier(allow_any_alb=allow_any_alb, region=region, **settings)
        verified = verifier.authenticate(oidc_data_header, access_token_header, identity_header)
        _fill(self, [getattr(verified, name) for name in _FIELD_NAMES])

    @classmethod
    def from_claims(
        cls,
        oidc_claims: Mapping[str, Any],
        access_claims: Mapping[str, Any],
        *,
        groups_claim: str = "cognito:groups",
        groups_from: Literal["access_token", "oidc_data"] = "access_token",
    ) -> User:
        """Build a user from claim sets whose signatures and bindings were already verified.

        Display claims of an unexpected type read as absent (logged at DEBUG), and
        ``email_verified`` is true only for JSON ``true`` or ``"true"``.

        Args:
            oidc_claims: The ALB token's payload (the provider's userinfo).
            access_claims: The access token's payload (``{}`` for an opaque access token).
            groups_claim: The claim (or dotted path) listing the groups.
            groups_from: Which claim set holds it.

        Raises:
            InvalidTokenError: ``sub`` is not a non-empty string.
        """
        get = oidc_claims.get
        sub = get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidTokenError("ALB token: claim 'sub' must be a non-empty string")
        # A display claim that is a string or absent (the usual case) is taken as it is;
        # _display_str reads (and logs) one of any other type.
        username = get("username")
        if not isinstance(username, str) or not username:
            username = _display_str(oidc_claims, "username", _ALB) or _display_str(
                access_claims, "username", _ACCESS
            )
            if username is None:  # other providers' userinfo (Okta, Entra ID, Keycloak, Auth0)
                username = _display_str(oidc_claims, "preferred_username", _ALB)
        email = get("email")
        if email is not None and not isinstance(email, str):
            email = _display_str(oidc_claims, "email", _ALB)
        name = get("name")
        if name is not None and not isinstance(name, str):
            name = _display_str(oidc_claims, "name", _ALB)
        given_name = get("given_name")
        if given_name is not None and not isinstance(given_name, str):
            given_name = _display_str(oidc_claims, "given_name", _ALB)
        family_name = get("family_name")
        if family_name is not None and not isinstance(family_name, str):
            family_name = _display_str(oidc_claims, "family_name", _ALB)
        from_alb = groups_from == "oidc_data"
        groups = _groups(
            _claim_at(oidc_claims if from_alb else access_claims, groups_claim),
            _ALB if from_alb else _ACCESS,
            groups_claim,
        )
        user = cls.__new__(cls)
        # Each field set by its slot's own descriptor (see _fill), written out: this runs for
        # every new token.
        _SET_SUB(user, sub)
        _SET_USERNAME(user, username)
        _SET_EMAIL(user, email)
        _SET_EMAIL_VERIFIED(user, _email_verified(get("email_verified")))
        _SET_NAME(user, name)
        _SET_GIVEN_NAME(user, given_name)
        _SET_FAMILY_NAME(user, family_name)
        _SET_GROUPS(user, groups)
        _SET_EXP(user, min(_expiry(oidc_claims), _expiry(access_claims)))
        _SET_ISSUER(user, str(access_claims.get("iss") or get("iss") or ""))
        _SET_IS_ADMIN(user, False)  # only the policy sets it
        # Plain dicts, so that the user pickles (the engine's claims are dicts already, and
        # never changed); the properties hand out deep copies.
        _SET_OIDC_CLAIMS(user, _as_dict(oidc_claims))
        _SET_ACCESS_CLAIMS(user, _as_dict(access_claims))
        return user

    @classmethod
    def create_mock(
        cls,
        email: str = "dev@example.com",
        username: str = "dev",
        sub: str = "00000000-0000-4000-8000-000000000000",
        groups: list[str] | tuple[str, ...] = (),
        email_verified: bool = True,
        name: str | None = None,
        given_name: str | None = "Dev",
        family_name: str | None = "User",
        region: str | None = None,
        **extra_claims: Any,
    ) -> User:
        """A user that no token vouches for: for unit tests and dev mode only.

        The parameters are those of ``cognito-auth``'s ``User.create_mock``, in its order.
        ``name`` defaults to ``given_name`` and ``family_name`` joined. ``extra_claims`` are
        added to both claim sets (``oidc_claims`` and ``access_claims``), as there; ``iss``
        and ``cognito:groups`` are refused (use ``groups``), so that the mock stays marked:
        its ``issuer`` is ``"mock"``, whatever ``region`` says, and it never expires unless
        an ``exp`` claim is given. ``region`` has no effect and warns (DeprecationWarning).

        Raises:
            ValueError: a field has the wrong type, or ``sub`` is empty.

        Example:
            >>> User.create_mock(email="alice@example.com", groups=["admins"]).is_in("admins")
            True
        """
        if region is not None:
            warnings.warn(
                "User.create_mock(region=...) has no effect: a mock user's issuer is always "
                "'mock', so that it is never taken for a verified one",
                DeprecationWarning,
                stacklevel=2,
            )
        if not isinstance(groups, list | tuple) or not all(isinstance(g, str) for g in groups):
            raise ValueError("groups must be a list of strings")
        if not isinstance(sub, str) or not sub:
            raise ValueError("sub must be a non-empty string")
        if not isinstance(email_verified, bool):
            raise ValueError("email_verified must be true or false")
        if name is None:
            name = " ".join(part for part in (given_name, family_name) if part) or None
        display = {"email": email, "username": username, "name": name}
        display |= {"given_name": given_name, "family_name": family_name}
        for field_name, value in display.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{field_name} must be a string")
        reserved = sorted({"iss", "cognito:groups"} & set(extra_claims))
        if reserved:
            raise ValueError(f"claim(s) {', '.join(reserved)} cannot be set on a mock user")
        oidc = {"sub": sub, "email_verified": email_verified} | display | extra_claims
        access = {"sub": sub, "username": username} | extra_claims
        access |= {"cognito:groups": list(groups), "iss": "mock"}
        return cls.from_claims({k: v for k, v in oidc.items() if v is not None}, access)

    def _with_admin(self, is_admin: bool) -> User:
        """This user with ``is_admin`` set as given: only the authorisation policy calls this."""
        if self.is_admin is is_admin:
            return self
        user = User.__new__(User)
        _fill(
            user, [is_admin if name == "is_admin" else getattr(self, name) for name in _FIELD_NAMES]
        )
        return user

    @property
    def email_domain(self) -> str | None:
        """The part of ``email`` after the last ``@``, lower-cased, or ``None``."""
        if not self.email or "@" not in self.email:
            return None
        return self.email.rsplit("@", 1)[1].lower()

    @property
    def oidc_claims(self) -> dict[str, Any]:
        """A copy of the verified ALB (userinfo) claims."""
        return copy.deepcopy(dict(self._oidc_claims))

    @property
    def access_claims(self) -> dict[str, Any]:
        """A copy of the verified access-token claims."""
        return copy.deepcopy(dict(self._access_claims))

    def is_in(self, group: str) -> bool:
        """Whether the user is in Cognito group ``group`` (exact, case-sensitive)."""
        return group in self.groups

    # Starlette's BaseUser protocol, so ``request.user`` and ``@requires`` work.
    @property
    def is_authenticated(self) -> bool:
        """Always ``True``: a ``User`` exists only after verification."""
        return True

    @property
    def display_name(self) -> str:
        """The best human-readable name available."""
        return self.name or self.username or self.email or self.sub

    @property
    def identity(self) -> str:
        """The stable identifier, ``sub``."""
        return self.sub

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, User):
            return NotImplemented
        return self.sub == other.sub and self.issuer == other.issuer

    def __hash__(self) -> int:
        return hash((self.sub, self.issuer))

    def __repr__(self) -> str:
        return (
            f"User(sub={self.sub!r}, username={self.username!r}, "
            f"groups={list(self.groups)!r}, issuer={self.issuer!r}"
            + (", is_admin=True)" if self.is_admin else ")")
        )


_FIELD_NAMES = tuple(field.name for field in fields(User))
_SETTERS = tuple(vars(User)[name].__set__ for name in _FIELD_NAMES)
# By name, for from_claims: a field added or moved cannot shift them.
_SET_SUB = vars(User)["sub"].__set__
_SET_USERNAME = vars(User)["username"].__set__
_SET_EMAIL = vars(User)["email"].__set__
_SET_EMAIL_VERIFIED = vars(User)["email_verified"].__set__
_SET_NAME = vars(User)["name"].__set__
_SET_GIVEN_NAME = vars(User)["given_name"].__set__
_SET_FAMILY_NAME = vars(User)["family_name"].__set__
_SET_GROUPS = vars(User)["groups"].__set__
_SET_EXP = vars(User)["exp"].__set__
_SET_ISSUER = vars(User)["issuer"].__set__
_SET_IS_ADMIN = vars(User)["is_admin"].__set__
_SET_OIDC_CLAIMS = vars(User)["_oidc_claims"].__set__
_SET_ACCESS_CLAIMS = vars(User)["_access_claims"].__set__
