"""Lambda functions behind an ALB: the ``alb_handler`` decorator and the Mangum recipe.

Events are ALB invocation payloads as AWS documents them, in both shapes (``headers``, and
``multiValueHeaders`` when the target group enables multi-value headers), carrying real signed
headers; keys are served over HTTP by the ``KeyServer`` on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mangum import Mangum
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cognito_auth_middleware import CognitoAuthMiddleware, ConfigurationError, User
from cognito_auth_middleware.integrations.aws_lambda import alb_handler
from cognito_auth_middleware.testing import FakeIdentityProvider
from tests.servers import bind_loopback

TARGET_GROUP = (
    "arn:aws:elasticloadbalancing:eu-west-2:123456789012:targetgroup/app/6d0ecf831eec9f09"
)
SHAPES = ["headers", "multiValueHeaders"]
# What Lambda passes as the context, as far as the handlers here read it (they do not).
CONTEXT: Any = SimpleNamespace(function_name="app", aws_request_id="c6af9ac6-7b61-11e6-9a41")


def alb_event(
    headers: dict[str, str], *, shape: str = "headers", path: str = "/", method: str = "GET"
) -> dict[str, Any]:
    """An ALB invocation event, as the ALB builds it after a sign-in."""
    forwarded = {
        "accept": "*/*",
        "host": "app.example.com",
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-5bdb40ca-556d8b0c50dc66f0511bf520",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    } | {name.lower(): value for name, value in headers.items()}
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP}},
        "httpMethod": method,
        "path": path,
        "body": "",
        "isBase64Encoded": False,
    }
    if shape == "headers":
        event |= {"queryStringParameters": {}, "headers": forwarded}
    else:
        event |= {
            "multiValueQueryStringParameters": {},
            "multiValueHeaders": {name: [value] for name, value in forwarded.items()},
        }
    return event


def health_check(shape: str, path: str = "/health") -> dict[str, Any]:
    """The ALB's health check: no identity headers, its own user agent."""
    event = alb_event({}, shape=shape, path=path)
    key = "headers" if shape == "headers" else "multiValueHeaders"
    event[key] = {
        "user-agent": "ELB-HealthChecker/2.0" if shape == "headers" else ["ELB-HealthChecker/2.0"]
    }
    return event


def greet(event: dict[str, Any], context: Any, user: User | None) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "statusDescription": "200 OK",
        "isBase64Encoded": False,
        "headers": {"content-type": "text/plain"},
        "body": f"hello {user.sub if user else '-'}",
    }


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    if "multiValueHeaders" in response:
        return {name: values[-1] for name, values in response["multiValueHeaders"].items()}
    return dict(response["headers"])


@pytest.fixture
def handler(options: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    return alb_handler(**options, exclude_paths=["/health"])(greet)


# --- the decorator --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_a_verified_event_reaches_the_handler_with_its_user(
    handler: Callable[..., dict[str, Any]], idp: FakeIdentityProvider, shape: str
) -> None:
    response = handler(alb_event(idp.headers(sub="ann"), shape=shape), None)
    assert (response["statusCode"], response["body"]) == (200, "hello ann")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("defect", "code"),
    [
        pytest.param(None, "missing_token", id="no-headers"),
        pytest.param("expired", "expired_token", id="expired"),
        pytest.param("tampered", "invalid_token", id="tampered"),
        pytest.param("wrong_signer", "invalid_token", id="wrong-signer"),
        pytest.param("spliced", "invalid_token", id="spliced"),
    ],
)
def test_a_refused_event_gets_the_tables_answer_in_its_shape(
    handler: Callable[..., dict[str, Any]],
    idp: FakeIdentityProvider,
    shape: str,
    defect: str | None,
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {} if defect is None else idp.broken_headers(defect)
    with caplog.at_level(logging.DEBUG):
        response = handler(alb_event(headers, shape=shape), None)
    assert response["statusCode"] == 401
    assert response["statusDescription"] == "401 Unauthorized"
    assert response["isBase64Encoded"] is False
    assert ("multiValueHeaders" in response) is (shape == "multiValueHeaders")
    assert ("headers" in response) is (shape == "headers")
    assert headers_of(response)["cache-control"] == "no-store"
    assert json.loads(response["body"])["error"] == code
    for token in headers.values():
        if len(token) > 40:
            assert token not in response["body"]
            assert token not in caplog.text


@pytest.mark.parametrize("shape", SHAPES)
def test_the_health_check_passes_only_on_its_excluded_path(
    handler: Callable[..., dict[str, Any]], shape: str
) -> None:
    assert handler(health_check(shape), None)["body"] == "hello -"
    assert handler(health_check(shape, "/"), None)["statusCode"] == 401
    # Matched as sent and decoded: an encoded letter does not skip verification.
    assert handler(health_check(shape, "/h%65alth"), None)["statusCode"] == 401


def test_the_policy_refuses_with_403(options: dict[str, Any], idp: FakeIdentityProvider) -> None:
    guarded = alb_handler(**options, allowed_groups=["analysts"])(greet)
    assert guarded(alb_event(idp.headers(groups=["analysts"])), None)["statusCode"] == 200
    refused = guarded(alb_event(idp.headers(groups=["staff"])), None)
    assert (refused["statusCode"], refused["statusDescription"]) == (403, "403 Forbidden")


def test_keys_out_of_reach_is_a_503_with_retry_after(
    options: dict[str, Any], idp: FakeIdentityProvider
) -> None:
    closed = bind_loopback()
    port = closed.getsockname()[1]
    closed.close()
    unreachable = options | {"alb_key_url": f"http://127.0.0.1:{port}", "key_fetch_timeout": 1}
    response = alb_handler(**unreachable)(greet)(alb_event(idp.headers()), None)
    assert (response["statusCode"], response["statusDescription"]) == (
        503,
        "503 Service Unavailable",
    )
    assert int(headers_of(response)["retry-after"]) > 0


def test_a_header_repeated_in_multi_value_headers_is_refused(
    handler: Callable[..., dict[str, Any]], idp: FakeIdentityProvider
) -> None:
    headers = idp.headers()
    event = alb_event(headers, shape="multiValueHeaders")
    event["multiValueHeaders"]["x-amzn-oidc-data"] *= 2
    response = handler(event, None)
    assert (response["statusCode"], json.loads(response["body"])["error"]) == (401, "invalid_token")
    # A copy in each shape is a duplicate too.
    both = alb_event(headers) | {
        "multiValueHeaders": {"x-amzn-oidc-data": [headers["x-amzn-oidc-data"]]}
    }
    assert handler(both, None)["statusCode"] == 401


def test_browsers_get_a_page_or_the_redirect(options: dict[str, Any]) -> None:
    page = alb_handler(**options)(greet)(alb_event({"accept": "text/html"}), None)
    assert headers_of(page)["content-type"].startswith("text/html")
    assert "You are not signed in" in page["body"]
    redirect = alb_handler(**options, redirect_url="https://app.example.com/signin")(greet)
    moved = redirect(alb_event({"accept": "text/html"}, shape="multiValueHeaders"), None)
    assert (moved["statusCode"], moved["multiValueHeaders"]["location"]) == (
        302,
        ["https://app.example.com/signin"],
    )


def test_configuration_comes_from_the_environment_and_fails_at_decoration(
    options: dict[str, Any], idp: FakeIdentityProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="alb_arn"):
        alb_handler()(greet)
    for name, value in options.items():
        monkeypatch.setenv(f"COGNITO_AUTH_{name.upper()}", str(value))
    from_environment = alb_handler()(greet)
    assert from_environment(alb_event(idp.headers(sub="env")), None)["body"] == "hello env"


@pytest.mark.parametrize("shape", SHAPES)
def test_dev_mode_never_trusts_a_forwarded_loopback_address(
    options: dict[str, Any], shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        local = alb_handler(**options, dev_mode=True)(greet)
    assert "dev_mode has no effect on Lambda handlers" in caplog.text
    event = alb_event({"x-forwarded-for": "127.0.0.1", "host": "localhost"}, shape=shape)
    assert local(event, None)["statusCode"] == 401


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=30)
    | st.sampled_from(["x-amzn-oidc-data", "x-amzn-oidc-accesstoken", "/health", "a.b.c"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=30), inner, max_size=4)
    ),
    max_leaves=12,
)
NAMES = st.sampled_from(
    [
        "x-amzn-oidc-data",
        "x-amzn-oidc-accesstoken",
        "x-amzn-oidc-identity",
        "accept",
        "X-Amzn-Oidc-Data",
        "\u00e9",
        "",
    ]
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    headers=JSON | st.dictionaries(NAMES, JSON, max_size=4),
    multi=JSON | st.dictionaries(NAMES, JSON | st.lists(JSON, max_size=3), max_size=4),
    path=JSON,
)
def test_hostile_events_are_refused_never_raised(
    handler: Callable[..., dict[str, Any]], headers: Any, multi: Any, path: Any
) -> None:
    event = {"headers": headers, "multiValueHeaders": multi, "path": path, "httpMethod": "GET"}
    response = handler(event, None)
    assert response["statusCode"] in (200, 401)
    if response["statusCode"] == 200:  # only the excluded path, without verification
        assert path == "/health"
    garbage: object
    for garbage in (None, [], "event", 7):
        assert handler(garbage, None)["statusCode"] == 401


# --- the Mangum recipe ------------------------------------------------------------------------


async def whoami(request: Request) -> PlainTextResponse:
    user = getattr(request.state, "user", None)
    return PlainTextResponse(f"hello {user.sub if user else '-'}")


@pytest.fixture
def mangum_handler(options: dict[str, Any]) -> Iterator[Mangum]:
    app = Starlette(routes=[Route("/{path:path}", whoami)])
    app.add_middleware(
        CognitoAuthMiddleware, **options, exclude_paths=["/health"], allowed_groups=["analysts"]
    )
    # Mangum runs every invocation on the thread's event loop and never closes it (a Lambda
    # container keeps one for its lifetime). The test owns that loop, so that it is closed here
    # rather than left for the garbage collector to report as unclosed.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield Mangum(app, lifespan="off")
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@pytest.mark.parametrize("shape", SHAPES)
def test_mangum_runs_the_asgi_middleware_on_alb_events(
    mangum_handler: Mangum, idp: FakeIdentityProvider, shape: str
) -> None:
    admitted = mangum_handler(
        alb_event(idp.headers(sub="ann", groups=["analysts"]), shape=shape), CONTEXT
    )
    assert (admitted["statusCode"], admitted["body"]) == (200, "hello ann")
    assert ("multiValueHeaders" in admitted) is (shape == "multiValueHeaders")
    refused = mangum_handler(alb_event({}, shape=shape), CONTEXT)
    assert (refused["statusCode"], json.loads(refused["body"])["error"]) == (401, "missing_token")
    denied = mangum_handler(alb_event(idp.headers(groups=["staff"]), shape=shape), CONTEXT)
    assert denied["statusCode"] == 403
    assert mangum_handler(health_check(shape), CONTEXT)["body"] == "hello -"
