"""A stand-in for AWS Verified Access: the ``x-amzn-ava-user-context`` header, really signed."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from cognito_auth_middleware.core.headers import VERIFIED_ACCESS_CONTEXT

from .identity import DEFAULT_SUB, FakeIdentityProvider

__all__ = ["DEFAULT_INSTANCE_ARN", "FakeVerifiedAccess"]

DEFAULT_INSTANCE_ARN = (
    "arn:aws:ec2:eu-west-2:123456789012:verified-access-instance/vai-0123456789abcdef0"
)
_TRUST_PROVIDER_ARN = (
    "arn:aws:ec2:eu-west-2:123456789012:verified-access-trust-provider/vatp-0123456789abcdef0"
)
Shape = Literal["oidc", "iam-identity-center"]


class FakeVerifiedAccess(FakeIdentityProvider):
    """A Verified Access instance signing its user context (ES384, a P-384 key, kid a UUID).

    Two claim shapes, as AWS sends them: an OIDC trust provider's (``sub``, ``email``,
    ``email_verified``, ``groups``, and the IdP's own claims under ``additional_user_context``)
    and IAM Identity Center's (``user.user_id``, ``user.user_name``, ``user.email.address``,
    ``user.email.verified``; no groups). ``exp`` is in the header, 120 seconds after issue.
    Serve its key with :class:`~cognito_auth_middleware.testing.KeyServer`.

    Args:
        shape: ``oidc`` or ``iam-identity-center``.
        instance_arn: The ARN put in ``signer``.
        issuer: The header's ``iss`` (default: an OIDC issuer URL, or the trust provider's ARN
            for IAM Identity Center).

    Example:
        >>> ava = FakeVerifiedAccess()
        >>> list(ava.headers(email="ann@example.com"))
        ['x-amzn-ava-user-context']
    """

    def __init__(
        self,
        shape: Shape = "oidc",
        *,
        instance_arn: str = DEFAULT_INSTANCE_ARN,
        issuer: str | None = None,
        region: str = "eu-west-2",
    ) -> None:
        super().__init__(region=region)
        self.shape = shape
        self.instance_arn = instance_arn
        default = "https://idp.example.com" if shape == "oidc" else _TRUST_PROVIDER_ARN
        self._issuer = issuer or default
        self.alb_private_key = ec.generate_private_key(ec.SECP384R1())

    @property
    def issuer(self) -> str:
        """The ``iss`` of the header: the trust provider's issuer."""
        return self._issuer

    def sign_alb(self, signing_input: bytes) -> bytes:
        """An ES384 signature in JWS form: raw ``r || s``, 48 bytes each."""
        der = self.alb_private_key.sign(signing_input, ec.ECDSA(hashes.SHA384()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(48, "big") + s.to_bytes(48, "big")

    def alb_fields(
        self, *, sub: str = DEFAULT_SUB, ttl: float = 120, now: float | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The header and payload fields of a valid token, to alter before signing."""
        exp = int((time.time() if now is None else now) + ttl)
        header = {
            "alg": "ES384",
            "kid": self.alb_kid,
            "signer": self.instance_arn,
            "iss": self.issuer,
            "exp": exp,
        }
        return header, {"sub": sub}

    padded = False

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
        """The user context in this instance's claim shape."""
        if self.shape == "oidc":
            payload = payload | {"email": email, "email_verified": True, "name": name}
            payload["preferred_username"] = username
            if groups is not None:
                payload["groups"] = list(groups)
            payload["additional_user_context"] = {"sub": sub, "iss": self.issuer, "ver": "1.0"}
            return payload
        user: dict[str, Any] = {"user_id": sub, "user_name": username or "ann"}
        if email is not None:
            user["email"] = {"address": email, "verified": True}
        return {"user": user}

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
        """The one header Verified Access adds."""
        token = self.mint_alb_token(
            sub=sub, email=email, username=username, name=name, groups=groups, ttl=ttl, now=now
        )
        return {VERIFIED_ACCESS_CONTEXT: token}

    def settings(self) -> dict[str, Any]:
        """The settings that trust this instance (without the key URL; see ``KeyServer``)."""
        return {
            "provider": "verified-access",
            "verified_access_instance_arn": self.instance_arn,
            "issuer": self.issuer,
        }
