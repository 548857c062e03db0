"""Shared fixtures: a live server and boto3 clients that validate every response."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from harness.live_server import LiveServer
from tests.support.s3 import FAKE_AWS_ENV, moto_s3_endpoint  # noqa: F401 (a fixture)
from tests.support.shape_validation import install_output_validation

ClientFactory = Callable[..., Any]

@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("data")).start()
    yield live
    live.stop()


@pytest.fixture(scope="session")
def validated_operations() -> list[str]:
    """Names of operations whose successful responses were checked against their output shape."""
    return []


def make_client(
    url: str,
    validated: list[str],
    access_key: str = "AKIDEXAMPLE",
    region: str = "us-east-1",
    validate_params: bool = False,
    verify: str | bool | None = None,
) -> Any:
    """A boto3 client on `url` that fails any answer outside its output shape; `verify`: a CA bundle for https."""
    client = boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key="secret",
        config=Config(parameter_validation=validate_params, retries={"mode": "standard", "max_attempts": 1}),
        verify=verify,
    )
    install_output_validation(client, validated)
    return client


@pytest.fixture
def client_for(server: LiveServer, validated_operations: list[str]) -> ClientFactory:
    """Build clients for any access key / region against the shared server."""

    def build(access_key: str = "AKIDEXAMPLE", region: str = "us-east-1", **kwargs: Any) -> Any:
        return make_client(server.url, validated_operations, access_key, region, **kwargs)

    return build


@pytest.fixture
def rekognition(client_for: ClientFactory, request: pytest.FixtureRequest) -> Any:
    """A client in an account of its own, so tests never see each other's collections."""
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()
    account = f"{int(digest, 16) % 10**12:012d}"
    return client_for(access_key=account)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory, moto_s3_endpoint: str) -> Iterator[LiveServer]:  # noqa: F811
    """A second live server that reads Image.S3Object from moto's real S3 server."""
    live = LiveServer(
        tmp_path_factory.mktemp("s3data"), "--s3-endpoint-url", moto_s3_endpoint, env=FAKE_AWS_ENV
    ).start()
    yield live
    live.stop()


@pytest.fixture
def s3_client(moto_s3_endpoint: str) -> Any:  # noqa: F811
    """A boto3 S3 client on moto's server, to put the objects the API tests read."""
    return boto3.client(
        "s3",
        endpoint_url=moto_s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def s3_rekognition(s3_server: LiveServer, validated_operations: list[str]) -> Any:
    return make_client(s3_server.url, validated_operations)
