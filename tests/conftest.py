"""Shared fixtures: a live server and boto3 clients that validate every response."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support.live_server import LiveServer
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
) -> Any:
    client = boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key="secret",
        config=Config(parameter_validation=validate_params, retries={"mode": "standard", "max_attempts": 1}),
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


@pytest.fixture
def fresh_data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
