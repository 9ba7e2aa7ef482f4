"""The entry points of the ``cognito-auth`` library this package replaces, kept for migration.

Each class keeps that library's documented usage and runs this package's own middlewares and
helpers underneath (no second copy of any verification, policy or error logic); each call
emits a ``DeprecationWarning`` naming the call to move to (see MIGRATING.md)::

    from cognito_auth_middleware.integrations.compat import StreamlitAuth
    user = StreamlitAuth().get_auth_user()     # was: from cognito_auth.streamlit import ...

What differs on purpose: ``alb_arn`` (``COGNITO_AUTH_ALB_ARN``) is required, as everywhere in
this package; a refusal is the package's 401, 403 or 503 (a redirect to ``redirect_url`` only
for browsers, and only when one is given) instead of a redirect for everything; and
``bypass`` paths match with and without a trailing slash, as there, but nothing else does.
Frameworks are imported only by the method that needs them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

# At run time, not only for type checking: FastAPI reads the dependency's annotations.
from starlette.requests import Request

from cognito_auth_middleware.asgi import CognitoAuthMiddleware
from cognito_auth_middleware.core.policy import Policy
from cognito_auth_middleware.drivers.policy import load_policy, reload_policy, source_for
from cognito_auth_middleware.drivers.sync import Verifier, shared_verifier
from cognito_auth_middleware.exceptions import AccessDeniedError, ConfigurationError
from cognito_auth_middleware.settings import POLICY_SOURCES, Settings, SettingsOptions
from cognito_auth_middleware.user import User
from cognito_auth_middleware.wsgi import CognitoAuthWSGIMiddleware

if TYPE_CHECKING:
    from .flask import CognitoAuth as FlaskAuth

__all__ = ["Authoriser", "DashAuth", "FastAPIAuth", "GradioAuth", "StreamlitAuth"]

_UNSET: Any = object()  # "not given", as the library distinguished it from None


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"{old} is deprecated: use {new} (see MIGRATING.md)", DeprecationWarning, stacklevel=3
    )


class Authoriser:
    """``cognito-auth``'s ``Authoriser``, over this package's :class:`Policy`.

    Args:
        policy: The rules (build it with :meth:`from_lists` or :meth:`from_config`).
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    @classmethod
    def from_lists(
        cls,
        allowed_groups: Iterable[str] | None = None,
        allowed_users: Iterable[str] | None = None,
        require_all: bool = False,
        admin_groups: Iterable[str] | None = None,
        admin_users: Iterable[str] | None = None,
    ) -> Authoriser:
        """The rules given as lists, with the library's meaning (``require_all``: every rule).

        Raises:
            ConfigurationError: a user entry is malformed.
        """
        _deprecated(
            "Authoriser.from_lists()", "the allowed_groups/allowed_users/... settings keywords"
        )
        return cls(
            Policy(
                allowed_groups=tuple(allowed_groups or ()),
                allowed_users=tuple(allowed_users or ()),
                require_all=require_all,
                admin_groups=tuple(admin_groups or ()),
                admin_users=tuple(admin_users or ()),
                source="Authoriser.from_lists()",
            )
        )

    @classmethod
    def from_config(cls) -> Authoriser:
        """The rules of the source the environment names, read now.

        ``COGNITO_AUTH_CONFIG_PATH``, ``COGNITO_AUTH_SECRET_NAME`` (or, new here,
        ``COGNITO_AUTH_PARAMETER_NAME``). The middlewares read and re-read that source
        themselves; this reads it at each call.

        Raises:
            ConfigurationError: no source is named, or it cannot be read or is invalid.
        """
        _deprecated("Authoriser.from_config()", "the config_path/secret_name settings")
        source = source_for(Settings.load())
        if source is None:
            raise ConfigurationError(
                "Authoriser.from_config() needs COGNITO_AUTH_CONFIG_PATH, "
                "COGNITO_AUTH_SECRET_NAME or COGNITO_AUTH_PARAMETER_NAME"
            )
        return cls(load_policy(source))

    @staticmethod
    def clear_config_cache() -> None:
        """Re-read every policy source now.

        Raises:
            ConfigurationError: a source could not be read; its last good policy stays.
        """
        _deprecated("Authoriser.clear_config_cache()", "cognito_auth_middleware.reload_policy()")
        reload_policy()

    def is_authorised(self, user: User) -> bool:
        """Whether the rules admit ``user`` (admins always)."""
        _deprecated("Authoriser.is_authorised(user)", "the policy the middlewares apply")
        try:
            self.policy.decide(user)
        except AccessDeniedError:
            return False
        return True

    def options(self) -> SettingsOptions:
        """These rules as settings keywords (the "inline" policy source)."""
        policy = self.policy
        return {
            "allowed_groups": policy.allowed_groups,
            "allowed_users": policy.allowed_users,
            "require_all": policy.require_all or None,
            "required_groups": policy.required_groups,
            "admin_groups": policy.admin_groups,
            "admin_users": policy.admin_users,
        }


class _Auth:
    """The constructor every framework class of the library shared (its ``BaseAuth``).

    Args:
        authoriser: Rules to apply instead of the environment's; ``None`` for none at all
            (refused if the environment names rules or a source, which could not be honoured).
        redirect_url: Where to send browsers that are refused (the library's default page is
            not used: without it a refusal is this package's 401/403 page).
        region: The AWS region, if not derived from ``alb_arn``.

    Raises:
        ConfigurationError: the settings (with the environment) cannot be honoured.
    """

    def __init__(
        self,
        authoriser: Authoriser | None = _UNSET,
        redirect_url: str | None = None,
        region: str | None = None,
    ) -> None:
        options: SettingsOptions = {"redirect_url": redirect_url, "region": region}
        if isinstance(authoriser, Authoriser):
            options.update(authoriser.options())
        settings = Settings.for_middleware(**options)
        if authoriser is None and (
            Policy.from_settings(settings).has_rules
            or any(getattr(settings, name) for name in POLICY_SOURCES)
        ):
            raise ConfigurationError(
                "authoriser=None asks for no authorisation, but the environment configures "
                "rules (COGNITO_AUTH_ALLOWED_* or a policy source): unset them, or drop "
                "authoriser=None"
            )
        self.settings = settings
        self._options = {name: value for name, value in options.items() if value is not None}

    def _verifier(self) -> Verifier:
        return shared_verifier(**self._options)  # type: ignore[arg-type]

    def _protect_asgi(self, app: Any, bypass: Iterable[str] | None) -> None:
        # The library ignored a trailing slash when matching; this package matches exactly.
        bases = [path.rstrip("/") or "/" for path in bypass or ()]
        exclude = [*dict.fromkeys(f for b in bases for f in (b, b + "/") if f != "//")]
        app.add_middleware(CognitoAuthMiddleware, exclude_paths=exclude, **self._options)


class StreamlitAuth(_Auth):
    """``cognito-auth``'s ``StreamlitAuth``: ``StreamlitAuth().get_auth_user()``."""

    def get_auth_user(self) -> User:
        """The verified user; otherwise the refusal is shown and the script stops."""
        _deprecated(
            "StreamlitAuth().get_auth_user()",
            "cognito_auth_middleware.integrations.streamlit.require_user()",
        )
        from . import streamlit

        return streamlit.require_user(verifier=self._verifier())


class DashAuth(_Auth):
    """``cognito-auth``'s ``DashAuth``, for Dash and Flask apps."""

    def protect_app(self, app: Any) -> None:
        """Verify every request of a Dash app (its Flask server) or a Flask app."""
        _deprecated(
            "DashAuth().protect_app(app)",
            "app.server.wsgi_app = CognitoAuthWSGIMiddleware(app.server.wsgi_app)",
        )
        server = getattr(app, "server", app)  # a Dash app serves through its Flask app
        server.wsgi_app = CognitoAuthWSGIMiddleware(server.wsgi_app, **self._options)  # type: ignore[arg-type]

    def get_auth_user(self) -> User:
        """The verified user of the current request (verified here without ``protect_app``).

        Raises:
            AuthenticationError: a subclass (``AccessDeniedError`` where the library raised
                ``PermissionError``).
        """
        _deprecated(
            "DashAuth().get_auth_user()",
            "cognito_auth_middleware.integrations.flask.current_user()",
        )
        return self._flask().user()

    def require_auth(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: run the view only for a verified user."""
        _deprecated(
            "DashAuth().require_auth",
            "cognito_auth_middleware.integrations.flask.CognitoAuth().login_required",
        )
        return self._flask().login_required(func)

    def _flask(self) -> FlaskAuth:
        from .flask import CognitoAuth

        return CognitoAuth(verifier=self._verifier())


class FastAPIAuth(_Auth):
    """``cognito-auth``'s ``FastAPIAuth``: ``protect_app(app)`` and ``Depends(get_auth_user)``."""

    def protect_app(self, app: Any, bypass: Iterable[str] | None = None) -> None:
        """Put ``CognitoAuthMiddleware`` in front of ``app``, except on the ``bypass`` paths."""
        _deprecated(
            "FastAPIAuth().protect_app(app)",
            "app.add_middleware(CognitoAuthMiddleware, exclude_paths=[...])",
        )
        self._protect_asgi(app, bypass)

    async def get_auth_user(self, request: Request) -> User:
        """FastAPI dependency: the verified user (verified here without ``protect_app``).

        Raises:
            HTTPException: 401, 403 or 503 from the package's table.
        """
        _deprecated(
            "FastAPIAuth().get_auth_user",
            "cognito_auth_middleware.integrations.fastapi.CognitoAuth().user",
        )
        from .fastapi import CognitoAuth

        dependencies = getattr(self, "_dependencies", None)
        if dependencies is None:
            dependencies = self._dependencies = CognitoAuth(**self._options)  # type: ignore[arg-type]
        user: User = await dependencies.user(request)
        return user


class GradioAuth(_Auth):
    """``cognito-auth``'s ``GradioAuth``, for Gradio mounted in a FastAPI app."""

    def protect_app(self, app: Any, bypass: Iterable[str] | None = None) -> None:
        """Put ``CognitoAuthMiddleware`` in front of the FastAPI app Gradio is mounted in."""
        _deprecated(
            "GradioAuth().protect_app(app)",
            "app.add_middleware(CognitoAuthMiddleware, exclude_paths=[...])",
        )
        self._protect_asgi(app, bypass)

    def get_auth_user(self, request: Any) -> User:
        """The user the middleware verified for a Gradio event's ``gr.Request``.

        Raises:
            MissingTokenError: no middleware verified the request (standalone
                ``demo.launch()`` serves without one: mount the app in FastAPI).
        """
        _deprecated(
            "GradioAuth().get_auth_user(request)",
            "cognito_auth_middleware.integrations.gradio.user_from_request(request)",
        )
        from .gradio import user_from_request

        return user_from_request(request)
