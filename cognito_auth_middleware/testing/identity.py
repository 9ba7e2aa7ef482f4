"""A stand-in for the ALB and the Cognito user pool: real keys, real signatures."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from cognito_auth_middleware.core.headers import ACCESS_TOKEN, IDENTITY, OIDC_DATA

__all__ = [
    "DEFAULT_ALB_ARN",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_SUB",
    "DEFAULT_USER_POOL_ID",
    "DEFECTS",
    "FakeIdentityProvider",
]

DEFAULT_ALB_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/test-alb/0123456789abcdef"
)
DEFAULT_USER_POOL_ID = "eu-west-2_TestPool1"
DEFAULT_CLIENT_ID = "testclient0123456789"
DEFAULT_SUB = "11111111-2222-3333-4444-555555555555"
#: The defects :meth:`FakeIdentityProvider.broken_headers` can introduce.
DEFECTS = (
    "expired",
    "tampered",
    "wrong_signer",
    "wrong_client",
    "other_pool",
    "spliced",
    "id_token",
    "missing_access",
)


def _b64(data: bytes, *, padded: bool) -> str:
    text = base64.urlsafe_b64encode(data).decode("ascii")
    return text if padded else text.rstrip("=")


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _uint(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"), padded=False)


def _merge(base: dict[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Apply overrides; an override of ``None`` removes the field (for negative tests)."""
    for name, value in (overrides or {}).items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


class FakeIdentityProvider:
    """Holds an ALB signing key (EC P-256) and a Cognito signing key (RSA-2048) and mints tokens.

    ALB tokens are minted as the ALB does: base64url segments *with* ``=`` padding, signed over
    the padded text with a raw 64-byte ES256 signature. Access tokens are ordinary RS256 JWTs.

    Args:
        region: Region of the ALB and pool.
        user_pool_id: The pool id; the issuer is derived from it as Cognito does.
        client_id: The app client id put in ``client`` / ``client_id``.
        alb_arn: The ARN put in the ALB token's ``signer``.

    Example:
        >>> idp = FakeIdentityProvider()
        >>> headers = idp.headers(sub="alice-sub", email="alice@example.com", groups=["admins"])
        >>> sorted(headers)
        ['x-amzn-oidc-accesstoken', 'x-amzn-oidc-data', 'x-amzn-oidc-identity']
    """

    def __init__(
        self,
        *,
        region: str = "eu-west-2",
        user_pool_id: str = DEFAULT_USER_POOL_ID,
        client_id: str = DEFAULT_CLIENT_ID,
        alb_arn: str = DEFAULT_ALB_ARN,
    ) -> None:
        self.region = region
        self.user_pool_id = user_pool_id
        self.client_id = client_id
        self.alb_arn = alb_arn
        self.alb_kid = str(uuid.uuid4())
        self.alb_private_key = ec.generate_private_key(ec.SECP256R1())
        self.rsa_kid = base64.b64encode(uuid.uuid4().bytes).decode()
        self.rsa_private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def issuer(self) -> str:
        """The Cognito issuer URL of the pool."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    def alb_public_pem(self) -> bytes:
        """The ALB public key as the ALB key endpoint serves it (PEM)."""
        return self.alb_private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwks(self) -> dict[str, Any]:
        """The pool's JWKS document, as Cognito serves it."""
        numbers = self.rsa_private_key.public_key().public_numbers()
        key = {"alg": "RS256", "e": _uint(numbers.e), "kid": self.rsa_kid, "kty": "RSA"}
        return {"keys": [{**key, "n": _uint(numbers.n), "use": "sig"}]}

    def sign_alb(self, signing_input: bytes) -> bytes:
        """An ES256 signature in JWS form: raw ``r || s``, 32 bytes each."""
        r, s = decode_dss_signature(
            self.alb_private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        )
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def sign_access(self, signing_input: bytes) -> bytes:
        """An RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256)."""
        return self.rsa_private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())

    def sign_raw_alb(self, header: bytes, payload: bytes, *, padded: bool = True) -> str:
        """An ALB token over exactly these JSON bytes (any text: for hostile-input tests).

        Example:
            >>> idp = FakeIdentityProvider()
            >>> idp.sign_raw_alb(b'{"alg": "ES256"}', b' {"sub": null} ').count(".")
            2
        """
        signing_input = f"{_b64(header, padded=padded)}.{_b64(payload, padded=padded)}"
        signature = self.sign_alb(signing_input.encode("ascii"))
        return f"{signing_input}.{_b64(signature, padded=padded)}"

    def sign_raw_access(self, header: bytes, payload: bytes) -> str:
        """An access token over exactly these JSON bytes (any text: for hostile-input tests)."""
        signing_input = f"{_b64(header, padded=False)}.{_b64(payload, padded=False)}"
        signature = self.sign_access(signing_input.encode("ascii"))
        return f"{signing_input}.{_b64(signature, padded=False)}"

    def alb_fields(
        self, *, sub: str = DEFAULT_SUB, ttl: float = 120, now: float | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The header and payload fields of a valid ALB token, to alter before signing."""
        exp = int((time.time() if now is None else now) + ttl)
        header = {
            "typ": "JWT",
            "kid": self.alb_kid,
            "alg": "ES256",
            "iss": self.issuer,
            "client": self.client_id,
            "signer": self.alb_arn,
            "exp": exp,
        }
        payload = {"sub": sub, "email_verified": "true", "exp": exp, "iss": self.issuer}
        return header, payload

    def access_fields(
        self, *, sub: str = DEFAULT_SUB, ttl: float = 3600, now: float | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The header and payload fields of a valid access token, to alter before signing."""
        issued = time.time() if now is None else now
        payload = {
            "sub": sub,
            "iss": self.issuer,
            "client_id": self.client_id,
            "origin_jti": str(uuid.uuid4()),
            "token_use": "access",
            "scope": "openid email",
            "auth_time": int(issued),
            "exp": int(issued + ttl),
            "iat": int(issued),
            "jti": str(uuid.uuid4()),
            "username": sub,
        }
        return {"kid": self.rsa_kid, "alg": "RS256"}, payload

    def mint_alb_token(
        self,
        *,
        sub: str = DEFAULT_SUB,
        email: str | None = "user@example.com",
        username: str | None = None,
        name: str | None = None,
        ttl: float = 120,
        now: float | None = None,
        header: Mapping[str, Any] | None = None,
        claims: Mapping[str, Any] | None = None,
        padded: bool | None = None,
        groups: Iterable[str] | None = None,
    ) -> str:
        """An ``x-amzn-oidc-data`` value signed with the ALB key.

        Args:
            sub, email, username, name: Userinfo claims.
            ttl: Seconds until ``exp`` (negative for an expired token).
            now: The issuing time (defaults to the current time).
            header, claims: Fields to add or replace; ``None`` values remove a field.
            padded: Keep the ``=`` padding the real ALB emits (default: as the signer does).
            groups: Groups, where the provider's userinfo carries them (Cognito's does not:
                they travel in the access token).
        """
        fields, payload = self.alb_fields(sub=sub, ttl=ttl, now=now)
        payload = self.userinfo(
            payload, sub=sub, email=email, username=username, name=name, groups=groups
        )
        payload = {k: v for k, v in _merge(payload, claims).items() if v is not None}
        padded = self.padded if padded is None else padded
        return self.sign_raw_alb(_json(_merge(fields, header)), _json(payload), padded=padded)

    #: Whether the signer pads its base64url segments with ``=`` (the ALB does).
    padded = True

    def userinfo(
        self,
        payload: dict[str, Any],
        *,
        sub: str,
        email: str | None,
        username: str | None,
        name: str | None,
        groups: Iterable[str] | None,
    ) -> dict[str, Any]:
        """The signed claims' payload with the user's claims, as this provider shapes them."""
        return payload | {"email": email, "username": username or sub, "name": name}

    def mint_access_token(
        self,
        *,
        sub: str = DEFAULT_SUB,
        username: str | None = None,
        groups: Iterable[str] | None = None,
        ttl: float = 3600,
        now: float | None = None,
        header: Mapping[str, Any] | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """An ``x-amzn-oidc-accesstoken`` value signed with the pool's RSA key.

        Args:
            sub, username: Identity claims.
            groups: ``cognito:groups``; omitted when ``None``.
            ttl: Seconds until ``exp`` (negative for an expired token).
            now: The issuing time (defaults to the current time).
            header, claims: Fields to add or replace; ``None`` values remove a field.
        """
        fields, payload = self.access_fields(sub=sub, ttl=ttl, now=now)
        payload["username"] = username or sub
        if groups is not None:
            payload["cognito:groups"] = list(groups)
        return self.sign_raw_access(_json(_merge(fields, header)), _json(_merge(payload, claims)))

    def mint_machine_token(
        self,
        client_id: str = "machine-client-1",
        scopes: Iterable[str] = ("reports/read",),
        *,
        ttl: float = 3600,
        now: float | None = None,
        header: Mapping[str, Any] | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A machine client's bearer token, as the pool's client-credentials grant issues it.

        Args:
            client_id: The app client (``client_id``; also ``sub``).
            scopes: Granted scopes (``scope``, space-separated).
            ttl, now, header, claims: As for :meth:`mint_access_token`.
        """
        fields, payload = self.access_fields(sub=client_id, ttl=ttl, now=now)
        payload = self.machine_claims(payload, client_id, list(scopes))
        return self.sign_raw_access(_json(_merge(fields, header)), _json(_merge(payload, claims)))

    def machine_claims(
        self, payload: dict[str, Any], client_id: str, scopes: list[str]
    ) -> dict[str, Any]:
        """An access token's payload made a machine client's, as this provider shapes it."""
        for name in ("origin_jti", "username"):  # a person's, not a client's
            del payload[name]
        return payload | {"client_id": client_id, "scope": " ".join(scopes), "version": 2}

    def headers(
        self,
        *,
        sub: str = DEFAULT_SUB,
        email: str | None = "user@example.com",
        username: str | None = None,
        name: str | None = None,
        groups: Iterable[str] | None = None,
        ttl: float = 120,
        now: float | None = None,
    ) -> dict[str, str]:
        """The three headers the ALB would forward for this user."""
        return {
            OIDC_DATA: self.mint_alb_token(
                sub=sub, email=email, username=username, name=name, ttl=ttl, now=now, groups=groups
            ),
            ACCESS_TOKEN: self.mint_access_token(
                sub=sub, username=username, groups=groups, now=now
            ),
            IDENTITY: sub,
        }

    def broken_headers(self, defect: str, *, sub: str = DEFAULT_SUB, **user: Any) -> dict[str, str]:
        """Headers with one deliberate defect, for negative tests of a protected app.

        Args:
            defect: One of :data:`DEFECTS`: ``expired`` (ALB token expired an hour ago),
                ``tampered`` (payload changed after signing), ``wrong_signer`` (signed for
                another load balancer), ``wrong_client`` (another app client), ``other_pool``
                (issued by another user pool), ``spliced`` (another user's access token),
                ``id_token`` (``token_use: id``), ``missing_access`` (no access token).
            sub, **user: As for :meth:`headers`.

        Example:
            >>> FakeIdentityProvider().broken_headers("expired")["x-amzn-oidc-identity"]
            '11111111-2222-3333-4444-555555555555'
        """
        if defect not in DEFECTS:
            raise ValueError(f"unknown defect {defect!r}; known: {', '.join(DEFECTS)}")
        headers = self.headers(sub=sub, **user)
        alb: dict[str, Any] = {}
        access: dict[str, Any] = {}
        if defect == "expired":
            headers[OIDC_DATA] = self.mint_alb_token(sub=sub, ttl=-3600)
        elif defect == "tampered":
            head, payload, signature = headers[OIDC_DATA].split(".")
            claims = json.loads(base64.urlsafe_b64decode(payload))
            claims["email"] = "someone.else@example.com"
            headers[OIDC_DATA] = ".".join((head, _b64(_json(claims), padded=True), signature))
        elif defect == "wrong_signer":
            alb = {"header": {"signer": self.alb_arn.rsplit("/", 1)[0] + "/ffffffffffffffff"}}
        elif defect == "wrong_client":
            alb = {"header": {"client": "another-client"}}
            access = {"claims": {"client_id": "another-client"}}
        elif defect == "other_pool":
            other = self.issuer.rsplit("_", 1)[0] + "_OtherPool"
            alb = {"header": {"iss": other}, "claims": {"iss": other}}
            access = {"claims": {"iss": other}}
        elif defect == "spliced":
            headers[ACCESS_TOKEN] = self.mint_access_token(sub=sub + "-someone-else")
        elif defect == "id_token":
            access = {"claims": {"token_use": "id"}}
        elif defect == "missing_access":
            del headers[ACCESS_TOKEN]
        if alb:
            headers[OIDC_DATA] = self.mint_alb_token(sub=sub, **alb)
        if access:
            headers[ACCESS_TOKEN] = self.mint_access_token(sub=sub, **access)
        return headers
