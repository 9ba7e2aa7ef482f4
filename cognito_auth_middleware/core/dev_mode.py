"""Dev mode: run an app locally without an ALB, as a mock user, without opening it up.

With ``COGNITO_AUTH_DEV_MODE=true`` a request that carries *neither* ALB header is served as
the mock user, but only when it is plainly local: the client is on a loopback address, the
``Host`` is a loopback name or address, and no forwarding header (``X-Forwarded-For``,
``Forwarded``, ``X-Real-IP``, ``X-Forwarded-Host``) is present. A dev-mode process reached from
elsewhere, or through a proxy (even one the server trusts, such as uvicorn with
``--forwarded-allow-ips='*'`` or werkzeug's ``ProxyFix``, which rewrite the client address from
those headers but leave the headers in place), refuses those requests exactly as if dev mode
were off, so a flag left on in production does not open the app. Headers that are present are
always verified.

Caution: a reverse proxy on the same host that adds no forwarding header makes every request
look local; never run dev mode behind one, and never in production.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

__all__ = [
    "is_loopback",
    "is_loopback_host",
    "local_client",
    "local_client_asgi",
    "local_client_environ",
]

# Their presence means a proxy handled the request: the peer address is then the proxy's.
_FORWARDING = ("x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host")
_FORWARDING_NAMES = frozenset(name.encode() for name in _FORWARDING)
_FORWARDING_KEYS = tuple("HTTP_" + name.upper().replace("-", "_") for name in _FORWARDING)


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a client address as the server saw it) is a loopback address."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_host(host: str | None) -> bool:
    """Whether a ``Host`` value (``name[:port]``, ``[v6]:port``) names this machine only.

    Example:
        >>> is_loopback_host("localhost:8000"), is_loopback_host("127.0.0.1.nip.io")
        (True, False)
    """
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, port = host[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return False
        port = port[1:]
    else:
        name, _, port = host.partition(":")
    if port and not (port.isascii() and port.isdigit()):
        return False
    return name == "localhost" or is_loopback(name)


def local_client_asgi(scope: Mapping[str, Any]) -> str | None:
    """The client address an ASGI request came from, if it is plainly local; else ``None``.

    ``None`` (never served the mock user) when a forwarding header is present or the ``Host``
    is not a loopback name or address. Only called when dev mode is on.
    """
    host = None
    for name, value in scope.get("headers", ()):
        if name in _FORWARDING_NAMES:
            return None
        if name == b"host":
            host = value.decode("latin-1")
    client = scope.get("client")
    return client[0] if client and is_loopback_host(host) else None


def local_client_environ(environ: Mapping[str, Any]) -> str | None:
    """The client address of a WSGI request if it is plainly local, as :func:`local_client_asgi`."""
    if any(key in environ for key in _FORWARDING_KEYS):
        return None
    address = environ.get("REMOTE_ADDR")
    return (
        address if isinstance(address, str) and is_loopback_host(environ.get("HTTP_HOST")) else None
    )


def local_client(headers: Mapping[str, str], client: str | None) -> str | None:
    """``client`` if a request with these headers is plainly local, as :func:`local_client_asgi`.

    Args:
        headers: The request's headers, by lower-case name (Streamlit's ``st.context.headers``).
        client: The client's address as the server saw it.
    """
    if any(name in headers for name in _FORWARDING):
        return None
    return client if is_loopback_host(headers.get("host")) else None
