"""Assemble the services from a configuration and serve them over HTTP."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType

from threadpoolctl import threadpool_limits

from .admission import Admission
from .app import MAX_BODY_BYTES, create_app
from .audit import AuditLog
from .config import ServerConfig
from .context import Services
from .engine import FaceEngine
from .http_refusals import WholeBody
from .identity import AccountResolver
from .images import S3ImageReader
from .store import open_store
from .tls import check_tls_files
from .waitress_server import create_aws_server

log = logging.getLogger("rekog_compat")

DRAIN_TIMEOUT_S = 30
FLUSH_GRACE_S = 0.3


class InFlight:
    """WSGI middleware counting requests being served, so that shutdown can wait for them."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.active = 0
        self._idle = threading.Condition()

    def __call__(self, environ: dict, start_response: Callable[..., object]) -> Iterable[bytes]:
        with self._idle:
            self.active += 1
        try:
            return self.app(environ, start_response)
        finally:
            with self._idle:
                self.active -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self.active == 0, timeout)


def build_services(config: ServerConfig) -> Services:
    """Open the store and load the face models (a missing model fails here, at start-up)."""
    # Without credentials, botocore would probe the EC2 metadata address for them before an
    # S3 read: no outbound connection unless asked for (on EC2, set it to "false").
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    # One core per request: the server runs requests side by side (threads, processes), and OpenBLAS
    # spreading one search's matrix product over every core made it 8x slower under the request
    # threads (6.3 ms vs 0.7 ms at 10k faces; docs/performance.md).
    threadpool_limits(limits=1, user_api="blas")
    engine = FaceEngine(config.engine_config())
    engine.check_ready()
    store = open_store(config.store, config.resolved_data_dir(), config.ann_settings())
    audit = AuditLog(config.resolved_audit_log())
    return Services(config=config, store=store, engine=engine, s3=S3ImageReader(config.s3_endpoint_url), audit=audit)


def start_background(services: Services) -> Services:
    """Start this process's stored-video runners and stream-processor supervisor (they claim what the
    store holds to run, resumed work included)."""
    from .stream.sources import load_sources
    from .stream.supervisor import StreamSupervisor
    from .video.runner import VideoJobRunner

    config = services.config
    services.video = VideoJobRunner(services, config.video_jobs, config.video_sample_rate)
    services.streams = StreamSupervisor(services, load_sources(config.video_sources), config.video_sample_rate)
    services.video.start()
    services.streams.start()
    return services


def stop_background(services: Services) -> None:
    """Hand running work back to the store (it resumes in the next process to claim it)."""
    for part in (services.streams, services.video):
        if part is not None:
            part.stop()


def _accounts(config: ServerConfig) -> AccountResolver:
    accounts = AccountResolver.from_file(
        config.accounts_file, config.default_account, config.default_region, config.credentials_file
    )
    if accounts.verifies_signatures:
        log.info("SigV4 signatures are verified against %s", config.credentials_file)
    else:
        log.warning("no --credentials file: signatures are NOT verified; any access key is accepted")
    return accounts


def admitted(app: Callable[..., Iterable[bytes]], config: ServerConfig) -> Admission:
    """`app` behind the bounded admission queue (`admission.py`) that `config` sets."""
    admission = Admission(app, config.resolved_max_concurrent(), config.max_queue)
    log.info("admission: %d request(s) at once, %d more queued, the rest throttled", admission.max_concurrent,
             admission.max_queue)
    return admission


def serve(config: ServerConfig) -> None:
    """Run the server until SIGINT/SIGTERM; prints the address once it accepts requests."""
    config.check()
    check_tls_files(config)  # before the models load: a bad certificate fails the start at once
    accounts = _accounts(config)
    if config.workers > 1 or config.tls:
        if config.workers == 1:
            log.info("TLS: serving under gunicorn with one worker (waitress has no TLS)")
        serve_workers(config, accounts)
        return
    services = start_background(build_services(config))
    # InFlight outermost: a request waiting in the admission queue is in flight too, and SIGTERM waits for it.
    app = InFlight(admitted(create_app(services, accounts), config))
    server = create_aws_server(
        app,
        config.read_timeout,
        host=config.host,
        port=config.port,
        threads=config.server_threads(),
        connection_limit=config.connection_limit(),
        # Waitress drops bodies past its own limit without an AWS error; keep it above
        # the app's limit so that the app answers ImageTooLargeException in AWS's JSON.
        max_request_body_size=2 * MAX_BODY_BYTES,
        ident="rekog-compat",
        clear_untrusted_proxy_headers=True,
    )
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        """Drain: accept nothing new, let in-flight requests finish and their answers go out,
        then end the loop. (A signal handler must not block: the rest runs in a thread.)"""
        if stopping.is_set():
            return
        stopping.set()
        log.info("signal %d: draining %d in-flight request(s)", signum, app.active)
        server.accepting = False  # the loop stops accepting; open channels keep being served
        threading.Thread(target=finish, name="drain", daemon=True).start()

    def busy() -> bool:
        """A request is being received, queued or served on some open connection."""
        channels = list(server._map.values())
        return bool(app.active or server.task_dispatcher.queue or any(getattr(c, "requests", None) for c in channels))

    def finish() -> None:
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while busy() and time.monotonic() < deadline:
            app.wait_idle(0.05)
        if busy():
            log.warning("requests still running after %d s; stopping anyway", DRAIN_TIMEOUT_S)
        time.sleep(FLUSH_GRACE_S)  # the loop writes the last answers out
        server.trigger.pull_trigger(close_channels)  # run in the loop's own thread

    def close_channels() -> None:
        for channel in list(server._map.values()):
            if channel is not server.trigger and channel is not server:
                channel.close()
        server.close()  # the listening socket and the trigger: the map is empty, the loop ends

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.effective_host, server.effective_port
    print(f"rekog-compat {services.store.description} model={services.face_model_version}", flush=True)
    print(f"rekog-compat listening on http://{host}:{port}", flush=True)
    try:
        server.run()
    finally:
        stop_background(services)
        services.store.close()
        if services.audit is not None:
            services.audit.close()
        log.info("stopped")
        sys.stdout.flush()


def serve_workers(config: ServerConfig, accounts: AccountResolver) -> None:
    """`--workers N`: N processes under gunicorn. The models and the store are checked here
    first, so that a missing model or a corrupt store stops the start, not every worker."""
    from .workers import WorkerServer

    build_services(config).store.close()
    built: list[Services] = []  # this worker's services (each worker process builds its own)

    def build_app() -> Callable[..., Iterable[bytes]]:
        built.append(start_background(build_services(config)))
        return WholeBody(admitted(create_app(built[-1], accounts), config), MAX_BODY_BYTES)

    def on_worker_exit() -> None:
        for services in built:
            stop_background(services)  # running video jobs and stream processors go back to the store

    WorkerServer(config, build_app, on_worker_exit).run()
