"""The completion notice of a video job, published to its NotificationChannel's SNS topic with boto3.

The message is Rekognition's: JobId, Status, API, JobTag, Timestamp (ms since the epoch) and the
Video's bucket and name. The role in `RoleArn` is not assumed (the server publishes with its own
credentials, as any boto3 program does). A notice that cannot be published is logged; the job's
results are already stored, and Get* answers them either way.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..arns import region_of

log = logging.getLogger("rekog_compat.video")


def completion_message(job_id: str, status: str, api: str, request: dict[str, Any]) -> dict[str, Any]:
    video = request["Video"]["S3Object"]
    message: dict[str, Any] = {"JobId": job_id, "Status": status, "API": api}
    if "JobTag" in request:
        message["JobTag"] = request["JobTag"]
    message["Timestamp"] = int(time.time() * 1000)
    message["Video"] = {"S3ObjectName": video["Name"], "S3Bucket": video["Bucket"]}
    return message


class Notifier:
    """Publishes to SNS at `endpoint_url` (AWS when None); one client per topic region, made on first use."""

    def __init__(self, endpoint_url: str | None) -> None:
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                config = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
                self._clients[region] = boto3.session.Session().client(
                    "sns", region_name=region, endpoint_url=self.endpoint_url, config=config
                )
            return self._clients[region]

    def publish(self, topic_arn: str, message: dict[str, Any]) -> bool:
        """Publish `message` as JSON; False (and a log line) when SNS refuses it or cannot be reached."""
        try:
            self._client(region_of(topic_arn) or "us-east-1").publish(TopicArn=topic_arn, Message=json.dumps(message))
        except (BotoCoreError, ClientError, ValueError) as exc:
            log.error("job %s: the completion notice to %s was not published: %s", message["JobId"], topic_arn, exc)
            return False
        return True
