"""The two tiny apps that the end-to-end load benchmark (``benchmarks/load.py``) serves.

Each comes bare or protected, chosen by the ``BENCH_APP`` environment variable (``bare``, the
default, or ``protected``) when the app is built. The protected variant is configured only from
the ``COGNITO_AUTH_*`` environment variables, as an app in production would be::

    BENCH_APP=protected uvicorn --factory benchmarks.apps:asgi_app
    BENCH_APP=protected gunicorn 'benchmarks.apps:wsgi_app()'

Both answer ``GET /`` with a small JSON body: ``{"user": null}`` when bare, ``{"user": "<sub>"}``
when protected, the ``sub`` read from the verified user the middleware attached to the request.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify
from flask import Response as FlaskResponse
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from cognito_auth_middleware import CognitoAuthMiddleware, CognitoAuthWSGIMiddleware, User, get_user

__all__ = ["VARIANTS", "VARIANT_ENV", "asgi_app", "wsgi_app"]

VARIANT_ENV = "BENCH_APP"
VARIANTS = ("bare", "protected")


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


def asgi_app() -> ASGIApp:
    """A one-route Starlette app; wrapped in ``CognitoAuthMiddleware`` when protected."""
    if _variant() == "bare":
        return Starlette(routes=[Route("/", _asgi_bare)])
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
