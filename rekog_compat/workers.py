"""`serve --workers N`: N server processes under gunicorn, sharing one store.

dlib's embedding holds the GIL, so one process uses one core; throughput needs processes.
Each worker builds its own services after the fork (models, store connections, audit log
handle), so nothing crosses a fork. Writes from one worker are seen by the next search of
every other (the store's change log); the audit log is appended under a file lock.
gunicorn's SIGTERM is graceful: in-flight requests finish before the workers exit.
A server asked for TLS runs here even with one worker (`tls.py`: waitress has no TLS). Each worker
has its own admission queue (`admission.py`) and one thread per request it may hold. Its worker class
answers what gunicorn refuses in AWS's JSON and times out stalled reads, as `waitress_server.py` does.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import ssl
from typing import Any

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import TConn, ThreadWorker

from .app import MAX_BODY_BYTES
from .config import DEFAULT_READ_TIMEOUT_S, ServerConfig
from .errors import AwsError, InternalServerError, RequestTimeoutException
from .http_refusals import RequestStalled, malformed, raw_refusal
from .tls import gunicorn_tls_settings

log = logging.getLogger("rekog_compat")


class WorkerServer(BaseApplication):
    """gunicorn, configured from a ServerConfig, loading the app in each worker."""

    def __init__(self, config: ServerConfig, build_app: Any, on_worker_exit: Any = None) -> None:
        """`build_app` makes a worker's app (in the worker); `on_worker_exit` runs there when it ends."""
        self.server_config = config
        self.build_app = build_app
        self.on_worker_exit = on_worker_exit
        super().__init__()

    def load_config(self) -> None:
        config = self.server_config
        settings: dict[str, Any] = {
            "bind": f"{config.host}:{config.port}",
            "workers": config.workers,
            "worker_class": AwsThreadWorker,
            # One thread per request the admission may hold, running or queued, plus a few to answer
            # throttles: requests wait in the bounded admission queue, not in gthread's unbounded one.
            "threads": config.server_threads(),
            "worker_connections": max(1000, config.connection_limit()),  # 1000: gunicorn's default
            "timeout": 300,
            "graceful_timeout": 30,
            "limit_request_field_size": 16384,
            "when_ready": self._ready,
            "worker_exit": lambda _server, _worker: self.on_worker_exit and self.on_worker_exit(),
            "accesslog": None,
            **gunicorn_tls_settings(config),
        }
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 24: no admin socket in $HOME
            settings["control_socket_disable"] = True
        for key, value in settings.items():
            self.cfg.set(key, value)
        _TimedConn.read_timeout = config.read_timeout  # the workers, forked from here, inherit it

    def _ready(self, server: Any) -> None:
        host, port = server.LISTENERS[0].sock.getsockname()[:2]
        print(f"rekog-compat workers={self.server_config.workers} body limit={MAX_BODY_BYTES}", flush=True)
        scheme = "https" if self.server_config.tls else "http"
        print(f"rekog-compat listening on {scheme}://{host}:{port}", flush=True)

    def load(self) -> Any:
        return self.build_app()


class _StallAwareSocket:
    """A connection's socket as gunicorn's request parser reads it: a read past the timeout raises
    RequestStalled (a plain TimeoutError would be logged as a socket error and the connection dropped)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def recv(self, *args: Any) -> bytes:
        try:
            return bytes(self._sock.recv(*args))
        except TimeoutError:
            raise RequestStalled() from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _TimedConn(TConn):
    """A gthread connection whose every read (TLS handshake, headers, body) waits at most `read_timeout`."""

    read_timeout = DEFAULT_READ_TIMEOUT_S

    def init(self) -> None:
        first = not self.initialized
        self.sock.settimeout(self.read_timeout)  # before the TLS handshake, which inherits it
        super().init()
        self.sock.settimeout(self.read_timeout)  # gthread makes the socket blocking before each request
        unreader = getattr(self.parser, "unreader", None)
        if first and unreader is not None and hasattr(unreader, "sock"):
            unreader.sock = _StallAwareSocket(unreader.sock)


def _aws_error(exc: BaseException) -> AwsError:
    """The AWS error answering what gunicorn raised while reading a request."""
    if isinstance(exc, RequestStalled):
        return RequestTimeoutException()
    if isinstance(exc, http_errors.InvalidResponseHeader | http_errors.InvalidResponseHeaderName
                  | http_errors.ConfigurationProblem):
        return InternalServerError()  # the server's own fault, not the request's
    if isinstance(exc, http_errors.ParseException):
        return malformed(f"{type(exc).__name__}: {exc}")
    return InternalServerError()


def _plain_http_on_tls(exc: BaseException) -> bool:
    """The TLS handshake failed because the client sent an HTTP request in the clear."""
    return isinstance(exc, ssl.SSLError) and getattr(exc, "reason", "") == "HTTP_REQUEST"


class AwsThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, answering the requests it refuses in AWS's JSON and bounding every read.
    (It relies on gthread's TConn and parser internals, hence the pinned gunicorn major version.)"""

    def accept(self, listener: Any) -> None:
        try:
            client_sock, client_addr = listener.accept()
            self.nr_conns += 1
            client_sock.setblocking(True)
            self.enqueue_req(_TimedConn(self.cfg, client_sock, client_addr, listener.getsockname()))
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        """After an answer, the unread rest of its body is drained to reuse the connection; if that body
        stalls or breaks, the connection just closes: the request was answered already."""
        try:
            return bool(super()._keepalive_after(conn, keepalive))
        except (RequestStalled, OSError, http_errors.ParseException):
            return False

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if isinstance(exc, ssl.SSLError):
            if _plain_http_on_tls(exc):  # answered in the clear, as the client spoke: bypass the TLS layer
                with contextlib.suppress(OSError):
                    socket.socket.sendall(client, raw_refusal(malformed(
                        "this port speaks HTTPS; the request came in plain HTTP")))
            self.log.debug("TLS handshake failed: %s", exc)  # a client that does not trust us, or no TLS
            return
        error = _aws_error(exc)
        if isinstance(error, InternalServerError):
            self.log.exception("error handling a request: %s", exc)
        else:
            self.log.warning("refused a request from %s: %s", (addr or ("",))[0], error.message)
        try:
            util.write(client, raw_refusal(error))
        except Exception:
            self.log.debug("the refusal could not be sent")
