"""Overload: a bounded queue in front of the app, and ThrottlingException beyond it.

At most `max_concurrent` requests run in the app at once and up to `max_queue` more wait for a place,
first come first served; a request beyond that is answered at once with AWS's ThrottlingException,
which every AWS SDK retries with backoff. Without this, a burst would wait in the WSGI server's own,
unbounded queue until the clients time out, and every later request with it. The WSGI server is given
one thread per running or waiting request plus a few (`ServerConfig.server_threads`), so that the
waiting happens here. Under gunicorn every worker has its own admission: the limits are per worker.

The throttled answer is written without touching the request body: the app never reads it (the
server may still discard it from the connection, as it does for any unread body).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import ThrottlingException
from .http_refusals import refusal

log = logging.getLogger("rekog_compat")

ENVIRON_KEY = "rekog_compat.admission"
"""Where the app finds the admission, to report the load in /health."""

EXEMPT_PATHS = frozenset({"/health"})
"""Answered without waiting or throttling: a load balancer's or orchestrator's health probe must not
see a busy server as a dead one (and restart it, which makes the overload worse). /health is cheap."""

WARN_EVERY_S = 10.0

# Rekognition documents ThrottlingException both as 400 "Slow down" and as 500 "Service Unavailable".
# 500 it is: the service model marks ThrottlingException as a server fault, errors.ThrottlingException
# already says 500, and botocore retries it in every mode: standard and adaptive mode (the default of
# current botocore) both for its code (a throttling error, which adaptive mode also feeds to its
# client-side rate limiter) and for its status (a transient 500); legacy mode (the default of older
# botocore) for its status, a general server error. Any other HTTP client that knows nothing of AWS
# codes also takes a 500 as "not your fault, retry later".
THROTTLED = ThrottlingException()


class Admission:
    """WSGI middleware: a bounded number of requests in `app`, a bounded queue, throttling beyond."""

    def __init__(self, app: Callable[..., Iterable[bytes]], max_concurrent: int, max_queue: int) -> None:
        if max_concurrent < 1 or max_queue < 0:
            raise ValueError("max_concurrent must be at least 1 and max_queue at least 0")
        self.app = app
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self.running = 0  # requests holding a place (in the app, or handed one and about to wake up)
        self.throttled = 0  # since start, for /health and the log
        self._queue: deque[threading.Event] = deque()  # the waiting requests' turns, oldest first
        self._lock = threading.Lock()
        self._warned_at = -WARN_EVERY_S
        self._throttled_at_warning = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., object]) -> Iterable[bytes]:
        environ[ENVIRON_KEY] = self
        if environ.get("PATH_INFO") in EXEMPT_PATHS:
            return self.app(environ, start_response)
        if not self.admit():
            return self._throttle(start_response)
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self.release()
            raise
        # The place is held until the server has written the answer out and closed the response.
        return _ReleasedOnClose(result, self.release)

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def admit(self) -> bool:
        """Take a place in the app, waiting in the queue if need be; False (at once) when the queue is full."""
        with self._lock:
            if self.running < self.max_concurrent:  # a place is never free while a request waits (release)
                self.running += 1
                return True
            if len(self._queue) >= self.max_queue:
                self.throttled += 1
                self._warn_now_and_then()
                return False
            turn = threading.Event()
            self._queue.append(turn)
        turn.wait()  # release() hands its place over: `running` already counts this request
        return True

    def release(self) -> None:
        """Give a place back: straight to the longest-waiting request (first come, first in), so that a
        newcomer can never take it between the release and the waiter's waking up; else it is free."""
        with self._lock:
            if self._queue:
                self._queue.popleft().set()
            else:
                self.running -= 1

    def snapshot(self) -> dict[str, int]:
        """The load now: running and queued requests, the limits, and how many were throttled so far."""
        with self._lock:
            return {
                "running": self.running, "queued": len(self._queue), "throttled": self.throttled,
                "maxConcurrent": self.max_concurrent, "maxQueue": self.max_queue,
            }

    def _throttle(self, start_response: Callable[..., object]) -> list[bytes]:
        """AWS's ThrottlingException, in the same AWS JSON 1.1 error form as the app's other errors."""
        status, headers, body = refusal(THROTTLED, close=False)
        start_response(status, headers)
        return [body]

    def _warn_now_and_then(self) -> None:
        """One log line per WARN_EVERY_S while throttling: an operator learns of it without a flood of lines."""
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            log.warning(
                "overloaded: %d request(s) throttled (%d since start); %d running, %d queued (--max-concurrent %d, "
                "--max-queue %d)", self.throttled - self._throttled_at_warning, self.throttled, self.running,
                len(self._queue), self.max_concurrent, self.max_queue,
            )
            self._warned_at, self._throttled_at_warning = now, self.throttled


class _ReleasedOnClose:
    """The app's response iterable, calling `release` once when the server closes it (PEP 3333)."""

    def __init__(self, result: Iterable[bytes], release: Callable[[], None]) -> None:
        self._result = result
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()
