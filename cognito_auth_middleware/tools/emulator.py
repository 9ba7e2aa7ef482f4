"""A local stand-in for the ALB: ``cognito-auth-middleware emulate --upstream URL``.

It runs a reverse proxy on loopback in front of your app and does what the ALB does after a
sign-in: strips any ``x-amzn-oidc-*`` header the client sent and adds freshly signed ones for
the current user, for ordinary requests (bodies streamed both ways) and WebSockets. It also
serves the public keys your app must trust, so the app runs with real verification:

* ``/_emulator/sign-in``: a page to switch user and groups or sign out;
* ``/_emulator/logout``: a stand-in for the user pool's logout endpoint (``client_id`` and
  ``logout_uri``, as Cognito's), the other half of an app's sign-out (``logout_path``);
* ``/_emulator/alb-keys/{kid}`` and ``/_emulator/jwks.json``: the keys.

With ``--provider verified-access`` it stands in for AWS Verified Access instead (signing with
a :class:`~cognito_auth_middleware.testing.FakeVerifiedAccess`): each request gets one
``x-amzn-ava-user-context`` header (ES384, in the claim shape of an OIDC trust provider or of
IAM Identity Center, which carries no groups), the P-384 key is served at
``/_emulator/verified-access-keys/{kid}``, and there is no access token, JWKS or pool logout
endpoint. In either mode a client's own ``x-amzn-oidc-*`` and ``x-amzn-ava-*`` headers are
stripped, so neither kind can be forged through the emulator.

Like the ALB it keeps two sessions in the browser: the user pool's (the user chosen on the
sign-in page, or "signed out") and the ALB's own, ``AWSELBAuthSessionCookie-0`` and ``-1``
(split in two shards, as the ALB splits a large cookie, so that a sign-out is seen to expire
every shard). The ALB's session decides who a request is signed in as; without one, the pool's
does (the ALB would sign the user in again through the pool, silently); with neither, requests
go on without ALB headers.

Configure the app with the settings the command prints (``COGNITO_AUTH_ALB_ARN``,
``..._USER_POOL_ID``, ``..._CLIENT_ID``, ``..._ALB_KEY_URL``, ``..._JWKS_URL``; for Verified
Access ``..._PROVIDER``, ``..._VERIFIED_ACCESS_INSTANCE_ARN``, ``..._VERIFIED_ACCESS_KEY_URL``
and ``..._ISSUER``).

Warning: for local development only. Anyone who reaches the emulator can choose to be anyone, so
it is kept to a loopback tool: it listens on loopback only; it answers only requests whose
``Host`` is ``localhost``, ``127.x.x.x`` or ``[::1]`` (a page on any site can point its own name
at 127.0.0.1, DNS rebinding); it forwards only to the configured upstream, refusing any request
target that is not a plain ``/path``; and its sign-in and sign-out forms accept a POST only from
its own origin.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import json
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route, Router, WebSocketRoute, request_response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketClose

from cognito_auth_middleware.core.cache import BoundedCache
from cognito_auth_middleware.core.dev_mode import is_loopback, is_loopback_host
from cognito_auth_middleware.core.headers import ACCESS_TOKEN, IDENTITY, OIDC_DATA
from cognito_auth_middleware.testing import FakeIdentityProvider, FakeVerifiedAccess

__all__ = ["EmulatedUser", "Emulator"]

PREFIX = "/_emulator"
COOKIE = "cognito_emulator_user"  # the user pool's session
SIGNED_OUT = "signed-out"  # the cookie's value after a sign-out
ALB_COOKIE = "AWSELBAuthSessionCookie"  # the ALB's session, in shards ALB_COOKIE-0, -1
MAX_FORM_BYTES = 65536  # a sign-in form is a few hundred bytes; a larger body is refused (413)
# Identity headers only the emulator may set: a client's own are dropped in every mode, so an
# app configured for either provider never sees one the emulator did not sign.
_IDENTITY_PREFIXES = (b"x-amzn-oidc-", b"x-amzn-ava-")
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
_WS_HANDSHAKE = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-accept",
    }
)
# uvicorn adds its own Date and Server to every response; the upstream's would be duplicates.
_NOT_RETURNED = _HOP_BY_HOP | {"date", "server"}
# A request target the emulator forwards: one "/", then visible ASCII except backslash and "#",
# with well-formed %-escapes. Anything else (absolute or authority form, "*", "@host:port/x",
# "//host/x", backslashes, controls) could only be a mistake or an attempt to reach elsewhere.
_TARGET = re.compile(rb'/(?!/)(?:[!"$&-\[\]-~]|%[0-9A-Fa-f]{2})*')


@dataclass(frozen=True)
class EmulatedUser:
    """Who the emulator signs requests for."""

    email: str
    groups: tuple[str, ...] = ()
    name: str | None = None

    @property
    def sub(self) -> str:
        """A stable ``sub`` per email address, as Cognito keeps one per user."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{self.email.lower()}"))

    def to_cookie(self) -> str:
        """The user as a cookie value."""
        document = {"email": self.email, "groups": list(self.groups), "name": self.name}
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()

    @classmethod
    def from_cookie(cls, value: str) -> EmulatedUser | None:
        """The user stored by :meth:`to_cookie`, or ``None`` if the value is not one."""
        try:
            document = json.loads(base64.urlsafe_b64decode(value.encode()))
            groups = tuple(str(group) for group in document.get("groups") or ())
            return cls(str(document["email"]), groups, document.get("name"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def _request_target(scope: Scope) -> bytes:
    # uvicorn's raw_path (h11) is the request target as sent, up to "?", whatever its form.
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    return raw + b"?" + query if query else raw


def _refusal(scope: Scope) -> tuple[int, str] | None:
    """Why the emulator must not answer this request (status, message), or ``None``."""
    hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
    if len(hosts) != 1:
        return 400, "the emulator needs exactly one Host header"
    if not is_loopback_host(hosts[0]):
        # DNS rebinding: any site can resolve a name of its own to 127.0.0.1 and script it.
        loopback = "localhost, 127.x.x.x or [::1]"
        return 421, f"the emulator answers only for Host {loopback}, not {hosts[0]!r}"
    if not _TARGET.fullmatch(_request_target(scope)):
        return 400, "the emulator forwards only request targets of the form /path?query"
    return None


def _cross_site(request: Request) -> bool:
    """Whether a POST to the emulator's forms may come from a page other than its own."""
    headers = request.headers
    if headers.get("sec-fetch-site", "same-origin") != "same-origin":
        return True
    origin = headers.get("origin")
    if origin is None and "referer" in headers:
        referer = urlsplit(headers["referer"])
        origin = f"{referer.scheme}://{referer.netloc}"
    # The origin the browser addressed: the Host header, already known to be loopback.
    return origin is None or origin.lower() != f"http://{headers['host']}".lower()


async def _read_form(request: Request) -> dict[str, list[str]] | None:
    """The urlencoded form posted, or ``None`` if its body is over :data:`MAX_FORM_BYTES`."""
    with contextlib.suppress(ValueError):  # not a number: the count below still holds
        if int(request.headers.get("content-length", "0")) > MAX_FORM_BYTES:
            return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:  # chunked, or more than it declared
            return None
    return parse_qs(body.decode("utf-8", "replace"))


def _set_user_cookie(response: Response, value: str) -> Response:
    # Strict: the browser sends the cookie only with requests from the emulator's own origin.
    response.set_cookie(COOKIE, value, path="/", httponly=True, samesite="strict")
    return response


def _set_alb_session(response: Response, user: EmulatedUser | None) -> Response:
    """Start the ALB's session for ``user`` in two shards, or (``None``) expire both."""
    value = user.to_cookie() if user is not None else ""
    half = len(value) // 2
    for shard, part in enumerate((value[:half], value[half:])):
        # The attributes the ALB gives its cookie: Path=/, Secure, HttpOnly, no Domain.
        # Chromium keeps Secure cookies of http://127.0.0.1 and localhost.
        name = f"{ALB_COOKIE}-{shard}"
        if user is None:
            response.delete_cookie(name, path="/", secure=True, httponly=True)
        else:
            response.set_cookie(name, part, path="/", secure=True, httponly=True)
    return response


def _alb_session(connection: HTTPConnection) -> EmulatedUser | None:
    """The user of the ALB's session cookie (its shards joined), or ``None``."""
    shards = [connection.cookies.get(f"{ALB_COOKIE}-{shard}") for shard in (0, 1)]
    if not all(shards):
        return None
    return EmulatedUser.from_cookie("".join(shard or "" for shard in shards))


def _loopback_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and is_loopback_host(parts.netloc)


@dataclass
class Emulator:
    """The emulator as an ASGI app (serve it with uvicorn on 127.0.0.1).

    Args:
        upstream: Base URL of the protected app, e.g. ``http://127.0.0.1:8000``. Every request
            goes to its scheme, host and port (under its path, if it has one).
        user: Who is signed in until someone uses the sign-in page.
        public_url: The emulator's own base URL (for the key URLs it prints).
        idp: The keys to sign with (fresh ones by default). A
            :class:`~cognito_auth_middleware.testing.FakeVerifiedAccess` makes the emulator
            stand in for AWS Verified Access rather than the ALB.

    Raises:
        ValueError: ``upstream`` is not an http(s) URL without query or fragment.

    Example::

        uvicorn.run(Emulator("http://127.0.0.1:8000", EmulatedUser("a@example.com")), port=9000)
        # Verified Access, with an IAM Identity Center trust provider:
        Emulator(upstream, user, idp=FakeVerifiedAccess("iam-identity-center"))
    """

    upstream: str
    user: EmulatedUser
    public_url: str = "http://127.0.0.1:9000"
    idp: FakeIdentityProvider = field(default_factory=FakeIdentityProvider)

    def __post_init__(self) -> None:
        self.upstream = self.upstream.rstrip("/")
        parts = urlsplit(self.upstream)
        base_url = parts.hostname and not (parts.query or parts.fragment)
        if parts.scheme not in ("http", "https") or not base_url:
            raise ValueError(f"--upstream must be an http(s) base URL, got {self.upstream!r}")
        # Targets are built from these parsed parts, never by pasting strings onto a URL.
        self._upstream = httpx.URL(self.upstream)
        self._prefix = self._upstream.raw_path.rstrip(b"/")
        self._client: httpx.AsyncClient | None = None
        # Access tokens by user, with their expiry: RSA signing takes about a millisecond, so
        # one is minted per user and hour (as Cognito issues them), not per proxied request.
        self._access_tokens: BoundedCache[EmulatedUser, tuple[str, float]] = BoundedCache(64)
        not_found = PlainTextResponse("not found", 404)
        if isinstance(self.idp, FakeVerifiedAccess):
            # Verified Access signs the user's claims alone: no pool, so no JWKS and no logout.
            own = [Route(f"{PREFIX}/verified-access-keys/{{kid}}", self._alb_key)]
        else:
            own = [
                Route(f"{PREFIX}/logout", self._pool_logout, methods=["GET"]),
                Route(f"{PREFIX}/alb-keys/{{kid}}", self._alb_key),
                Route(f"{PREFIX}/jwks.json", self._jwks),
            ]
        self._router = Router(
            routes=[
                Route(f"{PREFIX}/sign-in", self._sign_in_page, methods=["GET"]),
                Route(f"{PREFIX}/sign-in", self._sign_in, methods=["POST"]),
                Route(f"{PREFIX}/sign-out", self._sign_out, methods=["POST"]),
                *own,
                # The rest of the prefix is the emulator's own and never reaches the app.
                Route(f"{PREFIX}/{{rest:path}}", not_found),  # an ASGI app: any method
                WebSocketRoute(f"{PREFIX}/{{rest:path}}", WebSocketClose(1008)),
                WebSocketRoute("/{path:path}", self._proxy_websocket),
                # A Mount, not a Route: a Route endpoint answers only the methods it lists.
                Mount("", request_response(self._proxy_http)),
            ],
            lifespan=self._lifespan,
        )

    @property
    def signer(self) -> str:
        """Who the emulator stands in for: ``ALB``, or ``Verified Access``."""
        return "Verified Access" if isinstance(self.idp, FakeVerifiedAccess) else "ALB"

    def app_settings(self) -> dict[str, str]:
        """The ``COGNITO_AUTH_*`` variables the protected app needs to trust this emulator."""
        if isinstance(self.idp, FakeVerifiedAccess):
            return {
                "COGNITO_AUTH_PROVIDER": "verified-access",
                "COGNITO_AUTH_VERIFIED_ACCESS_INSTANCE_ARN": self.idp.instance_arn,
                "COGNITO_AUTH_VERIFIED_ACCESS_KEY_URL": (
                    f"{self.public_url}{PREFIX}/verified-access-keys"
                ),
                "COGNITO_AUTH_ISSUER": self.idp.issuer,
            }
        return {
            "COGNITO_AUTH_ALB_ARN": self.idp.alb_arn,
            "COGNITO_AUTH_USER_POOL_ID": self.idp.user_pool_id,
            "COGNITO_AUTH_CLIENT_ID": self.idp.client_id,
            "COGNITO_AUTH_ALB_KEY_URL": f"{self.public_url}{PREFIX}/alb-keys",
            "COGNITO_AUTH_JWKS_URL": f"{self.public_url}{PREFIX}/jwks.json",
            # For a sign-out (the app's COGNITO_AUTH_LOGOUT_PATH): the stand-in logout endpoint.
            "COGNITO_AUTH_COGNITO_DOMAIN": f"{self.public_url}{PREFIX}",
            "COGNITO_AUTH_LOGOUT_URI": f"{self.public_url}{PREFIX}/sign-in",
        }

    def signed_headers(self, user: EmulatedUser) -> list[tuple[bytes, bytes]]:
        """ALB headers for ``user``: a freshly signed ALB token, the user's access token.

        For Verified Access, the one ``x-amzn-ava-user-context`` header (its groups only in
        the OIDC trust provider's shape: IAM Identity Center sends none).
        """
        now = time.time()
        if isinstance(self.idp, FakeVerifiedAccess):
            context = self.idp.headers(
                sub=user.sub,
                email=user.email,
                username=user.email,
                name=user.name,
                groups=list(user.groups),
                now=now,
            )
            return [(name.encode(), value.encode()) for name, value in context.items()]
        cached = self._access_tokens.get(user)
        if cached is None or cached[1] - now < 300:
            token = self.idp.mint_access_token(sub=user.sub, groups=list(user.groups), now=now)
            cached = (token, now + 3600)
            self._access_tokens.put(user, cached)
        alb = self.idp.mint_alb_token(sub=user.sub, email=user.email, name=user.name, now=now)
        headers = {OIDC_DATA: alb, ACCESS_TOKEN: cached[0], IDENTITY: user.sub}
        return [(name.encode(), value.encode()) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Raw ASGI on purpose, in front of the router: Host and request target are checked for
        # every request before any route is chosen, and the target as sent is only in
        # scope["raw_path"] (a Request offers the decoded path and a rebuilt URL).
        refusal = _refusal(scope) if scope["type"] in ("http", "websocket") else None
        if refusal is None:
            await self._router(scope, receive, send)
        elif scope["type"] == "websocket":
            await WebSocketClose(1008)(scope, receive, send)
        else:
            await PlainTextResponse(refusal[1], refusal[0])(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _router: Router) -> AsyncIterator[None]:
        self._client = _upstream_client()
        try:
            yield
        finally:
            await self._client.aclose()

    def _current_user(self, connection: HTTPConnection) -> EmulatedUser | None:
        """Who a request is signed in as: the ALB's session, else the pool's; ``None``: nobody."""
        return _alb_session(connection) or self._pool_user(connection)

    def _pool_user(self, connection: HTTPConnection) -> EmulatedUser | None:
        """The pool's session: the cookie's user, ``None`` after a sign-out, else the default."""
        cookie = connection.cookies.get(COOKIE)
        if cookie == SIGNED_OUT:
            return None
        return (EmulatedUser.from_cookie(cookie) if cookie else None) or self.user

    def _forward_headers(
        self, connection: HTTPConnection, *, websocket: bool = False
    ) -> list[tuple[bytes, bytes]]:
        dropped = _HOP_BY_HOP | (_WS_HANDSHAKE if websocket else frozenset())
        kept = [
            (name, value)
            for name, value in connection.headers.raw
            if not name.startswith(_IDENTITY_PREFIXES) and name.decode("latin-1") not in dropped
        ]
        if connection.client:
            kept.append((b"x-forwarded-for", connection.client.host.encode()))
        kept.append((b"x-forwarded-proto", b"http"))
        user = self._current_user(connection)
        # Signed out: the request goes on without identity headers, as the ALB's
        # on-unauthenticated=allow would send it.
        return kept + (self.signed_headers(user) if user is not None else [])

    def _target(self, scope: Scope, *, websocket: bool = False) -> str:
        url = self._upstream.copy_with(raw_path=self._prefix + _request_target(scope))
        if websocket:
            url = url.copy_with(scheme="wss" if url.scheme == "https" else "ws")
        return str(url)

    async def _proxy_http(self, request: Request) -> Response:
        if self._client is None:  # served without lifespan events
            self._client = _upstream_client()
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        upstream = self._client.build_request(
            request.method,
            self._target(request.scope),
            headers=self._forward_headers(request),
            content=request.stream() if has_body else None,
        )
        try:
            response = await self._client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            return PlainTextResponse(f"the emulator cannot reach {self.upstream}: {exc}", 502)
        except ClientDisconnect:  # gone mid-upload: nobody to answer
            return Response(status_code=400)
        proxied = StreamingResponse(
            response.aiter_raw(), response.status_code, background=BackgroundTask(response.aclose)
        )
        # Set as a list: a mapping would fold repeated headers (Set-Cookie) into one.
        proxied.raw_headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers.multi_items()
            if name.lower() not in _NOT_RETURNED
        ]
        return proxied

    async def _proxy_websocket(self, websocket: WebSocket) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus

        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in self._forward_headers(websocket, websocket=True)
        ]
        try:
            upstream = await connect(
                self._target(websocket.scope, websocket=True),
                additional_headers=headers,
                proxy=None,
            )
        except InvalidStatus as exc:
            # The app refused the handshake (as the middleware does without valid headers).
            await websocket.close(1008 if exc.response.status_code in (401, 403) else 1011)
            return
        except (OSError, TimeoutError):
            await websocket.close(1011)
            return
        await websocket.accept()

        async def client_to_upstream() -> None:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    await upstream.close()
                    return
                data = message.get("text")
                await upstream.send(data if data is not None else message.get("bytes") or b"")

        async def upstream_to_client() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for data in upstream:
                    if isinstance(data, str):
                        await websocket.send_text(data)
                    else:
                        await websocket.send_bytes(data)
            await websocket.close(upstream.close_code or 1000)

        tasks = [
            asyncio.ensure_future(client_to_upstream()),
            asyncio.ensure_future(upstream_to_client()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await upstream.close()

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse(self.idp.jwks())

    async def _alb_key(self, request: Request) -> Response:
        if request.path_params["kid"] != self.idp.alb_kid:
            return PlainTextResponse("no such key", 404)
        return Response(self.idp.alb_public_pem(), media_type="application/x-pem-file")

    async def _sign_in_page(self, request: Request) -> Response:
        page = _sign_in_page(self._current_user(request), self.user, self.upstream, self._mode())
        return HTMLResponse(page)

    def _mode(self) -> _Mode:
        if not isinstance(self.idp, FakeVerifiedAccess):
            return _Mode("ALB", "ALB headers", groups=True)
        oidc = self.idp.shape == "oidc"
        trust = "an OIDC trust provider" if oidc else "IAM Identity Center"
        return _Mode(f"Verified Access ({trust})", "a Verified Access user context", groups=oidc)

    async def _sign_in(self, request: Request) -> Response:
        if _cross_site(request):
            return _FOREIGN_POST
        fields = await _read_form(request)
        if fields is None:
            return PlainTextResponse(f"the sign-in form takes at most {MAX_FORM_BYTES} bytes", 413)
        email = (fields.get("email") or [""])[0].strip()
        if "@" not in email:
            return PlainTextResponse("an email address is required", 400)
        groups = tuple(g.strip() for g in (fields.get("groups") or [""])[0].split(",") if g.strip())
        name = (fields.get("name") or [""])[0].strip() or None
        user = EmulatedUser(email, groups, name)
        # Signed in at the pool, then at the ALB (its /oauth2/idpresponse sets its cookie).
        response = _set_user_cookie(RedirectResponse("/", 303), user.to_cookie())
        return _set_alb_session(response, user)

    async def _sign_out(self, request: Request) -> Response:
        if _cross_site(request):
            return _FOREIGN_POST
        response = _set_user_cookie(RedirectResponse(f"{PREFIX}/sign-in", 303), SIGNED_OUT)
        return _set_alb_session(response, None)

    async def _pool_logout(self, request: Request) -> Response:
        """Cognito's ``/logout``: end the pool's session and go to ``logout_uri``."""
        client_id = request.query_params.get("client_id")
        logout_uri = request.query_params.get("logout_uri", "")
        if client_id != self.idp.client_id:
            return PlainTextResponse("invalid client_id", 400)
        if not _loopback_url(logout_uri):
            # Cognito accepts only sign-out URLs registered on the client; here, local ones.
            return PlainTextResponse("logout_uri must be an http(s) URL on this machine", 400)
        # The ALB's cookie is the app's to expire; the pool ends only its own session.
        return _set_user_cookie(RedirectResponse(logout_uri, 302), SIGNED_OUT)


# Without this any page the browser opens could sign it in as someone else.
_FOREIGN_POST = PlainTextResponse("the emulator's forms accept only posts from its own pages", 403)


def _upstream_client() -> httpx.AsyncClient:
    # Like the ALB: a bounded connect, and an idle read timeout of 60 s (its default).
    return httpx.AsyncClient(timeout=httpx.Timeout(60, connect=10), follow_redirects=False)


@dataclass(frozen=True)
class _Mode:
    """What the sign-in page says the emulator stands in for and signs."""

    title: str
    headers: str
    groups: bool  # whether the signed headers carry the groups


def _sign_in_page(
    user: EmulatedUser | None, default: EmulatedUser, upstream: str, mode: _Mode
) -> str:
    value = html.escape
    if user is None:
        status = f"""<strong id=current>Signed out</strong>: requests are forwarded to
<code>{value(upstream)}</code> without {mode.headers}.</p>"""
    else:
        status = f"""Signed in as <strong id=current>{value(user.email)}</strong>
(groups: <span id=current-groups>{value(", ".join(user.groups) or "none")}</span>).
Requests are forwarded to <code>{value(upstream)}</code> with freshly signed {mode.headers}.</p>
<form method=post action="{PREFIX}/sign-out">
<p><button type=submit id=sign-out>Sign out</button></p>
</form>"""
    shown = user or default
    no_groups = "" if mode.groups else " (IAM Identity Center sends no groups: not signed)"
    return f"""<!doctype html><html lang=en><meta charset=utf-8>
<title>{mode.title} emulator: sign in</title>
<body style="font-family:system-ui,sans-serif;max-width:36em;margin:3em auto">
<h1>{mode.title} emulator</h1>
<p>{status}
<form method=post action="{PREFIX}/sign-in">
<p><label>Email <input name=email id=email value="{value(shown.email)}" required></label></p>
<p><label>Name <input name=name id=name value="{value(shown.name or "")}"></label></p>
<p><label>Groups (comma-separated){no_groups}
<input name=groups id=groups value="{value(", ".join(shown.groups))}"></label></p>
<p><button type=submit id=sign-in>Sign in</button></p>
</form>
<p><a href="/">Go to the app</a></p>
</body></html>"""


def run(
    upstream: str,
    user: EmulatedUser,
    *,
    host: str = "127.0.0.1",
    port: int = 9000,
    idp: FakeIdentityProvider | None = None,
) -> None:
    """Serve the emulator on a loopback address until interrupted, printing the app's settings.

    ``host`` is ``localhost`` or a loopback address (``127.0.0.1``, ``::1``); ``idp`` as for
    :class:`Emulator` (a ``FakeVerifiedAccess`` for Verified Access).
    """
    host = host.strip("[]")
    if not (host.lower() == "localhost" or is_loopback(host)):
        raise SystemExit(f"the emulator only listens on loopback addresses, not {host!r}")
    try:
        import uvicorn
    except ImportError:
        raise SystemExit(
            "the emulator needs uvicorn and websockets: pip install uvicorn websockets"
        ) from None
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    try:
        emulator = Emulator(upstream, user, public_url=base, idp=idp or FakeIdentityProvider())
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    print(f"{emulator.signer} emulator on {base} -> {upstream}")
    print(f"Sign in / switch user: {base}{PREFIX}/sign-in")
    if isinstance(emulator.idp, FakeVerifiedAccess) and emulator.idp.shape != "oidc":
        print("IAM Identity Center sends no groups: the user's groups are not signed")
    print("Start your app with:")
    for name, value in emulator.app_settings().items():
        print(f"  export {name}={value}")
    sys.stdout.flush()  # a pipe or a log file gets the settings now, not when the server exits
    # h11 hands over the whole request target as raw_path, so odd forms can be refused.
    uvicorn.run(emulator, host=host, port=port, log_level="warning", lifespan="on", http="h11")
