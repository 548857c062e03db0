"""boto3 clients of the AWS services the server itself calls (SNS, Kinesis), one per region, made on first use.

The region is the one of the resource's ARN (a topic, a stream); the endpoint is the server's
`--sns-endpoint-url` / `--kinesis-endpoint-url` (AWS when None). Each client has its own Session, so
nothing is shared with boto3's default session, which is not thread-safe.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from .arns import region_of

DEFAULT_REGION = "us-east-1"  # for an ARN without one


class RegionalClients:
    """The `service` clients at `endpoint_url`, by region."""

    def __init__(self, service: str, endpoint_url: str | None) -> None:
        self.service, self.endpoint_url = service, endpoint_url
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def for_arn(self, arn: str) -> Any:
        """The client of the region `arn` names."""
        region = region_of(arn) or DEFAULT_REGION
        with self._lock:
            if region not in self._clients:
                config = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
                self._clients[region] = boto3.session.Session().client(
                    self.service, region_name=region, endpoint_url=self.endpoint_url, config=config
                )
            return self._clients[region]
