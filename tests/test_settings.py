"""Configuration: keywords, COGNITO_AUTH_* variables, derivation and start-up validation."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from cognito_auth_middleware import ConfigurationError, Settings
from cognito_auth_middleware.settings import user_entry

ARN = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188"
ARN2 = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/other/60dc6c495c0c9188"
GOV_ARN = (
    "arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:"
    "loadbalancer/app/gov/50dc6c495c0c9188"
)
POOL = "eu-west-2_AbC123"
COGNITO_ISSUER = f"https://cognito-idp.eu-west-2.amazonaws.com/{POOL}"
VA_ARN = "arn:aws:ec2:eu-west-2:123456789012:verified-access-instance/vai-0123456789abcdef0"


def test_derives_region_issuer_and_aws_urls() -> None:
    settings = Settings.load(environ={}, alb_arn=ARN, user_pool_id=POOL, client_id="abc")
    assert settings.region == "eu-west-2"
    assert settings.issuer == f"https://cognito-idp.eu-west-2.amazonaws.com/{POOL}"
    assert settings.alb_key_base_url == "https://public-keys.auth.elb.eu-west-2.amazonaws.com"
    assert settings.jwks_url_for(settings.issuer) == (
        f"https://cognito-idp.eu-west-2.amazonaws.com/{POOL}/.well-known/jwks.json"
    )


def test_govcloud_key_url() -> None:
    settings = Settings.load(environ={}, alb_arn=GOV_ARN)
    assert settings.alb_key_base_url == (
        "https://s3-us-gov-west-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-west-1"
    )


def test_environment_is_read_with_prefix_and_lists_are_comma_separated() -> None:
    environ = {
        "COGNITO_AUTH_ALB_ARN": f"{ARN}, {ARN2}",
        "COGNITO_AUTH_USER_POOL_ID": POOL,
        "COGNITO_AUTH_CLIENT_ID": "a,b",
        "COGNITO_AUTH_EXCLUDE_PATHS": "/health,/static/*",
        "COGNITO_AUTH_ALLOWED_GROUPS": "admins",
        "COGNITO_AUTH_REQUIRE_ALL": "true",
        "COGNITO_AUTH_LEEWAY": "30",
        "COGNITO_AUTH_ALB_KEY_URL": "http://127.0.0.1:9999/keys/",
        "COGNITO_AUTH_JWKS_URL": "http://127.0.0.1:9999/jwks.json",
    }
    settings = Settings.load(environ=environ)
    assert settings.alb_arn == (ARN, ARN2)
    assert settings.client_id == ("a", "b")
    assert settings.exclude_paths == ("/health", "/static/*")
    assert settings.allowed_groups == ("admins",)
    assert settings.require_all is True
    assert settings.leeway == 30
    assert settings.alb_key_base_url == "http://127.0.0.1:9999/keys"
    assert settings.jwks_url_for("ignored") == "http://127.0.0.1:9999/jwks.json"


# A value for every setting, as text, and what it loads as. Keyed by the dataclass's fields,
# so a new setting needs a row here too.
AS_TEXT: dict[str, tuple[str, object]] = {
    "alb_arn": (f"{ARN}, {ARN2}", (ARN, ARN2)),
    "user_pool_id": (f" {POOL}\n", POOL),
    "client_id": ("a,b,a", ("a", "b")),
    "region": ("eu-west-2", "eu-west-2"),
    "alb_key_url": ("https://keys.example.com/alb/", "https://keys.example.com/alb"),
    "jwks_url": ("https://keys.example.com/jwks.json", "https://keys.example.com/jwks.json"),
    "exclude_paths": ("/health, /static/*", ("/health", "/static/*")),
    "allowed_groups": ("admins,,staff", ("admins", "staff")),
    "allowed_users": ("ann@example.com", ("ann@example.com",)),
    "require_all": ("TRUE", True),
    "required_groups": ("a, b", ("a", "b")),
    "admin_groups": ("ops", ("ops",)),
    "admin_users": ("Boss@Example.com,username:ann", ("Boss@Example.com", "username:ann")),
    "config_path": (" ./auth-config.json\n", "./auth-config.json"),
    "secret_name": ("my-app/auth-config", "my-app/auth-config"),
    "parameter_name": ("/my-app/auth-config", "/my-app/auth-config"),
    "policy_refresh": ("60", 60.0),
    "leeway": ("30", 30.0),
    "redirect_url": ("https://example.com/login?next=/", "https://example.com/login?next=/"),
    "key_fetch_timeout": ("2.5", 2.5),
    "dev_mode": ("yes", True),
    "dev_config": ("dev.json\n", "dev.json"),
    "support_contact": (" it-help@example.com\n", "it-help@example.com"),
    "error_template": ("./refused.html", "./refused.html"),
    "logout_path": ("/sign-out\n", "/sign-out"),
    "cognito_domain": ("my-app", "https://my-app.auth.eu-west-2.amazoncognito.com"),
    "logout_uri": ("https://app.example.com/bye?x=1", "https://app.example.com/bye?x=1"),
    "session_cookie": ("MySession", "MySession"),
    "audit_log": ("on", True),
    "issuer": (f" https://cognito-idp.eu-west-2.amazonaws.com/{POOL}\n", COGNITO_ISSUER),
    "access_token_kind": ("JWT", "jwt"),
    "audience": ("api://default, api://reports", ("api://default", "api://reports")),
    "groups_claim": (" realm_access.roles\n", "realm_access.roles"),
    "subject_claim": ("uid", "uid"),
    "provider": ("Verified-Access", "verified-access"),
    "verified_access_instance_arn": (f"{VA_ARN}\n", (VA_ARN,)),
    "verified_access_key_url": ("http://127.0.0.1:9/va/", "http://127.0.0.1:9/va"),
    "bearer": ("TRUE", True),
    "bearer_issuer": (f"https://cognito-idp.eu-west-2.amazonaws.com/{POOL}", COGNITO_ISSUER),
    "bearer_jwks_url": ("https://keys.example.com/m.json", "https://keys.example.com/m.json"),
    "bearer_audience": ("api://a, api://b", ("api://a", "api://b")),
    "bearer_clients": ("svc-1,svc-2", ("svc-1", "svc-2")),
}
# Settings that cannot be honoured alone: what they need besides (a sign-out needs all three).
SIGN_OUT = {
    "COGNITO_AUTH_COGNITO_DOMAIN": "auth.example.com",
    "COGNITO_AUTH_LOGOUT_URI": "https://app.example.com/",
    "COGNITO_AUTH_CLIENT_ID": "abc",
}
GENERIC = {"COGNITO_AUTH_ISSUER": "https://idp.example.com/oauth2/default"}
COMPANIONS = {
    **{
        name: {k: v for k, v in SIGN_OUT.items() if k != f"COGNITO_AUTH_{name.upper()}"}
        for name in ("logout_path", "cognito_domain", "logout_uri")
    },
    "access_token_kind": GENERIC,
    "audience": GENERIC | {"COGNITO_AUTH_ACCESS_TOKEN_KIND": "jwt"},
    "subject_claim": GENERIC | {"COGNITO_AUTH_ACCESS_TOKEN_KIND": "jwt"},
    "provider": {"COGNITO_AUTH_VERIFIED_ACCESS_INSTANCE_ARN": "$VA"},
    "verified_access_instance_arn": {"COGNITO_AUTH_PROVIDER": "verified-access"},
    "verified_access_key_url": {
        "COGNITO_AUTH_PROVIDER": "verified-access",
        "COGNITO_AUTH_VERIFIED_ACCESS_INSTANCE_ARN": "$VA",
    },
}
BEARER = {"COGNITO_AUTH_BEARER": "true", "COGNITO_AUTH_BEARER_ISSUER": COGNITO_ISSUER}
COMPANIONS |= {
    "bearer": {"COGNITO_AUTH_BEARER_ISSUER": COGNITO_ISSUER},
    "bearer_issuer": {"COGNITO_AUTH_BEARER": "true"},
    "bearer_jwks_url": BEARER,
    "bearer_audience": BEARER,
    "bearer_clients": BEARER,
}
# Verified Access signs alone: no ALB ARN next to it.
VERIFIED_ACCESS = ("provider", "verified_access_instance_arn", "verified_access_key_url")


@pytest.mark.parametrize("name", [field.name for field in fields(Settings)])
@pytest.mark.parametrize("source", ["keyword", "environment"])
def test_every_setting_is_read_from_a_keyword_and_its_variable(name: str, source: str) -> None:
    text, expected = AS_TEXT[name]
    options: dict[str, Any] = {name: text} if source == "keyword" else {}
    environ = {"COGNITO_AUTH_ALB_ARN": ARN} if name not in ("alb_arn", *VERIFIED_ACCESS) else {}
    environ |= {k: VA_ARN if v == "$VA" else v for k, v in COMPANIONS.get(name, {}).items()}
    if source == "environment":
        environ[f"COGNITO_AUTH_{name.upper()}"] = text
    assert getattr(Settings.load(environ=environ, **options), name) == expected


@pytest.mark.parametrize(
    "contact",
    [
        pytest.param("it-help@example.com", id="email"),
        pytest.param("first.last+access@mail.example.co.uk", id="email-plus"),
        pytest.param("https://help.example.com", id="url"),
        pytest.param("https://help.example.com:8443/access?team=data&app=x#form", id="url-full"),
    ],
)
def test_support_contact_is_an_email_address_or_an_https_url(contact: str) -> None:
    assert Settings.load(environ={}, region="eu-west-2", support_contact=contact).support_contact


@pytest.mark.parametrize(
    "contact",
    [
        pytest.param("http://help.example.com/", id="plain-http"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("mailto:help@example.com", id="mailto-scheme"),
        pytest.param("help", id="word"),
        pytest.param("help@localhost", id="no-domain"),
        pytest.param("a?cc=x@example.com", id="mail-header-in-address"),
        pytest.param("help@example.com, other@example.com", id="two-addresses"),
        pytest.param("https://help.example.com/a b", id="space"),
        pytest.param("https://help.example.com/'onmouseover='x", id="quote"),
        pytest.param('https://help.example.com/"><script>', id="markup"),
        pytest.param("https://help.example.com/\\evil", id="backslash"),
        pytest.param("https://help.example.com/\nSet-Cookie: x=y", id="newline"),
        pytest.param("https://user@help.example.com/", id="userinfo"),
        pytest.param("https://help.example.com/" + "a" * 500, id="too-long"),
        pytest.param("ann@exämple.com", id="non-ascii"),
    ],
)
def test_any_other_support_contact_stops_the_app(contact: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"support_contact \(COGNITO_AUTH_SUPPORT_CONTACT\)"
    ):
        Settings.load(environ={}, region="eu-west-2", support_contact=contact)


def test_an_error_template_path_with_control_characters_stops_the_app() -> None:
    with pytest.raises(ConfigurationError, match=r"error_template \(COGNITO_AUTH_ERROR_TEMPLATE\)"):
        Settings.load(environ={}, region="eu-west-2", error_template="page\x00.html")


def test_keywords_win_over_the_environment() -> None:
    settings = Settings.load(
        environ={"COGNITO_AUTH_ALB_ARN": ARN, "COGNITO_AUTH_LEEWAY": "30"}, leeway=0
    )
    assert settings.leeway == 0
    assert settings.alb_arn == (ARN,)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"alb_arn": "arn:aws:iam::123:role/x"}, "COGNITO_AUTH_ALB_ARN", id="arn"),
        pytest.param({"alb_arn": ARN.replace("/app/", "/net/")}, "alb_arn", id="nlb-arn"),
        pytest.param({"alb_arn": ARN, "user_pool_id": "us-east-1_AbC"}, "one region", id="pool"),
        pytest.param({"alb_arn": ARN, "region": "us-east-1"}, "one region", id="region"),
        pytest.param({"user_pool_id": "not a pool"}, "user_pool_id", id="pool-form"),
        pytest.param({}, "region is unknown", id="nothing"),
        pytest.param({"region": "eu-west-2", "leeway": 301}, "leeway", id="leeway-high"),
        pytest.param({"region": "eu-west-2", "leeway": "soon"}, "leeway", id="leeway-text"),
        pytest.param({"region": "eu-west-2", "require_all": "maybe"}, "require_all", id="bool"),
        pytest.param({"region": "eu-west-2", "jwks_url": "ftp://x/jwks"}, "jwks_url", id="url"),
        pytest.param(
            {"region": "eu-west-2", "alb_key_url": "http://[::1/keys"},
            r"alb_key_url is not a URL, got 'http://\[::1/keys'",
            id="unclosed-bracket",
        ),
        pytest.param({"region": "eu-west-2", "exclude_paths": "health"}, "'/'", id="path"),
        pytest.param({"region": "eu-west-2", "client_id": "a b"}, "client_id", id="client"),
        pytest.param({"region": "eu-west-2", "colour": "blue"}, "unknown setting", id="unknown"),
    ],
)
def test_misconfiguration_fails_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.load(environ={}, **options)


def test_require_signer_names_the_setting() -> None:
    settings = Settings.load(environ={}, user_pool_id=POOL)
    with pytest.raises(ConfigurationError, match="COGNITO_AUTH_ALB_ARN"):
        settings.require_signer()
    Settings.load(environ={}, alb_arn=ARN).require_signer()  # does not raise


def test_issuer_pattern_is_the_cognito_form_of_the_region() -> None:
    pattern = Settings.load(environ={}, region="eu-west-2").issuer_pattern
    assert pattern.fullmatch(f"https://cognito-idp.eu-west-2.amazonaws.com/{POOL}")
    for issuer in (
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
        f"https://cognito-idp.eu-west-2.amazonaws.com.evil.com/{POOL}",
        f"http://cognito-idp.eu-west-2.amazonaws.com/{POOL}",
        f"https://cognito-idp.eu-west-2.amazonaws.com/{POOL}/../x",
        f"https://cognito-idp.eu-west-2.amazonaws.com/{POOL}\n",
    ):
        assert not pattern.fullmatch(issuer), issuer


@pytest.mark.parametrize(
    ("option", "value"),
    [
        pytest.param("alb_arn", ARN + "\nx", id="arn-newline"),
        pytest.param(
            "alb_arn", ARN.replace("123456789012", "١٢٣٤٥٦٧٨٩٠١٢"), id="arn-arabic-digits"
        ),
        pytest.param("user_pool_id", POOL + "\nx", id="pool-newline"),
        pytest.param("region", "eu-west-2\nx", id="region-newline"),
        pytest.param("client_id", "abc\ndef", id="client-newline"),
        pytest.param("client_id", "\uff41\uff42\uff43", id="client-fullwidth"),
        pytest.param("jwks_url", "https://example.com/jw\nks", id="url-newline"),
        pytest.param("alb_key_url", "https://exa mple.com", id="url-space"),
        pytest.param("redirect_url", "https://example.com/\tx", id="url-tab"),
    ],
)
def test_values_are_matched_whole_and_ascii(option: str, value: str) -> None:
    # A newline passes `re.match(...$)`; other scripts' digits pass `\d`. (Whitespace around
    # a value is stripped first, as environment values often end in a newline.)
    options: dict[str, Any] = {"region": "eu-west-2", option: value}  # the name varies
    with pytest.raises(ConfigurationError):
        Settings.load(environ={}, **options)


@pytest.mark.parametrize(
    ("keywords", "suggestion"),
    [
        pytest.param({"alowed_groups": "admins"}, "allowed_groups", id="keyword-typo"),
        pytest.param({"user_pool": POOL}, "user_pool_id", id="keyword-short"),
    ],
)
def test_a_misspelt_keyword_is_refused_with_a_suggestion(
    keywords: dict[str, Any], suggestion: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"did you mean {suggestion}"):
        Settings.load(environ={}, alb_arn=ARN, **keywords)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("COGNITO_AUTH_USER_POOL", "did you mean COGNITO_AUTH_USER_POOL_ID", id="typo"),
        pytest.param("COGNITO_AUTH_ALLOWED_GROUP", "COGNITO_AUTH_ALLOWED_GROUPS", id="singular"),
        pytest.param("COGNITO_AUTH_WHATEVER", "unknown environment variable", id="unknown"),
        pytest.param("COGNITO_AUTH_SECRETNAME", "COGNITO_AUTH_SECRET_NAME", id="no-underscore"),
    ],
)
def test_an_unknown_environment_variable_stops_start_up(name: str, message: str) -> None:
    environ = {"COGNITO_AUTH_ALB_ARN": ARN, name: "x"}
    with pytest.raises(ConfigurationError, match=message) as refused:
        Settings.load(environ=environ)
    assert name in str(refused.value)


def test_other_variables_are_not_ours() -> None:
    environ = {"COGNITO_AUTH_ALB_ARN": ARN, "COGNITO_AUTHOR": "x", "AWS_REGION": "us-east-1"}
    assert Settings.load(environ=environ).alb_arn == (ARN,)


def test_policy_defaults() -> None:
    settings = Settings.load(environ={}, alb_arn=ARN)
    assert (settings.config_path, settings.secret_name, settings.parameter_name) == (None,) * 3
    assert settings.policy_refresh == 300
    assert settings.required_groups == settings.admin_groups == settings.admin_users == ()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        pytest.param(
            {"config_path": "a.json", "secret_name": "s"}, ["config_path", "secret_name"], id="2"
        ),
        pytest.param(
            {"secret_name": "s", "parameter_name": "/p"},
            ["secret_name", "parameter_name"],
            id="aws-two",
        ),
        pytest.param(
            {"config_path": "a.json", "allowed_groups": "x"},
            ["config_path", "allowed_groups"],
            id="file-and-inline",
        ),
        pytest.param(
            {"secret_name": "s", "admin_users": "ann@example.com"},
            ["secret_name", "admin_users"],
            id="secret-and-admins",
        ),
        pytest.param(
            {"parameter_name": "/p", "require_all": True},
            ["parameter_name", "require_all"],
            id="parameter-and-require-all",
        ),
        pytest.param(
            {"config_path": "a.json", "required_groups": "r"},
            ["config_path", "required_groups"],
            id="file-and-required",
        ),
    ],
)
def test_the_policy_comes_from_one_source(options: dict[str, Any], named: list[str]) -> None:
    with pytest.raises(ConfigurationError, match="must come from one source") as refused:
        Settings.load(environ={}, alb_arn=ARN, **options)
    for name in named:
        assert f"{name} (COGNITO_AUTH_{name.upper()})" in str(refused.value)


def test_two_sources_are_refused_from_the_environment_too() -> None:
    environ = {
        "COGNITO_AUTH_ALB_ARN": ARN,
        "COGNITO_AUTH_CONFIG_PATH": "auth.json",
        "COGNITO_AUTH_SECRET_NAME": "app/auth",
    }
    with pytest.raises(ConfigurationError, match="must come from one source"):
        Settings.load(environ=environ)
    # require_all=false and empty lists are no rules: one source is fine with them.
    environ = {
        "COGNITO_AUTH_ALB_ARN": ARN,
        "COGNITO_AUTH_CONFIG_PATH": "auth.json",
        "COGNITO_AUTH_REQUIRE_ALL": "false",
        "COGNITO_AUTH_ALLOWED_GROUPS": " , ",
    }
    assert Settings.load(environ=environ).config_path == "auth.json"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        pytest.param("secret_name", "my secret", id="secret-space"),
        pytest.param("secret_name", "app/auth\nx", id="secret-newline"),
        pytest.param("secret_name", "café", id="secret-unicode"),
        pytest.param("parameter_name", "/app/a b", id="parameter-space"),
        pytest.param("parameter_name", "/app/auth=1", id="parameter-equals"),
        pytest.param("config_path", "auth\x00.json", id="path-nul"),
        pytest.param("config_path", "auth\n.json", id="path-newline"),
    ],
)
def test_a_source_name_aws_could_not_hold_is_refused(option: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{option} .* has characters"):
        Settings.load(environ={}, alb_arn=ARN, **{option: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["-1", "86401", "nan", "soon"])
def test_policy_refresh_must_be_sane(value: str) -> None:
    with pytest.raises(ConfigurationError, match="policy_refresh"):
        Settings.load(environ={"COGNITO_AUTH_POLICY_REFRESH": value}, alb_arn=ARN)


def test_ready_settings_and_keywords_together_are_refused() -> None:
    ready = Settings.load(environ={}, alb_arn=ARN)
    with pytest.raises(ConfigurationError, match="allowed_groups cannot be applied"):
        Settings.resolve(ready, {"allowed_groups": ["admins"]})
    assert Settings.resolve(ready, {"allowed_groups": None}) is ready  # None: not given


@pytest.mark.parametrize(
    ("entry", "kind", "value"),
    [
        pytest.param("Boss@Corp.Example", "email", "boss@corp.example", id="email"),
        pytest.param("sub:abc", "sub", "abc", id="sub-prefix"),
        pytest.param("username:ann", "username", "ann", id="username-prefix"),
        pytest.param("11111111-2222-3333-4444-555555555555", "sub", None, id="uuid-is-a-sub"),
        pytest.param("ann", "username", None, id="name-is-a-username"),
    ],
)
def test_allowed_users_entries_have_one_kind(entry: str, kind: str, value: str | None) -> None:
    assert user_entry(entry) == (kind, value or entry)


@pytest.mark.parametrize("entry", ["boss@", "@corp.example", "a@b", "sub:", "username: "])
def test_malformed_allowed_users_entries_stop_start_up(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="allowed_users"):
        Settings.load(environ={}, alb_arn=ARN, allowed_users=[entry])
