"""A bounded exponential backoff for throttling, on top of botocore's own retries.

`connect()` already uses botocore's standard retry mode (5 attempts, which retries throttling). A
bulk job that runs for hours against a provisioned TPS limit can still exhaust those attempts in a
burst; instead of failing the image, it waits longer and tries again, a bounded number of times.
Only throttling is retried here: every other error is final and goes straight back to the caller.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")

THROTTLING_CODES = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException"})
DEFAULT_MAX_RETRIES = 5
BASE_DELAY_S = 1.0
MAX_DELAY_S = 30.0


def is_throttling(error: BaseException) -> bool:
    """True for the Rekognition errors that mean "slow down", not "this request is wrong"."""
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in THROTTLING_CODES


def backoff_delay(retry: int, base: float = BASE_DELAY_S, cap: float = MAX_DELAY_S) -> float:
    """Seconds to wait before retry number `retry` (0-based): half of min(cap, base·2^retry) plus jitter up to it."""
    ceiling = min(cap, base * 2**retry)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def call_with_backoff(call: Callable[[], T], max_retries: int = DEFAULT_MAX_RETRIES) -> T:
    """`call()`, retried up to `max_retries` times while it raises a throttling error.

    The last throttling error is raised when the retries are spent; any other exception at once.
    """
    retry = 0
    while True:
        try:
            return call()
        except ClientError as error:
            if not is_throttling(error) or retry >= max_retries:
                raise
        time.sleep(backoff_delay(retry))
        retry += 1
