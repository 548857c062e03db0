"""What the run would cost on each side: AWS bills image-bearing calls, a local server nothing.

A side is "AWS" when its endpoint's host is under amazonaws.com (or amazonaws.com.cn); any
other endpoint (rekog-compat, on-prem) costs 0. Every image-bearing call made counts, failed
ones included (AWS bills images it processed; counting them gives an upper bound).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from .workload import IMAGE_OPERATIONS, CallRecord

AWS_DOMAINS = ("amazonaws.com", "amazonaws.com.cn")


def is_aws_endpoint(endpoint_url: str) -> bool:
    """Whether an endpoint URL is Amazon's (host amazonaws.com or a subdomain of it)."""
    host = (urlparse(endpoint_url).hostname or "").lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in AWS_DOMAINS)


def side_cost(calls: Iterable[CallRecord], endpoint_url: str, price_per_image: float | None) -> dict[str, Any]:
    """Image-bearing calls per operation and their cost in USD for one side.

    `usd` is 0 for a local endpoint, calls × price for AWS, None for AWS without a price.
    """
    counts = Counter(call.operation for call in calls if call.operation in IMAGE_OPERATIONS)
    total = sum(counts.values())
    aws = is_aws_endpoint(endpoint_url)
    if not aws:
        usd: float | None = 0.0
    elif price_per_image is None:
        usd = None
    else:
        usd = total * price_per_image
    return {
        "endpoint": endpoint_url,
        "is_aws": aws,
        "image_calls": {op: counts.get(op, 0) for op in IMAGE_OPERATIONS},
        "total_image_calls": total,
        "usd": usd,
    }
