"""The two tiny apps that the end-to-end load benchmark (``benchmarks/load.py``) serves.

Each comes bare or protected, chosen by the ``BENCH_APP`` environment variable (``bare``, the
default, or ``protected``) when the app is built. The ASGI app also comes as ``es256``: the bare
app whose handler verifies the ALB token's ES256 signature with a preloaded key (from
``BENCH_ALB_KEY``, a PEM) and checks nothing else: the leanest server that verifies every new
token, which the protected one is measured against on fresh tokens. The protected variant is
configured only from the ``COGNITO_AUTH_*`` environment variables, as an app in production
would be::

    BENCH_APP=protected uvicorn --factory benchmarks.apps:asgi_app
    BENCH_APP=protected gunicorn 'benchmarks.apps:wsgi_app()'

Both answer ``GET /`` with a small JSON body: ``{"user": null}`` when bare, ``{"user": "<sub>"}``
when protected, the ``sub`` read from the verified user the middleware attached to the request.
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import Flask, jsonify
from flask import Response as FlaskResponse
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from benchmarks.common import es256_der, split_token
from cognito_auth_middleware import CognitoAuthMiddleware, CognitoAuthWSGIMiddleware, User, get_user

__all__ = ["KEY_ENV", "VARIANTS", "VARIANT_ENV", "asgi_app", "wsgi_app"]

VARIANT_ENV = "BENCH_APP"
KEY_ENV = "BENCH_ALB_KEY"
VARIANTS = ("bare", "protected", "es256")


def _variant() -> str:
    variant = os.environ.get(VARIANT_ENV, "bare")
    if variant not in VARIANTS:
        raise ValueError(f"{VARIANT_ENV} must be one of {VARIANTS}, not {variant!r}")
    return variant


# --- ASGI: Starlette, served by uvicorn ------------------------------------------------------


async def _asgi_bare(request: Request) -> JSONResponse:
    return JSONResponse({"user": None})


async def _asgi_protected(request: Request) -> JSONResponse:
    user: User = request.state.user
    return JSONResponse({"user": user.sub})


def _es256_handler(pem: str) -> Any:
    key = load_pem_public_key(pem.encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    ecdsa = ec.ECDSA(hashes.SHA256())

    async def es256(request: Request) -> JSONResponse:
        # One ES256 verify of the padded token as the ALB signed it; no claim is read.
        message, raw = split_token(request.headers.get("x-amzn-oidc-data", ""))
        try:
            key.verify(es256_der(raw), message, ecdsa)
        except InvalidSignature:
            return JSONResponse({"user": None}, status_code=401)
        return JSONResponse({"user": request.headers.get("x-amzn-oidc-identity")})

    return es256


def asgi_app() -> ASGIApp:
    """A one-route Starlette app; wrapped in ``CognitoAuthMiddleware`` when protected, or
    verifying the ALB token's signature alone in its handler (``es256``)."""
    variant = _variant()
    if variant == "bare":
        return Starlette(routes=[Route("/", _asgi_bare)])
    if variant == "es256":
        return Starlette(routes=[Route("/", _es256_handler(os.environ[KEY_ENV]))])
    return CognitoAuthMiddleware(Starlette(routes=[Route("/", _asgi_protected)]))


# --- WSGI: Flask, served by gunicorn ---------------------------------------------------------


def wsgi_app() -> Flask:
    """A one-route Flask app; its ``wsgi_app`` wrapped in the WSGI middleware when protected."""
    app = Flask("benchmarks.apps")
    if _variant() == "bare":

        @app.get("/")
        def bare() -> FlaskResponse:
            return jsonify(user=None)

    else:

        @app.get("/")
        def protected() -> FlaskResponse:
            user = get_user(flask_request.environ)
            return jsonify(user=None if user is None else user.sub)

        app.wsgi_app = CognitoAuthWSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app
