"""One boto3 Rekognition client for AWS or an on-prem rekog-compat server."""

from __future__ import annotations

import os
from typing import Any, Literal

import boto3
from botocore.config import Config

Target = Literal["local", "aws"]

DEFAULT_LOCAL_ENDPOINT = "http://127.0.0.1:9090"
DEFAULT_REGION = "us-east-1"
# rekog-compat reads the account from the access key: 12 digits are an account id.
LOCAL_DUMMY_KEY = "123456789012"
RETRIES = 5
"""botocore's `max_attempts` counts retries: 5 retries, 6 attempts in all."""
RETRY_CONFIG = {"mode": "standard", "max_attempts": RETRIES}


def connect(
    target: Target = "local",
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    *,
    config: Config | None = None,
    **client_kwargs: Any,
) -> Any:
    """A plain boto3 Rekognition client, nothing wrapped: the same code runs against either side.

    `local`: `endpoint_url` (default $REKOG_COMPAT_ENDPOINT_URL or http://127.0.0.1:9090),
    dummy credentials when none are configured. `aws`: the real service, credentials and
    region from the usual boto3 chain (or `profile`). Both use botocore's standard retry
    mode (5 retries), which retries throttling; `config` is merged over it.
    """
    retry = Config(retries=RETRY_CONFIG)
    merged = retry.merge(config) if config is not None else retry
    session = boto3.Session(profile_name=profile) if profile else boto3.Session()
    region = region or session.region_name or DEFAULT_REGION
    if target == "aws":
        return session.client("rekognition", region_name=region, endpoint_url=endpoint_url, config=merged,
                              **client_kwargs)
    if target != "local":
        raise ValueError(f"target must be 'local' or 'aws', not {target!r}")
    endpoint = endpoint_url or os.environ.get("REKOG_COMPAT_ENDPOINT_URL", DEFAULT_LOCAL_ENDPOINT)
    credentials = session.get_credentials()
    if credentials is None and "aws_access_key_id" not in client_kwargs:
        client_kwargs.update(aws_access_key_id=LOCAL_DUMMY_KEY, aws_secret_access_key="rekog-compat-local")
    return session.client("rekognition", region_name=region, endpoint_url=endpoint, config=merged, **client_kwargs)


def connect_s3(
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    *,
    config: Config | None = None,
) -> Any:
    """A boto3 S3 client, for putting videos where a server (or AWS) reads them.

    `endpoint_url` None: AWS's S3. Credentials from the usual chain (or `profile`); with none configured
    and a non-AWS endpoint (MinIO, moto...), the same dummy keys as `connect("local")`.
    """
    return _connect_service("s3", endpoint_url, region, profile, config)


def connect_kinesis(
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    *,
    config: Config | None = None,
) -> Any:
    """A boto3 Kinesis Data Streams client, for the streams stream processors write their records to.

    `endpoint_url` None: AWS's Kinesis. With a local server, give the Kinesis it writes to (its
    --kinesis-endpoint-url). Credentials as `connect_s3`: the usual chain, dummy keys for a non-AWS
    endpoint when none are configured.
    """
    return _connect_service("kinesis", endpoint_url, region, profile, config)


def _connect_service(
    service: str, endpoint_url: str | None, region: str | None, profile: str | None, config: Config | None
) -> Any:
    """A boto3 client of an AWS service beside Rekognition: the SDK's retries, the usual credential chain, and
    with none configured and a non-AWS endpoint (MinIO, moto...) the same dummy keys as `connect("local")`."""
    retry = Config(retries=RETRY_CONFIG)
    merged = retry.merge(config) if config is not None else retry
    session = boto3.Session(profile_name=profile) if profile else boto3.Session()
    region = region or session.region_name or DEFAULT_REGION
    keys: dict[str, str] = {}
    if endpoint_url and session.get_credentials() is None:
        keys = {"aws_access_key_id": LOCAL_DUMMY_KEY, "aws_secret_access_key": "rekog-compat-local"}
    return session.client(service, region_name=region, endpoint_url=endpoint_url, config=merged, **keys)
