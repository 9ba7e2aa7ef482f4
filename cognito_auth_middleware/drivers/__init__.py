"""The drivers: the only code that performs key fetches.

Each runs the core's :meth:`~cognito_auth_middleware.core.engine.Engine.authenticate` flow and
performs the fetches it yields: ``sync`` with ``httpx.Client`` (WSGI, scripts), ``aio`` with
``httpx.AsyncClient`` (ASGI); ``base`` holds what the two share.
"""
