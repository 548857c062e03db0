"""Rekognition resource names."""

from __future__ import annotations

import re

from .store import Scope

_COLLECTION_ARN = re.compile(r"arn:aws:rekognition:([a-z0-9-]+):(\d{12}):collection/([a-zA-Z0-9_.\-]+)")


def collection_arn(scope: Scope, collection_id: str) -> str:
    return f"arn:aws:rekognition:{scope.region}:{scope.account}:collection/{collection_id}"


def parse_collection_arn(arn: str) -> tuple[Scope, str] | None:
    """The scope and id named by a collection ARN, or None if it is not one."""
    match = _COLLECTION_ARN.fullmatch(arn)
    if match is None:
        return None
    region, account, collection_id = match.groups()
    return Scope(account, region), collection_id


def region_of(arn: str) -> str | None:
    """The region field of any ARN (arn:partition:service:region:account:resource), if it has one."""
    parts = arn.split(":")
    return parts[3] or None if len(parts) >= 6 and parts[0] == "arn" else None


def stream_processor_arn(scope: Scope, name: str) -> str:
    return f"arn:aws:rekognition:{scope.region}:{scope.account}:streamprocessor/{name}"


def is_stream_processor_arn(arn: str) -> bool:
    return arn.startswith("arn:aws:rekognition:") and ":streamprocessor/" in arn
