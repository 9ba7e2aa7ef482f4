"""The one settings object behind the engine and both middlewares.

Every field can be given as a keyword or read from the environment as ``COGNITO_AUTH_<NAME>``
(lists comma-separated, booleans ``true``/``false``). Keywords win over the environment.
Everything is validated once, when the settings are built, so a malformed ARN or a user pool of
another region stops the app at start-up instead of failing its first request.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, TypedDict, Unpack, get_type_hints
from urllib.parse import quote, urlencode, urlsplit

from .exceptions import ConfigurationError

__all__ = [
    "ACCESS_TOKEN_KINDS",
    "ENV_PREFIX",
    "POLICY_SOURCES",
    "PROVIDERS",
    "AccessTokenKind",
    "Provider",
    "Settings",
    "SettingsOptions",
    "UserKind",
    "closest",
    "discovery_url_for",
    "user_entry",
]

ENV_PREFIX = "COGNITO_AUTH_"

# Applied with ``fullmatch`` (``$`` would admit a trailing newline) and ASCII-only classes
# (``\d`` and ``\w`` would admit other scripts' digits and letters).
_REGION = r"[a-z]{2}(?:-gov)?-[a-z]+-\d{1,2}"
_ALB_ARN_RE = re.compile(
    rf"arn:(?P<partition>aws|aws-us-gov):elasticloadbalancing:(?P<region>{_REGION}):"
    r"\d{12}:loadbalancer/app/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}",
    re.ASCII,
)
_REGION_RE = re.compile(_REGION, re.ASCII)
_VA_ISSUER_RE = re.compile(r"[\x21-\x7e]{1,2048}", re.ASCII)
_VA_INSTANCE_RE = re.compile(
    rf"arn:(?:aws|aws-us-gov):ec2:(?P<region>{_REGION}):\d{{12}}:"
    r"verified-access-instance/vai-[0-9a-f]{17}",
    re.ASCII,
)
_USER_POOL_RE = re.compile(rf"(?P<region>{_REGION})_[0-9A-Za-z]{{1,55}}", re.ASCII)
_CLIENT_ID_RE = re.compile(r"[\w+]{1,128}", re.ASCII)

_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# A path of plain segments, none of them "." or "..".
_PATH_RE = re.compile(r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+/?|/", re.ASCII)
_DOMAIN_PREFIX_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
_HOST_RE = re.compile(
    r"(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}", re.ASCII
)
_COOKIE_NAME_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}", re.ASCII)
_SUB_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UserKind = Literal["email", "sub", "username"]
AccessTokenKind = Literal["cognito", "jwt", "opaque"]
Provider = Literal["alb", "verified-access"]
#: Who signs the user's claims: an ALB (``x-amzn-oidc-data``) or AWS Verified Access
#: (``x-amzn-ava-user-context``).
PROVIDERS: tuple[Provider, ...] = ("alb", "verified-access")
#: What ``x-amzn-oidc-accesstoken`` holds: a Cognito access token, another provider's JWT
#: (verified against its JWKS), or a string that is not verified at all.
ACCESS_TOKEN_KINDS: tuple[AccessTokenKind, ...] = ("cognito", "jwt", "opaque")
# A claim name or dotted path (``realm_access.roles``): printable ASCII, no spaces.
_CLAIM_RE = re.compile(r"[\x21-\x7e]{1,256}", re.ASCII)
_USER_PREFIXES: tuple[UserKind, ...] = ("sub", "username")

_GOVCLOUD_KEY_URL = "https://s3-{region}.amazonaws.com/aws-elb-public-keys-prod-{region}"
_ALB_KEY_URL = "https://public-keys.auth.elb.{region}.amazonaws.com"
_VA_KEY_URL = "https://public-keys.prod.verified-access.{region}.amazonaws.com"
_COGNITO_ISSUER = "https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"

_MAX_LEEWAY = 300.0
_MAX_REFRESH = 86400.0
# Names as AWS allows them (an ARN included); a path with no control characters.
_SOURCE_RES = {
    "config_path": re.compile(r"[^\x00-\x1f\x7f]{1,4096}"),
    "secret_name": re.compile(r"[A-Za-z0-9/_+=.@:-]{1,2048}", re.ASCII),
    "parameter_name": re.compile(r"[A-Za-z0-9/_.:-]{1,2048}", re.ASCII),
}
# Where the authorisation policy may come from besides the inline rules (at most one).
POLICY_SOURCES = ("config_path", "secret_name", "parameter_name")
_RULE_FIELDS = (
    "allowed_groups",
    "allowed_users",
    "required_groups",
    "admin_groups",
    "admin_users",
)
# Who to ask for access, named on the 403 page: an email address (a mailto: link) or an https
# URL. Narrower than the standards allow, so that the value needs no escaping inside a URL
# (no "?" or "#" in an address, no quote or space in a URL) and cannot be another scheme.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})+"
_SUPPORT_EMAIL_RE = re.compile(rf"[A-Za-z0-9._+-]{{1,64}}@{_HOST}", re.ASCII)
_SUPPORT_URL_RE = re.compile(
    rf"https://{_HOST}(?::[0-9]{{1,5}})?(?:/[A-Za-z0-9._~!$&()*+,;=:@%/-]*)?"
    r"(?:\?[A-Za-z0-9._~!$&()*+,;=:@%/?-]*)?(?:#[A-Za-z0-9._~!$&()*+,;=:@%/?-]*)?",
    re.ASCII,
)
_MAX_SUPPORT_CONTACT = 512
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
# _FIELDS, _LIST_FIELDS and _STR_FIELDS are read off the Settings dataclass, below it.


def _env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def closest(name: str, known: Iterable[str]) -> str:
    """``"; did you mean X?"`` for the known name closest to a misspelt ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _check_names(options: Mapping[str, object], env: Mapping[str, str]) -> None:
    """Refuse keywords and ``COGNITO_AUTH_*`` variables that no setting reads."""
    for option in sorted(options):
        if option not in _FIELDS:
            raise ConfigurationError(
                f"unknown setting {option!r}{closest(option, _FIELDS)} "
                f"(known: {', '.join(_FIELDS)})"
            )
    known = {_env_name(field) for field in _FIELDS}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        raise ConfigurationError(
            f"unknown environment variable {name}{closest(name, known)} "
            f"(known: {', '.join(sorted(known))})"
        )


def _as_tuple(field: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        items: Iterable[object] = value.split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        raise ConfigurationError(f"{field} must be a string or a list of strings")
    result = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigurationError(f"{field} must contain only strings")
        if item.strip():
            result.append(item.strip())
    return tuple(dict.fromkeys(result))


def _as_bool(field: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigurationError(f"{field} must be true or false ({_env_name(field)}), got {value!r}")


def _as_seconds(field: str, value: object, *, low: float, high: float) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(f"{field} must be a number of seconds, got {value!r}") from None
    if not (math.isfinite(seconds) and low <= seconds <= high):
        raise ConfigurationError(f"{field} must be between {low:g} and {high:g} seconds")
    return seconds


def user_entry(entry: str, setting: str = "allowed_users") -> tuple[UserKind, str]:
    """The kind and value of an ``allowed_users`` (or ``admin_users``) entry.

    An entry with an ``@`` is an email address (matched case-insensitively, and only against a
    verified email); ``sub:<sub>`` and ``username:<name>`` name those identifiers; any other
    entry is a ``sub`` if it has the form of a Cognito sub (a UUID), else a ``username``. An
    entry of one kind never matches an identifier of another kind.

    Raises:
        ConfigurationError: an email entry is not an email address, or a prefix has no value.

    Example:
        >>> user_entry("Ann@Example.com"), user_entry("username:ann")
        (('email', 'ann@example.com'), ('username', 'ann'))
    """
    for kind in _USER_PREFIXES:
        if entry.startswith(kind + ":"):
            value = entry[len(kind) + 1 :].strip()
            if not value:
                raise ConfigurationError(f"{setting} entry {entry!r} names no {kind}")
            return kind, value
    if "@" in entry:
        if not _EMAIL_RE.fullmatch(entry):
            raise ConfigurationError(f"{setting} entry {entry!r} is not an email address")
        return "email", entry.lower()
    return ("sub" if _SUB_RE.fullmatch(entry) else "username"), entry


def _check_url(field: str, url: str) -> str:
    # urlsplit silently drops tabs and newlines that the HTTP client would later refuse.
    if not url.isascii() or any(char <= " " or char == "\x7f" for char in url):
        raise ConfigurationError(f"{field} must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # "http://[::1/": a bracket not closed (an error in every Python)
        raise ConfigurationError(f"{field} is not a URL, got {url!r}") from None
    if parts.scheme not in ("https", "http") or not hostname:
        raise ConfigurationError(f"{field} must be an absolute http(s) URL, got {url!r}")
    if field not in ("redirect_url", "logout_uri") and (parts.query or parts.fragment):
        raise ConfigurationError(f"{field} must not have a query or fragment, got {url!r}")
    return url


def _sign_out_settings(
    strs: Mapping[str, str | None], client_ids: tuple[str, ...], region: str
) -> tuple[str | None, str | None, str | None, str]:
    """``logout_path``, ``cognito_domain``, ``logout_uri``, ``session_cookie``, checked together."""
    path, domain, uri = strs["logout_path"], strs["cognito_domain"], strs["logout_uri"]
    cookie = strs["session_cookie"] or "AWSELBAuthSessionCookie"
    if path is not None and not _PATH_RE.fullmatch(path):
        raise ConfigurationError(
            f"logout_path ({_env_name('logout_path')}) must be a plain path such as '/logout', "
            f"got {path!r}"
        )
    if (path or domain or uri) and not (domain and uri):
        raise ConfigurationError(
            "signing out needs both cognito_domain (COGNITO_AUTH_COGNITO_DOMAIN) and logout_uri "
            "(COGNITO_AUTH_LOGOUT_URI): the user pool's session must end too, or the next "
            "request is signed in again"
        )
    if domain is not None and len(client_ids) != 1:
        raise ConfigurationError(
            "signing out needs the app client id for the pool's logout endpoint: set client_id "
            f"(COGNITO_AUTH_CLIENT_ID) to exactly one id, got {len(client_ids)}"
        )
    if domain is not None:
        if "://" in domain:
            domain = _check_url("cognito_domain", domain).rstrip("/")
        elif _DOMAIN_PREFIX_RE.fullmatch(domain):
            domain = f"https://{domain}.auth.{region}.amazoncognito.com"
        elif _HOST_RE.fullmatch(domain):
            domain = f"https://{domain.lower()}"
        else:
            raise ConfigurationError(
                f"cognito_domain ({_env_name('cognito_domain')}) must be the user pool's domain "
                f"(a prefix, a domain name or an https URL), got {domain!r}"
            )
    if uri is not None:
        uri = _check_url("logout_uri", uri)
    if not _COOKIE_NAME_RE.fullmatch(cookie):
        raise ConfigurationError(f"session_cookie must be a cookie name, got {cookie!r}")
    return path, domain, uri, cookie


def discovery_url_for(issuer: str) -> str:
    """The OpenID discovery document of ``issuer`` (its trailing slash dropped, as the
    specification says)."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def cognito_issuer_pattern(region: str) -> re.Pattern[str]:
    """The form of a Cognito user pool's issuer in ``region``."""
    escaped = re.escape(region)
    return re.compile(rf"https://cognito-idp\.{escaped}\.amazonaws\.com/{escaped}_[0-9A-Za-z]+")


def _bearer_settings(
    raw: Mapping[str, object], lists: Mapping[str, tuple[str, ...]], urls: Mapping[str, str]
) -> bool:
    """``bearer``, checked with the settings that need it."""
    bearer = _as_bool("bearer", raw.get("bearer", False))
    given = [
        name
        for name in ("bearer_issuer", "bearer_jwks_url", "bearer_audience", "bearer_clients")
        if lists.get(name) or name in urls
    ]
    if given and not bearer:
        raise ConfigurationError(
            f"{', '.join(given)} apply only with bearer ({_env_name('bearer')}) on: set it to "
            "true to admit machine clients, or remove them"
        )
    if bearer and "bearer_issuer" not in urls:
        raise ConfigurationError(
            f"bearer needs bearer_issuer ({_env_name('bearer_issuer')}): the exact issuer of "
            "the machine clients' tokens (the one your ALB's JWT verification action checks)"
        )
    return bearer


def _verified_access_settings(
    strs: Mapping[str, str | None], lists: Mapping[str, tuple[str, ...]], urls: Mapping[str, str]
) -> Provider:
    """``provider``, checked with the settings that apply to one provider only."""
    given = strs["provider"] or "alb"
    provider = next((p for p in PROVIDERS if p == given.lower()), None)
    if provider is None:
        raise ConfigurationError(
            f"provider ({_env_name('provider')}) must be one of {', '.join(PROVIDERS)}, "
            f"got {given!r}" + closest(given.lower(), PROVIDERS)
        )
    va_only = [
        name
        for name in ("verified_access_instance_arn", "verified_access_key_url")
        if lists.get(name) or name in urls
    ]
    if provider == "alb" and va_only:
        raise ConfigurationError(
            f"{' and '.join(va_only)} apply to provider='verified-access' only: set provider "
            f"({_env_name('provider')}) to verified-access, or remove them"
        )
    if provider == "verified-access":
        alb_only = [name for name in ("alb_arn", "client_id", "audience") if lists.get(name)]
        alb_only += [
            name
            for name in ("access_token_kind", "subject_claim", "jwks_url", "alb_key_url")
            if strs.get(name) is not None
        ]
        if alb_only:
            raise ConfigurationError(
                f"{', '.join(alb_only)} cannot apply to provider='verified-access': Verified "
                "Access signs the user's claims alone (x-amzn-ava-user-context), with no ALB and "
                "no access token"
            )
    return provider


def _provider_settings(
    strs: Mapping[str, str | None],
    audience: tuple[str, ...],
    region: str,
    urls: Mapping[str, str],
    provider: Provider = "alb",
) -> tuple[AccessTokenKind, str | None]:
    """``access_token_kind`` and the exact ``issuer``, checked with what they depend on."""
    given = strs["access_token_kind"] or "cognito"
    kind = next((k for k in ACCESS_TOKEN_KINDS if k == given.lower()), None)
    if kind is None:
        raise ConfigurationError(
            f"access_token_kind ({_env_name('access_token_kind')}) must be one of "
            f"{', '.join(ACCESS_TOKEN_KINDS)}, got {given!r}"
            + closest(given.lower(), ACCESS_TOKEN_KINDS)
        )
    for name in ("groups_claim", "subject_claim"):
        claim = strs[name]
        if claim is not None and not _CLAIM_RE.fullmatch(claim):
            raise ConfigurationError(
                f"{name} ({_env_name(name)}) must be a claim name, got {claim!r}"
            )
    if strs["subject_claim"] not in (None, "sub") and kind != "jwt":
        raise ConfigurationError(
            f"subject_claim ({_env_name('subject_claim')}) applies to access_token_kind='jwt' "
            "only: it names the JWT access token's claim that must equal the ALB token's sub"
        )
    issuer = strs["issuer"]
    pool = strs["user_pool_id"]
    if provider == "verified-access":
        # The trust provider's issuer: an OIDC issuer URL, or for IAM Identity Center the
        # trust provider's ARN.
        if issuer is not None and not _VA_ISSUER_RE.fullmatch(issuer):
            raise ConfigurationError(
                f"issuer ({_env_name('issuer')}) must be the trust provider's issuer URL or "
                f"ARN, got {issuer!r}"
            )
        derived = _COGNITO_ISSUER.format(region=region, user_pool_id=pool) if pool else None
        return kind, issuer or derived
    if issuer is not None:
        _check_url("issuer", issuer)
    if kind == "cognito":
        derived = _COGNITO_ISSUER.format(region=region, user_pool_id=pool) if pool else None
        if issuer is not None and not cognito_issuer_pattern(region).fullmatch(issuer):
            raise ConfigurationError(
                f"issuer {issuer!r} is not a Cognito user pool of {region}: for another OIDC "
                f"provider, set access_token_kind ({_env_name('access_token_kind')}) to 'jwt' "
                "or 'opaque'"
            )
        if issuer is not None and derived is not None and issuer != derived:
            raise ConfigurationError(
                f"issuer {issuer!r} is not the issuer of user_pool_id {pool!r} ({derived!r})"
            )
        if audience:
            raise ConfigurationError(
                "audience applies to access_token_kind='jwt': Cognito access tokens have no "
                "'aud' claim (the app client is checked instead)"
            )
        return kind, issuer or derived
    if issuer is None:
        raise ConfigurationError(
            f"access_token_kind={kind!r} needs issuer ({_env_name('issuer')}): the OIDC "
            "provider's issuer URL, which the ALB token must name"
        )
    if pool is not None:
        raise ConfigurationError(
            f"user_pool_id names a Cognito user pool, but access_token_kind is {kind!r}: "
            "for Cognito leave access_token_kind unset"
        )
    if kind == "opaque":
        ignored = [name for name in ("jwks_url",) if name in urls] + (
            ["audience"] if audience else []
        )
        if ignored:
            raise ConfigurationError(
                f"{' and '.join(ignored)} cannot apply to access_token_kind='opaque': an opaque "
                "access token is not verified; use access_token_kind='jwt' to verify it"
            )
    return kind, issuer


class SettingsOptions(TypedDict, total=False):
    """The settings keywords, for typing ``**options: Unpack[SettingsOptions]``.

    One key per :class:`Settings` field (see there for what each means), with the types a
    keyword may have: ``None`` means "not given", so the ``COGNITO_AUTH_*`` variable or the
    default applies, and a list setting also takes one comma-separated string. Under a strict
    type checker a misspelt keyword is then an error before the app runs; at run time
    :meth:`Settings.load` refuses it too, with a suggestion, for callers that are not checked.

    Example:
        >>> def verifier_settings(**options: Unpack[SettingsOptions]) -> Settings:
        ...     return Settings.load(environ={}, **options)
        >>> verifier_settings(region="eu-west-2", allowed_groups=["admins"]).allowed_groups
        ('admins',)
    """

    alb_arn: str | Iterable[str] | None
    user_pool_id: str | None
    client_id: str | Iterable[str] | None
    region: str | None
    alb_key_url: str | None
    jwks_url: str | None
    exclude_paths: str | Iterable[str] | None
    allowed_groups: str | Iterable[str] | None
    allowed_users: str | Iterable[str] | None
    require_all: bool | None
    required_groups: str | Iterable[str] | None
    admin_groups: str | Iterable[str] | None
    admin_users: str | Iterable[str] | None
    config_path: str | None
    secret_name: str | None
    parameter_name: str | None
    policy_refresh: float | None
    leeway: float | None
    redirect_url: str | None
    key_fetch_timeout: float | None
    dev_mode: bool | None
    dev_config: str | None
    logout_path: str | None
    cognito_domain: str | None
    logout_uri: str | None
    session_cookie: str | None
    audit_log: bool | None
    support_contact: str | None
    error_template: str | None
    issuer: str | None
    access_token_kind: AccessTokenKind | None
    audience: str | Iterable[str] | None
    groups_claim: str | None
    subject_claim: str | None
    provider: Provider | None
    verified_access_instance_arn: str | Iterable[str] | None
    verified_access_key_url: str | None
    bearer: bool | None
    bearer_issuer: str | None
    bearer_jwks_url: str | None
    bearer_audience: str | Iterable[str] | None
    bearer_clients: str | Iterable[str] | None


@functools.lru_cache(maxsize=1024)
def _key_url(base: str, kid: str) -> str:
    # Every newly signed token asks for its key's URL, and quote() is pure Python: each
    # (base, kid) is quoted once. Bounded, as every cache of the package is.
    return f"{base}/{quote(kid, safe='')}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated configuration shared by the verification engine and both middlewares.

    Build it with :meth:`load`, which reads keywords and ``COGNITO_AUTH_*`` environment variables.

    Attributes:
        alb_arn: ARNs of the load balancers allowed to sign ``x-amzn-oidc-data`` (exact match on
            the token's ``signer``). Empty only for the compatibility ``User(...)`` call.
        user_pool_id: The Cognito user pool id (``eu-west-2_AbC123``); fixes the issuer.
        client_id: App client ids allowed in the ALB token's ``client``; empty allows any client
            of the issuer (both tokens must still name the same one).
        region: AWS region, derived from ``alb_arn`` or ``user_pool_id`` when not given.
        alb_key_url: Base URL of the ALB public keys; the key is at ``{alb_key_url}/{kid}``.
            ``None`` means the AWS endpoint of ``region`` (GovCloud included).
        jwks_url: URL of the Cognito JWKS. ``None`` means the pool's AWS URL.
        exclude_paths: Paths served without authentication, exactly as written (``/health``
            matches ``/health`` only, not ``/health/``); an entry ending in ``*`` is a prefix.
        allowed_groups: If set, membership of any of these groups passes the group rule.
        allowed_users: If set, being listed passes the user rule: verified email addresses
            (case-insensitive), subs or usernames (see :func:`user_entry`). With both rules
            set, either suffices unless ``require_all``.
        require_all: Every configured rule must pass (in an allowed group AND listed), as in
            the ``cognito-auth`` library; it does not make every group required.
        required_groups: Membership of every one of these groups, required in addition to
            the rules above.
        admin_groups: The app's admins by group: admitted whatever the rules say, with
            ``user.is_admin``.
        admin_users: The app's admins by entry (as ``allowed_users``).
        config_path: Read the rules above from this JSON file instead (the ``cognito-auth``
            format; see :class:`~cognito_auth_middleware.core.policy.Policy`).
        secret_name: Read them from this AWS Secrets Manager secret (needs the ``aws`` extra).
        parameter_name: Read them from this SSM Parameter Store parameter (``aws`` extra).
        policy_refresh: Seconds between re-reads of the policy source (default 300; 0 reads
            it once, at start-up).
        leeway: Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat`` (0 to 300).
        redirect_url: Where to send browsers whose credentials are missing, expired or invalid,
            instead of an HTML 401 page.
        key_fetch_timeout: Connect and read timeout, in seconds, for key fetches.
        dev_mode: Local development only: requests *without* ALB headers from loopback
            clients run as a mock user (headers that are present are still verified). Never in
            production.
        dev_config: The mock user's JSON file (default ``dev-mock-user.json`` in the working
            directory, if present).
        logout_path: A path the middlewares answer by signing the browser out (see
            :class:`~cognito_auth_middleware.core.sign_out.SignOut`); needs ``cognito_domain``,
            ``logout_uri`` and exactly one ``client_id``.
        cognito_domain: The user pool's domain, as a base URL (``https://`` and the domain: a
            prefix such as ``my-app`` becomes ``https://my-app.auth.{region}.amazoncognito.com``).
        logout_uri: Where the pool's logout endpoint sends the browser afterwards (a sign-out
            URL registered on the app client).
        session_cookie: The ALB's session cookie name (the action's ``SessionCookieName``).
        audit_log: Log one event per decision on ``cognito_auth_middleware.audit`` (see
            :mod:`cognito_auth_middleware.audit`).
        support_contact: Who refused users may ask for access, named on the 403 page: an
            email address (shown as a ``mailto:`` link) or an ``https`` URL.
        error_template: An HTML file replacing the refusal pages, read when a middleware is
            built (see :mod:`cognito_auth_middleware.pages`).
        issuer: The exact issuer both tokens must name. For Cognito it follows from
            ``user_pool_id`` (``None`` then admits any pool of the region, by form); for any
            other OIDC provider it is required: its issuer URL, as its discovery document says.
        access_token_kind: What ``x-amzn-oidc-accesstoken`` holds: ``cognito`` (default),
            ``jwt`` (another provider's JWT, verified against its JWKS: ``jwks_url``, or the
            ``jwks_uri`` of ``{issuer}/.well-known/openid-configuration``) or ``opaque`` (a
            string that is neither verified nor bound to the user; see the README).
        audience: With ``access_token_kind="jwt"``: the access token's ``aud`` must hold one
            of these.
        groups_claim: The claim that lists the user's groups (``cognito:groups`` by default;
            ``groups``, ``roles``, or a dotted path such as ``realm_access.roles``), read from
            the verified access token, or from the ALB token when the access token is opaque.
        subject_claim: With ``access_token_kind="jwt"``: the access token's claim that must
            equal the ALB token's ``sub`` (default ``sub``; Okta puts the user's id, which its
            userinfo calls ``sub``, in ``uid``, and the login in ``sub``).
        provider: Who signs the user's claims: ``alb`` (default) or ``verified-access`` (AWS
            Verified Access: the ``x-amzn-ava-user-context`` header, ES384, no access token).
        verified_access_instance_arn: With ``verified-access`` (required there): the ARNs of
            the Verified Access instances allowed to sign (exact match on ``signer``).
        verified_access_key_url: Base URL of the Verified Access public keys (key at
            ``{url}/{kid}``); ``None`` means the AWS endpoint of ``region``.
        bearer: Admit machine clients: a request with ``Authorization: Bearer <JWT>`` and no
            identity headers is verified against ``bearer_issuer`` and becomes a
            :class:`~cognito_auth_middleware.machine.MachineClient` (off by default).
        bearer_issuer: The exact ``iss`` of bearer tokens (required with ``bearer``).
        bearer_jwks_url: Their JWKS; ``None`` means the ``jwks_uri`` of
            ``{bearer_issuer}/.well-known/openid-configuration``.
        bearer_audience: If set, a bearer token's ``aud`` must hold one of these.
        bearer_clients: If set, a bearer token's client id must be one of these.

    Example:
        >>> Settings.load(alb_arn="arn:aws:elasticloadbalancing:eu-west-2:123456789012:"
        ...     "loadbalancer/app/my-alb/50dc6c495c0c9188", user_pool_id="eu-west-2_AbC123",
        ...     client_id="abc", environ={}).issuer
        'https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_AbC123'
    """

    alb_arn: tuple[str, ...]
    user_pool_id: str | None
    client_id: tuple[str, ...]
    region: str
    alb_key_url: str | None
    jwks_url: str | None
    exclude_paths: tuple[str, ...]
    allowed_groups: tuple[str, ...]
    allowed_users: tuple[str, ...]
    require_all: bool
    required_groups: tuple[str, ...]
    admin_groups: tuple[str, ...]
    admin_users: tuple[str, ...]
    config_path: str | None
    secret_name: str | None
    parameter_name: str | None
    policy_refresh: float
    leeway: float
    redirect_url: str | None
    key_fetch_timeout: float
    dev_mode: bool = False
    dev_config: str | None = None
    logout_path: str | None = None
    cognito_domain: str | None = None
    logout_uri: str | None = None
    session_cookie: str = "AWSELBAuthSessionCookie"
    audit_log: bool = False
    support_contact: str | None = None
    error_template: str | None = None
    issuer: str | None = None
    access_token_kind: AccessTokenKind = "cognito"  # noqa: S105 (a kind, not a secret)
    audience: tuple[str, ...] = ()
    groups_claim: str = "cognito:groups"
    subject_claim: str = "sub"
    provider: Provider = "alb"
    verified_access_instance_arn: tuple[str, ...] = ()
    verified_access_key_url: str | None = None
    bearer: bool = False
    bearer_issuer: str | None = None
    bearer_jwks_url: str | None = None
    bearer_audience: tuple[str, ...] = ()
    bearer_clients: tuple[str, ...] = ()

    @classmethod
    def load(
        cls, *, environ: Mapping[str, str] | None = None, **options: Unpack[SettingsOptions]
    ) -> Settings:
        """Build settings from keywords, falling back to ``COGNITO_AUTH_*`` variables.

        Args:
            environ: The environment to read (``os.environ`` when omitted).
            **options: Any field of this class (typed by :class:`SettingsOptions`); ``None``
                means "not given".

        Raises:
            ConfigurationError: a value is malformed or inconsistent with another, a keyword
                is unknown, or the environment holds a ``COGNITO_AUTH_*`` variable that no
                setting reads (a typo would otherwise be silently ignored).
        """
        env = os.environ if environ is None else environ
        given: Mapping[str, object] = options  # untyped callers may pass any name
        _check_names(given, env)
        raw: dict[str, object] = {}
        for field in _FIELDS:
            value = given.get(field)
            if value is None:
                value = env.get(_env_name(field))
            if value is not None:
                raw[field] = value
        return cls._validate(raw)

    @classmethod
    def _validate(cls, raw: dict[str, object]) -> Settings:
        lists = {field: _as_tuple(field, raw.get(field, ())) for field in _LIST_FIELDS}
        strs: dict[str, str | None] = {}
        for field in _STR_FIELDS:
            value = raw.get(field)
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(f"{field} must be a string")
            strs[field] = value.strip() or None if isinstance(value, str) else None

        regions: dict[str, str] = {}
        for arn in lists["alb_arn"]:
            match = _ALB_ARN_RE.fullmatch(arn)
            if match is None:
                raise ConfigurationError(
                    f"alb_arn ({_env_name('alb_arn')}) is not an application load balancer ARN: "
                    f"{arn!r}; expected arn:aws:elasticloadbalancing:<region>:<account>:"
                    "loadbalancer/app/<name>/<id>"
                )
            regions[match["region"]] = "alb_arn"
        for arn in lists["verified_access_instance_arn"]:
            match = _VA_INSTANCE_RE.fullmatch(arn)
            if match is None:
                raise ConfigurationError(
                    "verified_access_instance_arn "
                    f"({_env_name('verified_access_instance_arn')}) is not a Verified Access "
                    f"instance ARN: {arn!r}; expected arn:aws:ec2:<region>:<account>:"
                    "verified-access-instance/vai-<17 hex digits>"
                )
            regions.setdefault(match["region"], "verified_access_instance_arn")
        pool = strs["user_pool_id"]
        if pool is not None:
            match = _USER_POOL_RE.fullmatch(pool)
            if match is None:
                raise ConfigurationError(
                    f"user_pool_id ({_env_name('user_pool_id')}) must look like "
                    f"'eu-west-2_AbC123', got {pool!r}"
                )
            regions.setdefault(match["region"], "user_pool_id")
        region = strs["region"]
        if region is not None:
            if not _REGION_RE.fullmatch(region):
                raise ConfigurationError(f"region must be an AWS region name, got {region!r}")
            regions.setdefault(region, "region")
        if len(regions) > 1:
            found = ", ".join(f"{r} (from {source})" for r, source in regions.items())
            raise ConfigurationError(
                f"alb_arn, user_pool_id and region must name one region; found {found}"
            )
        if not regions:
            raise ConfigurationError(
                "region is unknown: set alb_arn (COGNITO_AUTH_ALB_ARN), user_pool_id "
                "(COGNITO_AUTH_USER_POOL_ID), verified_access_instance_arn "
                "(COGNITO_AUTH_VERIFIED_ACCESS_INSTANCE_ARN) or region (COGNITO_AUTH_REGION)"
            )
        for client in lists["client_id"]:
            if not _CLIENT_ID_RE.fullmatch(client):
                raise ConfigurationError(f"client_id must be an app client id, got {client!r}")
        for setting in ("allowed_users", "admin_users"):
            for entry in lists[setting]:
                user_entry(entry, setting)
        sources = [name for name in POLICY_SOURCES if strs[name] is not None]
        require_all = _as_bool("require_all", raw.get("require_all", False))
        inline = [name for name in _RULE_FIELDS if lists.get(name)]
        inline += ["require_all"] if require_all else []
        if len(sources) > 1 or (sources and inline):
            raise ConfigurationError(
                "the authorisation policy must come from one source, but "
                + " and ".join(f"{name} ({_env_name(name)})" for name in sources + inline)
                + " are set: keep one, and put the rules in it"
            )
        for name in sources:
            if not _SOURCE_RES[name].fullmatch(strs[name] or ""):
                raise ConfigurationError(
                    f"{name} ({_env_name(name)}) has characters no {name.replace('_', ' ')} "
                    f"can hold: {strs[name]!r}"
                )
        contact = strs["support_contact"]
        if contact is not None and not (
            len(contact) <= _MAX_SUPPORT_CONTACT
            and (_SUPPORT_EMAIL_RE.fullmatch(contact) or _SUPPORT_URL_RE.fullmatch(contact))
        ):
            raise ConfigurationError(
                f"support_contact ({_env_name('support_contact')}) must be an email address or "
                f"an https URL, got {contact!r}"
            )
        template = strs["error_template"]
        if template is not None and not _SOURCE_RES["config_path"].fullmatch(template):
            raise ConfigurationError(
                f"error_template ({_env_name('error_template')}) has characters no file path "
                f"can hold: {template!r}"
            )
        for path in lists["exclude_paths"]:
            if not path.startswith("/"):
                raise ConfigurationError(f"exclude_paths entries must start with '/', got {path!r}")
        urls = {
            field: _check_url(field, value)
            for field in (
                "alb_key_url",
                "jwks_url",
                "redirect_url",
                "verified_access_key_url",
                "bearer_issuer",
                "bearer_jwks_url",
            )
            if (value := strs[field]) is not None
        }
        region_name = next(iter(regions))
        sign_out = _sign_out_settings(strs, lists["client_id"], region_name)
        provider = _verified_access_settings(strs, lists, urls)
        kind, issuer = _provider_settings(strs, lists["audience"], region_name, urls, provider)
        return cls(
            **lists,
            user_pool_id=pool,
            region=next(iter(regions)),
            alb_key_url=urls["alb_key_url"].rstrip("/") if "alb_key_url" in urls else None,
            jwks_url=urls.get("jwks_url"),
            require_all=require_all,
            config_path=strs["config_path"],
            secret_name=strs["secret_name"],
            parameter_name=strs["parameter_name"],
            policy_refresh=_as_seconds(
                "policy_refresh", raw.get("policy_refresh", 300), low=0, high=_MAX_REFRESH
            ),
            leeway=_as_seconds("leeway", raw.get("leeway", 10), low=0, high=_MAX_LEEWAY),
            redirect_url=urls.get("redirect_url"),
            key_fetch_timeout=_as_seconds(
                "key_fetch_timeout", raw.get("key_fetch_timeout", 5), low=0.1, high=60
            ),
            dev_mode=_as_bool("dev_mode", raw.get("dev_mode", False)),
            dev_config=strs["dev_config"],
            logout_path=sign_out[0],
            cognito_domain=sign_out[1],
            logout_uri=sign_out[2],
            session_cookie=sign_out[3],
            audit_log=_as_bool("audit_log", raw.get("audit_log", False)),
            support_contact=contact,
            error_template=template,
            issuer=issuer,
            access_token_kind=kind,
            groups_claim=strs["groups_claim"]
            or ("groups" if provider == "verified-access" else "cognito:groups"),
            subject_claim=strs["subject_claim"] or "sub",
            provider=provider,
            bearer=_bearer_settings(raw, lists, urls),
            bearer_issuer=urls.get("bearer_issuer"),
            bearer_jwks_url=urls.get("bearer_jwks_url"),
            verified_access_key_url=urls["verified_access_key_url"].rstrip("/")
            if "verified_access_key_url" in urls
            else None,
        )

    @classmethod
    def resolve(
        cls, settings: Settings | None, options: Mapping[str, Any], *, given_as: str = "settings"
    ) -> Settings:
        """``settings`` if given, else settings loaded from ``options``; never both.

        For constructors that take either ready settings (or a verifier, which holds its own)
        or keywords: a keyword next to them could not be honoured, so it is an error rather
        than silently dropped.

        Args:
            settings: Ready settings, or ``None``.
            options: Settings keywords; ``None`` values mean "not given".
            given_as: What the caller passed ``settings`` as, for the message.

        Raises:
            ConfigurationError: both were given, or the options are invalid.
        """
        if settings is None:
            return cls.load(**options)
        ignored = sorted(name for name, value in options.items() if value is not None)
        if ignored:
            raise ConfigurationError(
                f"{given_as}= already holds the whole configuration, so {', '.join(ignored)} "
                f"cannot be applied: set {'it' if len(ignored) == 1 else 'them'} where the "
                f"{given_as} is built"
            )
        return settings

    @classmethod
    def for_middleware(
        cls,
        settings: Settings | None = None,
        *,
        given_as: str = "settings",
        **options: Unpack[SettingsOptions],
    ) -> Settings:
        """:meth:`resolve`, refused unless the signer is pinned (or dev mode is on).

        Raises:
            ConfigurationError: ``alb_arn`` (or with Verified Access,
                ``verified_access_instance_arn``) is not set, or as :meth:`resolve`.
        """
        result = cls.resolve(settings, options, given_as=given_as)
        if not result.dev_mode:  # dev mode runs locally, where there is no ALB to pin
            result.require_signer()
        return result

    def require_signer(self, opt_out: str = "") -> None:
        """Refuse to serve without a pinned ALB: the middlewares call this at start-up.

        Args:
            opt_out: How the caller may opt out, added to the message.

        Raises:
            ConfigurationError: ``alb_arn`` is not set.
        """
        if self.provider == "verified-access":
            if not self.verified_access_instance_arn:
                raise ConfigurationError(
                    "verified_access_instance_arn is required with provider='verified-access': "
                    "set it to your Verified Access instance's ARN (environment variable "
                    "COGNITO_AUTH_VERIFIED_ACCESS_INSTANCE_ARN). Without it a token signed by any "
                    "other Verified Access instance in the region would be accepted."
                    + (f" {opt_out}" if opt_out else "")
                )
            return
        if not self.alb_arn:
            raise ConfigurationError(
                "alb_arn is required: set it to your load balancer's ARN (keyword alb_arn or "
                "environment variable COGNITO_AUTH_ALB_ARN). Without it a token signed by any "
                "other load balancer in the region, for any user pool there, would be accepted."
                + (f" {opt_out}" if opt_out else "")
            )

    @property
    def issuer_pattern(self) -> re.Pattern[str]:
        """The form any issuer must have without ``issuer``: a Cognito user pool of the region."""
        return cognito_issuer_pattern(self.region)

    @property
    def alb_key_base_url(self) -> str:
        """Base URL of the ALB public keys (explicit, or the AWS endpoint of the region)."""
        if self.alb_key_url is not None:
            return self.alb_key_url
        if self.region.startswith("us-gov-"):
            return _GOVCLOUD_KEY_URL.format(region=self.region)
        return _ALB_KEY_URL.format(region=self.region)

    @property
    def signer_key_base_url(self) -> str:
        """Base URL of the signer's public keys: the ALB's, or the Verified Access instance's.

        With ``provider="verified-access"``: ``verified_access_key_url``, default the region's
        AWS endpoint; else :attr:`alb_key_base_url`.
        """
        if self.provider == "verified-access":
            return self.verified_access_key_url or _VA_KEY_URL.format(region=self.region)
        return self.alb_key_base_url

    def alb_key_url_for(self, kid: str) -> str:
        """The URL of the signer's public key ``kid``, quoted (the kid passed the UUID check).

        The signer is the ALB, or with ``provider="verified-access"`` the Verified Access
        instance (see :attr:`signer_key_base_url`).
        """
        return _key_url(self.signer_key_base_url, kid)

    @property
    def logout_url(self) -> str | None:
        """The user pool's logout endpoint with ``client_id`` and ``logout_uri``, if configured."""
        if self.cognito_domain is None or self.logout_uri is None:
            return None
        query = urlencode({"client_id": self.client_id[0], "logout_uri": self.logout_uri})
        return f"{self.cognito_domain}/logout?{query}"

    def jwks_url_for(self, issuer: str) -> str:
        """The Cognito JWKS URL for an issuer that has already passed the issuer check."""
        if self.jwks_url is not None:
            return self.jwks_url
        return f"{issuer}/.well-known/jwks.json"

    @property
    def bearer_discovery_url(self) -> str | None:
        """Where the bearer tokens' JWKS URL is discovered: with ``bearer``, no JWKS URL."""
        if not self.bearer or self.bearer_jwks_url is not None or self.bearer_issuer is None:
            return None
        return discovery_url_for(self.bearer_issuer)

    @property
    def discovery_url(self) -> str | None:
        """Where the provider's JWKS URL is discovered: only for ``jwt`` without ``jwks_url``."""
        if self.access_token_kind != "jwt" or self.jwks_url is not None:  # noqa: S105
            return None
        if self.issuer is None:
            return None
        return discovery_url_for(self.issuer)


# The setting names, declared once by the dataclass: a field's type says how it is read.
_TYPES = get_type_hints(Settings)
_FIELDS = tuple(field.name for field in fields(Settings))
_LIST_FIELDS = tuple(name for name in _FIELDS if _TYPES[name] == tuple[str, ...])
_STR_FIELDS = tuple(
    name for name in _FIELDS if _TYPES[name] in (str, str | None, AccessTokenKind, Provider)
)
