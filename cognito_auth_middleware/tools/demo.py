"""A self-contained demo that needs no AWS: ``python -m cognito_auth_middleware.tools.demo``.

It starts, all on 127.0.0.1:

* a stand-in for the ALB public-key endpoint and the Cognito JWKS (real keys, real HTTP);
* a sample Starlette app behind ``CognitoAuthMiddleware``, configured to fetch keys from it;

then prints a ready ``curl`` command with freshly signed headers (valid for an hour) that returns
the demo user, and one without headers that is refused with 401. ``--check`` makes both requests
itself and exits non-zero unless they answer 200 and 401.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import socket
import sys
import threading
import time
from collections.abc import Iterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cognito_auth_middleware.asgi import CognitoAuthMiddleware
from cognito_auth_middleware.testing import FakeIdentityProvider, KeyServer
from cognito_auth_middleware.user import User

DEMO_SUB = "3f1e2d4c-5b6a-4789-8abc-def012345678"
DEMO_GROUPS = ("analysts", "admins")


async def whoami(request: Request) -> JSONResponse:
    user: User = request.state.user
    return JSONResponse(
        {
            "sub": user.sub,
            "username": user.username,
            "email": user.email,
            "name": user.name,
            "groups": list(user.groups),
        }
    )


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def build_app(key_server: KeyServer) -> CognitoAuthMiddleware:
    """The sample app, protected, trusting the local key server."""
    app = Starlette(routes=[Route("/", whoami), Route("/health", health)])
    return CognitoAuthMiddleware(app, **key_server.settings(exclude_paths=["/health"]))


def _free_port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _serve(app: CognitoAuthMiddleware, port: int) -> Iterator[str]:
    try:
        import uvicorn
    except ImportError:
        sys.exit("The demo needs uvicorn: pip install 'cognito-auth-middleware[test]'")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sys.exit(f"the demo app could not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def _curl(url: str, headers: dict[str, str]) -> str:
    parts = ["curl", "-s", "-i", url]
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    return " ".join(shlex.quote(part) for part in parts)


def _check(url: str, headers: dict[str, str]) -> bool:
    with httpx.Client(timeout=10) as client:
        signed_in = client.get(url + "/", headers=headers)
        anonymous = client.get(url + "/")
    print(f"with headers:    {signed_in.status_code} {signed_in.text}")
    print(f"without headers: {anonymous.status_code} {anonymous.text}")
    return signed_in.status_code == 200 and anonymous.status_code == 401


def main(argv: list[str] | None = None) -> int:
    """Run the demo until interrupted (or, with ``--check``, verify it and exit)."""
    parser = argparse.ArgumentParser(prog="python -m cognito_auth_middleware.tools.demo")
    parser.add_argument("--port", type=int, default=8000, help="app port (default 8000)")
    parser.add_argument("--check", action="store_true", help="make both requests and exit")
    args = parser.parse_args(argv)

    idp = FakeIdentityProvider()
    with KeyServer(idp) as key_server, _serve(build_app(key_server), _free_port(args.port)) as url:
        headers = idp.headers(
            sub=DEMO_SUB,
            email="alice@example.com",
            username="alice",
            name="Alice Example",
            groups=DEMO_GROUPS,
            ttl=3600,
        )
        if args.check:
            return 0 if _check(url, headers) else 1
        print(f"Stand-in ALB key endpoint and Cognito JWKS: {key_server.base_url}")
        print(f"Demo app (CognitoAuthMiddleware):           {url}\n")
        print("Signed in as the demo user (200, valid for an hour):\n")
        print(f"  {_curl(url + '/', headers)}\n")
        print("Without the ALB headers (401):\n")
        print(f"  curl -s -i {url}/\n")
        print("Press Ctrl+C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
