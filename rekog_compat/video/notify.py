"""The completion notice of a video job, published to its NotificationChannel's SNS topic with boto3.

The message is Rekognition's: JobId, Status, API, JobTag, Timestamp (ms since the epoch) and the
Video's bucket and name. The role in `RoleArn` is not assumed (the server publishes with its own
credentials, as any boto3 program does). A notice that cannot be published is logged; the job's
results are already stored, and Get* answers them either way.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws_clients import RegionalClients

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
    """Publishes to SNS at `endpoint_url` (AWS when None), with a client of the topic's region."""

    def __init__(self, endpoint_url: str | None) -> None:
        self._sns = RegionalClients("sns", endpoint_url)

    def publish(self, topic_arn: str, message: dict[str, Any]) -> bool:
        """Publish `message` as JSON; False (and a log line) when SNS refuses it or cannot be reached."""
        try:
            self._sns.for_arn(topic_arn).publish(TopicArn=topic_arn, Message=json.dumps(message))
        except (BotoCoreError, ClientError, ValueError) as exc:
            log.error("job %s: the completion notice to %s was not published: %s", message["JobId"], topic_arn, exc)
            return False
        return True
