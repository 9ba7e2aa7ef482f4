"""The verification core: the whole trust chain, with no I/O, no framework and no HTTP client.

``engine`` runs it as a generator that yields the key fetches it needs (see
:mod:`cognito_auth_middleware.drivers`, which perform them); ``tokens`` splits and decodes a
JWS, ``claims`` holds the checks of each token, ``keys`` and ``key_store`` parse and cache the
signing keys and decide when a fetch may happen (``throttle``), ``cache`` bounds every cache,
``headers`` and ``paths`` read requests, ``policy`` decides who is admitted, and ``dev_mode`` says
which requests are plainly local. Time is always passed in as ``now``.
"""
