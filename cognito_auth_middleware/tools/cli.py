"""The ``cognito-auth-middleware`` command: ``inspect``, ``emulate`` and ``demo``.

``cognito-auth-middleware inspect --request saved.txt`` decodes the identity headers of a saved
request (the ALB's, or with ``--provider verified-access`` Verified Access's; with ``--bearer``,
a machine client's ``Authorization: Bearer`` token) and checks them stage by stage against the
configuration (flags, or the ``COGNITO_AUTH_*`` environment), for debugging a real deployment.
It never prints a token.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from cognito_auth_middleware.core.headers import (
    ACCESS_TOKEN,
    IDENTITY,
    OIDC_DATA,
    VERIFIED_ACCESS_CONTEXT,
)
from cognito_auth_middleware.drivers.sync import Verifier
from cognito_auth_middleware.exceptions import ConfigurationError

from .diagnose import diagnose, read_saved_request, report

__all__ = ["main"]

_SETTINGS_FLAGS = (
    ("--alb-arn", "alb_arn", "ARN of the load balancer (repeatable)"),
    ("--user-pool-id", "user_pool_id", "the Cognito user pool id"),
    ("--client-id", "client_id", "the app client id (repeatable)"),
    ("--region", "region", "AWS region"),
    ("--alb-key-url", "alb_key_url", "base URL of the ALB public keys"),
    ("--jwks-url", "jwks_url", "URL of the JWKS (the pool's, or the provider's)"),
    ("--leeway", "leeway", "seconds of clock skew tolerated"),
    (
        "--issuer",
        "issuer",
        "the exact issuer (required for an OIDC provider other than Cognito; with "
        "verified-access, pins the trust provider's)",
    ),
    ("--access-token-kind", "access_token_kind", "cognito (default), jwt or opaque"),
    ("--audience", "audience", "with jwt: an accepted aud of the access token (repeatable)"),
    ("--groups-claim", "groups_claim", "the claim (or dotted path) listing the groups"),
    ("--subject-claim", "subject_claim", "with jwt: the access token's claim equal to sub"),
    ("--provider", "provider", "who signs the user's claims: alb (default) or verified-access"),
    (
        "--verified-access-instance-arn",
        "verified_access_instance_arn",
        "with verified-access: ARN of the Verified Access instance (repeatable)",
    ),
    (
        "--verified-access-key-url",
        "verified_access_key_url",
        "with verified-access: base URL of its public keys (default: the region's AWS endpoint)",
    ),
    (
        "--bearer-issuer",
        "bearer_issuer",
        "with --bearer: the exact iss of the machine clients' bearer tokens",
    ),
    (
        "--bearer-jwks-url",
        "bearer_jwks_url",
        "with --bearer: their JWKS (default: discovered from the bearer issuer)",
    ),
    (
        "--bearer-audience",
        "bearer_audience",
        "with --bearer: an accepted aud of bearer tokens (repeatable)",
    ),
    (
        "--bearer-client",
        "bearer_clients",
        "with --bearer: an admitted machine client id (repeatable)",
    ),
)
_REPEATABLE = (
    "alb_arn",
    "client_id",
    "audience",
    "verified_access_instance_arn",
    "bearer_audience",
    "bearer_clients",
)
#: Other spellings of a flag: the setting's own name, where the flag is singular.
_ALIASES = {"bearer_clients": ("--bearer-clients",)}


def _inspect_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "inspect",
        help="decode ALB (or Verified Access) headers and check each stage of the trust chain",
        description="Settings not given as flags come from COGNITO_AUTH_* variables.",
    )
    parser.add_argument("--request", metavar="FILE", help="a saved request ('-' for stdin)")
    parser.add_argument("--oidc-data", help="the x-amzn-oidc-data header value")
    parser.add_argument("--access-token", help="the x-amzn-oidc-accesstoken header value")
    parser.add_argument("--identity", help="the x-amzn-oidc-identity header value")
    parser.add_argument(
        "--user-context", help="the x-amzn-ava-user-context header value (Verified Access)"
    )
    parser.add_argument(
        "--bearer",
        nargs="?",
        const="true",
        metavar="BOOL",
        help="admit machine clients: a request with Authorization: Bearer and no identity "
        "headers gets the bearer token's checks (needs --bearer-issuer)",
    )
    for flag, dest, text in _SETTINGS_FLAGS:
        action = "append" if dest in _REPEATABLE else "store"
        parser.add_argument(flag, *_ALIASES.get(dest, ()), dest=dest, help=text, action=action)


def _inspect(args: argparse.Namespace) -> int:
    headers: dict[str, str] = {}
    if args.request:
        with open(args.request if args.request != "-" else 0, encoding="utf-8") as source:
            headers = read_saved_request(source.read())
    given = (
        (OIDC_DATA, args.oidc_data),
        (ACCESS_TOKEN, args.access_token),
        (VERIFIED_ACCESS_CONTEXT, args.user_context),
    )
    for name, value in given:
        if value:
            headers[name] = value
    if args.identity:
        headers[IDENTITY] = args.identity
    options = {dest: getattr(args, dest) for _, dest, _ in _SETTINGS_FLAGS}
    options["bearer"] = args.bearer
    try:
        verifier = Verifier(**{k: v for k, v in options.items() if v is not None})
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return 0 if report(diagnose(headers, verifier)) else 1
    finally:
        verifier.close()


def _emulate_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "emulate",
        help="run a local ALB emulator (reverse proxy adding signed headers) in front of an app",
    )
    parser.add_argument(
        "--upstream", required=True, help="the app's URL, e.g. http://127.0.0.1:8000"
    )
    parser.add_argument("--user", default="user@example.com", help="email of the signed-in user")
    parser.add_argument("--groups", default="", help="the user's groups, comma-separated")
    parser.add_argument("--name", default=None, help="the user's display name")
    parser.add_argument(
        "--host", default="127.0.0.1", help="localhost or a loopback address (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=9000, help="port to listen on (default 9000)")
    parser.add_argument(
        "--provider",
        choices=("alb", "verified-access"),
        default="alb",
        help="what to stand in for: the ALB (default) or AWS Verified Access",
    )
    parser.add_argument(
        "--trust-provider",
        choices=("oidc", "iam-identity-center"),
        default=None,
        help="with --provider verified-access: the user trust provider whose claim shape is "
        "signed (default oidc; iam-identity-center carries no groups)",
    )


def _emulate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from cognito_auth_middleware.testing import FakeIdentityProvider, FakeVerifiedAccess

    from .emulator import EmulatedUser, run

    if args.trust_provider is not None and args.provider != "verified-access":
        parser.error("--trust-provider applies to --provider verified-access only")
    idp = (
        FakeVerifiedAccess(args.trust_provider or "oidc")
        if args.provider == "verified-access"
        else FakeIdentityProvider()
    )
    groups = tuple(group.strip() for group in args.groups.split(",") if group.strip())
    user = EmulatedUser(args.user, groups, args.name)
    run(args.upstream, user, host=args.host, port=args.port, idp=idp)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cognito-auth-middleware`` command."""
    parser = argparse.ArgumentParser(prog="cognito-auth-middleware")
    commands = parser.add_subparsers(dest="command", required=True)
    _inspect_parser(commands)
    _emulate_parser(commands)
    commands.add_parser("demo", help="run the local demo (see the README's Quick start)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        from .demo import main as demo

        return demo(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return _emulate(args, parser) if args.command == "emulate" else _inspect(args)


if __name__ == "__main__":
    sys.exit(main())
