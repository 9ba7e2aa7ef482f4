"""The exception-to-HTTP table: the classes carry it, the responses module renders it."""

from __future__ import annotations

import json
import re

import pytest

from cognito_auth_middleware import responses
from cognito_auth_middleware.exceptions import (
    AccessDeniedError,
    AuthenticationError,
    ExpiredTokenError,
    InvalidTokenError,
    KeysUnavailableError,
    MissingTokenError,
)
from cognito_auth_middleware.responses import error_response

REFUSALS: list[type[AuthenticationError]] = [
    MissingTokenError,
    InvalidTokenError,
    ExpiredTokenError,
    AccessDeniedError,
    KeysUnavailableError,
]


def documented_table() -> dict[str, tuple[int, str, int]]:
    rows = re.findall(
        r"^(\w+Error)\s+(\d{3})\s+``(\w+)``\s+(\d{4})$", responses.__doc__ or "", re.M
    )
    return {name: (int(status), code, int(close)) for name, status, code, close in rows}


def test_the_documented_table_is_what_the_classes_carry() -> None:
    carried = {
        cls.__name__: (cls.status_code, cls.code, cls.websocket_close_code) for cls in REFUSALS
    }
    assert documented_table() == carried


@pytest.mark.parametrize(
    ("exc", "status", "close", "retry_after"),
    [
        pytest.param(MissingTokenError("no header"), 401, 1008, None, id="missing"),
        pytest.param(InvalidTokenError("bad"), 401, 1008, None, id="invalid"),
        pytest.param(ExpiredTokenError("old"), 401, 1008, None, id="expired"),
        pytest.param(AccessDeniedError("no"), 403, 1008, None, id="denied"),
        pytest.param(KeysUnavailableError("down", retry_after=7), 503, 1013, "7", id="keys"),
    ],
)
def test_each_refusal_is_rendered_from_its_class(
    exc: AuthenticationError, status: int, close: int, retry_after: str | None
) -> None:
    answer = error_response(exc)
    headers = dict(answer.headers)
    assert (answer.status, answer.websocket_close_code) == (status, close)
    assert headers.get("retry-after") == retry_after
    assert headers["cache-control"] == "no-store"
    body = json.loads(answer.body)
    assert body == {"error": exc.code, "message": exc.public_message, "status": status}


def test_a_subclass_brings_its_own_row() -> None:
    # The shells and the table read the attributes: a new refusal needs no isinstance chain.
    class PaymentRequired(AuthenticationError):
        status_code = 402
        code = "payment_required"
        client_message = "Pay first."

    answer = error_response(PaymentRequired("details for the log"))
    assert answer.status == 402
    assert json.loads(answer.body) == {
        "error": "payment_required",
        "message": "Pay first.",
        "status": 402,
    }


def test_clients_are_told_only_what_they_can_act_on() -> None:
    # The detailed reason may name an ALB ARN or a key URL: it goes to the log only.
    detail = "signer arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/x/y"
    for cls in (InvalidTokenError, ExpiredTokenError, AccessDeniedError, KeysUnavailableError):
        assert detail not in error_response(cls(detail)).body.decode()
    # Except a missing header, whose name helps whoever set up the app.
    assert b"x-amzn-oidc-data" in error_response(MissingTokenError("x-amzn-oidc-data")).body
