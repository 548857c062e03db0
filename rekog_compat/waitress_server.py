"""waitress, answering what it refuses in AWS's JSON and bounding how long a request may stall.

Out of the box waitress answers a request it cannot parse (a bad Content-Length or chunk size, headers too
large) with a plain-text page, and holds a request whose body stops arriving until its 120 s idle timeout,
then closes it unanswered. Here each of those is answered as AWS's JSON error (`http_refusals.py`): a
request that has sent nothing for `read_timeout` seconds while incomplete gets 408 RequestTimeoutException,
and one whose client closes its side before the declared body is complete gets a SerializationException.
Incomplete requests cost no thread while they wait (waitress reads them in its event loop), so stalled
clients never delay the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from waitress import utilities
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher

from .errors import AwsError, ImageTooLargeException, InternalServerError, RequestTimeoutException
from .http_refusals import malformed, refusal

MAINTENANCE_INTERVAL_S = 1  # how often stalled requests are looked for: the timeout's resolution


class _Stalled(utilities.Error):
    code, reason = 408, "Request Timeout"

    def __init__(self) -> None:
        self.body = "the request stopped arriving"


class _CutShort(utilities.BadRequest):
    def __init__(self) -> None:
        self.body = "the connection was closed before the request was complete"


def aws_error(error: utilities.Error) -> AwsError:
    """The AWS error answering one of waitress's own refusals."""
    if isinstance(error, _Stalled):
        return RequestTimeoutException()
    if isinstance(error, utilities.RequestEntityTooLarge):  # as the app answers a body over its own limit
        return ImageTooLargeException()
    if isinstance(error, utilities.BadRequest | utilities.ServerNotImplemented):
        return malformed(str(getattr(error, "body", "")))
    return InternalServerError()


class AwsErrorTask(ErrorTask):
    """waitress's error response, in AWS's JSON."""

    def execute(self) -> None:
        status, headers, body = refusal(aws_error(self.request.error))
        self.status = status
        self.response_headers.extend((name, value) for name, value in headers if name != "Content-Length")
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class AwsChannel(HTTPChannel):
    """A connection whose incomplete request can be answered with an error instead of being left hanging."""

    error_task_class = AwsErrorTask
    request: Any  # waitress's parser of the request being received, or None

    def handle_read(self) -> None:
        try:
            data = self.socket.recv(self.adj.recv_bytes)  # not self.recv: it closes the channel on EOF
        except BlockingIOError:
            return
        except OSError:
            self.handle_close()
            return
        if data:
            self.last_activity = time.time()
            self.received(data)
        elif not self.refuse_incomplete(_CutShort()):  # the client closed its side mid-request: answer it
            self.handle_close()  # it closed between requests: nothing to answer

    def refuse_incomplete(self, error: utilities.Error, idle_since: float | None = None) -> bool:
        """Answer the request being received with `error`, if there is one (and, with `idle_since`, it has
        been idle since then); True when it was answered."""
        with self.requests_lock:
            request = self.request
            if request is None or self.requests or self.will_close or self.close_when_flushed:
                return False
            if idle_since is not None and self.last_activity >= idle_since:
                return False
            request.error = error
            request.completed = True
            self.request = None
            self.requests.append(request)
        self.server.add_task(self)
        return True


class AwsWSGIServer(TcpWSGIServer):
    """waitress's TCP server with AwsChannel connections and a bounded wait for an incomplete request."""

    channel_class = AwsChannel

    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any) -> None:
        self.read_timeout = read_timeout
        super().__init__(*args, **kwargs)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle kept-alive connections close after channel_timeout, as before
        for channel in list(self.active_channels.values()):
            if isinstance(channel, AwsChannel):
                channel.refuse_incomplete(_Stalled(), idle_since=now - self.read_timeout)


def create_aws_server(app: Callable[..., Iterable[bytes]], read_timeout: float, **settings: Any) -> AwsWSGIServer:
    """An AwsWSGIServer on the first address `settings` (waitress's adjustments) resolve to."""
    adj = Adjustments(cleanup_interval=MAINTENANCE_INTERVAL_S, **settings)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    return AwsWSGIServer(app, {}, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0], read_timeout=read_timeout)
