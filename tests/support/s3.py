"""A real S3 endpoint for tests: moto's threaded server on a free local port.

Use `moto_s3_server()` as a context manager (or wrap it in a session-scoped fixture) to get the
endpoint URL; `fake_aws_credentials(monkeypatch)` sets the dummy credentials boto3 needs to sign.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# Variables that would make boto3 pick up a real profile or session instead of the fake keys.
_UNSET = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """Run moto's server on 127.0.0.1 (ephemeral port) for the duration; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def moto_with_fake_credentials() -> Iterator[str]:
    """moto's server, with the dummy credentials in the environment while it runs (for a module's fixtures:
    its boto3 clients and the servers it starts sign with them)."""
    with pytest.MonkeyPatch.context() as patch:
        fake_aws_credentials(patch)
        with moto_s3_server() as url:
            yield url


def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region in the environment, so boto3 signs without touching real AWS config."""
    for name in _UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def moto_s3_endpoint() -> Iterator[str]:
    """Session-scoped endpoint URL of a moto S3 server (import this fixture into a conftest or test module)."""
    with moto_s3_server() as url:
        yield url
