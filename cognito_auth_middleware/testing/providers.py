"""Stand-ins for OIDC providers other than Cognito behind the ALB: real keys, real signatures.

The ALB signs the user's claims the same way whoever the provider is; what differs is the
issuer, the userinfo claims, and the access token: a JWT signed with the provider's own keys
(Okta's custom authorisation servers, Entra ID for an app's own API, Keycloak, Auth0 with an
audience) or an opaque string (Google, Okta's org server, Auth0 without an audience).
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .identity import DEFAULT_ALB_ARN, DEFAULT_SUB, FakeIdentityProvider, _b64, _json, _merge, _uint

__all__ = ["PROVIDER_STYLES", "FakeOidcProvider", "SigningKey"]

Style = Literal["okta", "entra", "google", "keycloak"]
#: The providers :class:`FakeOidcProvider` can behave like.
PROVIDER_STYLES: tuple[Style, ...] = ("okta", "entra", "google", "keycloak")

_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
_ISSUERS: dict[Style, str] = {
    "okta": "https://dev-123456.okta.com/oauth2/default",
    "entra": f"https://login.microsoftonline.com/{_TENANT}/v2.0",
    "google": "https://accounts.google.com",
    "keycloak": "https://sso.example.com/realms/staff",
}


@dataclass(frozen=True)
class SigningKey:
    """One key of the provider's JWKS: its kid, algorithm and private key."""

    kid: str
    alg: Literal["RS256", "ES256"]
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, alg: Literal["RS256", "ES256"]) -> SigningKey:
        """A fresh key of ``alg`` (RSA-2048 or P-256) with a random kid."""
        if alg == "RS256":
            return cls(secrets.token_hex(8), alg, rsa.generate_private_key(65537, 2048))
        return cls(secrets.token_hex(8), alg, ec.generate_private_key(ec.SECP256R1()))

    def jwk(self) -> dict[str, Any]:
        """The public key as a JWKS entry."""
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            fields = {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
        else:
            point = public.public_numbers()
            fields = {
                "kty": "EC",
                "crv": "P-256",
                "x": _b64(point.x.to_bytes(32, "big"), padded=False),
                "y": _b64(point.y.to_bytes(32, "big"), padded=False),
            }
        return {**fields, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, signing_input: bytes) -> bytes:
        """A JWS signature: PKCS#1 v1.5 (RS256) or raw ``r || s`` (ES256)."""
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return self.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        der = self.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class FakeOidcProvider(FakeIdentityProvider):
    """An ALB in front of an OIDC provider other than Cognito, minting the headers it forwards.

    The ALB token is minted as for Cognito (padded ES256, the ALB's key), with the provider's
    issuer and userinfo claims. The access token depends on ``style``:

    * ``okta``: an RS256 JWT of a custom authorisation server: ``aud`` ``api://default``,
      ``cid`` (the client), ``uid`` (the user id, the userinfo ``sub``), ``sub`` (the login),
      ``scp`` and ``groups``;
    * ``entra``: an RS256 JWT of Entra ID (v2) for the app's own API: ``aud`` the client id,
      ``tid``, ``oid``, ``azp``, ``scp`` and ``roles``; :meth:`rotate_key` rolls its keys over;
    * ``keycloak``: an ES256 JWT with ``realm_access.roles`` and ``aud`` ``account``;
    * ``google``: an opaque access token (``ya29.`` and random text); the groups, if any, are
      a claim of the ALB token (a provider's userinfo may carry them).

    Serve its keys with :class:`~cognito_auth_middleware.testing.KeyServer`, which also
    answers its discovery document and moves :attr:`issuer` onto the server.

    Args:
        style: Which provider to behave like (:data:`PROVIDER_STYLES`).
        issuer: The issuer URL (default: one shaped like the real provider's).
        client_id: The ALB's client id at the provider.
        region, alb_arn: As for :class:`FakeIdentityProvider`.

    Example:
        >>> okta = FakeOidcProvider("okta")
        >>> okta.settings()["access_token_kind"], okta.settings()["subject_claim"]
        ('jwt', 'uid')
    """

    def __init__(
        self,
        style: Style = "okta",
        *,
        issuer: str | None = None,
        client_id: str = "0oa1b2c3d4e5f6g7h8i9",
        region: str = "eu-west-2",
        alb_arn: str = DEFAULT_ALB_ARN,
    ) -> None:
        if style not in PROVIDER_STYLES:
            raise ValueError(f"unknown style {style!r}; known: {', '.join(PROVIDER_STYLES)}")
        super().__init__(region=region, client_id=client_id, alb_arn=alb_arn)
        self.style = style
        self._issuer = issuer or _ISSUERS[style]
        self.keys = [SigningKey.generate("ES256" if style == "keycloak" else "RS256")]

    @property
    def issuer(self) -> str:
        """The provider's issuer URL."""
        return self._issuer

    @issuer.setter
    def issuer(self, value: str) -> None:
        self._issuer = value

    @property
    def opaque(self) -> bool:
        """Whether the access token is an opaque string."""
        return self.style == "google"

    @property
    def groups_claim(self) -> str:
        """Where this provider puts groups."""
        return {"entra": "roles", "keycloak": "realm_access.roles"}.get(self.style, "groups")

    @property
    def audience(self) -> str:
        """The ``aud`` of its access tokens."""
        return {"okta": "api://default", "entra": self.client_id}.get(self.style, "account")

    def settings(self) -> dict[str, Any]:
        """The provider settings that trust it (without the key URLs; see ``KeyServer``)."""
        options: dict[str, Any] = {
            "alb_arn": self.alb_arn,
            "client_id": self.client_id,
            "issuer": self.issuer,
            "access_token_kind": "opaque" if self.opaque else "jwt",
            "groups_claim": self.groups_claim,
        }
        if not self.opaque:
            options["audience"] = self.audience
        if self.style == "okta":
            options["subject_claim"] = "uid"
        return options

    def rotate_key(self, alg: Literal["RS256", "ES256"] | None = None) -> SigningKey:
        """Publish a new signing key next to the old ones and sign with it from now on."""
        key = SigningKey.generate(alg or self.keys[-1].alg)
        self.keys.append(key)
        return key

    def retire_key(self) -> None:
        """Stop publishing the oldest key (its tokens then no longer verify)."""
        if len(self.keys) > 1:
            self.keys.pop(0)

    def jwks(self) -> dict[str, Any]:
        """The provider's JWKS: every published key."""
        return {"keys": [key.jwk() for key in self.keys]}

    def discovery(self, jwks_uri: str) -> dict[str, Any]:
        """The provider's OpenID discovery document."""
        return {
            "issuer": self.issuer,
            "jwks_uri": jwks_uri,
            "authorization_endpoint": f"{self.issuer.rstrip('/')}/authorize",
            "token_endpoint": f"{self.issuer.rstrip('/')}/token",
            "id_token_signing_alg_values_supported": [self.keys[-1].alg],
        }

    def sign_access(self, signing_input: bytes) -> bytes:
        """A signature with the newest published key."""
        return self.keys[-1].sign(signing_input)

    def access_header(self) -> dict[str, Any]:
        """The JWS header of an access token signed with the newest key."""
        key = self.keys[-1]
        return {"typ": "JWT", "alg": key.alg, "kid": key.kid}

    def alb_fields(
        self, *, sub: str = DEFAULT_SUB, ttl: float = 120, now: float | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ALB token's header and the provider's userinfo claims."""
        header, payload = super().alb_fields(sub=sub, ttl=ttl, now=now)
        payload["email_verified"] = True  # JSON true, not Cognito's "true"
        return header, payload

    def access_fields(
        self, *, sub: str = DEFAULT_SUB, ttl: float = 3600, now: float | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The header and payload of a valid access token of this provider."""
        issued = int(time.time() if now is None else now)
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": issued,
            "nbf": issued,
            "exp": int(issued + ttl),
            "jti": str(uuid.uuid4()),
        }
        if self.style == "okta":
            payload |= {"ver": 1, "cid": self.client_id, "uid": sub, "sub": "ann@example.com"}
            payload["scp"] = ["openid", "email", "profile"]
        elif self.style == "entra":
            payload |= {"sub": sub, "tid": _TENANT, "oid": str(uuid.uuid4()), "ver": "2.0"}
            payload |= {"azp": self.client_id, "scp": "access_as_user"}
        else:
            payload |= {"sub": sub, "azp": self.client_id, "scope": "openid email profile"}
        return self.access_header(), payload

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
        """An access token of this provider: a JWT, or an opaque string for ``google``."""
        if self.opaque:
            return "ya29." + base64.urlsafe_b64encode(secrets.token_bytes(96)).decode().rstrip("=")
        fields, payload = self.access_fields(sub=sub, ttl=ttl, now=now)
        if username is not None:
            payload["preferred_username"] = username
        if groups is not None:
            if self.style == "keycloak":
                payload["realm_access"] = {"roles": list(groups)}
            else:
                payload[self.groups_claim] = list(groups)
        return self.sign_raw_access(_json(_merge(fields, header)), _json(_merge(payload, claims)))

    def machine_claims(
        self, payload: dict[str, Any], client_id: str, scopes: list[str]
    ) -> dict[str, Any]:
        """A client-credentials token of this provider (``sub`` is the client, as they set it).

        Okta: ``cid`` and ``scp`` (a list); Entra ID: ``azp``/``appid`` and ``roles``; others:
        ``azp`` and ``scope``.
        """
        if self.style == "okta":
            payload = payload | {"cid": client_id, "scp": scopes, "sub": client_id}
            payload.pop("uid", None)
        elif self.style == "entra":
            payload = payload | {"azp": client_id, "appid": client_id, "roles": scopes}
            payload.pop("scp", None)
        else:
            payload = payload | {"azp": client_id, "scope": " ".join(scopes)}
        return payload

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
        """The provider's userinfo: ``preferred_username``, and groups only for opaque tokens."""
        payload = payload | {"email": email, "preferred_username": username, "name": name}
        if groups is not None and self.opaque:  # else they travel in the access token
            payload[self.groups_claim] = list(groups)
        return payload
