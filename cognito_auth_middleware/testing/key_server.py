"""Serve an identity provider's public keys over real HTTP on loopback."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from .identity import FakeIdentityProvider
from .providers import FakeOidcProvider
from .verified_access import FakeVerifiedAccess

__all__ = ["KeyServer"]

_ALB_PREFIX = "/alb-keys/"
_JWKS_PATH = "/cognito/.well-known/jwks.json"
_OIDC_JWKS_PATH = "/oidc/keys"
_DISCOVERY = "/.well-known/openid-configuration"


class KeyServer:
    """An HTTP server on 127.0.0.1 standing in for the ALB key endpoint and the Cognito JWKS.

    ``GET /alb-keys/{kid}`` answers the ALB public key PEM (404 for any other kid) and
    ``GET /cognito/.well-known/jwks.json`` the JWKS. For a
    :class:`~cognito_auth_middleware.testing.FakeOidcProvider`, the provider's issuer moves
    onto this server (same path), which answers its discovery document at
    ``{issuer}/.well-known/openid-configuration`` and its JWKS at ``/oidc/keys``
    (:attr:`discovery_body` replaces the document). For a
    :class:`~cognito_auth_middleware.testing.FakeVerifiedAccess`, ``/alb-keys/{kid}`` serves
    its P-384 key. Every request path is recorded in
    :attr:`requests`. Tests can make it misbehave: :attr:`delay` seconds before answering,
    :attr:`status` to answer with another status code, :attr:`body` to answer other bytes
    (:attr:`jwks_body` for the JWKS only), :attr:`drip` to send the headers at once and then
    the body one byte every ``drip`` seconds (a server that never trips a per-read timeout).

    Args:
        idp: The identity provider whose keys to serve.
        port: 0 picks a free port.

    Example:
        >>> with KeyServer(FakeIdentityProvider()) as server:          # doctest: +SKIP
        ...     app.add_middleware(CognitoAuthMiddleware, **server.settings())
    """

    def __init__(self, idp: FakeIdentityProvider, *, port: int = 0) -> None:
        self.idp = idp
        self.requests: list[str] = []
        self.delay = 0.0
        self.drip = 0.0
        self.status: int | None = None
        self.body: bytes | None = None
        self.jwks_body: bytes | None = None
        self.discovery_body: bytes | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._discovery_path: str | None = None
        if isinstance(idp, FakeOidcProvider):
            path = urlsplit(idp.issuer).path
            idp.issuer = self.base_url + path
            self._discovery_path = path.rstrip("/") + _DISCOVERY
        self._httpd.daemon_threads = True
        # A short poll interval makes stop() quick (shutdown waits for the serving loop).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def alb_key_url(self) -> str:
        """The value for the ``alb_key_url`` setting."""
        return self.base_url + _ALB_PREFIX.rstrip("/")

    @property
    def jwks_url(self) -> str:
        """The value for the ``jwks_url`` setting (for another provider: its ``jwks_uri``)."""
        return self.base_url + (_OIDC_JWKS_PATH if self._discovery_path else _JWKS_PATH)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Middleware keywords that trust this provider and fetch keys from this server.

        For another OIDC provider, the JWKS URL is left to discovery.
        """
        if isinstance(self.idp, FakeOidcProvider):
            return {**self.idp.settings(), "alb_key_url": self.alb_key_url, **overrides}
        if isinstance(self.idp, FakeVerifiedAccess):
            key_url = {"verified_access_key_url": self.alb_key_url}
            return {**self.idp.settings(), **key_url, **overrides}
        return {
            "alb_arn": self.idp.alb_arn,
            "user_pool_id": self.idp.user_pool_id,
            "client_id": self.idp.client_id,
            "alb_key_url": self.alb_key_url,
            "jwks_url": self.jwks_url,
            **overrides,
        }

    def count(self, kind: str) -> int:
        """How many requests were made for ``"alb"`` keys, the ``"jwks"`` or ``"discovery"``."""
        prefix = {"alb": _ALB_PREFIX, "discovery": self._discovery_path or _DISCOVERY}.get(
            kind, urlsplit(self.jwks_url).path
        )
        with self._lock:
            return sum(path.startswith(prefix) for path in self.requests)

    def start(self) -> KeyServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> KeyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _answer(self, path: str) -> tuple[int, str, bytes]:
        with self._lock:
            self.requests.append(path)
        if self.delay:
            time.sleep(self.delay)
        if path.startswith(_ALB_PREFIX):
            found = path[len(_ALB_PREFIX) :] == self.idp.alb_kid
            status, content_type = (200, "application/x-pem-file") if found else (404, "text/plain")
            body = self.idp.alb_public_pem() if found else b"not found"
        elif path == urlsplit(self.jwks_url).path:
            body = self.jwks_body or json.dumps(self.idp.jwks()).encode()
            status, content_type = 200, "application/json"
        elif path == self._discovery_path and isinstance(self.idp, FakeOidcProvider):
            document = self.idp.discovery(self.base_url + _OIDC_JWKS_PATH)
            body = self.discovery_body or json.dumps(document).encode()
            status, content_type = 200, "application/json"
        else:
            status, content_type, body = 404, "text/plain", b"not found"
        if self.status is not None:
            status = self.status
        if self.body is not None:
            body = self.body
        return status, content_type, body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, content_type, body = server._answer(self.path)
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(ConnectionError):  # the client gave up
                    if not server.drip:
                        self.wfile.write(body)
                        return
                    for index in range(len(body)):  # headers are out: now drip the body
                        time.sleep(server.drip)
                        self.wfile.write(body[index : index + 1])

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler
