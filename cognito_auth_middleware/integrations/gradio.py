"""Gradio integration: the verified user inside a Gradio event handler.

Gradio runs on FastAPI: mount the Blocks in a FastAPI app and put
:class:`~cognito_auth_middleware.CognitoAuthMiddleware` in front of it, so that the page, its
API calls and its queue are all verified. A handler that declares a ``gr.Request`` parameter then
gets the user with :func:`user_from_request`::

    def greet(name: str, request: gr.Request) -> str:
        return f"Hello {user_from_request(request).email}"

    app = FastAPI()
    app.add_middleware(CognitoAuthMiddleware)               # COGNITO_AUTH_* from the environment
    app = gr.mount_gradio_app(app, demo, path="/")

``gr.Request`` wraps the Starlette request of the HTTP call that started the event, and forwards
attribute access to it; the middleware stored the user in that request's ``state``.

Security: ``demo.launch()`` starts a server of Gradio's own that no middleware guards; serve the
mounted FastAPI app (``uvicorn module:app``) instead, reachable only through the ALB.
"""

from __future__ import annotations

try:
    import gradio
except ImportError as exc:  # pragma: no cover - exercised by a test that hides gradio
    raise ImportError(
        "cognito_auth_middleware.integrations.gradio needs Gradio: pip install gradio "
        "(or pip install 'cognito-auth-middleware[gradio]')"
    ) from exc

from cognito_auth_middleware.exceptions import MissingTokenError
from cognito_auth_middleware.user import User

__all__ = ["user_from_request"]


def user_from_request(request: gradio.Request) -> User:
    """The user ``CognitoAuthMiddleware`` verified for the request behind a Gradio event.

    Args:
        request: The ``gr.Request`` Gradio passes to a handler that declares one.

    Raises:
        MissingTokenError: the request carries no verified user (the middleware is not in
            front of the Gradio app, or the path is one of its ``exclude_paths``).

    Example:
        >>> def greet(name: str, request: gr.Request) -> str:        # doctest: +SKIP
        ...     return f"Hello {user_from_request(request).display_name}"
    """
    # ``gr.Request`` forwards ``state`` to the Starlette request it wraps.
    state = getattr(request, "state", None)
    user = getattr(state, "user", None)
    if not isinstance(user, User):
        raise MissingTokenError(
            "no verified sign-in for this Gradio request: put CognitoAuthMiddleware in front of "
            "the FastAPI app Gradio is mounted in"
        )
    return user
