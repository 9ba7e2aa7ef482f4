"""Real servers for end-to-end tests, in a thread on 127.0.0.1: uvicorn, and Werkzeug's."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp
from werkzeug.serving import make_server

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 10.0


def bind_loopback() -> socket.socket:
    """A listening-ready socket on a free port of 127.0.0.1 (know the port before serving)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted connections: without it, Nagle's algorithm and the client's delayed
    # ACK hold each response ~40 ms (uvicorn sets it only on sockets it binds itself).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve(app: ASGIApp, sock: socket.socket | None = None, **options: Any) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server in a thread; yield ``127.0.0.1:<port>``.

    The server keeps uvicorn's defaults (lifespan ``auto`` included), as users run it;
    ``options`` are further ``uvicorn.Config`` keywords (``forwarded_allow_ips="*"``, ...).
    """
    sock = sock or bind_loopback()
    address = f"127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        app, log_level="warning", timeout_graceful_shutdown=2, **{"lifespan": "auto", **options}
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn exited during startup")
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start")
            time.sleep(0.01)
        yield address
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not shut down"


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve a WSGI ``app`` with Werkzeug's threaded server; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _user_fields(user: Any) -> dict[str, Any]:
    return {"sub": user.sub, "email": user.email, "groups": list(user.groups)}


async def _asgi_whoami(request: Any) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse(_user_fields(request.state.user))


def _wsgi_whoami(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("content-type", "application/json")])
    return [json.dumps(_user_fields(environ["cognito_auth.user"])).encode()]


@contextmanager
def protected_app(middleware: str, options: dict[str, Any]) -> Iterator[httpx.Client]:
    """A client of an app behind one of the middlewares (``asgi``: uvicorn; ``wsgi``:
    Werkzeug's server), configured with ``options``; ``GET /`` answers the user's ``sub``,
    ``email`` and ``groups`` as JSON."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    from cognito_auth_middleware import CognitoAuthMiddleware, CognitoAuthWSGIMiddleware

    if middleware == "asgi":
        app = Starlette(routes=[Route("/", _asgi_whoami)])
        app.add_middleware(CognitoAuthMiddleware, **options)
        context = serve(app)
    else:
        context = serve_wsgi(CognitoAuthWSGIMiddleware(_wsgi_whoami, **options))
    with context as address:
        base = address if address.startswith("http") else f"http://{address}"
        with httpx.Client(base_url=base) as client:
            yield client
