"""The authorisation policy's sources, and its live reload, which never fails open.

A policy comes from the inline settings, or from exactly one source in the format of the
``cognito-auth`` library this package replaces: a JSON file (``config_path``), an AWS Secrets
Manager secret (``secret_name``) or an SSM Parameter Store parameter (``parameter_name``,
SecureString allowed). The AWS sources use boto3 (the ``aws`` extra) with its standard
credential chain, the settings' region, and boto3's own endpoint configuration
(``AWS_ENDPOINT_URL`` and friends).

The source is read once when the verifier is built: a source that cannot be read, or holds an
invalid policy, stops the app with a :class:`ConfigurationError` naming it (there is no
fallback policy). After that it is re-read every ``policy_refresh`` seconds, in the
background: a request that finds the policy due starts the re-read (in a thread; the async
driver runs that as a task on its event loop) and is decided, without waiting, by the policy in
force. A re-read that fails or finds an invalid policy keeps the last good one and logs a
WARNING with the reason; a valid one replaces it whole, and every decision cached under the
old one is made again at the user's next request.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from cognito_auth_middleware.core.engine import Engine
from cognito_auth_middleware.core.policy import MAX_DOCUMENT_BYTES, Policy
from cognito_auth_middleware.exceptions import ConfigurationError
from cognito_auth_middleware.settings import Settings

__all__ = [
    "FileSource",
    "ParameterSource",
    "PolicyReloader",
    "PolicySource",
    "SecretSource",
    "load_policy",
    "reload_policy",
    "source_for",
]

logger = logging.getLogger("cognito_auth_middleware")

# Seconds for each connect and read of an AWS call; a reload is in the background, but a
# start-up read that hangs would hang the app's start.
_AWS_TIMEOUT = 5.0


class PolicySource(Protocol):
    """Where a policy document is read from."""

    #: For messages: ``"file 'auth.json'"``, ``"Secrets Manager secret 'app/auth'"``.
    description: str

    def read(self) -> str | bytes:
        """The document's text; raises anything on failure (the reloader reports it)."""
        ...


class FileSource:
    """A JSON file on disk, read whole at each load.

    Args:
        path: The file (``config_path`` / ``COGNITO_AUTH_CONFIG_PATH``).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.description = f"file {path!r}"

    def read(self) -> bytes:
        """The file's bytes (one more than the cap at most, so that the cap is seen)."""
        with open(self.path, "rb") as file:
            return file.read(MAX_DOCUMENT_BYTES + 1)


def _aws_client(service: str, region: str) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigurationError(
            f"the authorisation policy is in AWS {service}, which needs boto3: "
            "pip install 'cognito-auth-middleware[aws]'"
        ) from None
    # A session of its own: boto3's default session is not safe to build clients from in
    # several threads at once.
    return boto3.session.Session().client(
        service,
        region_name=region,
        config=Config(
            connect_timeout=_AWS_TIMEOUT,
            read_timeout=_AWS_TIMEOUT,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )


class SecretSource:
    """An AWS Secrets Manager secret holding the JSON document (its string or binary value).

    Args:
        name: The secret's name or ARN (``secret_name`` / ``COGNITO_AUTH_SECRET_NAME``).
        region: The region to call.
    """

    def __init__(self, name: str, region: str) -> None:
        self.name = name
        self.description = f"Secrets Manager secret {name!r}"
        self._client = _aws_client("secretsmanager", region)

    def read(self) -> str | bytes:
        """The secret's current value."""
        response = self._client.get_secret_value(SecretId=self.name)
        value = response.get("SecretString")
        if value is None:
            value = response.get("SecretBinary")
        if not isinstance(value, str | bytes):
            raise ValueError("the secret has no value")
        return value


class ParameterSource:
    """An SSM Parameter Store parameter holding the JSON document (decrypted if SecureString).

    Args:
        name: The parameter's name or ARN (``parameter_name`` / ``COGNITO_AUTH_PARAMETER_NAME``).
        region: The region to call.
    """

    def __init__(self, name: str, region: str) -> None:
        self.name = name
        self.description = f"SSM parameter {name!r}"
        self._client = _aws_client("ssm", region)

    def read(self) -> str:
        """The parameter's current value."""
        response = self._client.get_parameter(Name=self.name, WithDecryption=True)
        value = response["Parameter"]["Value"]
        if not isinstance(value, str):
            raise ValueError("the parameter has no value")
        return value


def source_for(settings: Settings) -> PolicySource | None:
    """The policy source the settings name, or ``None`` for the inline rules.

    Raises:
        ConfigurationError: an AWS source without boto3 installed.
    """
    if settings.config_path is not None:
        return FileSource(settings.config_path)
    if settings.secret_name is not None:
        return SecretSource(settings.secret_name, settings.region)
    if settings.parameter_name is not None:
        return ParameterSource(settings.parameter_name, settings.region)
    return None


def _reason(exc: Exception) -> str:
    # boto3's and the file system's messages name the resource and the error, never a value.
    if isinstance(exc, ConfigurationError):  # boto3 is missing
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:300]


def load_policy(source: PolicySource) -> Policy:
    """Read and validate the policy in ``source`` once.

    Raises:
        ConfigurationError: it cannot be read (the reason from the file system or AWS), or
            holds an invalid policy; the message names the source.
    """
    try:
        text = source.read()
    except Exception as exc:  # noqa: BLE001 (the source's boundary: any failure is reported)
        raise ConfigurationError(
            f"cannot read the authorisation policy from {source.description}: {_reason(exc)}"
        ) from None
    return Policy.from_json(text, source.description)


_reloaders: weakref.WeakSet[PolicyReloader] = weakref.WeakSet()


class PolicyReloader:
    """Keeps an engine's policy current with its source; one per verifier.

    Args:
        settings: The settings naming the source and ``policy_refresh``.
        engine: The engine whose ``policy`` is replaced.
        clock: The verifier's clock (Unix time), for scheduling.

    Raises:
        ConfigurationError: the source cannot be read, or holds an invalid policy (at start-up);
            the message names the source.
    """

    def __init__(self, settings: Settings, engine: Engine, clock: Callable[[], float]) -> None:
        self.source = source_for(settings)
        self._engine = engine
        self._clock = clock
        self._refresh = settings.policy_refresh
        self._lock = threading.Lock()
        self._started = 0  # loads started, and the number of the last one applied
        self._applied = 0
        self._running = False
        #: When the next re-read is due (never, for inline rules or ``policy_refresh=0``).
        self.due_at = math.inf
        if self.source is None:
            return
        engine.policy = self._load()
        logger.info("authorisation policy loaded from %s", self.source.description)
        self._schedule()
        _reloaders.add(self)

    def _schedule(self) -> None:
        if self._refresh > 0:
            self.due_at = self._clock() + self._refresh

    def _load(self) -> Policy:
        assert self.source is not None
        return load_policy(self.source)

    def claim(self) -> bool:
        """Whether the caller should start the re-read that is due (one caller at a time)."""
        with self._lock:
            if self._running or self._clock() < self.due_at:
                return False
            self._running = True
            return True

    def reload(self, *, raise_errors: bool = False) -> bool:
        """Read the source now, and put a valid policy in force; blocking (run it off-loop).

        Args:
            raise_errors: Raise the failure instead of logging it (for :func:`reload_policy`).

        Returns:
            Whether the source was read and its policy is now in force.

        Raises:
            ConfigurationError: with ``raise_errors``, the reason the policy was kept.
        """
        if self.source is None:
            return True
        with self._lock:
            self._started += 1
            number = self._started
        try:
            policy = self._load()
        except ConfigurationError as exc:
            logger.warning("%s; the last good policy stays in force", exc)
            if raise_errors:
                raise
            return False
        else:
            with self._lock:
                # Two loads may overlap (a scheduled one and reload_policy()): the later wins.
                if number > self._applied:
                    self._applied = number
                    if policy != self._engine.policy:  # unchanged: cached decisions stay valid
                        self._engine.policy = policy
                        logger.info(
                            "authorisation policy reloaded from %s", self.source.description
                        )
            return True
        finally:
            # Only once the policy is in force: whoever sees the next re-read scheduled sees
            # the policy this one read.
            with self._lock:
                self._running = False
                self._schedule()


def reload_policy() -> None:
    """Re-read every policy source of this process now, without waiting for ``policy_refresh``.

    The counterpart of the ``cognito-auth`` library's ``Authoriser.clear_config_cache()``; it
    blocks while it reads, so from async code call it as ``await asyncio.to_thread(reload_policy)``.
    Every source is tried; one that fails keeps its last good policy.

    Raises:
        ConfigurationError: a source could not be read or held an invalid policy (the first
            such reason; all are logged).
    """
    failure: ConfigurationError | None = None
    for reloader in list(_reloaders):
        try:
            reloader.reload(raise_errors=True)
        except ConfigurationError as exc:
            failure = failure or exc
    if failure is not None:
        raise failure
