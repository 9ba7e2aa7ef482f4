"""An AWS-compatible API server on loopback (moto's standalone server), for boto3 to call.

The package's AWS sources use boto3 as deployed; the tests only point boto3's standard
endpoint setting (``AWS_ENDPOINT_URL``) at this server, with made-up credentials. Nothing is
patched: every call goes over HTTP to a server that implements Secrets Manager and SSM.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "eu-west-2"


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free port of 127.0.0.1; yields its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def point_boto3_at(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's standard environment: this endpoint, made-up keys, no other profile or role."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)


def client(service: str, endpoint: str, region: str = REGION) -> Any:
    """A boto3 client of the loopback server, for a test to arrange what AWS holds."""
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
